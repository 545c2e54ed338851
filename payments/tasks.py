"""Thin tasks: take an id, call a service. Provider outages retry with backoff."""

from celery import shared_task
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
