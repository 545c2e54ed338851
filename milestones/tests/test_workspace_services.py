"""The workspace services and selectors: the team (invite, accept, leave, remove), who may open a
workspace, tasks and subtasks, notes, messages with attachments, and the computed timeline,
progress and insights. Orders are built and paid through the real services."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from gigs.tests.factories import UserFactory
from marketplace.exceptions import NotFound, ValidationFailed
from milestones import workspace as ws
from milestones import workspace_selectors as sel
from milestones.models import MessageAttachment, MilestoneNote, Order, OrderMessage, OrderMilestone, Task, TeamMember
from payments.tests.factories import pay, place_order

pytestmark = pytest.mark.django_db


def paid_order(**kwargs) -> Order:
    order = place_order(**kwargs)
    pay(order)
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
    return order


def join(seller, user=None) -> TeamMember:
    """`user` (a new one by default) invited to and accepted into the seller's team."""
    user = user or UserFactory()
    row = ws.team_invite(seller=seller, identifier=user.username)
    return ws.team_accept(member=user, team_member_id=row.pk)


def first(order) -> OrderMilestone:
    return order.milestones.order_by("position").first()


def upload(name="brief.pdf", size=10, content=None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else b"x" * size, content_type="text/html")


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


# --- team -----------------------------------------------------------------------------------------


class TestTeam:
    def test_invite_by_username_or_email_case_insensitively(self, seller):
        ann, bob = UserFactory(username="ann"), UserFactory(username="bob", email="Bob@Example.com")
        first_row = ws.team_invite(seller=seller, identifier=" ANN ")
        second_row = ws.team_invite(seller=seller, identifier="bob@example.COM")
        assert (first_row.member, first_row.status) == (ann, TeamMember.Status.INVITED)
        assert (second_row.member, second_row.status) == (bob, TeamMember.Status.INVITED)

    @pytest.mark.parametrize(
        "identifier,message",
        [
            ("", "Enter a username or an email address."),
            ("   ", "Enter a username or an email address."),
            ("nobody-here", "There is no account with that username or email address."),
            ("nobody@example.com", "There is no account with that username or email address."),
        ],
    )
    def test_invite_refuses_bad_identifiers(self, seller, identifier, message):
        with pytest.raises(ValidationFailed) as exc:
            ws.team_invite(seller=seller, identifier=identifier)
        assert exc.value.errors == {"identifier": [message]}
        assert not TeamMember.objects.exists()

    def test_cannot_invite_oneself(self, seller):
        with pytest.raises(ValidationFailed) as exc:
            ws.team_invite(seller=seller, identifier=seller.email)
        assert exc.value.errors == {"identifier": ["You cannot invite yourself."]}

    def test_cannot_invite_twice(self, seller):
        user = UserFactory()
        ws.team_invite(seller=seller, identifier=user.username)
        with pytest.raises(ws.AlreadyInTeam, match="already invited"):
            ws.team_invite(seller=seller, identifier=user.email)
        join(seller, UserFactory(username="active-one"))
        with pytest.raises(ws.AlreadyInTeam, match="already in your team") as exc:
            ws.team_invite(seller=seller, identifier="active-one")
        assert exc.value.field == "identifier"

    def test_a_removed_member_can_be_invited_again(self, seller):
        row = join(seller)
        ws.team_remove(seller=seller, team_member_id=row.pk)
        again = ws.team_invite(seller=seller, identifier=row.member.username)
        assert again.pk == row.pk and again.status == TeamMember.Status.INVITED

    def test_accept_is_for_the_invitee_only_and_idempotent(self, seller):
        user = UserFactory()
        row = ws.team_invite(seller=seller, identifier=user.username)
        with pytest.raises(NotFound):
            ws.team_accept(member=UserFactory(), team_member_id=row.pk)
        with pytest.raises(NotFound):
            ws.team_accept(member=seller, team_member_id=row.pk)
        assert ws.team_accept(member=user, team_member_id=row.pk).status == TeamMember.Status.ACTIVE
        assert ws.team_accept(member=user, team_member_id=row.pk).status == TeamMember.Status.ACTIVE

    def test_a_withdrawn_invitation_cannot_be_accepted(self, seller):
        user = UserFactory()
        row = ws.team_invite(seller=seller, identifier=user.username)
        ws.team_remove(seller=seller, team_member_id=row.pk)
        with pytest.raises(NotFound):
            ws.team_accept(member=user, team_member_id=row.pk)

    def test_remove_is_for_the_seller_only_and_idempotent(self, seller):
        row = join(seller)
        with pytest.raises(NotFound):
            ws.team_remove(seller=UserFactory(), team_member_id=row.pk)
        with pytest.raises(NotFound):
            ws.team_remove(seller=row.member, team_member_id=row.pk)
        assert ws.team_remove(seller=seller, team_member_id=row.pk).status == TeamMember.Status.REMOVED
        assert ws.team_remove(seller=seller, team_member_id=row.pk).status == TeamMember.Status.REMOVED

    def test_removing_a_member_unassigns_their_open_tasks_only(self, order, seller):
        row = join(seller)
        m = first(order)
        open_task = ws.task_add(
            user=seller, order_id=order.pk, milestone_id=m.pk, title="Open", assignee_id=row.member_id
        )
        done_task = ws.task_add(
            user=seller, order_id=order.pk, milestone_id=m.pk, title="Done", assignee_id=row.member_id
        )
        ws.task_set_done(user=seller, order_id=order.pk, task_id=done_task.pk, done=True)
        ws.team_remove(seller=seller, team_member_id=row.pk)
        open_task.refresh_from_db()
        done_task.refresh_from_db()
        assert open_task.assignee is None
        assert done_task.assignee == row.member  # who did it

    def test_a_member_declines_or_leaves(self, order, seller):
        invited = ws.team_invite(seller=seller, identifier=UserFactory().username)
        assert ws.team_leave(member=invited.member, team_member_id=invited.pk).status == TeamMember.Status.REMOVED
        row = join(seller)
        task = ws.task_add(
            user=seller, order_id=order.pk, milestone_id=first(order).pk, title="T", assignee_id=row.member_id
        )
        with pytest.raises(NotFound):
            ws.team_leave(member=UserFactory(), team_member_id=row.pk)
        ws.team_leave(member=row.member, team_member_id=row.pk)
        task.refresh_from_db()
        assert task.assignee is None
        with pytest.raises(NotFound):
            sel.workspace_access(user=row.member, order_id=order.pk)


