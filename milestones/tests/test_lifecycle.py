"""The state part of the milestone lifecycle (milestones.lifecycle), with the clock under
time-machine: delivery (the seller only, from the working states, early delivery, upload limits),
revision requests and their allowance, and the review reminders 48 h and 24 h before the
automatic acceptance. Orders are placed and paid through the real services (payments' factories),
and every test ends with the books checked (payments.tests.test_lifecycle.assert_books)."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gigs.tests.factories import UserFactory
from marketplace.exceptions import NotFound, ValidationFailed
from milestones import lifecycle as states
from milestones.exceptions import InvalidTransition, RevisionsExhausted
from milestones.models import (
    Delivery,
    DeliveryFile,
    Notification,
    Order,
    OrderEvent,
    OrderMilestone,
    RevisionRequest,
)
from payments import lifecycle
from payments.tests.test_lifecycle import (
    NOW,
    accept,
    assert_books,
    clock,  # noqa: F401 - a fixture, found by name
    deliver,
    fresh,
    milestones_of,
    paid_order,
    pin_rules,
)

pytestmark = pytest.mark.django_db

S = OrderMilestone.Status
KB = 1024


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, UPLOAD_MAX_FILES=3, UPLOAD_MAX_BYTES=10 * KB)


@pytest.fixture(autouse=True)
def _books(db):
    yield
    assert_books()


@pytest.fixture
def order(clock) -> Order:  # noqa: F811 - the imported fixture
    return paid_order()


def upload(name: str, size: int = 100, content_type: str = "application/pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"x" * size, content_type=content_type)


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def request_revision(m: OrderMilestone, reason: str = "Make the logo bigger.") -> RevisionRequest:
    buyer = Order.objects.get(pk=m.order_id).buyer
    return states.milestone_request_revision(milestone_id=m.pk, buyer=buyer, reason=reason)


# --- delivery ----------------------------------------------------------------------------------


class TestDeliver:
    def test_the_seller_delivers_early_and_the_buyer_has_the_review_days(self, order, clock, settings):  # noqa: F811
        m1 = milestones_of(order)[0]
        assert m1.due_at == NOW + timedelta(days=2)
        clock.shift(timedelta(hours=6))  # well before the due date: early delivery is fine

        delivery = states.milestone_deliver(
            milestone_id=m1.pk,
            seller=order.seller,
            message="  Three concepts attached.  ",
            files=[upload("concepts.pdf", 2 * KB), upload("moodboard.PNG", 300, "image/png")],
        )

        m1 = fresh(m1)
        at = NOW + timedelta(hours=6)
        assert (m1.status, m1.delivered_at, m1.review_deadline) == (S.DELIVERED, at, at + timedelta(days=3))
        assert (delivery.milestone_id, delivery.sender_id, delivery.message) == (
            m1.pk,
            order.seller_id,
            "Three concepts attached.",
        )
        files = list(DeliveryFile.objects.filter(delivery=delivery).order_by("pk"))
        assert [(f.name, f.size, f.content_type) for f in files] == [
            ("concepts.pdf", 2 * KB, "application/pdf"),
            ("moodboard.PNG", 300, "image/png"),
        ]
        assert all(f.file.name.startswith(f"deliveries/order-{order.pk}/") for f in files)
        assert len(stored_files(settings)) == 2
        event = OrderEvent.objects.get(milestone=m1, to_status=S.DELIVERED)
        assert (event.from_status, event.actor_id) == (S.IN_PROGRESS, order.seller_id)
        [note] = Notification.objects.filter(kind="delivered")
        assert (note.user_id, note.dedupe_key, note.milestone_id) == (
            order.buyer_id,
            f"delivery-{delivery.pk}",
            m1.pk,
        )

    def test_a_late_delivery_is_still_a_delivery(self, order, clock):  # noqa: F811
        m1 = milestones_of(order)[0]
        clock.shift(timedelta(days=5))
        deliver(m1)
        assert fresh(m1).status == S.DELIVERED

    def test_only_the_seller_delivers(self, order):
        m1 = milestones_of(order)[0]
        for user in (order.buyer, UserFactory()):
            with pytest.raises(NotFound):
                states.milestone_deliver(milestone_id=m1.pk, seller=user, message="Mine.", files=[])
        with pytest.raises(NotFound):
            states.milestone_deliver(milestone_id=10**9, seller=order.seller, message="Mine.", files=[])
        assert not Delivery.objects.exists()

    def test_only_a_milestone_being_worked_on_can_be_delivered(self, order):
        m1, m2, _ = milestones_of(order)
        with pytest.raises(InvalidTransition):
            deliver(m2)  # not started
        deliver(m1)
        with pytest.raises(InvalidTransition):
            deliver(m1)  # already delivered, under review
        accept(m1)
        with pytest.raises(InvalidTransition):
            deliver(m1)  # accepted
        assert Delivery.objects.count() == 1

    def test_a_cancelled_order_takes_no_delivery(self, order, clock):  # noqa: F811
        m1 = milestones_of(order)[0]
        clock.shift(timedelta(days=4))
        lifecycle.milestone_cancel_late(milestone_id=m1.pk, buyer=order.buyer)
        with pytest.raises(NotFound):
            deliver(m1)

    def test_a_message_is_required(self, order):
        m1 = milestones_of(order)[0]
        with pytest.raises(ValidationFailed) as caught:
            states.milestone_deliver(milestone_id=m1.pk, seller=order.seller, message=" \n ", files=[])
        assert list(caught.value.errors) == ["message"]
        assert fresh(m1).status == S.IN_PROGRESS

    def test_redelivery_after_a_revision_resets_the_deadline_and_reminders(self, order, clock):  # noqa: F811
        m1 = milestones_of(order)[0]
        deliver(m1)
        clock.shift(timedelta(days=1))
        assert states.review_reminders_sweep() == 1  # the 48 h one
        clock.shift(timedelta(days=1))
        assert states.review_reminders_sweep() == 1  # the 24 h one
        request_revision(m1)
        assert fresh(m1).review_deadline is None
        clock.shift(timedelta(hours=5))
        deliver(m1)
        m1 = fresh(m1)
        assert (m1.status, m1.review_deadline) == (S.DELIVERED, NOW + timedelta(days=5, hours=5))
        assert (m1.reminded_48h, m1.reminded_24h) == (False, False)
        assert Delivery.objects.filter(milestone=m1).count() == 2


class TestUploadLimits:
    """Refused uploads raise ValidationFailed on "files" and save nothing: no delivery, no file
    rows, nothing in storage, the milestone unchanged."""

    @pytest.fixture(autouse=True)
    def _nothing_saved(self, order, settings):
        self.m1 = milestones_of(order)[0]
        yield
        assert not Delivery.objects.exists()
        assert not DeliveryFile.objects.exists()
        assert stored_files(settings) == []
        assert fresh(self.m1).status == S.IN_PROGRESS
        assert not Notification.objects.filter(kind="delivered").exists()

    def refused(self, files) -> list[str]:
        with pytest.raises(ValidationFailed) as caught:
            deliver(self.m1, files=files)
        assert list(caught.value.errors) == ["files"]
        assert caught.value.code == "invalid" and caught.value.http_status == 400
        return caught.value.errors["files"]

    def test_too_many_files(self):
        [error] = self.refused([upload(f"part{i}.pdf") for i in range(4)])
        assert error == "Attach at most 3 files."

    def test_a_file_too_big(self):
        [error] = self.refused([upload("ok.pdf"), upload("huge.zip", 10 * KB + 1, "application/zip")])
        assert error.startswith("huge.zip: a file may be at most")

    @pytest.mark.parametrize("name", ["setup.exe", "script.js", "README", "archive.tar.gz.", "photo.jpeg.html"])
    def test_a_file_of_another_type(self, name):
        [error] = self.refused([upload(name)])
        assert error == f"{name}: files of this type are not accepted."

    def test_every_problem_is_reported_at_once(self):
        errors = self.refused([upload("a.exe"), upload("b.pdf", 20 * KB), upload("c.txt"), upload("d.txt")])
        assert len(errors) == 3  # count, type, size


def test_uploads_exactly_at_the_limits_are_accepted(order, settings):
    m1 = milestones_of(order)[0]
    files = [upload("a.pdf", 10 * KB), upload("b.JPG", 1, "image/jpeg"), upload("c.zip", 10 * KB, "application/zip")]
    delivery = deliver(m1, files=files)
    assert DeliveryFile.objects.filter(delivery=delivery).count() == 3
    assert len(stored_files(settings)) == 3


# --- revisions ---------------------------------------------------------------------------------


class TestRevisions:
    def test_a_request_counts_against_the_allowance_until_none_is_left(self, order, clock):  # noqa: F811
        m1 = milestones_of(order)[0]
        assert (m1.revisions, m1.revisions_left) == (1, 1)
        deliver(m1)
        clock.shift(timedelta(hours=2))

        request = request_revision(m1, "  Warmer colours, please.  ")

        m1 = fresh(m1)
        assert (m1.status, m1.revisions_used, m1.revisions_left, m1.review_deadline) == (
            S.REVISION_REQUESTED,
            1,
            0,
            None,
        )
        assert (request.requested_by_id, request.reason) == (order.buyer_id, "Warmer colours, please.")
        event = OrderEvent.objects.get(milestone=m1, to_status=S.REVISION_REQUESTED)
        assert event.actor_id == order.buyer_id
        [note] = Notification.objects.filter(kind="revision_requested")
        assert (note.user_id, note.dedupe_key) == (order.seller_id, f"revision-{request.pk}")

        deliver(m1)
        with pytest.raises(RevisionsExhausted) as caught:
            request_revision(m1)
        assert (caught.value.code, caught.value.http_status) == ("revisions_exhausted", 409)
        assert fresh(m1).status == S.DELIVERED
        assert RevisionRequest.objects.count() == 1
        accept(m1)  # what is left to the buyer: accept (or cancel by agreement, or dispute)

    def test_a_milestone_with_two_revisions_takes_two_requests(self, order):
        m1, m2, _ = milestones_of(order)
        deliver(m1)
        accept(m1)
        m2 = fresh(m2)
        assert m2.revisions == 2
        for used in (1, 2):
            deliver(m2)
            request_revision(m2)
            assert fresh(m2).revisions_used == used
        deliver(m2)
        with pytest.raises(RevisionsExhausted):
            request_revision(m2)

    def test_only_the_buyer_and_only_on_a_delivered_milestone(self, order):
        m1 = milestones_of(order)[0]
        with pytest.raises(InvalidTransition):
            request_revision(m1)  # in progress: nothing to review
        deliver(m1)
        for user in (order.seller, UserFactory()):
            with pytest.raises(NotFound):
                states.milestone_request_revision(milestone_id=m1.pk, buyer=user, reason="Mine.")
        with pytest.raises(ValidationFailed) as caught:
            request_revision(m1, reason="   ")
        assert list(caught.value.errors) == ["reason"]
        request_revision(m1)
        with pytest.raises(InvalidTransition):
            request_revision(m1)  # already asked: the seller delivers first
        m1 = fresh(m1)
        assert (m1.status, m1.revisions_used) == (S.REVISION_REQUESTED, 1)


# --- review reminders --------------------------------------------------------------------------


def reminders(order: Order) -> list[tuple[int, str]]:
    return list(
        Notification.objects.filter(kind="review_reminder", order=order)
        .order_by("pk")
        .values_list("user_id", "dedupe_key")
    )


class TestReviewReminders:
    def test_48_and_24_hours_before_the_deadline_once_each(self, order, clock):  # noqa: F811
        m1 = milestones_of(order)[0]
        deliver(m1)  # the deadline: NOW + 72 h

        clock.move_to(NOW + timedelta(hours=23, minutes=59))
        assert states.review_reminders_sweep() == 0
        clock.move_to(NOW + timedelta(hours=24))
        assert states.review_reminders_sweep() == 1
        assert states.review_reminders_sweep() == 0
        assert fresh(m1).reminded_48h and not fresh(m1).reminded_24h

        clock.move_to(NOW + timedelta(hours=47, minutes=59))
        assert states.review_reminders_sweep() == 0
        clock.move_to(NOW + timedelta(hours=48))
        assert states.review_reminders_sweep() == 1
        clock.move_to(NOW + timedelta(hours=71))
        assert states.review_reminders_sweep() == 0

        stamp = int(NOW.timestamp())
        assert reminders(order) == [
            (order.buyer_id, f"milestone-{m1.pk}-remind-48-{stamp}"),
            (order.buyer_id, f"milestone-{m1.pk}-remind-24-{stamp}"),
        ]
        texts = Notification.objects.filter(kind="review_reminder").values_list("text", flat=True)
        assert all("will be accepted automatically on Mar 5, 09:30" in t for t in texts)

    def test_a_new_delivery_gets_its_own_reminders(self, order, clock):  # noqa: F811
        m1 = milestones_of(order)[0]
        deliver(m1)
        clock.move_to(NOW + timedelta(hours=25))
        assert states.review_reminders_sweep() == 1
        clock.move_to(NOW + timedelta(hours=50))
        assert states.review_reminders_sweep() == 1
        request_revision(m1)
        deliver(m1)  # new deadline: NOW + 50 h + 72 h
        assert states.review_reminders_sweep() == 0
        clock.move_to(NOW + timedelta(hours=50 + 24))
        assert states.review_reminders_sweep() == 1
        clock.move_to(NOW + timedelta(hours=50 + 48))
        assert states.review_reminders_sweep() == 1
        assert len(reminders(order)) == 4
        assert len({key for _, key in reminders(order)}) == 4

    def test_none_for_milestones_not_under_review_or_past_the_deadline(self, clock):  # noqa: F811
        working, revising, overdue = paid_order(), paid_order(), paid_order()
        m_revising, m_overdue = milestones_of(revising)[0], milestones_of(overdue)[0]
        deliver(m_revising)
        request_revision(m_revising)
        deliver(m_overdue)
        clock.move_to(NOW + timedelta(days=3))  # the deadline: the sweep accepts it, nobody reminds
        assert states.review_reminders_sweep() == 0
        assert not Notification.objects.filter(kind="review_reminder").exists()
        assert milestones_of(working)[0].status == S.IN_PROGRESS

    def test_a_batch_per_run(self, settings, clock):  # noqa: F811
        pin_rules(settings, SWEEP_BATCH=2)
        orders = [paid_order() for _ in range(3)]
        for o in orders:
            deliver(milestones_of(o)[0])
        clock.move_to(NOW + timedelta(hours=25))
        assert states.review_reminders_sweep() == 2
        assert states.review_reminders_sweep() == 1
        assert states.review_reminders_sweep() == 0

    def test_with_one_review_day_only_the_24_hour_reminder_is_sent(self, settings, order, clock):  # noqa: F811
        pin_rules(settings, REVIEW_DAYS=1)
        m1 = milestones_of(order)[0]
        deliver(m1)  # the deadline: 24 h away, already inside the 24 h window
        assert states.review_reminders_sweep() == 1
        for hours in (1, 12, 23):
            clock.move_to(NOW + timedelta(hours=hours))
            assert states.review_reminders_sweep() == 0
        m1 = fresh(m1)
        assert (m1.reminded_48h, m1.reminded_24h) == (False, True)
        assert [key for _, key in reminders(order)] == [f"milestone-{m1.pk}-remind-24-{int(NOW.timestamp())}"]

    def test_a_48_hour_reminder_is_dropped_once_the_deadline_is_under_24_hours_away(self, order, clock):  # noqa: F811
        """Beat was down through the 48 h window: the buyer gets the 24 h reminder only."""
        m1 = milestones_of(order)[0]
        deliver(m1)
        clock.move_to(NOW + timedelta(hours=48, seconds=1))
        assert states.review_reminders_sweep() == 1
        assert states.review_reminders_sweep() == 0
        assert [key.split("-remind-")[1].split("-")[0] for _, key in reminders(order)] == ["24"]

    def test_two_days_of_review_send_both_reminders_at_their_time(self, settings, order, clock):  # noqa: F811
        pin_rules(settings, REVIEW_DAYS=2)
        m1 = milestones_of(order)[0]
        deliver(m1)  # the deadline 48 h away: the 48 h reminder is due now, the 24 h one a day on
        assert states.review_reminders_sweep() == 1
        clock.move_to(NOW + timedelta(hours=24))
        assert states.review_reminders_sweep() == 1
        assert len(reminders(order)) == 2

    def test_a_sweep_costs_the_same_queries_for_one_reminder_or_many(self, clock):  # noqa: F811
        counts = []
        for size in (1, 5):
            orders = [paid_order() for _ in range(size)]
            for o in orders:
                deliver(milestones_of(o)[0])
            clock.shift(timedelta(hours=25))
            with CaptureQueriesContext(connection) as queries:
                assert states.review_reminders_sweep() == size
            counts.append(len(queries))
            lifecycle.auto_release_sweep(now=timezone.now() + timedelta(days=3))
        assert counts[0] == counts[1], counts
        assert all("SKIP LOCKED" in q["sql"] for q in queries if "FOR UPDATE" in q["sql"])


# --- milestone 1 starts with the order --------------------------------------------------------


def test_milestone_1_started_is_told_like_the_others(clock):  # noqa: F811
    order = paid_order()
    m1, m2, _ = milestones_of(order)
    started = Notification.objects.filter(kind="milestone_started", order=order)
    assert sorted(started.values_list("user_id", "dedupe_key", "milestone_id", "text")) == sorted(
        [
            (
                order.buyer_id,
                f"milestone-{m1.pk}-started:buyer",
                m1.pk,
                f"Milestone 1 of order #{order.pk} has started.",
            ),
            (
                order.seller_id,
                f"milestone-{m1.pk}-started:seller",
                m1.pk,
                f"Milestone 1 of order #{order.pk} has started.",
            ),
        ]
    )
    assert Notification.objects.filter(kind="order_funded", order=order).count() == 2
    deliver(m1)
    accept(m1)
    assert set(started.values_list("milestone_id", flat=True)) == {m1.pk, m2.pk}
    assert started.count() == 4
