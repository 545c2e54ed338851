"""The payments tasks run by a real Celery worker process through the real Redis broker (no eager
mode): a card payment's event is queued on commit, the worker processes it and funds the order;
duplicates and lost messages end in exactly one funding.

The worker fixtures come from marketplace/tests/test_celery_worker.py: a worker started once for
this module on a queue of its own, reading the test database (hence transactional tests).
"""

import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.celery import app
from marketplace.tasks import ping_task
from marketplace.tests import test_celery_worker as worker_module
from milestones.models import Order
from payments import ledger, services
from payments.gateways import gateway
from payments.gateways.local import CARD_DECLINED, CARD_SUCCEEDS
from payments.models import LedgerTransaction, Payment, WebhookEvent
from payments.tasks import orders_expire_sweep_task, webhook_event_process_task
from payments.tests.factories import place_order

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

# The worker's fixtures, reused as they are (fixtures are found by name in the test module).
celery_worker = worker_module.celery_worker
tasks_to_worker_queue = worker_module.tasks_to_worker_queue
_worker_log_on_failure = worker_module._worker_log_on_failure
TASK_TIMEOUT = worker_module.TASK_TIMEOUT


def wait_until(check: Callable[[], bool], what: str, timeout: float = TASK_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"the worker did not {what} within {timeout}s")
        time.sleep(0.05)


def drain(worker) -> None:
    """The solo worker handles its queue in order: once a ping sent now comes back, every task
    sent before it has run."""
    assert ping_task.apply_async(args=["drain"], queue=worker.queue).get(timeout=TASK_TIMEOUT)["echo"] == "drain"


def fundings(order: Order) -> int:
    return LedgerTransaction.objects.filter(order=order, kind=LedgerTransaction.Kind.ORDER_FUNDED).count()


def test_the_worker_processes_a_card_payment_event_and_funds_the_order(celery_worker, tasks_to_worker_queue):
    order = place_order()
    payment = services.payment_start(order=order)

    # A declined card first: its event is processed by the worker too, and the order stays payable.
    assert gateway().submit_card(payment.provider_payment_id, CARD_DECLINED).status == "failed"
    wait_until(lambda: Payment.objects.get(pk=payment.pk).status == Payment.Status.FAILED, "process the decline event")
    assert Order.objects.get(pk=order.pk).is_payable

    # Not in a test transaction: the card page commits, so its event's task is really sent.
    assert gateway().submit_card(payment.provider_payment_id, CARD_SUCCEEDS).status == "succeeded"
    wait_until(
        lambda: WebhookEvent.objects.filter(type="payment_intent.succeeded", status="processed").exists(),
        "process the success event",
    )

    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE and order.paid_at is not None
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.SUCCEEDED
    assert fundings(order) == 1
    assert ledger.escrow_balance(order) == order.subtotal_minor
    assert ledger.trial_balance() == {order.currency: 0}
    event = WebhookEvent.objects.get(type="payment_intent.succeeded")
    assert (event.attempts, event.error) == (1, "")

    # The same event sent again (a redelivered message), and the task run once more directly.
    webhook_event_process_task.delay(event.pk)
    webhook_event_process_task.apply_async(args=[event.pk], queue=celery_worker.queue).get(timeout=TASK_TIMEOUT)
    drain(celery_worker)
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 1
    assert fundings(order) == 1


def test_a_lost_message_is_redone_by_the_inbox_sweep(celery_worker, tasks_to_worker_queue):
    order = place_order()
    payment = services.payment_start(order=order)
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": payment.provider_payment_id,
                "amount": payment.amount_minor,
                "currency": payment.currency.lower(),
            }
        },
    }
    # The message is lost: it goes to a queue nobody reads.
    app.conf.task_default_queue = f"nobody-{uuid.uuid4().hex[:8]}"
    try:
        row, created = services.webhook_event_store(event=event, source="stripe")
    finally:
        app.conf.task_default_queue = tasks_to_worker_queue
    assert created
    drain(celery_worker)
    assert WebhookEvent.objects.get(pk=row.pk).status == WebhookEvent.Status.RECEIVED

    WebhookEvent.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(minutes=2))
    assert services.webhook_inbox_sweep() == 1  # beat's sweep, run here so its sends reach our worker
    wait_until(lambda: WebhookEvent.objects.get(pk=row.pk).status == "processed", "process the re-queued event")
    assert fundings(order) == 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.ACTIVE


def test_the_expiry_sweep_task_runs_in_the_worker(celery_worker):
    order = place_order()
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    orders_expire_sweep_task.apply_async(queue=celery_worker.queue)
    wait_until(lambda: Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED, "expire the order")


# --- beat ----------------------------------------------------------------------------------------


def test_beat_runs_the_checkout_expiry_and_inbox_sweeps_every_minute(settings):
    """The timed work of this app is found by beat-driven sweeps (DESIGN section 7): the entries
    must exist and name tasks the worker knows, or nothing ever expires or is re-queued."""
    app.loader.import_default_modules()  # the tasks of every app, as a worker registers them
    schedule = settings.CELERY_BEAT_SCHEDULE
    by_task = {entry["task"]: entry for entry in schedule.values()}
    for task in ("payments.tasks.orders_expire_sweep_task", "payments.tasks.webhook_inbox_sweep_task"):
        assert task in by_task, f"{task} is not in CELERY_BEAT_SCHEDULE"
        assert task in app.tasks
        assert 0 < float(by_task[task]["schedule"]) <= 60
    assert app.conf.beat_schedule == schedule  # what `celery beat` reads (namespace CELERY)
    unknown = sorted(entry["task"] for entry in schedule.values() if entry["task"] not in app.tasks)
    assert unknown == [], "beat entries naming tasks that do not exist"