# --- who opens a workspace ------------------------------------------------------------------------


class TestAccess:
    def test_roles_on_a_paid_order(self, order, seller, buyer, member):
        assert sel.workspace_access(user=buyer, order_id=order.pk).role == sel.BUYER
        assert sel.workspace_access(user=seller, order_id=order.pk).role == sel.SELLER
        access = sel.workspace_access(user=member, order_id=order.pk)
        assert access.role == sel.TEAM and access.is_seller_side and access.is_open

    def test_strangers_and_outsiders_get_not_found(self, order, seller):
        from django.contrib.auth.models import AnonymousUser

        invited = ws.team_invite(seller=seller, identifier=UserFactory().username).member
        other_team = join(UserFactory()).member
        removed = join(seller)
        ws.team_remove(seller=seller, team_member_id=removed.pk)
        for user in (UserFactory(), AnonymousUser(), invited, other_team, removed.member):
            with pytest.raises(NotFound):
                sel.workspace_access(user=user, order_id=order.pk)
        with pytest.raises(NotFound):
            sel.workspace_access(user=seller, order_id=order.pk + 1000)

    def test_an_unpaid_order_is_the_buyers_only_and_read_only(self):
        order = place_order()
        member = join(order.seller).member
        access = sel.workspace_access(user=order.buyer, order_id=order.pk)
        assert access.is_buyer and not access.is_open
        for user in (order.seller, member):
            with pytest.raises(NotFound):
                sel.workspace_access(user=user, order_id=order.pk)
        with pytest.raises(ws.WorkspaceClosed):
            ws.message_post(user=order.buyer, order_id=order.pk, body="Hello?")
        with pytest.raises(ws.WorkspaceClosed):
            ws.note_add(user=order.buyer, order_id=order.pk, milestone_id=first(order).pk, body="Hi")


