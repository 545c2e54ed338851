"""Writes of the order workspace: the seller's team, tasks and subtasks, milestone notes and the
order's message thread with attachments. The rules are in docs/workspace.md; in short:

- Team: a seller invites a user (by username or email); the user accepts, declines or later
  leaves; the seller removes. Only *active* members see the seller's paid orders' workspaces.
- Tasks: the seller and active team members add, assign, tick and delete tasks (one level of
  subtasks) on milestones of active orders that are not closed (accepted, cancelled, split). The
  buyer sees them read-only.
- Notes: the seller's side writes "team" (seller and team only) or "shared" notes; the buyer's
  notes are always shared. An author deletes their own notes; the seller also their team's.
- Messages: buyer, seller and team post to a paid order, with attachments within the upload
  settings; nothing is saved when anything is refused.

Every function takes the acting user and the order id, runs in `transaction.atomic()`, and
raises NotFound (someone else's object, or one of another order: a 404), WorkspaceForbidden (the
viewer may see it but not do this: 403), WorkspaceClosed (the order or milestone no longer takes
this change) or ValidationFailed (the input, per field).
"""

import mimetypes
from pathlib import PurePath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from gigs.models import User
from marketplace.exceptions import DomainError, NotFound, ValidationFailed

from . import workspace_selectors as selectors
from .models import MessageAttachment, MilestoneNote, Order, OrderMessage, OrderMilestone, Task, TeamMember
from .notifications import notify

TASK_TITLE_MAX = Task._meta.get_field("title").max_length
TASKS_PER_MILESTONE_MAX = 100
NOTE_MAX = 5000
MESSAGE_MAX = 5000
ATTACHMENT_NAME_MAX = MessageAttachment._meta.get_field("name").max_length
# Milestones whose work is over: their task list is frozen (progress shows 100 once accepted).
CLOSED = frozenset({OrderMilestone.Status.ACCEPTED, OrderMilestone.Status.CANCELLED, OrderMilestone.Status.SPLIT})


class WorkspaceForbidden(DomainError):
    """The viewer may see this workspace but not make this change (the buyer planning tasks, a
    team member removing the seller's note...)."""

    code = "workspace_forbidden"
    http_status = 403


class WorkspaceClosed(DomainError):
    """The order (unpaid, finished) or the milestone (closed) no longer takes this change."""

    code = "workspace_closed"
    http_status = 409


class AlreadyInTeam(DomainError):
    code = "already_in_team"
    http_status = 409


# --- team -----------------------------------------------------------------------------------------


def _find_user(identifier: str) -> User | None:
    """The account with this username or email (both case-insensitive)."""
    if "@" in identifier:
        return User.objects.filter(email__iexact=identifier).first()
    return User.objects.filter(username__iexact=identifier).first()


def team_invite(*, seller: User, identifier: str) -> TeamMember:
    """Invite the account with this username or email to the seller's team (status invited).
    Inviting someone removed earlier invites them again. Raises ValidationFailed (blank, no such
    account, oneself) or AlreadyInTeam (invited or active already)."""
    identifier = (identifier or "").strip()
    if not identifier:
        raise ValidationFailed({"identifier": ["Enter a username or an email address."]})
    member = _find_user(identifier)
    if member is None:
        raise ValidationFailed({"identifier": ["There is no account with that username or email address."]})
    if member.pk == seller.pk:
        raise ValidationFailed({"identifier": ["You cannot invite yourself."]})
    try:
        with transaction.atomic():
            row = TeamMember.objects.select_for_update().filter(seller=seller, member=member).first()
            if row is None:
                row = TeamMember.objects.create(seller=seller, member=member)
                _tell_invited(row, seller)
                return row
            if row.status == TeamMember.Status.ACTIVE:
                raise AlreadyInTeam(f"{member.username} is already in your team.", field="identifier")
            if row.status == TeamMember.Status.INVITED:
                raise AlreadyInTeam(f"{member.username} is already invited.", field="identifier")
            row.status = TeamMember.Status.INVITED
            row.created_at = timezone.now()
            row.save(update_fields=["status", "created_at"])
            _tell_invited(row, seller)
            return row
    except IntegrityError:
        # Two invitations of the same person at once: the other request created the row.
        raise AlreadyInTeam(f"{member.username} is already invited.", field="identifier") from None


def _tell_invited(row: TeamMember, seller: User) -> None:
    notify(
        user=row.member,
        kind="team_invitation",
        text=f"{seller.username} invited you to their team.",
        dedupe_key=f"team-{row.pk}-invited-{row.created_at:%s}",
        url="/sell/team/",
    )


