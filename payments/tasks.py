"""Thin tasks: take an id, call a service. Provider outages retry with backoff."""

from celery import shared_task
from django.conf import settings
from django.db.models import F

from .exceptions import ProviderUnavailable
from .models import WebhookEvent


@shared_task(acks_late=True, autoretry_for=(ProviderUnavailable, ConnectionError), retry_backoff=5, max_retries=8)
def webhook_event_process_task(event_pk: int) -> None:
    from .services import webhook_event_process

    try:
        webhook_event_process(event_pk=event_pk)
    except Exception as exc:
        # The service's own transaction rolled back with the error: count the attempt here.
        WebhookEvent.objects.filter(pk=event_pk).exclude(status=WebhookEvent.Status.PROCESSED).update(
            status=WebhookEvent.Status.FAILED, error=repr(exc)[:2000], attempts=F("attempts") + 1
        )
        raise


@shared_task(acks_late=True, ignore_result=True)
def orders_expire_sweep_task() -> int:
    from .services import orders_expire_sweep

    return orders_expire_sweep()


@shared_task(acks_late=True, ignore_result=True)
def webhook_inbox_sweep_task() -> int:
    from .services import webhook_inbox_sweep

    return webhook_inbox_sweep()


# --- the milestone lifecycle: sweeps find due rows, so a lost message is redone on the next run ---


@shared_task(bind=True, acks_late=True, ignore_result=True)
def auto_release_sweep_task(self, shard: int | None = None, shards: int | None = None) -> int:
    """Beat calls it without arguments: with SWEEP_SHARDS > 1 it queues one task per shard (on
    the queue it came from), so that a backlog is drained by several workers at once, each on
    its own orders; otherwise, and for each shard, it runs the sweep."""
    from .lifecycle import auto_release_sweep

    if shard is None:
        shards = settings.MARKETPLACE["SWEEP_SHARDS"]
        if shards > 1:
            queue = (self.request.delivery_info or {}).get("routing_key")
            for i in range(shards):
                self.apply_async(kwargs={"shard": i, "shards": shards}, queue=queue)
            return 0
        return auto_release_sweep()
    return auto_release_sweep(shard=shard, shards=shards or 1)


@shared_task(acks_late=True, ignore_result=True)
def payouts_clear_sweep_task() -> int:
    from .lifecycle import payouts_clear_sweep

    return payouts_clear_sweep()


@shared_task(acks_late=True, ignore_result=True)
def payouts_transfer_drain_task() -> int:
    from .lifecycle import payouts_transfer_drain

    return payouts_transfer_drain()


@shared_task(acks_late=True, ignore_result=True)
def cancellation_requests_expire_sweep_task() -> int:
    from .lifecycle import cancellation_requests_expire_sweep

    return cancellation_requests_expire_sweep()


@shared_task(acks_late=True, autoretry_for=(ProviderUnavailable, ConnectionError), retry_backoff=30, max_retries=10)
def refund_send_task(refund_id: int) -> None:
    from .lifecycle import refund_send

    refund_send(refund_id=refund_id)


@shared_task(acks_late=True, ignore_result=True)
def refunds_retry_sweep_task() -> int:
    """Queue a send for each pending refund due for another try (payments.lifecycle.refunds_retry_sweep:
    a lost message, a claim that never came back, a failure whose backoff ended)."""
    from .lifecycle import refunds_retry_sweep

    ids = refunds_retry_sweep()
    for pk in ids:
        refund_send_task.delay(pk)
    return len(ids)
