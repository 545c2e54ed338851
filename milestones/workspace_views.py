"""Pages of the order workspace: the workspace itself (timeline, tasks, notes, messages), the
attachment download, the seller's Team page and the seller's dashboard.

Plain forms and POST-redirect-GET: everything works without JavaScript. Every write goes
through milestones.workspace; an order the viewer may not see is a 404 (never a hint that it
exists), a change the viewer may not make on a workspace they see is a 403, and any other
refusal is shown next to the form (re-rendered) or as a message after the redirect.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from gigs.forms import apply_service_errors
from marketplace.exceptions import DomainError, NotFound, ValidationFailed

from . import workspace as services
from . import workspace_selectors as selectors
from .models import Order, Task
from .workspace_forms import MessageForm, NoteForm, TaskForm, TeamInviteForm


def _access_or_404(request, pk: int) -> selectors.Access:
    try:
        return selectors.workspace_access(user=request.user, order_id=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _workspace_url(pk: int, anchor: str = "") -> str:
    return reverse("order-workspace", args=[pk]) + (f"#{anchor}" if anchor else "")


def _run(form, call: Callable[[], object]) -> bool:
    """Run a service call; its refusals go on the form. NotFound is a 404, WorkspaceForbidden a 403."""
    try:
        call()
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except services.WorkspaceForbidden as exc:
        raise PermissionDenied(exc.message) from exc
    except ValidationFailed as exc:
        apply_service_errors(form, exc)
        return False
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return False
    return True


def _act(request, call: Callable[[], object], success: str, to: str):
    """An inline action (tick, assign, delete, accept...): a message, then back to `to`."""
    try:
        call()
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except services.WorkspaceForbidden as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect(to)


def _optional_int(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise Http404("No such user.")
    return int(value)


# --- the workspace --------------------------------------------------------------------------------


def _render_workspace(request, access: selectors.Access, *, bound=None, message_form=None):
    """The page; `bound` = (kind, milestone id, form) puts a submitted form with its errors back
    in its place. A fixed number of queries however many milestones, tasks, notes and messages."""
    order = access.order
    rows = selectors.workspace_timeline(access)
    can_plan_order = access.is_seller_side and access.is_open and order.status == Order.Status.ACTIVE
    assignees = selectors.assignable_users(order) if can_plan_order else []
    sections = []
    # Refusals of a form the page no longer shows (the milestone closed, the order is unpaid)
    # go at the top of the page instead.
    page_errors = list(message_form.non_field_errors()) if message_form and not access.is_open else []
    for row in rows:
        mid = row.milestone.pk
        can_plan = can_plan_order and row.milestone.status not in services.CLOSED
        task_form = TaskForm(prefix=f"task-{mid}", assignees=assignees, parents=[n.task for n in row.tasks])
        note_form = NoteForm(prefix=f"note-{mid}", for_buyer=access.is_buyer)
        if bound and bound[1] == mid:
            kind, _, form = bound
            if kind == "task":
                task_form = form
            else:
                note_form = form
            if not (can_plan if kind == "task" else access.is_open):
                page_errors.extend(form.non_field_errors())
        sections.append({"row": row, "can_plan": can_plan, "task_form": task_form, "note_form": note_form})
    return render(
        request,
        "milestones/workspace/workspace.html",
        {
            "order": order,
            "access": access,
            "page_errors": page_errors,
            "sections": sections,
            "order_progress": selectors.order_progress(rows),
            "assignees": assignees,
            "thread": selectors.message_list_for(access),
            "message_form": message_form or MessageForm(),
        },
    )


@login_required
@require_safe
def workspace(request, pk: int):
    """The workspace of an order for its buyer, its seller and the seller's active team: the
    timeline (planned vs actual), tasks, notes, progress, insights and the message thread."""
    return _render_workspace(request, _access_or_404(request, pk))


def _task_form_for(access: selectors.Access, milestone_id: int, data) -> TaskForm:
    parents = Task.objects.filter(milestone_id=milestone_id, milestone__order=access.order, parent=None)
    assignees = selectors.assignable_users(access.order) if access.is_seller_side else []
    return TaskForm(data, prefix=f"task-{milestone_id}", assignees=assignees, parents=parents)


@login_required
@require_POST
def task_add(request, pk: int, milestone_id: int):
    access = _access_or_404(request, pk)
    form = _task_form_for(access, milestone_id, request.POST)
    if form.is_valid() and _run(
        form,
        lambda: services.task_add(
            user=request.user,
            order_id=pk,
            milestone_id=milestone_id,
            title=form.cleaned_data["title"],
            assignee_id=form.cleaned_data["assignee"],
            parent_id=form.cleaned_data["parent"],
        ),
    ):
        messages.success(request, f"Task “{form.cleaned_data['title']}” added.")
        return redirect(_workspace_url(pk, f"milestone-{milestone_id}"))
    return _render_workspace(request, access, bound=("task", milestone_id, form))


@login_required
@require_POST
def task_done(request, pk: int, task_id: int):
    done = request.POST.get("done") == "1"
    return _act(
        request,
        lambda: services.task_set_done(user=request.user, order_id=pk, task_id=task_id, done=done),
        "Task done." if done else "Task marked not done.",
        _workspace_url(pk, f"task-{task_id}"),
    )


@login_required
@require_POST
def task_assign(request, pk: int, task_id: int):
    assignee_id = _optional_int(request.POST.get("assignee"))
    return _act(
        request,
        lambda: services.task_assign(user=request.user, order_id=pk, task_id=task_id, assignee_id=assignee_id),
        "Task assigned." if assignee_id else "Task unassigned.",
        _workspace_url(pk, f"task-{task_id}"),
    )


@login_required
@require_POST
def task_delete(request, pk: int, task_id: int):
    deleted: list[Task] = []
    response = _act(
        request,
        lambda: deleted.append(services.task_delete(user=request.user, order_id=pk, task_id=task_id)),
        "Task deleted.",
        _workspace_url(pk),
    )
    if deleted:
        return redirect(_workspace_url(pk, f"milestone-{deleted[0].milestone_id}"))
    return response


@login_required
@require_POST
def note_add(request, pk: int, milestone_id: int):
    access = _access_or_404(request, pk)
    form = NoteForm(request.POST, prefix=f"note-{milestone_id}", for_buyer=access.is_buyer)
    if form.is_valid() and _run(
        form,
        lambda: services.note_add(
            user=request.user,
            order_id=pk,
            milestone_id=milestone_id,
            body=form.cleaned_data["body"],
            visibility=form.cleaned_data.get("visibility", ""),
        ),
    ):
        messages.success(request, "Note added.")
        return redirect(_workspace_url(pk, f"milestone-{milestone_id}"))
    return _render_workspace(request, access, bound=("note", milestone_id, form))


@login_required
@require_POST
def note_delete(request, pk: int, note_id: int):
    return _act(
        request,
        lambda: services.note_delete(user=request.user, order_id=pk, note_id=note_id),
        "Note deleted.",
        _workspace_url(pk),
    )


@login_required
@require_POST
def message_post(request, pk: int):
    access = _access_or_404(request, pk)
    form = MessageForm(request.POST, request.FILES)
    if form.is_valid() and _run(
        form,
        lambda: services.message_post(
            user=request.user, order_id=pk, body=form.cleaned_data["body"], files=form.cleaned_data["files"]
        ),
    ):
        messages.success(request, "Message sent.")
        return redirect(_workspace_url(pk, "messages"))
    return _render_workspace(request, access, message_form=form)


@login_required
@require_safe
def attachment_download(request, pk: int, attachment_id: int):
    """A message's file, for the order's parties only (never a public media URL), always as a
    download with the content type guessed from its name, so nothing uploaded runs in the page."""
    access = _access_or_404(request, pk)
    try:
        attachment = selectors.attachment_get_for(access, attachment_id=attachment_id)
        handle = attachment.file.storage.open(attachment.file.name, "rb")
    except (NotFound, FileNotFoundError) as exc:
        raise Http404("No such file.") from exc
    response = FileResponse(handle, as_attachment=True, filename=attachment.name, content_type=attachment.content_type)
    response["Cache-Control"] = "private, no-store"
    return response


# --- team and dashboard ---------------------------------------------------------------------------


@login_required
def team(request):
    """The seller's team (invite, withdraw, remove) and the teams the user was invited to."""
    form = TeamInviteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        invited = []
        if form.is_valid() and _run(
            form,
            lambda: invited.append(
                services.team_invite(seller=request.user, identifier=form.cleaned_data["identifier"])
            ),
        ):
            messages.success(request, f"Invited {invited[0].member.username}. They join when they accept.")
            return redirect("team")
    return render(
        request,
        "milestones/workspace/team.html",
        {
            "form": form,
            "members": list(selectors.team_list_for_seller(seller=request.user)),
            "memberships": list(selectors.team_list_for_member(member=request.user)),
        },
    )


@login_required
@require_POST
def team_remove(request, team_member_id: int):
    return _act(
        request,
        lambda: services.team_remove(seller=request.user, team_member_id=team_member_id),
        "Removed from your team.",
        reverse("team"),
    )


@login_required
@require_POST
def team_accept(request, team_member_id: int):
    return _act(
        request,
        lambda: services.team_accept(member=request.user, team_member_id=team_member_id),
        "You joined the team. Its orders are on your dashboard.",
        reverse("team"),
    )


@login_required
@require_POST
def team_leave(request, team_member_id: int):
    return _act(
        request,
        lambda: services.team_leave(member=request.user, team_member_id=team_member_id),
        "You are no longer in that team.",
        reverse("team"),
    )


@login_required
@require_safe
def dashboard(request):
    """Milestones at risk or late, and the active orders, across the user's own sales and the
    teams they belong to. No money. A fixed number of queries however many orders."""
    attention, orders = selectors.dashboard_for(user=request.user)
    return render(request, "milestones/workspace/dashboard.html", {"attention": attention, "orders": orders})