def _own_invitation(member: User, team_member_id: int) -> TeamMember:
    row = (
        TeamMember.objects.select_for_update()
        .filter(pk=team_member_id, member=member)
        .exclude(status=TeamMember.Status.REMOVED)
        .first()
    )
    if row is None:
        raise NotFound("No such invitation.")
    return row


def team_accept(*, member: User, team_member_id: int) -> TeamMember:
    """The invited user joins the team (active). Idempotent: an active membership stays as it is.
    Raises NotFound for someone else's invitation or one withdrawn (removed)."""
    with transaction.atomic():
        row = _own_invitation(member, team_member_id)
        if row.status != TeamMember.Status.ACTIVE:
            row.status = TeamMember.Status.ACTIVE
            row.save(update_fields=["status"])
        return row


def _unassign_open_tasks(*, seller_id: int, member_id: int) -> None:
    """Someone leaving a team keeps no open work on the seller's orders (done tasks keep their
    assignee: it is who did them)."""
    Task.objects.filter(milestone__order__seller_id=seller_id, assignee_id=member_id, done=False).update(assignee=None)


def team_leave(*, member: User, team_member_id: int) -> TeamMember:
    """The user declines an invitation or leaves a team they joined (removed); their open tasks
    on the seller's orders become unassigned. Raises NotFound for someone else's membership."""
    with transaction.atomic():
        row = _own_invitation(member, team_member_id)
        row.status = TeamMember.Status.REMOVED
        row.save(update_fields=["status"])
        _unassign_open_tasks(seller_id=row.seller_id, member_id=row.member_id)
        return row


def team_remove(*, seller: User, team_member_id: int) -> TeamMember:
    """The seller withdraws an invitation or removes a member: they lose access at once and their
    open tasks become unassigned. Idempotent. Raises NotFound for another seller's row."""
    with transaction.atomic():
        row = TeamMember.objects.select_for_update().filter(pk=team_member_id, seller=seller).first()
        if row is None:
            raise NotFound("No such team member.")
        if row.status != TeamMember.Status.REMOVED:
            row.status = TeamMember.Status.REMOVED
            row.save(update_fields=["status"])
            _unassign_open_tasks(seller_id=row.seller_id, member_id=row.member_id)
        return row


# --- shared checks --------------------------------------------------------------------------------


def _access(user: User, order_id: int) -> selectors.Access:
    return selectors.workspace_access(user=user, order_id=order_id)


def _require_open(access: selectors.Access) -> None:
    if not access.is_open:
        raise WorkspaceClosed("The workspace opens once the order is paid.")


def _require_seller_side(access: selectors.Access, action: str) -> None:
    if not access.is_seller_side:
        raise WorkspaceForbidden(f"Only the seller and their team {action}.")


def _locked_milestone(access: selectors.Access, milestone_id: int) -> OrderMilestone:
    milestone = OrderMilestone.objects.select_for_update().filter(pk=milestone_id, order=access.order).first()
    if milestone is None:
        raise NotFound("No such milestone.")
    return milestone


def _require_plannable(access: selectors.Access, milestone: OrderMilestone) -> None:
    """Tasks change only while the order is active and the milestone's work is not over."""
    if access.order.status != Order.Status.ACTIVE:
        raise WorkspaceClosed("This order is closed: its tasks can no longer change.")
    if milestone.status in CLOSED:
        raise WorkspaceClosed(
            f"This milestone is {milestone.get_status_display().lower()}: its tasks can no longer change."
        )


def _check_assignee(order: Order, assignee_id: int | None) -> int | None:
    """The seller or one of their active team members (or nobody)."""
    if assignee_id is None or assignee_id == order.seller_id:
        return assignee_id
    if not selectors.is_active_member(seller_id=order.seller_id, user_id=assignee_id):
        raise ValidationFailed({"assignee": ["Assign it to the seller or an active member of their team."]})
    return assignee_id


# --- tasks ----------------------------------------------------------------------------------------


