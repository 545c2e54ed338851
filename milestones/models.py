"""Milestone plans of gigs (the builder), milestone templates, and orders with their milestones.

An order copies the plan when it is placed; a plan is only ever read by checkout, so editing it
never touches an order already placed.
"""

import uuid

from django.conf import settings
from django.db import models

from gigs.models import Gig, Package


class GigMilestone(models.Model):
    """One stage of a gig's plan. The plan is the gig's milestones ordered by `position`."""

    gig = models.ForeignKey(Gig, on_delete=models.CASCADE, related_name="plan_milestones")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80)
    description = models.TextField(max_length=1000, blank=True)
    video_call = models.BooleanField(default=False, help_text="The buyer may book a video call for this milestone.")

    class Meta:
        ordering = ["gig", "position"]
        constraints = [models.UniqueConstraint(fields=["gig", "position"], name="milestone_unique_position")]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.name}"


class GigMilestonePackage(models.Model):
    """A milestone's terms in one package. No row for a tier = not included in that package."""

    milestone = models.ForeignKey(GigMilestone, on_delete=models.CASCADE, related_name="tiers")
    tier = models.CharField(max_length=10, choices=Package.Tier)
    price_minor = models.PositiveIntegerField()
    delivery_days = models.PositiveSmallIntegerField()
    revisions = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["milestone", "tier"], name="milestone_package_one_per_tier"),
            models.CheckConstraint(condition=models.Q(price_minor__gt=0), name="milestone_package_price_positive"),
            models.CheckConstraint(condition=models.Q(delivery_days__gt=0), name="milestone_package_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.milestone} / {self.tier}"


class MilestoneTemplate(models.Model):
    """A reusable plan. `owner` empty = built-in (managed in admin, seeded by a data migration).

    `milestones` holds the plan as data: a list of {"name", "description", "video_call",
    "packages": {tier: {"price_minor", "delivery_days", "revisions"}}}; applying it fills the
    builder, and the plan rules are checked when the plan is saved.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="milestone_templates",
    )
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=240, blank=True)
    # The kind of work a built-in template is for: the builder offers it first on gigs of that
    # category. Empty = general (and always for sellers' own templates).
    category = models.ForeignKey(
        "gigs.Category",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="milestone_templates",
    )
    milestones = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="template_unique_name_per_owner"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(owner__isnull=True), name="template_unique_builtin_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.owner_id is None


# --- orders: a bought package, with a snapshot of its plan ---------------------------------------


class Order(models.Model):
    """A buyer's order of one package. The milestones, amounts and requirement answers are copied
    here when the order is placed, so later edits of the gig change nothing. Amounts are integer
    minor units of `currency`; fees are computed by payments at checkout and stored with the order."""

    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "Awaiting payment"
        ACTIVE = "active", "In progress"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    # A payment that succeeds after the checkout window closed still funds the order: the buyer paid.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING_PAYMENT: frozenset({Status.ACTIVE, Status.EXPIRED, Status.CANCELLED}),
        Status.EXPIRED: frozenset({Status.ACTIVE}),
        Status.ACTIVE: frozenset({Status.COMPLETED, Status.CANCELLED}),
        Status.COMPLETED: frozenset(),
        Status.CANCELLED: frozenset(),
    }

    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_bought")
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_sold")
    # Empty for an order placed from a custom offer (issue 7): `offer` is set instead, and the
    # snapshot says what was bought (gig_title = the project's title, package_tier "custom").
    gig = models.ForeignKey(Gig, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    offer = models.ForeignKey(
        "milestones.Offer", on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    # Double submission (double click, two tabs, a retried request) carries the same token: one order.
    checkout_token = models.UUIDField()
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING_PAYMENT)
    # Snapshot of what was bought.
    gig_title = models.CharField(max_length=100)
    package_tier = models.CharField(max_length=10, choices=[*Package.Tier.choices, ("custom", "Custom offer")])
    package_name = models.CharField(max_length=60)
    milestone_payments = models.BooleanField(help_text="Sold in milestones (off: one milestone, the package).")
    currency = models.CharField(max_length=3)
    subtotal_minor = models.PositiveIntegerField(help_text="Sum of the milestones' prices: what escrow holds.")
    service_fee_minor = models.PositiveIntegerField(default=0)
    small_order_fee_minor = models.PositiveIntegerField(default=0)
    total_minor = models.PositiveIntegerField(help_text="What the buyer pays: subtotal and fees.")
    commission_bps = models.PositiveIntegerField(help_text="Seller commission at order time, in basis points.")
    requirements = models.JSONField(default=list, blank=True, help_text='[{"question", "answer"}] at checkout.')
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="Unpaid after this, the order expires.")
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["buyer", "-created_at"], name="order_buyer_recent"),
            models.Index(fields=["seller", "-created_at"], name="order_seller_recent"),
            # The seller's lists leave out unpaid orders: their count reads this index only.
            models.Index(fields=["seller", "status"], name="order_seller_status"),
            models.Index(fields=["status", "expires_at"], name="order_status_expiry"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["buyer", "checkout_token"], name="order_one_per_checkout"),
            # Accepting an offer twice (double click, two tabs, racing requests) gives one order;
            # once that order expired unpaid, the offer may be accepted again (docs/projects.md).
            models.UniqueConstraint(
                fields=["offer"], condition=models.Q(status="pending_payment"), name="order_one_unpaid_per_offer"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    total_minor=models.F("subtotal_minor")
                    + models.F("service_fee_minor")
                    + models.F("small_order_fee_minor")
                ),
                name="order_total_is_subtotal_plus_fees",
            ),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} · {self.gig_title}"

    # package_tier of an order placed from a custom offer.
    CUSTOM_TIER = "custom"

    @property
    def is_custom_offer(self) -> bool:
        return self.offer_id is not None

    @property
    def buyer_fees_minor(self) -> int:
        return self.service_fee_minor + self.small_order_fee_minor

    @property
    def is_payable(self) -> bool:
        return self.status == self.Status.PENDING_PAYMENT


class OrderMilestone(models.Model):
    """One milestone of an order, copied from the gig's plan (or the whole package, for a gig sold
    as plain packages). Its price is held in escrow from payment until released or refunded."""

    class Status(models.TextChoices):
        LOCKED = "locked", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        DELIVERED = "delivered", "Delivered"
        REVISION_REQUESTED = "revision_requested", "Revision requested"
        ACCEPTED = "accepted", "Accepted"
        CANCELLED = "cancelled", "Cancelled"
        DISPUTED = "disputed", "Disputed"
        SPLIT = "split", "Split"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    price_minor = models.PositiveIntegerField()
    delivery_days = models.PositiveSmallIntegerField()
    revisions = models.PositiveSmallIntegerField(default=0)
    video_call = models.BooleanField(default=False)
    # The lifecycle (DESIGN.md section 4); disputes freeze a milestone as `disputed`.
    TRANSITIONS: dict[str, frozenset[str]] = {
        # A hold over the whole order (an order dispute, a chargeback) freezes a milestone not
        # started too, so nothing cancels or refunds it meanwhile.
        Status.LOCKED: frozenset({Status.IN_PROGRESS, Status.CANCELLED, Status.DISPUTED}),
        Status.IN_PROGRESS: frozenset({Status.DELIVERED, Status.CANCELLED, Status.DISPUTED}),
        # Cancelled by agreement when no revisions are left (payments.lifecycle checks that).
        Status.DELIVERED: frozenset({Status.ACCEPTED, Status.REVISION_REQUESTED, Status.CANCELLED, Status.DISPUTED}),
        Status.REVISION_REQUESTED: frozenset({Status.DELIVERED, Status.CANCELLED, Status.DISPUTED}),
        # A dispute ends in a decision (accepted, cancelled, split) or, withdrawn or closed
        # without one, the milestone resumes where it was frozen.
        Status.DISPUTED: frozenset(
            {
                Status.ACCEPTED,
                Status.CANCELLED,
                Status.SPLIT,
                Status.IN_PROGRESS,
                Status.DELIVERED,
                Status.REVISION_REQUESTED,
                Status.LOCKED,
            }
        ),
        Status.ACCEPTED: frozenset(),
        Status.CANCELLED: frozenset(),
        Status.SPLIT: frozenset(),
    }
    # Where the seller is working on it (a delivery can be sent) and where escrow still holds it.
    WORKING = frozenset({Status.IN_PROGRESS, Status.REVISION_REQUESTED})
    UNRELEASED = frozenset({Status.LOCKED, Status.IN_PROGRESS, Status.DELIVERED, Status.REVISION_REQUESTED})
    # Where a dispute can freeze it (escrow still holds its money).
    DISPUTABLE = frozenset({Status.IN_PROGRESS, Status.DELIVERED, Status.REVISION_REQUESTED})
    # Where a hold over the whole order freezes it: also not started (it resumes as locked).
    HOLDABLE = DISPUTABLE | {Status.LOCKED}

    status = models.CharField(max_length=20, choices=Status, default=Status.LOCKED)
    started_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # The buyer's answer is due by then; without one, the auto-release sweep accepts it.
    review_deadline = models.DateTimeField(null=True, blank=True)
    revisions_used = models.PositiveSmallIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)
    auto_accepted = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Review reminders sent for the current delivery (hours before the deadline: 48, 24).
    reminded_48h = models.BooleanField(default=False)
    reminded_24h = models.BooleanField(default=False)

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="order_milestone_unique_position"),
            models.CheckConstraint(condition=models.Q(price_minor__gt=0), name="order_milestone_price_positive"),
        ]
        indexes = [
            # The auto-release sweep: delivered milestones by deadline.
            models.Index(
                fields=["review_deadline"],
                name="order_milestone_review_due",
                condition=models.Q(status="delivered"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.name}"

    @property
    def revisions_left(self) -> int:
        return max(self.revisions - self.revisions_used, 0)


def delivery_upload_to(instance: "DeliveryFile", filename: str) -> str:
    return f"deliveries/order-{instance.delivery.milestone.order_id}/{uuid.uuid4().hex}/{filename}"


class Delivery(models.Model):
    """The seller's delivery of a milestone: a message and files. A milestone can be delivered
    again after a revision request; the last delivery is the one under review."""

    milestone = models.ForeignKey(OrderMilestone, on_delete=models.CASCADE, related_name="deliveries")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    message = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"Delivery of {self.milestone}"


class DeliveryFile(models.Model):
    """A file of a delivery, served only to the order's parties (milestones.views)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(upload_to=delivery_upload_to, max_length=300)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class RevisionRequest(models.Model):
    milestone = models.ForeignKey(OrderMilestone, on_delete=models.CASCADE, related_name="revision_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Revision of {self.milestone}"


class OrderEvent(models.Model):
    """Append-only history of an order and its milestones: who changed what, when and why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    milestone = models.ForeignKey(OrderMilestone, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class CancellationRequest(models.Model):
    """One party asks to cancel a milestone in progress; the other accepts or declines. With no
    answer by `expires_at` (48 h) a sweep accepts it. At most one open request per milestone."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for an answer"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    milestone = models.ForeignKey(OrderMilestone, on_delete=models.CASCADE, related_name="cancellation_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(max_length=2000)
    status = models.CharField(max_length=12, choices=Status, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    auto_accepted = models.BooleanField(default=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["milestone"], condition=models.Q(status="open"), name="one_open_cancellation_per_milestone"
            )
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="cancellation_open_due")]

    def __str__(self) -> str:
        return f"Cancel {self.milestone}?"


# --- the order workspace: team, tasks, notes, messages, notifications ------------------------------


class TeamMember(models.Model):
    """Someone a seller invited to help with their orders: sees the seller's orders, updates tasks
    and notes, never touches money."""

    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        ACTIVE = "active", "Active"
        REMOVED = "removed", "Removed"

    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="teams")
    status = models.CharField(max_length=10, choices=Status, default=Status.INVITED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["seller", "member"], name="team_member_once")]

    def __str__(self) -> str:
        return f"{self.member} in {self.seller}'s team"