# --- tasks ----------------------------------------------------------------------------------------


class TestTasks:
    def test_seller_and_team_add_tasks_and_subtasks_in_order(self, order, seller, member):
        m = first(order)
        a = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="  Sketches ", assignee_id=member.pk)
        b = ws.task_add(user=member, order_id=order.pk, milestone_id=m.pk, title="Palette", assignee_id=seller.pk)
        sub1 = ws.task_add(user=member, order_id=order.pk, milestone_id=m.pk, title="Sub 1", parent_id=a.pk)
        sub2 = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="Sub 2", parent_id=a.pk)
        assert (a.title, a.assignee, a.created_by, a.position) == ("Sketches", member, seller, 0)
        assert (b.assignee, b.created_by, b.position) == (seller, member, 1)
        assert (sub1.parent, sub1.position, sub2.position, sub1.assignee) == (a, 0, 1, None)

    def test_the_buyer_cannot_plan(self, order, buyer):
        with pytest.raises(ws.WorkspaceForbidden):
            ws.task_add(user=buyer, order_id=order.pk, milestone_id=first(order).pk, title="Mine")
        assert not Task.objects.exists()

    def test_strangers_get_not_found(self, order, seller):
        task = ws.task_add(user=seller, order_id=order.pk, milestone_id=first(order).pk, title="T")
        stranger = UserFactory()
        with pytest.raises(NotFound):
            ws.task_add(user=stranger, order_id=order.pk, milestone_id=first(order).pk, title="X")
        for call in (
            lambda: ws.task_set_done(user=stranger, order_id=order.pk, task_id=task.pk, done=True),
            lambda: ws.task_assign(user=stranger, order_id=order.pk, task_id=task.pk, assignee_id=None),
            lambda: ws.task_delete(user=stranger, order_id=order.pk, task_id=task.pk),
        ):
            with pytest.raises(NotFound):
                call()

    def test_objects_of_another_order_are_not_found(self, order, seller):
        other = paid_order(gig=order.gig)
        other_task = ws.task_add(user=seller, order_id=other.pk, milestone_id=first(other).pk, title="Other")
        with pytest.raises(NotFound):
            ws.task_add(user=seller, order_id=order.pk, milestone_id=first(other).pk, title="X")
        with pytest.raises(NotFound):
            ws.task_set_done(user=seller, order_id=order.pk, task_id=other_task.pk, done=True)
        with pytest.raises(ValidationFailed) as exc:
            ws.task_add(
                user=seller, order_id=order.pk, milestone_id=first(order).pk, title="X", parent_id=other_task.pk
            )
        assert exc.value.errors == {"parent": ["Choose a task of this milestone."]}

    @pytest.mark.parametrize(
        "title,message", [("", "Give the task a title."), ("  ", "Give the task a title."), ("x" * 201, "at most 200")]
    )
    def test_title_is_required_and_bounded(self, order, seller, title, message):
        with pytest.raises(ValidationFailed, match=message) as exc:
            ws.task_add(user=seller, order_id=order.pk, milestone_id=first(order).pk, title=title)
        assert list(exc.value.errors) == ["title"]

    def test_assignee_must_be_the_seller_or_an_active_member(self, order, seller, buyer):
        invited = ws.team_invite(seller=seller, identifier=UserFactory().username).member
        other_sellers_member = join(UserFactory()).member
        m = first(order)
        for user in (buyer, invited, other_sellers_member):
            with pytest.raises(ValidationFailed) as exc:
                ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="T", assignee_id=user.pk)
            assert exc.value.errors == {"assignee": ["Assign it to the seller or an active member of their team."]}
        task = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="T")
        with pytest.raises(ValidationFailed):
            ws.task_assign(user=seller, order_id=order.pk, task_id=task.pk, assignee_id=invited.pk)

    def test_one_level_of_subtasks(self, order, seller):
        m = first(order)
        parent = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="Parent")
        sub = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="Sub", parent_id=parent.pk)
        with pytest.raises(ValidationFailed) as exc:
            ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="Subsub", parent_id=sub.pk)
        assert exc.value.errors == {"parent": ["A subtask cannot have subtasks of its own."]}
        second = order.milestones.get(position=1)
        with pytest.raises(ValidationFailed):
            ws.task_add(user=seller, order_id=order.pk, milestone_id=second.pk, title="X", parent_id=parent.pk)

    def test_a_milestone_holds_a_bounded_number_of_tasks(self, order, seller, monkeypatch):
        monkeypatch.setattr(ws, "TASKS_PER_MILESTONE_MAX", 2)
        m = first(order)
        for title in ("One", "Two"):
            ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title=title)
        with pytest.raises(ValidationFailed, match="at most 2 tasks"):
            ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="Three")

    def test_tick_assign_and_delete(self, order, seller, member):
        m = first(order)
        task = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="T")
        sub = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="S", parent_id=task.pk)
        done = ws.task_set_done(user=member, order_id=order.pk, task_id=task.pk, done=True)
        assert done.done and done.done_at is not None
        again = ws.task_set_done(user=seller, order_id=order.pk, task_id=task.pk, done=True)
        assert again.done_at == done.done_at  # idempotent
        undone = ws.task_set_done(user=seller, order_id=order.pk, task_id=task.pk, done=False)
        assert not undone.done and undone.done_at is None
        assert ws.task_assign(user=member, order_id=order.pk, task_id=task.pk, assignee_id=member.pk).assignee_id == (
            member.pk
        )
        assert ws.task_assign(user=seller, order_id=order.pk, task_id=task.pk, assignee_id=None).assignee_id is None
        deleted = ws.task_delete(user=member, order_id=order.pk, task_id=task.pk)
        assert deleted.milestone_id == m.pk
        assert not Task.objects.filter(pk__in=[task.pk, sub.pk]).exists()

    def test_the_buyer_cannot_tick_assign_or_delete(self, order, seller, buyer):
        task = ws.task_add(user=seller, order_id=order.pk, milestone_id=first(order).pk, title="T")
        for call in (
            lambda: ws.task_set_done(user=buyer, order_id=order.pk, task_id=task.pk, done=True),
            lambda: ws.task_assign(user=buyer, order_id=order.pk, task_id=task.pk, assignee_id=None),
            lambda: ws.task_delete(user=buyer, order_id=order.pk, task_id=task.pk),
        ):
            with pytest.raises(ws.WorkspaceForbidden):
                call()
        task.refresh_from_db()
        assert not task.done

    @pytest.mark.parametrize("status", ["accepted", "cancelled", "split"])
    def test_a_closed_milestone_freezes_its_tasks(self, order, seller, status):
        m = first(order)
        task = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="T")
        OrderMilestone.objects.filter(pk=m.pk).update(status=status)
        with pytest.raises(ws.WorkspaceClosed, match="its tasks can no longer change"):
            ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="More")
        with pytest.raises(ws.WorkspaceClosed):
            ws.task_set_done(user=seller, order_id=order.pk, task_id=task.pk, done=True)
        with pytest.raises(ws.WorkspaceClosed):
            ws.task_delete(user=seller, order_id=order.pk, task_id=task.pk)

    def test_a_finished_order_freezes_its_tasks(self, order, seller):
        Order.objects.filter(pk=order.pk).update(status=Order.Status.COMPLETED)
        with pytest.raises(ws.WorkspaceClosed, match="This order is closed"):
            ws.task_add(user=seller, order_id=order.pk, milestone_id=first(order).pk, title="T")


