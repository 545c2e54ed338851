"""Reads of the order workspace: who may open it (and as whom), the milestone timeline with its
tasks, notes and progress, the insights (on track / at risk / late), the message thread, the
seller's team and the dashboard. Nothing here writes; insights are computed, never stored.

Who sees a workspace (docs/workspace.md):
- the order's buyer, whatever the order's state (an unpaid order's workspace is read-only);
- the order's seller and the seller's *active* team members, once the order is paid (the rule
  payments.selectors applies to sellers: an unpaid checkout is the buyer's business);
- anyone else gets NotFound, never a hint that the order exists.

No read here touches money: the workspace shows no prices, fees or payouts to anyone, so a team
member never sees them (the order page, which does, stays buyer-and-seller only).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from gigs.models import User
from marketplace.exceptions import NotFound

from .models import MessageAttachment, MilestoneNote, Order, OrderMessage, OrderMilestone, Task, TeamMember

BUYER = "buyer"
SELLER = "seller"
TEAM = "team"
# Mirrors payments.selectors.UNPAID (milestones cannot import payments): sellers, and so their
# team, see an order once it is paid.
UNPAID = (Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED)

# Insights (see milestone_insight).
ON_TRACK = "on_track"
AT_RISK = "at_risk"
LATE = "late"
INSIGHT_LABELS = {ON_TRACK: "On track", AT_RISK: "At risk", LATE: "Late"}
AT_RISK_MARGIN = 0.25
AT_RISK_FINAL_HOURS = 24


# --- who may open a workspace ---------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """The order and the viewer's role in its workspace."""

    order: Order
    user: User
    role: str

    @property
    def is_buyer(self) -> bool:
        return self.role == BUYER

    @property
    def is_seller(self) -> bool:
        return self.role == SELLER

    @property
    def is_team(self) -> bool:
        return self.role == TEAM

    @property
    def is_seller_side(self) -> bool:
        """The seller or one of their active team members: they plan the work."""
        return self.role in (SELLER, TEAM)

    @property
    def is_open(self) -> bool:
        """Paid: the workspace takes tasks, notes and messages (an unpaid one is read-only)."""
        return self.order.paid_at is not None and self.order.status not in UNPAID


def _active_membership(*, seller_ref, user: User) -> Exists:
    return Exists(TeamMember.objects.filter(seller=seller_ref, member=user, status=TeamMember.Status.ACTIVE))


