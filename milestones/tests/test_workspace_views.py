"""The workspace pages: the workspace from each side (and 404 for everyone else), its forms
(tasks, notes, messages with attachments) with their errors, the attachment download, the Team
page and the dashboard, with fixed query counts as orders, tasks, notes and messages grow."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gigs.tests.factories import UserFactory
from milestones import lifecycle as states
from milestones import workspace as ws
from milestones.models import (
    CancellationRequest,
    Delivery,
    MessageAttachment,
    MilestoneNote,
    Order,
    OrderEvent,
    OrderMessage,
    OrderMilestone,
    Task,
    TeamMember,
)
from payments import lifecycle
from payments.models import LedgerEntry, Payout, Refund
from payments.tests.factories import gig_with_plan, pay, place_order

pytestmark = pytest.mark.django_db


def paid_order(**kwargs) -> Order:
    order = place_order(**kwargs)
    pay(order)
    order.refresh_from_db()
    return order


def join(seller, user=None) -> TeamMember:
    user = user or UserFactory()
    row = ws.team_invite(seller=seller, identifier=user.username)
    return ws.team_accept(member=user, team_member_id=row.pk)


def first(order) -> OrderMilestone:
    return order.milestones.order_by("position").first()


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def url(order) -> str:
    return reverse("order-workspace", args=[order.pk])


def count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx)


def upload(name="brief.pdf", size=10) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"x" * size)


@pytest.fixture
def order():
    return paid_order()


@pytest.fixture
def seller(order):
    return order.seller


@pytest.fixture
def buyer(order):
    return order.buyer


@pytest.fixture
def member(seller):
    return join(seller).member


def add_task(order, title, user=None, milestone=None, **kwargs) -> Task:
    milestone = milestone or first(order)
    return ws.task_add(user=user or order.seller, order_id=order.pk, milestone_id=milestone.pk, title=title, **kwargs)


def note(order, body, user=None, visibility="team") -> MilestoneNote:
    return ws.note_add(
        user=user or order.seller, order_id=order.pk, milestone_id=first(order).pk, body=body, visibility=visibility
    )


# --- the workspace page ---------------------------------------------------------------------------


class TestWorkspacePage:
    def test_each_party_opens_it(self, client, order, seller, buyer, member):
        for user, role in (
            (buyer, "you are the buyer"),
            (seller, "you are the seller"),
            (member, "in the seller's team"),
        ):
            client.force_login(user)
            response = client.get(url(order))
            assert response.status_code == 200
            assert role in text(response)
            assert "Concepts" in text(response) and "Refinement" in text(response) and "Final files" in text(response)

    def test_everyone_else_gets_404(self, client, order, seller):
        invited = ws.team_invite(seller=seller, identifier=UserFactory().username).member
        removed = join(seller)
        ws.team_remove(seller=seller, team_member_id=removed.pk)
        for user in (UserFactory(), invited, removed.member, join(UserFactory()).member):
            client.force_login(user)
            assert client.get(url(order)).status_code == 404
        client.force_login(seller)
        assert client.get(reverse("order-workspace", args=[order.pk + 999])).status_code == 404

    def test_login_required(self, client, order):
        response = client.get(url(order))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    def test_an_unpaid_order_is_the_buyers_read_only_page(self, client):
        order = place_order()
        member = join(order.seller).member
        for user in (order.seller, member):
            client.force_login(user)
            assert client.get(url(order)).status_code == 404
        client.force_login(order.buyer)
        response = client.get(url(order))
        assert response.status_code == 200
        assert "The workspace opens once the order is paid" in text(response)
        assert "Send message" not in text(response) and "Add note" not in text(response)
        assert "when paid" in text(response)

    def test_a_team_member_sees_no_money(self, client, order, member):
        client.force_login(member)
        page = text(client.get(url(order)))
        for amount in ("$20", "$30", "$25", "$75", "$82", "20.00", "Commission", "fee", "You receive", "payout"):
            assert amount not in page
        # and the order page, which shows money, stays the buyer's and the seller's
        assert client.get(reverse("order-detail", args=[order.pk])).status_code == 404

    def test_the_buyer_sees_tasks_read_only_and_shared_notes_only(self, client, order, buyer, member):
        done = add_task(order, "Sketch three concepts", assignee_id=member.pk)
        add_task(order, "Pick a palette")
        ws.task_set_done(user=member, order_id=order.pk, task_id=done.pk, done=True)
        note(order, "Secret team plan", user=member)
        note(order, "Concepts arrive Friday", visibility="shared")
        client.force_login(buyer)
        response = client.get(url(order))
        page = text(response)
        assert "Sketch three concepts" in page and "Pick a palette" in page
        assert "50%" in page
        assert "Concepts arrive Friday" in page and "Secret team plan" not in page
        assert "Mark done" not in page and "Add task" not in page and "Assign" not in page
        assert member.public_name not in page  # who does what stays the seller's business
        assert "Add note" in page  # the buyer writes (shared) notes
        assert f'name="note-{first(order).pk}-visibility"' not in response.content.decode()

    def test_the_seller_side_sees_everything_and_the_planning_forms(self, client, order, seller, member):
        add_task(order, "Sketch", assignee_id=member.pk)
        note(order, "Secret team plan", user=member)
        client.force_login(seller)
        page = text(client.get(url(order)))
        assert "Secret team plan" in page and "Team only" in page
        assert "Add task" in page and "Mark done" in page and member.public_name in page

    def test_timeline_shows_insights(self, client, order, seller):
        m = first(order)
        now = timezone.now()
        OrderMilestone.objects.filter(pk=m.pk).update(
            started_at=now - timedelta(days=3), due_at=now - timedelta(hours=1)
        )
        client.force_login(seller)
        page = text(client.get(url(order)))
        assert "Late" in page

    def test_query_count_does_not_grow(self, client, order, seller, buyer, member, django_assert_num_queries):
        def fill(n):
            for i in range(n):
                task = add_task(order, f"Task {i}", assignee_id=member.pk)
                add_task(order, f"Sub {i}", parent_id=task.pk, assignee_id=seller.pk)
                note(order, f"Note {i}", visibility="shared")
                ws.message_post(user=buyer, order_id=order.pk, body=f"Message {i}", files=[upload(f"f{i}.pdf")])

        fill(1)
        # session, user, order with role, milestones, tasks, notes, messages, attachments, assignees
        # (seller's side only), plus whatever the base template reads: measured at 1 row each.
        baseline = {}
        for user in (seller, member, buyer):
            client.force_login(user)
            baseline[user.pk] = count_queries(client, url(order))
        assert baseline[seller.pk] == baseline[member.pk] == baseline[buyer.pk] + 1
        fill(5)
        for user in (seller, member, buyer):
            client.force_login(user)
            with django_assert_num_queries(baseline[user.pk]):
                response = client.get(url(order))
            assert len(re.findall(r"Message \d", text(response))) == 6


# --- task and note forms --------------------------------------------------------------------------


class TestTaskForms:
    def post_task(self, client, order, milestone=None, **data):
        milestone = milestone or first(order)
        prefix = f"task-{milestone.pk}"
        return client.post(
            reverse("workspace-task-add", args=[order.pk, milestone.pk]),
            {f"{prefix}-{k}": v for k, v in data.items()},
        )

    def test_add_a_task_and_a_subtask(self, client, order, seller, member):
        client.force_login(member)
        response = self.post_task(client, order, title="Wireframes", assignee=str(seller.pk))
        m = first(order)
        assert response.status_code == 302 and response["Location"] == f"{url(order)}#milestone-{m.pk}"
        task = Task.objects.get()
        assert (task.title, task.assignee, task.created_by) == ("Wireframes", seller, member)
        self.post_task(client, order, title="Header", parent=str(task.pk))
        assert Task.objects.get(parent=task).title == "Header"

    def test_errors_are_shown_next_to_the_form(self, client, order, seller):
        client.force_login(seller)
        response = self.post_task(client, order, title="")
        assert response.status_code == 200
        assert "This field is required." in text(response)
        stranger = UserFactory()
        response = self.post_task(client, order, title="X", assignee=str(stranger.pk))
        assert "Select a valid choice." in text(response)
        assert not Task.objects.exists()

    def test_service_refusals_are_shown_on_the_form(self, client, order, seller):
        OrderMilestone.objects.filter(pk=first(order).pk).update(status="accepted")
        client.force_login(seller)
        response = self.post_task(client, order, title="Late idea")
        assert response.status_code == 200
        assert "This milestone is accepted: its tasks can no longer change." in text(response)

    def test_the_buyer_is_forbidden_and_strangers_get_404(self, client, order, buyer):
        client.force_login(buyer)
        assert self.post_task(client, order, title="Mine").status_code == 403
        client.force_login(UserFactory())
        assert self.post_task(client, order, title="Mine").status_code == 404
        other = paid_order(gig=order.gig)
        client.force_login(order.seller)
        assert self.post_task(client, order, milestone=first(other), title="X").status_code == 404
        assert not Task.objects.exists()

    def test_tick_assign_delete(self, client, order, seller, member):
        task = add_task(order, "Wireframes")
        client.force_login(member)
        done_url = reverse("workspace-task-done", args=[order.pk, task.pk])
        response = client.post(done_url, {"done": "1"})
        assert response["Location"] == f"{url(order)}#task-{task.pk}"
        task.refresh_from_db()
        assert task.done
        client.post(done_url, {"done": "0"})
        task.refresh_from_db()
        assert not task.done
        client.post(reverse("workspace-task-assign", args=[order.pk, task.pk]), {"assignee": str(member.pk)})
        task.refresh_from_db()
        assert task.assignee == member
        response = client.post(
            reverse("workspace-task-assign", args=[order.pk, task.pk]), {"assignee": str(UserFactory().pk)}, follow=True
        )
        assert "Assign it to the seller or an active member of their team." in text(response)
        assert client.post(
            reverse("workspace-task-assign", args=[order.pk, task.pk]), {"assignee": "x"}
        ).status_code == (404)
        response = client.post(reverse("workspace-task-delete", args=[order.pk, task.pk]))
        assert response["Location"] == f"{url(order)}#milestone-{first(order).pk}"
        assert not Task.objects.exists()

    def test_inline_actions_refuse_the_buyer_and_strangers(self, client, order, buyer):
        task = add_task(order, "Wireframes")
        for user, status in ((buyer, 403), (UserFactory(), 404)):
            client.force_login(user)
            assert client.post(reverse("workspace-task-done", args=[order.pk, task.pk]), {"done": "1"}).status_code == (
                status
            )
            assert client.post(reverse("workspace-task-delete", args=[order.pk, task.pk])).status_code == status
        assert client.get(reverse("workspace-task-delete", args=[order.pk, task.pk])).status_code == 405
        task.refresh_from_db()
        assert not task.done


class TestNoteForms:
    def post_note(self, client, order, **data):
        m = first(order)
        return client.post(
            reverse("workspace-note-add", args=[order.pk, m.pk]), {f"note-{m.pk}-{k}": v for k, v in data.items()}
        )

    def test_seller_side_chooses_visibility(self, client, order, member):
        client.force_login(member)
        assert self.post_note(client, order, body="Internal", visibility="team").status_code == 302
        assert self.post_note(client, order, body="Hello buyer", visibility="shared").status_code == 302
        assert list(MilestoneNote.objects.values_list("visibility", flat=True)) == ["team", "shared"]
        response = self.post_note(client, order, body="No choice")
        assert response.status_code == 200 and "This field is required." in text(response)

    def test_buyer_notes_are_shared(self, client, order, buyer):
        client.force_login(buyer)
        assert self.post_note(client, order, body="Love it", visibility="team").status_code == 302
        assert MilestoneNote.objects.get().visibility == "shared"
        response = self.post_note(client, order, body="")
        assert "This field is required." in text(response)

    def test_delete(self, client, order, seller, buyer):
        own = note(order, "Mine")
        buyers = note(order, "Buyer's", user=buyer)
        client.force_login(seller)
        response = client.post(reverse("workspace-note-delete", args=[order.pk, buyers.pk]))
        assert response.status_code == 403
        client.post(reverse("workspace-note-delete", args=[order.pk, own.pk]))
        assert list(MilestoneNote.objects.all()) == [buyers]
        client.force_login(buyer)
        team_note = note(order, "Team")
        assert client.post(reverse("workspace-note-delete", args=[order.pk, team_note.pk])).status_code == 404


# --- messages and attachments ---------------------------------------------------------------------


class TestMessages:
    def post(self, client, order, body="", files=()):
        return client.post(reverse("order-message-post", args=[order.pk]), {"body": body, "files": list(files)})

    def test_post_with_files_and_download_them(self, client, order, seller, buyer, member):
        client.force_login(buyer)
        response = self.post(client, order, "Here is the brief", [upload("brief.pdf", 12), upload("logo.png", 3)])
        assert response.status_code == 302 and response["Location"] == f"{url(order)}#messages"
        message = OrderMessage.objects.get()
        assert message.attachments.count() == 2
        attachment = message.attachments.get(name="brief.pdf")
        file_url = reverse("order-message-file", args=[order.pk, attachment.pk])
        page = client.get(url(order)).content.decode()
        assert file_url in page and "/media/" not in page
        for user in (buyer, seller, member):
            client.force_login(user)
            response = client.get(file_url)
            assert response.status_code == 200
            assert b"".join(response.streaming_content) == b"x" * 12
            assert response["Content-Disposition"] == 'attachment; filename="brief.pdf"'
            assert response["Content-Type"] == "application/pdf"
            assert "no-store" in response["Cache-Control"]

    def test_download_is_for_the_parties_only(self, client, order, seller, buyer):
        attachment = MessageAttachment.objects.get(
            message=ws.message_post(user=buyer, order_id=order.pk, body="", files=[upload()])
        )
        file_url = reverse("order-message-file", args=[order.pk, attachment.pk])
        removed = join(seller)
        ws.team_remove(seller=seller, team_member_id=removed.pk)
        for user in (UserFactory(), removed.member, join(UserFactory()).member):
            client.force_login(user)
            assert client.get(file_url).status_code == 404
        # the attachment through another order's URL, even one the viewer is a party to
        other = paid_order(buyer=buyer)
        client.force_login(buyer)
        assert client.get(reverse("order-message-file", args=[other.pk, attachment.pk])).status_code == 404
        client.logout()
        assert client.get(file_url).status_code == 302

    def test_a_missing_file_is_404(self, client, order, buyer):
        message = ws.message_post(user=buyer, order_id=order.pk, body="", files=[upload()])
        attachment = message.attachments.get()
        attachment.file.storage.delete(attachment.file.name)
        client.force_login(buyer)
        assert client.get(reverse("order-message-file", args=[order.pk, attachment.pk])).status_code == 404

    @pytest.mark.parametrize(
        "files,error",
        [
            (lambda: [upload(f"f{i}.txt") for i in range(3)], "Attach at most 2 files to a message (you chose 3)."),
            (lambda: [upload("big.pdf", 101)], "“big.pdf” is 101 bytes; the limit is 100 bytes per file."),
            (lambda: [upload("script.exe")], "“script.exe” is not an allowed type."),
        ],
    )
    def test_refused_files_show_an_error_and_save_nothing(self, client, order, buyer, settings, files, error):
        settings.MARKETPLACE = {**settings.MARKETPLACE, "UPLOAD_MAX_FILES": 2, "UPLOAD_MAX_BYTES": 100}
        client.force_login(buyer)
        response = self.post(client, order, "See attached", files())
        assert response.status_code == 200
        assert error in text(response)
        assert "See attached" in response.content.decode()  # the text typed is kept
        assert not OrderMessage.objects.exists() and not MessageAttachment.objects.exists()

    def test_an_empty_message_is_refused(self, client, order, seller):
        client.force_login(seller)
        response = self.post(client, order, "  ")
        assert "Write a message or attach a file." in text(response)
        assert not OrderMessage.objects.exists()

    def test_strangers_and_unpaid_orders(self, client, order):
        client.force_login(UserFactory())
        assert self.post(client, order, "Hi").status_code == 404
        unpaid = place_order()
        client.force_login(unpaid.buyer)
        response = self.post(client, unpaid, "Hi")
        assert "The workspace opens once the order is paid." in text(response)
        assert not OrderMessage.objects.exists()

    def test_team_messages_are_labelled(self, client, order, member):
        client.force_login(member)
        self.post(client, order, "From the team")
        assert "Seller's team" in text(client.get(url(order)))


# --- team page ------------------------------------------------------------------------------------


class TestTeamPage:
    def test_invite_accept_remove(self, client, order, seller):
        invitee = UserFactory(username="helper")
        client.force_login(seller)
        response = client.post(reverse("team"), {"identifier": "helper"})
        assert response.status_code == 302 and response["Location"] == reverse("team")
        row = TeamMember.objects.get()
        page = text(client.get(reverse("team")))
        assert "helper" in page and "Invitation sent" in page and "Withdraw invitation" in page

        client.force_login(invitee)
        page = text(client.get(reverse("team")))
        assert "Teams you were invited to" in page and seller.public_name in page
        client.post(reverse("team-accept", args=[row.pk]))
        row.refresh_from_db()
        assert row.status == TeamMember.Status.ACTIVE
        assert client.get(url(order)).status_code == 200

        client.force_login(seller)
        client.post(reverse("team-remove", args=[row.pk]))
        client.force_login(invitee)
        assert client.get(url(order)).status_code == 404

    def test_invite_errors(self, client, seller):
        UserFactory(username="twice")
        client.force_login(seller)
        for identifier, error in (
            ("", "This field is required."),
            ("ghost", "There is no account with that username or email address."),
            (seller.username, "You cannot invite yourself."),
        ):
            response = client.post(reverse("team"), {"identifier": identifier})
            assert response.status_code == 200 and error in text(response)
        client.post(reverse("team"), {"identifier": "twice"})
        assert "twice is already invited." in text(client.post(reverse("team"), {"identifier": "twice"}))

    def test_decline_and_leave(self, client, seller):
        invited = ws.team_invite(seller=seller, identifier=UserFactory().username)
        client.force_login(invited.member)
        client.post(reverse("team-leave", args=[invited.pk]))
        invited.refresh_from_db()
        assert invited.status == TeamMember.Status.REMOVED
        assert "No invitations." in text(client.get(reverse("team")))

    def test_other_peoples_rows_are_404(self, client, seller):
        row = join(seller)
        client.force_login(UserFactory())
        assert client.post(reverse("team-remove", args=[row.pk])).status_code == 404
        assert client.post(reverse("team-accept", args=[row.pk])).status_code == 404
        assert client.post(reverse("team-leave", args=[row.pk])).status_code == 404

    def test_login_required(self, client):
        assert client.get(reverse("team"))["Location"].startswith(reverse("login"))
        assert client.get(reverse("seller-dashboard"))["Location"].startswith(reverse("login"))


# --- dashboard ------------------------------------------------------------------------------------


def set_clock(order, *, started_hours_ago: float, due_in_hours: float) -> OrderMilestone:
    now = timezone.now()
    m = first(order)
    OrderMilestone.objects.filter(pk=m.pk).update(
        started_at=now - timedelta(hours=started_hours_ago), due_at=now + timedelta(hours=due_in_hours)
    )
    return m


class TestDashboard:
    def test_lists_late_and_at_risk_milestones_only(self, client):
        gig = gig_with_plan()
        seller = gig.seller
        late, at_risk, on_track = (paid_order(gig=gig) for _ in range(3))
        set_clock(late, started_hours_ago=50, due_in_hours=-2)
        set_clock(at_risk, started_hours_ago=40, due_in_hours=8)
        add_task(at_risk, "Open task")
        set_clock(on_track, started_hours_ago=1, due_in_hours=47)
        add_task(on_track, "Open task")
        client.force_login(seller)
        response = client.get(reverse("seller-dashboard"))
        rows = response.context["attention"]
        assert [(r.order.pk, r.insight) for r in rows] == [(late.pk, "late"), (at_risk.pk, "at_risk")]
        page = text(response)
        assert "Late" in page and "At risk" in page
        assert [o.pk for o in response.context["orders"]] == [on_track.pk, at_risk.pk, late.pk]
        assert "$" not in page

    def test_team_members_see_their_teams_orders_not_others(self, client):
        order, elsewhere = paid_order(), paid_order()
        set_clock(order, started_hours_ago=50, due_in_hours=-1)
        set_clock(elsewhere, started_hours_ago=50, due_in_hours=-1)
        member = join(order.seller).member
        client.force_login(member)
        response = client.get(reverse("seller-dashboard"))
        assert [r.order.pk for r in response.context["attention"]] == [order.pk]
        assert [o.pk for o in response.context["orders"]] == [order.pk]
        assert f"{order.seller.public_name}’s team" in text(response)

    def test_unpaid_and_finished_orders_are_left_out(self, client):
        gig = gig_with_plan()
        place_order(gig=gig)
        done = paid_order(gig=gig)
        set_clock(done, started_hours_ago=50, due_in_hours=-1)
        Order.objects.filter(pk=done.pk).update(status=Order.Status.COMPLETED)
        client.force_login(gig.seller)
        response = client.get(reverse("seller-dashboard"))
        assert response.context["attention"] == [] and response.context["orders"] == []
        assert "Nothing is late or at risk." in text(response)

    def test_query_count_does_not_grow(self, client, django_assert_num_queries):
        gig = gig_with_plan()
        member = join(gig.seller).member

        def orders(n):
            for _ in range(n):
                order = paid_order(gig=gig)
                set_clock(order, started_hours_ago=50, due_in_hours=-1)
                add_task(order, "A")
                add_task(order, "B")

        orders(1)
        # session, user, milestones needing attention (with task counts), active orders, plus
        # whatever the base template reads: measured at 1 order, the same at 7.
        baseline = {}
        for user in (gig.seller, member):
            client.force_login(user)
            baseline[user.pk] = count_queries(client, reverse("seller-dashboard"))
        assert baseline[gig.seller.pk] == baseline[member.pk]
        orders(6)
        for user in (gig.seller, member):
            client.force_login(user)
            with django_assert_num_queries(baseline[user.pk]):
                response = client.get(reverse("seller-dashboard"))
            assert len(response.context["attention"]) == 7 and len(response.context["orders"]) == 7


# --- team members never touch money or the milestone lifecycle -----------------------------------


class TestTeamMembersAndTheLifecycle:
    """A team member sees the seller's orders in the workspace, but the lifecycle (deliver,
    accept, revise, stop, cancel, answer, download the delivered files, the lifecycle API) is the
    parties' own: 404 for the member, as for anyone else, and nothing changes."""

    @pytest.fixture
    def state(self, order, seller, buyer):
        m1 = first(order)
        delivery = states.milestone_deliver(
            milestone_id=m1.pk, seller=seller, message="Concepts.", files=[SimpleUploadedFile("logo.png", b"PNG")]
        )
        other = paid_order(gig=order.gig)
        req = lifecycle.cancellation_request(milestone_id=first(other).pk, user=other.buyer, reason="Changed plans.")
        return {"m1": m1, "file": delivery.files.get(), "other": other, "request": req}

    @staticmethod
    def snapshot() -> tuple:
        return (
            list(OrderMilestone.objects.order_by("pk").values_list("pk", "status", "revisions_used")),
            list(CancellationRequest.objects.order_by("pk").values_list("pk", "status")),
            Delivery.objects.count(),
            OrderEvent.objects.count(),
            Payout.objects.count(),
            Refund.objects.count(),
            LedgerEntry.objects.count(),
        )

    def test_the_pages_are_404(self, client, order, member, state):
        m1, other, req = state["m1"], state["other"], state["request"]
        before = self.snapshot()
        client.force_login(member)
        assert client.get(url(order)).status_code == 200  # the workspace is theirs to see
        milestone = [order.pk, m1.pk]
        posts = [
            (reverse("milestone-accept", args=milestone), {}),
            (reverse("milestone-request-revision", args=milestone), {"reason": "Bolder."}),
            (reverse("milestone-deliver", args=milestone), {"message": "Mine.", "files": [upload("x.pdf")]}),
            (reverse("milestone-cancel-request", args=milestone), {"reason": "Too much work."}),
            (reverse("milestone-cancel-late", args=milestone), {"confirm": "on"}),
            (reverse("order-stop", args=[order.pk]), {"confirm": "on"}),
            (reverse("milestone-cancel-request", args=[other.pk, first(other).pk]), {"reason": "No."}),
            (reverse("cancellation-answer", args=[other.pk, req.pk]), {"answer": "accept"}),
        ]
        for path, data in posts:
            assert client.post(path, data).status_code == 404, path
        for path in (
            reverse("order-detail", args=[order.pk]),
            reverse("order-file", args=[order.pk, state["file"].pk]),
        ):
            assert client.get(path).status_code == 404, path
        assert self.snapshot() == before

    def test_the_lifecycle_api_is_404(self, api_client, order, member, state):
        m1, other, req = state["m1"], state["other"], state["request"]
        before = self.snapshot()
        api_client.force_authenticate(member)
        milestone = [order.pk, m1.pk]
        calls = [
            ("get", reverse("api-order", args=[order.pk]), None),
            ("post", reverse("api-milestone-accept", args=milestone), {}),
            ("post", reverse("api-milestone-request-revision", args=milestone), {"reason": "Bolder."}),
            ("post", reverse("api-milestone-deliver", args=milestone), {"message": "Mine."}),
            ("post", reverse("api-milestone-cancel-request", args=milestone), {"reason": "Too much."}),
            ("post", reverse("api-milestone-cancel-late", args=milestone), {}),
            ("post", reverse("api-order-stop", args=[order.pk]), {}),
            ("post", reverse("api-cancellation-answer", args=[req.pk]), {"accept": True}),
            ("post", reverse("api-cancellation-answer", args=[req.pk]), {"accept": False}),
        ]
        for method, path, data in calls:
            response = (
                getattr(api_client, method)(path, data, format="json") if data is not None else api_client.get(path)
            )
            assert response.status_code == 404, (path, response.status_code, response.content[:200])
        assert self.snapshot() == before
        ids = [o["id"] for o in api_client.get(reverse("api-orders"), {"role": "seller"}).json()["results"]]
        assert order.pk not in ids and other.pk not in ids