# --- notes ----------------------------------------------------------------------------------------


class TestNotes:
    def test_visibility_and_who_sees_what(self, order, seller, buyer, member):
        m = first(order)
        team_note = ws.note_add(user=member, order_id=order.pk, milestone_id=m.pk, body="Internal", visibility="team")
        shared = ws.note_add(user=seller, order_id=order.pk, milestone_id=m.pk, body="For you", visibility="shared")
        buyers = ws.note_add(user=buyer, order_id=order.pk, milestone_id=m.pk, body="Thanks", visibility="team")
        assert buyers.visibility == MilestoneNote.Visibility.SHARED  # the buyer's notes are always shared

        def seen_by(user):
            rows = sel.workspace_timeline(sel.workspace_access(user=user, order_id=order.pk))
            return [n.pk for n in rows[0].notes]

        assert seen_by(buyer) == [shared.pk, buyers.pk]
        assert seen_by(seller) == seen_by(member) == [team_note.pk, shared.pk, buyers.pk]

    @pytest.mark.parametrize("body,message", [("", "Write the note."), ("x" * 5001, "at most 5,000")])
    def test_body_is_required_and_bounded(self, order, seller, body, message):
        with pytest.raises(ValidationFailed, match=message):
            ws.note_add(user=seller, order_id=order.pk, milestone_id=first(order).pk, body=body)

    def test_visibility_must_be_known(self, order, seller):
        with pytest.raises(ValidationFailed) as exc:
            ws.note_add(user=seller, order_id=order.pk, milestone_id=first(order).pk, body="B", visibility="public")
        assert list(exc.value.errors) == ["visibility"]

    def test_strangers_and_other_orders(self, order, seller):
        with pytest.raises(NotFound):
            ws.note_add(user=UserFactory(), order_id=order.pk, milestone_id=first(order).pk, body="B")
        other = paid_order(gig=order.gig)
        with pytest.raises(NotFound):
            ws.note_add(user=seller, order_id=order.pk, milestone_id=first(other).pk, body="B")

    def test_notes_on_a_closed_milestone_are_allowed(self, order, seller):
        OrderMilestone.objects.filter(pk=first(order).pk).update(status="accepted")
        assert ws.note_add(user=seller, order_id=order.pk, milestone_id=first(order).pk, body="Wrap-up").pk

    def test_who_deletes_notes(self, order, seller, buyer, member):
        m = first(order)

        def note(user, visibility="team"):
            return ws.note_add(user=user, order_id=order.pk, milestone_id=m.pk, body="B", visibility=visibility)

        sellers, members, buyers, team_only = note(seller, "shared"), note(member), note(buyer), note(seller)
        with pytest.raises(ws.WorkspaceForbidden):
            ws.note_delete(user=member, order_id=order.pk, note_id=sellers.pk)
        with pytest.raises(ws.WorkspaceForbidden):
            ws.note_delete(user=seller, order_id=order.pk, note_id=buyers.pk)
        with pytest.raises(ws.WorkspaceForbidden):
            ws.note_delete(user=buyer, order_id=order.pk, note_id=sellers.pk)
        with pytest.raises(NotFound):  # the buyer cannot see it
            ws.note_delete(user=buyer, order_id=order.pk, note_id=team_only.pk)
        with pytest.raises(NotFound):
            ws.note_delete(user=UserFactory(), order_id=order.pk, note_id=sellers.pk)
        ws.note_delete(user=seller, order_id=order.pk, note_id=members.pk)  # the seller moderates the team
        ws.note_delete(user=buyer, order_id=order.pk, note_id=buyers.pk)
        ws.note_delete(user=seller, order_id=order.pk, note_id=sellers.pk)
        assert list(MilestoneNote.objects.values_list("pk", flat=True)) == [team_only.pk]


