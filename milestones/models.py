"""Milestone plans of gigs (the builder), milestone templates, and orders with their milestones.

An order copies the plan when it is placed; a plan is only ever read by checkout, so editing it
never touches an order already placed.
"""

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
    gig = models.ForeignKey(Gig, on_delete=models.PROTECT, related_name="orders")
    # Double submission (double click, two tabs, a retried request) carries the same token: one order.
    checkout_token = models.UUIDField()
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING_PAYMENT)
    # Snapshot of what was bought.
    gig_title = models.CharField(max_length=100)
    package_tier = models.CharField(max_length=10, choices=Package.Tier)
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
    status = models.CharField(max_length=20, choices=Status, default=Status.LOCKED)
    started_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="order_milestone_unique_position"),
            models.CheckConstraint(condition=models.Q(price_minor__gt=0), name="order_milestone_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.name}"


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