def task_add(
    *,
    user: User,
    order_id: int,
    milestone_id: int,
    title: str,
    assignee_id: int | None = None,
    parent_id: int | None = None,
) -> Task:
    """Add a task (with `parent_id`: a subtask of a top-level task of the same milestone) at the
    end of its list. The milestone row is locked, so concurrent adds get distinct positions.
    Raises NotFound, WorkspaceForbidden (the buyer), WorkspaceClosed, ValidationFailed."""
    access = _access(user, order_id)
    _require_open(access)
    _require_seller_side(access, "plan tasks")
    title = (title or "").strip()
    if not title:
        raise ValidationFailed({"title": ["Give the task a title."]})
    if len(title) > TASK_TITLE_MAX:
        raise ValidationFailed({"title": [f"Use at most {TASK_TITLE_MAX} characters."]})
    with transaction.atomic():
        milestone = _locked_milestone(access, milestone_id)
        _require_plannable(access, milestone)
        assignee_id = _check_assignee(access.order, assignee_id)
        if parent_id is not None:
            parent = Task.objects.filter(pk=parent_id, milestone=milestone).first()
            if parent is None:
                raise ValidationFailed({"parent": ["Choose a task of this milestone."]})
            if parent.parent_id is not None:
                raise ValidationFailed({"parent": ["A subtask cannot have subtasks of its own."]})
        siblings = Task.objects.filter(milestone=milestone)
        if siblings.count() >= TASKS_PER_MILESTONE_MAX:
            raise ValidationFailed({"title": [f"A milestone holds at most {TASKS_PER_MILESTONE_MAX} tasks."]})
        last = siblings.filter(parent_id=parent_id).aggregate(last=Max("position"))["last"]
        return Task.objects.create(
            milestone=milestone,
            parent_id=parent_id,
            title=title,
            assignee_id=assignee_id,
            position=0 if last is None else last + 1,
            created_by=user,
        )


def _locked_task(access: selectors.Access, task_id: int) -> Task:
    task = (
        Task.objects.select_for_update(of=("self",))
        .select_related("milestone")
        .filter(pk=task_id, milestone__order=access.order)
        .first()
    )
    if task is None:
        raise NotFound("No such task.")
    return task


def task_assign(*, user: User, order_id: int, task_id: int, assignee_id: int | None) -> Task:
    """Assign the task to the seller or an active team member, or to nobody (None)."""
    access = _access(user, order_id)
    _require_open(access)
    _require_seller_side(access, "assign tasks")
    with transaction.atomic():
        task = _locked_task(access, task_id)
        _require_plannable(access, task.milestone)
        task.assignee_id = _check_assignee(access.order, assignee_id)
        task.save(update_fields=["assignee"])
        return task


def task_set_done(*, user: User, task_id: int, order_id: int, done: bool) -> Task:
    """Tick a task done (records when) or undone. Any of the seller's side may tick any task, not
    only its assignee. Idempotent. A task and its subtasks are ticked independently."""
    access = _access(user, order_id)
    _require_open(access)
    _require_seller_side(access, "tick tasks")
    with transaction.atomic():
        task = _locked_task(access, task_id)
        _require_plannable(access, task.milestone)
        if task.done != done:
            task.done = done
            task.done_at = timezone.now() if done else None
            task.save(update_fields=["done", "done_at"])
        return task


def task_delete(*, user: User, order_id: int, task_id: int) -> Task:
    """Delete a task and its subtasks; returns the deleted task (its milestone_id still set)."""
    access = _access(user, order_id)
    _require_open(access)
    _require_seller_side(access, "delete tasks")
    with transaction.atomic():
        task = _locked_task(access, task_id)
        _require_plannable(access, task.milestone)
        task.delete()
        return task


# --- notes ----------------------------------------------------------------------------------------


def note_add(
    *,
    user: User,
    order_id: int,
    milestone_id: int,
    body: str,
    visibility: str = MilestoneNote.Visibility.TEAM,
) -> MilestoneNote:
    """A note on a milestone of a paid order. The seller's side chooses "team" (seller and team
    only) or "shared" (the buyer sees it too); the buyer's notes are always shared, whatever
    `visibility` says. Notes are allowed on any milestone (a closed one too: they are records)."""
    access = _access(user, order_id)
    _require_open(access)
    body = (body or "").strip()
    if not body:
        raise ValidationFailed({"body": ["Write the note."]})
    if len(body) > NOTE_MAX:
        raise ValidationFailed({"body": [f"Use at most {NOTE_MAX:,} characters."]})
    if access.is_buyer:
        visibility = MilestoneNote.Visibility.SHARED
    elif visibility not in MilestoneNote.Visibility.values:
        raise ValidationFailed({"visibility": ["Choose who sees the note."]})
    with transaction.atomic():
        milestone = OrderMilestone.objects.filter(pk=milestone_id, order=access.order).first()
        if milestone is None:
            raise NotFound("No such milestone.")
        return MilestoneNote.objects.create(milestone=milestone, author=user, body=body, visibility=visibility)


