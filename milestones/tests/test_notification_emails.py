"""Notification emails (milestones.tasks): a service records the notification and queues its email
after commit; the task claims the row (emailed_at) before sending, so a redelivered task sends
nothing more; a failed send releases the claim for the retry; the sweeps' batch task emails what
they recorded in bulk, each once. Celery runs eagerly here (the real worker is covered by
payments/tests/test_lifecycle_worker.py)."""

from datetime import timedelta

import pytest
from django.core import mail

from marketplace.celery import app
from milestones import lifecycle as states
from milestones import tasks
from milestones.models import Notification
from milestones.notifications import notify, notify_many
from payments import lifecycle
from payments.tests.test_lifecycle import (
    NOW,
    clock,  # noqa: F401 - a fixture, found by name
    deliver,
    milestones_of,
    paid_order,
    pin_rules,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings)
    settings.MARKETPLACE = {**settings.MARKETPLACE, "SITE_NAME": "Milestone Marketplace", "SITE_URL": "https://mm.test"}


@pytest.fixture
def eager():
    """`.delay()` runs the task in this process, at once."""
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


@pytest.fixture
def order(clock):  # noqa: F811 - the imported fixture
    order = paid_order()
    mail.outbox.clear()  # the order-funded emails were queued, never run (no commit)
    return order


def sent_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


class TestOneNotification:
    def test_a_delivery_is_emailed_to_the_buyer_after_commit_once(
        self, order, eager, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            deliver(milestones_of(order)[0])
        assert mail.outbox == []  # nothing before the commit
        for callback in callbacks:
            callback()

        row = Notification.objects.get(kind="delivered")
        [email] = mail.outbox
        assert email.to == [order.buyer.email]
        assert email.subject == f"Milestone Marketplace: {row.text}"
        assert row.text.startswith(f"Milestone 1 of order #{order.pk} was delivered: review it by")
        assert f"Hi {order.buyer.username}," in email.body
        assert f"https://mm.test/orders/{order.pk}/" in email.body
        assert row.emailed_at == NOW

        # The task delivered again (acks_late, a worker lost): the claim stops it.
        tasks.notification_email_task(row.pk)
        tasks.notification_email_task.delay(row.pk)
        assert len(mail.outbox) == 1

    def test_a_failed_send_is_released_for_the_retry(self, order, monkeypatch):
        row = notify(user=order.buyer, kind="test", text="Hello.", dedupe_key="test-retry", order=order)

        def down(**kwargs):
            raise ConnectionError("SMTP is down")

        monkeypatch.setattr(tasks, "send_mail", down)
        with pytest.raises(ConnectionError):
            tasks.notification_email_task(row.pk)
        row.refresh_from_db()
        assert row.emailed_at is None and mail.outbox == []

        monkeypatch.undo()
        tasks.notification_email_task(row.pk)
        tasks.notification_email_task(row.pk)
        assert len(sent_to(order.buyer.email)) == 1

    def test_a_user_without_an_email_is_claimed_and_sent_nothing(self, order):
        order.buyer.email = ""
        order.buyer.save(update_fields=["email"])
        row = notify(user=order.buyer, kind="test", text="Hello.", dedupe_key="test-no-email", order=order)
        tasks.notification_email_task(row.pk)
        row.refresh_from_db()
        assert row.emailed_at is not None and mail.outbox == []

    def test_the_same_event_twice_is_one_notification_and_one_email(
        self, order, eager, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            first = notify(user=order.seller, kind="test", text="Once.", dedupe_key="test-once", order=order)
            again = notify(user=order.seller, kind="test", text="Once.", dedupe_key="test-once", order=order)
        assert first is not None and again is None
        assert len(sent_to(order.seller.email)) == 1


class TestBatches:
    def test_the_auto_release_sweep_emails_both_parties_once(
        self,
        order,
        clock,  # noqa: F811
        eager,
        django_capture_on_commit_callbacks,
    ):
        m1, m2, _ = milestones_of(order)
        deliver(m1)
        clock.shift(timedelta(days=3))
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert lifecycle.auto_release_sweep() == 1

        kinds = dict(Notification.objects.filter(emailed_at__isnull=False).values_list("dedupe_key", "kind"))
        assert kinds == {
            f"milestone-{m1.pk}-accepted:buyer": "auto_released",
            f"milestone-{m1.pk}-accepted:seller": "auto_released",
            f"milestone-{m2.pk}-started:buyer": "milestone_started",
            f"milestone-{m2.pk}-started:seller": "milestone_started",
        }
        assert len(sent_to(order.buyer.email)) == len(sent_to(order.seller.email)) == 2
        subjects = sorted(m.subject for m in mail.outbox)
        assert subjects[0].endswith(
            f"Milestone 1 of order #{order.pk} was accepted automatically: its money is released."
        )

        # The batch task delivered again: nothing more.
        assert tasks.notifications_email_batch_task(list(kinds)) == 0
        assert len(mail.outbox) == 4

    def test_the_batch_task_emails_only_what_is_not_claimed(self, order):
        items = [
            {"user": user, "kind": "test", "text": f"Batch {i}.", "dedupe_key": f"test-batch-{i}", "order": order}
            for i, user in enumerate([order.buyer, order.seller, order.buyer])
        ]
        notify_many(items)
        tasks.notification_email_task(Notification.objects.get(dedupe_key="test-batch-0").pk)
        assert len(mail.outbox) == 1

        assert tasks.notifications_email_batch_task([i["dedupe_key"] for i in items]) == 2
        assert tasks.notifications_email_batch_task([i["dedupe_key"] for i in items]) == 0
        assert sorted(m.subject.split(": ")[1] for m in mail.outbox) == ["Batch 0.", "Batch 1.", "Batch 2."]

    def test_review_reminders_are_emailed_to_the_buyer(self, order, clock, eager, django_capture_on_commit_callbacks):  # noqa: F811
        deliver(milestones_of(order)[0])
        clock.shift(timedelta(hours=24))
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert states.review_reminders_sweep() == 1
        [email] = mail.outbox
        assert email.to == [order.buyer.email]
        assert "will be accepted automatically on Mar 5, 09:30 unless you review it." in email.subject