# --- messages -------------------------------------------------------------------------------------


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


class TestMessages:
    def test_every_party_posts(self, order, seller, buyer, member):
        for user in (buyer, seller, member):
            ws.message_post(user=user, order_id=order.pk, body=f"From {user.username}")
        assert list(OrderMessage.objects.values_list("sender", flat=True)) == [buyer.pk, seller.pk, member.pk]

    def test_strangers_get_not_found(self, order):
        with pytest.raises(NotFound):
            ws.message_post(user=UserFactory(), order_id=order.pk, body="Hi")

    def test_files_are_stored_with_safe_names_and_guessed_types(self, order, buyer, settings):
        message = ws.message_post(
            user=buyer,
            order_id=order.pk,
            body="",
            files=[upload("../../etc/Brief.PDF", content=b"%PDF-1.4"), upload("notes.txt", 5)],
        )
        a, b = message.attachments.order_by("id")
        assert (a.name, a.size, a.content_type) == ("Brief.PDF", 8, "application/pdf")
        assert (b.name, b.content_type) == ("notes.txt", "text/plain")
        assert a.file.name.startswith(f"messages/order-{order.pk}/") and ".." not in a.file.name
        assert len(stored_files(settings)) == 2

    def test_a_message_needs_text_or_a_file(self, order, buyer):
        with pytest.raises(ValidationFailed) as exc:
            ws.message_post(user=buyer, order_id=order.pk, body="   ")
        assert exc.value.errors == {"body": ["Write a message or attach a file."]}

    def test_body_is_bounded(self, order, buyer):
        with pytest.raises(ValidationFailed, match="at most 5,000"):
            ws.message_post(user=buyer, order_id=order.pk, body="x" * 5001)

    @pytest.mark.parametrize(
        "files,message",
        [
            (lambda: [upload(f"f{i}.txt") for i in range(3)], "Attach at most 2 files to a message (you chose 3)."),
            (lambda: [upload("big.pdf", 101)], "“big.pdf” is 101 bytes; the limit is 100 bytes per file."),
            (lambda: [upload("run.exe")], "“run.exe” is not an allowed type."),
            (lambda: [upload("noext")], "“noext” is not an allowed type."),
            (lambda: [upload("empty.txt", 0)], "“empty.txt” is empty."),
            (lambda: [upload("ok.txt"), upload("page.html")], "“page.html” is not an allowed type."),
        ],
    )
    def test_refused_files_save_nothing(self, order, buyer, settings, files, message):
        settings.MARKETPLACE = {**settings.MARKETPLACE, "UPLOAD_MAX_FILES": 2, "UPLOAD_MAX_BYTES": 100}
        with pytest.raises(ValidationFailed) as exc:
            ws.message_post(user=buyer, order_id=order.pk, body="See attached", files=files())
        assert message in exc.value.errors["files"][0]
        assert not OrderMessage.objects.exists() and not MessageAttachment.objects.exists()
        assert stored_files(settings) == []

    def test_limits_come_from_settings(self, order, buyer, settings):
        settings.MARKETPLACE = {**settings.MARKETPLACE, "UPLOAD_EXTENSIONS": ["exe"], "UPLOAD_MAX_FILES": 1}
        ws.message_post(user=buyer, order_id=order.pk, body="", files=[upload("tool.EXE")])
        with pytest.raises(ValidationFailed):
            ws.message_post(user=buyer, order_id=order.pk, body="", files=[upload("a.pdf")])