class Task(models.Model):
    """A task (or, with a parent, a subtask) of an order milestone; progress comes from these."""

    milestone = models.ForeignKey(OrderMilestone, on_delete=models.CASCADE, related_name="tasks")
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="subtasks")
    title = models.CharField(max_length=200)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    done = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["milestone", "position", "id"]

    def __str__(self) -> str:
        return self.title


class MilestoneNote(models.Model):
    class Visibility(models.TextChoices):
        TEAM = "team", "Seller's team only"
        SHARED = "shared", "Shared with the buyer"

    milestone = models.ForeignKey(OrderMilestone, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=5000)
    visibility = models.CharField(max_length=8, choices=Visibility, default=Visibility.TEAM)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note on {self.milestone}"


class OrderMessage(models.Model):
    """The order's message thread between buyer, seller and the seller's team."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Message on order {self.order_id}"


def message_upload_to(instance: "MessageAttachment", filename: str) -> str:
    return f"messages/order-{instance.message.order_id}/{uuid.uuid4().hex}/{filename}"


class MessageAttachment(models.Model):
    message = models.ForeignKey(OrderMessage, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=message_upload_to, max_length=300)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """An in-app notification (also sent by email after commit). `dedupe_key` makes one event
    notify once however often its service runs."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    milestone = models.ForeignKey(OrderMilestone, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    dedupe_key = models.CharField(max_length=160, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_user_recent")]

    def __str__(self) -> str:
        return self.text


# Buyer projects and custom offers (issue 7) live in their own module; imported here so Django
# registers them with the milestones app.
from .project_models import (  # noqa: E402, F401
    Offer,
    OfferMessage,
    OfferMilestone,
    OfferRevision,
    Project,
    ProjectAttachment,
    ProjectEvent,
    ProjectInvite,
    ProjectMilestone,
)