def note_delete(*, user: User, order_id: int, note_id: int) -> None:
    """Delete a note: its author may, and the seller may delete their team's notes (never the
    buyer's). A note the viewer cannot see (the buyer and a team note) is NotFound."""
    access = _access(user, order_id)
    with transaction.atomic():
        notes = MilestoneNote.objects.select_for_update().filter(pk=note_id, milestone__order=access.order)
        if access.is_buyer:
            notes = notes.filter(visibility=MilestoneNote.Visibility.SHARED)
        note = notes.first()
        if note is None:
            raise NotFound("No such note.")
        own = note.author_id == user.pk
        sellers_team_note = access.is_seller and note.author_id != access.order.buyer_id
        if not (own or sellers_team_note):
            raise WorkspaceForbidden("You can delete only your own notes.")
        note.delete()


# --- messages -------------------------------------------------------------------------------------


def _extension(name: str) -> str:
    return PurePath(name).suffix.lower().lstrip(".")


def attachment_errors(files: list[UploadedFile]) -> list[str]:
    """What is wrong with a message's files under the upload settings (UPLOAD_MAX_FILES,
    UPLOAD_MAX_BYTES, UPLOAD_EXTENSIONS), one message per problem; empty when they are fine.
    Forms show these next to the file field; message_post checks them again."""
    rules = settings.MARKETPLACE
    max_files, max_bytes = rules["UPLOAD_MAX_FILES"], rules["UPLOAD_MAX_BYTES"]
    allowed = {e.lower().lstrip(".") for e in rules["UPLOAD_EXTENSIONS"]}
    errors = []
    if len(files) > max_files:
        errors.append(f"Attach at most {max_files} files to a message (you chose {len(files)}).")
    for f in files:
        name = PurePath(f.name or "").name
        if _extension(name) not in allowed:
            errors.append(f"“{name}” is not an allowed type. Allowed: {', '.join(sorted(allowed))}.")
        elif f.size > max_bytes:
            errors.append(f"“{name}” is {_size(f.size)}; the limit is {_size(max_bytes)} per file.")
        elif f.size == 0:
            errors.append(f"“{name}” is empty.")
    return errors


def _size(n: float) -> str:
    if n < 1024:
        return f"{int(n):,} bytes"
    for unit in ("KB", "MB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n / 1024:.1f}".removesuffix(".0") + " GB"


def _stored_name(name: str) -> str:
    """The file's own name, without any path, shortened to fit the name column (extension kept)."""
    name = PurePath(name).name or "file"
    if len(name) <= ATTACHMENT_NAME_MAX:
        return name
    suffix = PurePath(name).suffix[:20]
    return name[: ATTACHMENT_NAME_MAX - len(suffix)] + suffix


def message_post(*, user: User, order_id: int, body: str, files: list[UploadedFile] = ()) -> OrderMessage:
    """Post a message (text, files or both) to a paid order's thread, as its buyer, seller or an
    active team member. Files are checked against the upload settings before anything is saved;
    any refusal saves nothing. Raises NotFound, WorkspaceClosed (unpaid), ValidationFailed."""
    access = _access(user, order_id)
    _require_open(access)
    files = list(files)
    body = (body or "").strip()
    errors: dict[str, list[str]] = {}
    if not body and not files:
        errors["body"] = ["Write a message or attach a file."]
    elif len(body) > MESSAGE_MAX:
        errors["body"] = [f"Use at most {MESSAGE_MAX:,} characters."]
    if file_errors := attachment_errors(files):
        errors["files"] = file_errors
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        message = OrderMessage.objects.create(order=access.order, sender=user, body=body)
        for f in files:
            name = _stored_name(f.name)
            MessageAttachment.objects.create(
                message=message,
                file=_renamed(f, name),
                name=name,
                size=f.size,
                # Guessed from the name, never the browser's claim: downloads are served with it.
                content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
            )
        order = access.order
        for recipient_id in {order.buyer_id, order.seller_id} - {user.pk}:
            notify(
                user=User.objects.get(pk=recipient_id),
                kind="message",
                text=f"New message on order #{order.pk} from {user.username}.",
                dedupe_key=f"message-{message.pk}-to-{recipient_id}",
                order=order,
                url=f"/orders/{order.pk}/workspace/",
            )
        return message


def _renamed(f: UploadedFile, name: str) -> UploadedFile:
    f.name = name
    return f