# --- timeline, progress, insights -----------------------------------------------------------------


class TestTimeline:
    def test_planned_dates_add_up_delivery_days_from_payment(self, order, seller):
        rows = sel.workspace_timeline(sel.workspace_access(user=seller, order_id=order.pk))
        days = [r.milestone.delivery_days for r in rows]
        assert days == [2, 3, 2]  # gig_with_plan's Standard package
        paid = order.paid_at
        assert [(r.planned_start, r.planned_due) for r in rows] == [
            (paid, paid + timedelta(days=2)),
            (paid + timedelta(days=2), paid + timedelta(days=5)),
            (paid + timedelta(days=5), paid + timedelta(days=7)),
        ]
        assert rows[0].milestone.started_at is not None and rows[0].slip_days == 0

    def test_an_unpaid_order_has_no_planned_dates(self):
        order = place_order()
        rows = sel.workspace_timeline(sel.workspace_access(user=order.buyer, order_id=order.pk))
        assert {(r.planned_start, r.planned_due) for r in rows} == {(None, None)}

    def test_progress_counts_tasks_and_subtasks(self, order, seller):
        m = first(order)

        def progress():
            rows = sel.workspace_timeline(sel.workspace_access(user=seller, order_id=order.pk))
            return rows[0].progress, rows[0].done, rows[0].total

        assert progress() == (0, 0, 0)
        a = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="A")
        ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="B")
        sub = ws.task_add(user=seller, order_id=order.pk, milestone_id=m.pk, title="A.1", parent_id=a.pk)
        ws.task_set_done(user=seller, order_id=order.pk, task_id=sub.pk, done=True)
        assert progress() == (33, 1, 3)
        ws.task_set_done(user=seller, order_id=order.pk, task_id=a.pk, done=True)
        assert progress() == (66, 2, 3)
        OrderMilestone.objects.filter(pk=m.pk).update(status="accepted")
        assert progress() == (100, 2, 3)

    def test_progress_rules(self):
        m = OrderMilestone(status="in_progress")
        assert sel.milestone_progress(m, done=0, total=0) == 0
        assert sel.milestone_progress(m, done=1, total=2) == 50
        assert sel.milestone_progress(m, done=99, total=100) == 99
        assert sel.milestone_progress(OrderMilestone(status="accepted"), done=0, total=0) == 100

    def test_order_progress_averages_milestones(self):
        rows = [sel.MilestoneRow(None, None, None, [], [], 0, 0, p, None) for p in (100, 50, 0)]
        assert sel.order_progress(rows) == 50
        assert sel.order_progress([]) == 0