def workspace_access(*, user: User, order_id: int) -> Access:
    """The order with the viewer's role (buyer, seller or team), in one query. Raises NotFound for
    anyone else, for the seller's side while the order is unpaid, and for anonymous users. The
    buyer role wins when a user is both (a team member who bought from their own team's seller)."""
    if not user.is_authenticated:
        raise NotFound("No such order.")
    order = (
        Order.objects.select_related("buyer__seller_profile", "seller__seller_profile")
        .annotate(viewer_in_team=_active_membership(seller_ref=OuterRef("seller"), user=user))
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise NotFound("No such order.")
    if order.buyer_id == user.pk:
        return Access(order=order, user=user, role=BUYER)
    if order.status in UNPAID:
        raise NotFound("No such order.")
    if order.seller_id == user.pk:
        return Access(order=order, user=user, role=SELLER)
    if order.viewer_in_team:
        return Access(order=order, user=user, role=TEAM)
    raise NotFound("No such order.")


def is_active_member(*, seller_id: int, user_id: int) -> bool:
    return TeamMember.objects.filter(seller_id=seller_id, member_id=user_id, status=TeamMember.Status.ACTIVE).exists()


# --- the timeline -------------------------------------------------------------------------------


def milestone_progress(milestone: OrderMilestone, *, done: int, total: int) -> int:
    """Percent of the milestone's tasks done (tasks and subtasks count one each), rounded down so
    100 means every task is done; 100 once the buyer accepted it; 0 with no tasks."""
    if milestone.status == OrderMilestone.Status.ACCEPTED:
        return 100
    if total == 0:
        return 0
    return done * 100 // total


def milestone_insight(milestone: OrderMilestone, *, done: int, total: int, now: datetime) -> str | None:
    """How a milestone the seller is working on (in progress, or revision requested) stands at
    `now`; None for any other state (not started, delivered, accepted, cancelled, disputed, split)
    or without a due date.

    - LATE: `now` is at or past `due_at`.
    - AT_RISK: before `due_at`, with at least one task not done, and either
      * at most AT_RISK_FINAL_HOURS (24 h) left, or
      * the fraction of the time elapsed exceeds the fraction of tasks done by more than
        AT_RISK_MARGIN (0.25): elapsed = (now - started_at) / (due_at - started_at), clamped to
        [0, 1] (started_at missing: due_at - delivery_days); done fraction = done / total.
    - A revision requested is judged against the same `due_at` (the lifecycle keeps it), so a
      revision still pending past it is late.
    - ON_TRACK: otherwise. A milestone without tasks is on track until it is late: with no plan
      there is nothing to measure, and the seller is not nagged for not using tasks.
    """
    if milestone.status not in OrderMilestone.WORKING or milestone.due_at is None:
        return None
    due = milestone.due_at
    if now >= due:
        return LATE
    if total - done <= 0:
        return ON_TRACK
    if due - now <= timedelta(hours=AT_RISK_FINAL_HOURS):
        return AT_RISK
    start = milestone.started_at or due - timedelta(days=milestone.delivery_days)
    span = (due - start).total_seconds()
    elapsed = min(max((now - start).total_seconds() / span, 0.0), 1.0) if span > 0 else 1.0
    if elapsed - done / total > AT_RISK_MARGIN:
        return AT_RISK
    return ON_TRACK


@dataclass
class TaskNode:
    task: Task
    subtasks: list[Task] = field(default_factory=list)


@dataclass
class MilestoneRow:
    milestone: OrderMilestone
    planned_start: datetime | None
    planned_due: datetime | None
    tasks: list[TaskNode]
    notes: list[MilestoneNote]
    done: int
    total: int
    progress: int
    insight: str | None

    @property
    def insight_label(self) -> str:
        return INSIGHT_LABELS.get(self.insight, "")

    @property
    def slip_days(self) -> int | None:
        """Whole days the actual due date runs after (+) or before (-) the planned one."""
        if self.planned_due is None or self.milestone.due_at is None:
            return None
        return round((self.milestone.due_at - self.planned_due).total_seconds() / 86400)


def planned_dates(order: Order, milestones: list[OrderMilestone]) -> list[tuple[datetime | None, datetime | None]]:
    """(planned start, planned due) per milestone, in order: the first starts when the order was
    paid, each next one when the previous one's delivery days are over. None while unpaid."""
    if order.paid_at is None:
        return [(None, None)] * len(milestones)
    dates = []
    start = order.paid_at
    for m in milestones:
        due = start + timedelta(days=m.delivery_days)
        dates.append((start, due))
        start = due
    return dates


def _task_tree(tasks: list[Task]) -> dict[int, list[TaskNode]]:
    """Tasks by milestone id, each top-level task with its subtasks, in position order."""
    nodes: dict[int, TaskNode] = {}
    by_milestone: dict[int, list[TaskNode]] = {}
    for t in tasks:
        if t.parent_id is None:
            nodes[t.pk] = TaskNode(t)
            by_milestone.setdefault(t.milestone_id, []).append(nodes[t.pk])
    for t in tasks:
        if t.parent_id is not None and t.parent_id in nodes:
            nodes[t.parent_id].subtasks.append(t)
    return by_milestone


def _visible_notes(access: Access) -> QuerySet[MilestoneNote]:
    notes = MilestoneNote.objects.filter(milestone__order=access.order).select_related("author__seller_profile")
    if access.is_buyer:
        notes = notes.filter(visibility=MilestoneNote.Visibility.SHARED)
    return notes.order_by("created_at", "id")


def workspace_timeline(access: Access, *, now: datetime | None = None) -> list[MilestoneRow]:
    """The order's milestones with planned vs actual dates, their tasks (as a tree), the notes the
    viewer may see (the buyer: shared notes only), progress and insight. Three queries however
    many milestones, tasks and notes there are."""
    now = now or timezone.now()
    order = access.order
    milestones = list(OrderMilestone.objects.filter(order=order).order_by("position"))
    tasks = list(
        Task.objects.filter(milestone__order=order)
        .select_related("assignee__seller_profile")
        .order_by("position", "id")
    )
    notes_by_milestone: dict[int, list[MilestoneNote]] = {}
    for note in _visible_notes(access):
        notes_by_milestone.setdefault(note.milestone_id, []).append(note)
    tree = _task_tree(tasks)
    rows = []
    for m, (planned_start, planned_due) in zip(milestones, planned_dates(order, milestones), strict=True):
        nodes = tree.get(m.pk, [])
        flat = [t for n in nodes for t in (n.task, *n.subtasks)]
        done = sum(1 for t in flat if t.done)
        rows.append(
            MilestoneRow(
                milestone=m,
                planned_start=planned_start,
                planned_due=planned_due,
                tasks=nodes,
                notes=notes_by_milestone.get(m.pk, []),
                done=done,
                total=len(flat),
                progress=milestone_progress(m, done=done, total=len(flat)),
                insight=milestone_insight(m, done=done, total=len(flat), now=now),
            )
        )
    return rows


def order_progress(rows: list[MilestoneRow]) -> int:
    """The whole order: the milestones' progress averaged (each milestone weighs the same)."""
    return sum(r.progress for r in rows) // len(rows) if rows else 0


def message_list_for(access: Access) -> list[OrderMessage]:
    """The order's thread, oldest first, with senders and attachments (two queries)."""
    return list(
        OrderMessage.objects.filter(order=access.order)
        .select_related("sender__seller_profile")
        .prefetch_related(Prefetch("attachments", queryset=MessageAttachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def attachment_get_for(access: Access, *, attachment_id: int) -> MessageAttachment:
    """An attachment of the order's thread; NotFound if it belongs to another order."""
    attachment = (
        MessageAttachment.objects.select_related("message")
        .filter(pk=attachment_id, message__order=access.order)
        .first()
    )
    if attachment is None:
        raise NotFound("No such file.")
    return attachment


# --- the team -----------------------------------------------------------------------------------


def team_list_for_seller(*, seller: User) -> QuerySet[TeamMember]:
    """The seller's invited and active members (removed ones are history), oldest first."""
    return (
        TeamMember.objects.filter(seller=seller)
        .exclude(status=TeamMember.Status.REMOVED)
        .select_related("member__seller_profile")
        .order_by("created_at", "id")
    )


def team_list_for_member(*, member: User) -> QuerySet[TeamMember]:
    """The teams the user was invited to or belongs to."""
    return (
        TeamMember.objects.filter(member=member)
        .exclude(status=TeamMember.Status.REMOVED)
        .select_related("seller__seller_profile")
        .order_by("created_at", "id")
    )


def assignable_users(order: Order) -> list[User]:
    """Who a task of the order can be assigned to: the seller, then their active team members."""
    members = [
        tm.member
        for tm in TeamMember.objects.filter(seller_id=order.seller_id, status=TeamMember.Status.ACTIVE)
        .select_related("member__seller_profile")
        .order_by("created_at", "id")
    ]
    return [order.seller, *members]


# --- the dashboard --------------------------------------------------------------------------------


def _seller_side_orders(user: User, prefix: str = "") -> Q:
    """Orders the user works on: their own sales, and those of sellers whose team they are in
    (`prefix` reaches the order from another model, e.g. "order__")."""
    teams = TeamMember.objects.filter(member=user, status=TeamMember.Status.ACTIVE).values("seller_id")
    return Q(**{f"{prefix}seller": user}) | Q(**{f"{prefix}seller_id__in": teams})


@dataclass
class DashboardRow:
    milestone: OrderMilestone
    done: int
    total: int
    progress: int
    insight: str

    @property
    def order(self) -> Order:
        return self.milestone.order

    @property
    def insight_label(self) -> str:
        return INSIGHT_LABELS[self.insight]


def dashboard_for(*, user: User, now: datetime | None = None) -> tuple[list[DashboardRow], list[Order]]:
    """(milestones needing attention, active orders) across the user's own active orders and
    those of the teams they are an active member of. Attention = late or at risk, late first,
    then by due date. Two queries however many orders, milestones and tasks there are (task counts
    are aggregated in the database)."""
    now = now or timezone.now()
    working = (
        OrderMilestone.objects.filter(
            _seller_side_orders(user, "order__"),
            status__in=OrderMilestone.WORKING,
            due_at__isnull=False,
            order__status=Order.Status.ACTIVE,
        )
        .select_related("order__buyer__seller_profile", "order__seller__seller_profile")
        .annotate(task_total=Count("tasks"), task_done=Count("tasks", filter=Q(tasks__done=True)))
        .order_by("due_at", "id")
    )
    rows = []
    for m in working:
        insight = milestone_insight(m, done=m.task_done, total=m.task_total, now=now)
        if insight in (LATE, AT_RISK):
            progress = milestone_progress(m, done=m.task_done, total=m.task_total)
            rows.append(DashboardRow(m, m.task_done, m.task_total, progress, insight))
    rows.sort(key=lambda r: (r.insight != LATE, r.milestone.due_at, r.milestone.pk))
    orders = list(
        Order.objects.filter(_seller_side_orders(user), status=Order.Status.ACTIVE)
        .select_related("buyer__seller_profile", "seller__seller_profile")
        .order_by("-paid_at", "-id")
    )
    return rows, orders