class TestInsight:
    """A 10-day milestone started at `start`, checked at various moments."""

    start = timezone.now().replace(microsecond=0)

    def milestone(self, status="in_progress", days=10):
        return OrderMilestone(
            status=status, delivery_days=days, started_at=self.start, due_at=self.start + timedelta(days=days)
        )

    def at(self, hours, done, total, **kwargs):
        return sel.milestone_insight(
            self.milestone(**kwargs), done=done, total=total, now=self.start + timedelta(hours=hours)
        )

    def test_late_once_due_whatever_the_tasks(self):
        assert self.at(240, 0, 0) == sel.LATE
        assert self.at(241, 3, 3) == sel.LATE
        assert self.at(300, 0, 2, status="revision_requested") == sel.LATE

    def test_on_track_when_tasks_keep_up_with_time(self):
        assert self.at(0, 0, 4) == sel.ON_TRACK
        assert self.at(120, 1, 4) == sel.ON_TRACK  # 50 % elapsed, 25 % done: 25 points, not more
        assert self.at(120, 2, 4) == sel.ON_TRACK

    def test_at_risk_when_time_runs_ahead_of_tasks_by_more_than_the_margin(self):
        assert self.at(121, 1, 4) == sel.AT_RISK  # just over 25 points behind
        assert self.at(180, 1, 4) == sel.AT_RISK

    def test_at_risk_in_the_last_24_hours_with_open_tasks(self):
        assert self.at(216, 3, 4) == sel.AT_RISK  # exactly 24 h left
        assert self.at(215, 3, 4) == sel.ON_TRACK  # 25 h left, 89.6 % elapsed vs 75 % done

    def test_no_open_tasks_means_on_track_until_due(self):
        assert self.at(239, 0, 0) == sel.ON_TRACK
        assert self.at(239, 2, 2) == sel.ON_TRACK

    @pytest.mark.parametrize("status", ["locked", "delivered", "accepted", "cancelled", "disputed", "split"])
    def test_only_milestones_being_worked_on_have_an_insight(self, status):
        assert self.at(300, 0, 3, status=status) is None

    def test_no_due_date_no_insight(self):
        m = self.milestone()
        m.due_at = None
        assert sel.milestone_insight(m, done=0, total=1, now=self.start) is None

    def test_a_missing_start_counts_back_from_the_due_date(self):
        m = self.milestone()
        m.started_at = None
        assert sel.milestone_insight(m, done=0, total=4, now=self.start + timedelta(hours=61)) == sel.AT_RISK
