"""Buyer projects and sellers' custom offers (issue 7). Imported by milestones.models, so Django
sees these models in the milestones app.

A buyer posts a Project (budget, timeline, optional milestone sketch); sellers answer with an
Offer (a message and their own milestone plan, with an expiry). Accepting an offer places an
Order (milestones.Order.offer) through the same checkout, fees, escrow and snapshot as a gig
order. Every state change writes a ProjectEvent (append-only, like OrderEvent); the services
in milestones.project_services are the only writers. docs/projects.md has the whole picture.
"""

import uuid
from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from marketplace.money import format_money


class Project(models.Model):
    """A buyer's request for work. Money in integer minor units of `currency`; a fixed budget has
    `budget_min_minor == budget_max_minor`."""

    class Status(models.TextChoices):
        OPEN = "open", "Open for offers"
        AWARDED = "awarded", "Offer accepted"
        CLOSED = "closed", "Closed"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Sellers of this category"
        INVITE_ONLY = "invite_only", "Invited sellers only"

    # Awarded -> open: the accepted offer's order expired unpaid (project_services
    # offer_order_expired_locked). Awarded -> closed: a moderator closes it (the order goes on).
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.OPEN: frozenset({Status.AWARDED, Status.CLOSED}),
        Status.AWARDED: frozenset({Status.OPEN, Status.CLOSED}),
        Status.CLOSED: frozenset(),
    }

    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects")
    title = models.CharField(max_length=100)
    description = models.TextField(max_length=5000)
    category = models.ForeignKey("gigs.Category", on_delete=models.PROTECT, related_name="projects")
    currency = models.CharField(max_length=3)
    budget_min_minor = models.PositiveIntegerField(help_text="Least the buyer expects to pay (minor units).")
    budget_max_minor = models.PositiveIntegerField(help_text="Most the buyer will pay; equal to the minimum = fixed.")
    start_date = models.DateField(help_text="When the work may start.")
    deadline = models.DateField(help_text="When the work must be done.")
    visibility = models.CharField(max_length=12, choices=Visibility, default=Visibility.PUBLIC)
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    closed_reason = models.CharField(max_length=300, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Sellers browse open projects of their categories, newest first.
            models.Index(fields=["status", "category", "-created_at"], name="project_open_by_category"),
            models.Index(fields=["buyer", "-created_at"], name="project_buyer_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(budget_min_minor__gt=0), name="project_budget_positive"),
            models.CheckConstraint(
                condition=models.Q(budget_max_minor__gte=models.F("budget_min_minor")), name="project_budget_range"
            ),
            models.CheckConstraint(condition=models.Q(deadline__gte=models.F("start_date")), name="project_dates"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def fixed_budget(self) -> bool:
        return self.budget_min_minor == self.budget_max_minor

    @property
    def budget_text(self) -> str:
        """The budget for people: "$500.00", or a range "$300.00 – $500.00"."""
        low = format_money(self.budget_min_minor, self.currency)
        if self.fixed_budget:
            return low
        return f"{low} – {format_money(self.budget_max_minor, self.currency)}"

    @property
    def invite_only(self) -> bool:
        return self.visibility == self.Visibility.INVITE_ONLY


class ProjectInvite(models.Model):
    """A seller invited to an invitation-only project (or pointed at a public one)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invites")
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_invites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "seller"], name="project_invite_once")]

    def __str__(self) -> str:
        return f"{self.seller} invited to {self.project}"


def project_upload_to(instance: "ProjectAttachment", filename: str) -> str:
    return f"projects/project-{instance.project_id}/{uuid.uuid4().hex}/{filename}"


class ProjectAttachment(models.Model):
    """A file of the project brief, served to whoever may see the project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=project_upload_to, max_length=300)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class ProjectMilestone(models.Model):
    """The buyer's sketch of a stage: what is delivered, its share of the budget (basis points,
    the shares of a sketch sum to 10000) and a target date. Sellers' offers may differ."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80)
    description = models.TextField(max_length=1000, blank=True)
    share_bps = models.PositiveIntegerField(help_text="Share of the budget in basis points (2500 = 25 %).")
    target_date = models.DateField()

    class Meta:
        ordering = ["project", "position"]
        constraints = [
            models.UniqueConstraint(fields=["project", "position"], name="project_milestone_unique_position"),
            models.CheckConstraint(
                condition=models.Q(share_bps__gt=0, share_bps__lte=10000), name="project_milestone_share"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.name}"


class Offer(models.Model):
    """A seller's answer to a project: a message and a milestone plan in the project's currency,
    live until `expires_at`. `total_minor` and `total_days` are the plan's sums, written by the
    services with the milestones (the comparisons and filters read them without a join)."""

    class Status(models.TextChoices):
        LIVE = "live", "Waiting for the buyer"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"
        NOT_SELECTED = "not_selected", "Not selected"
        EXPIRED = "expired", "Expired"
        REMOVED = "removed", "Removed by a moderator"

    # accepted -> live / expired: the order expired unpaid and the project reopened (live again
    # while before its expiry). not_selected -> live / expired: the same reopening gives the other
    # sellers' offers back. live / expired -> accepted: a late payment of an expired order.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.LIVE: frozenset(
            {
                Status.ACCEPTED,
                Status.DECLINED,
                Status.WITHDRAWN,
                Status.NOT_SELECTED,
                Status.EXPIRED,
                Status.REMOVED,
            }
        ),
        Status.ACCEPTED: frozenset({Status.LIVE, Status.EXPIRED}),
        Status.NOT_SELECTED: frozenset({Status.LIVE, Status.EXPIRED, Status.REMOVED}),
        Status.EXPIRED: frozenset({Status.ACCEPTED, Status.REMOVED}),
        Status.DECLINED: frozenset({Status.REMOVED}),
        Status.WITHDRAWN: frozenset({Status.REMOVED}),
        Status.REMOVED: frozenset(),
    }
    # At most one of these per seller and project (database constraint too).
    CURRENT = frozenset({Status.LIVE, Status.ACCEPTED})

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="offers")
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offers_sent")
    status = models.CharField(max_length=12, choices=Status, default=Status.LIVE)
    message = models.TextField(max_length=5000)
    currency = models.CharField(max_length=3)
    total_minor = models.PositiveIntegerField()
    total_days = models.PositiveIntegerField()
    expires_at = models.DateTimeField()
    # 1 when sent; each revision adds one (OfferRevision keeps every version).
    revision = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    answered_at = models.DateTimeField(null=True, blank=True, help_text="Accepted, declined or not selected.")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The expiry sweep: live offers by expiry.
            models.Index(fields=["expires_at"], name="offer_live_expiry", condition=models.Q(status="live")),
            models.Index(fields=["seller", "-created_at"], name="offer_seller_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "seller"],
                condition=models.Q(status__in=["live", "accepted"]),
                name="offer_one_current_per_seller",
            ),
            # One accepted offer per project: the database's guarantee behind project locking.
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(status="accepted"), name="offer_one_accepted_per_project"
            ),
            models.CheckConstraint(condition=models.Q(total_minor__gt=0), name="offer_total_positive"),
        ]

    def __str__(self) -> str:
        return f"Offer #{self.pk} on {self.project_id}"

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE

    def is_past_expiry(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())

    def delivery_date_from(self, start: date) -> date:
        """When the whole plan is delivered if work starts on `start`."""
        return start + timedelta(days=self.total_days)


class OfferMilestone(models.Model):
    """One milestone of an offer's current plan; accepting copies these into OrderMilestones."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="milestones")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80)
    description = models.TextField(max_length=1000, blank=True)
    price_minor = models.PositiveIntegerField()
    delivery_days = models.PositiveSmallIntegerField()
    revisions = models.PositiveSmallIntegerField(default=0)
    video_call = models.BooleanField(default=False)

    class Meta:
        ordering = ["offer", "position"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "position"], name="offer_milestone_unique_position"),
            models.CheckConstraint(condition=models.Q(price_minor__gt=0), name="offer_milestone_price_positive"),
            models.CheckConstraint(condition=models.Q(delivery_days__gt=0), name="offer_milestone_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.name}"


class OfferRevision(models.Model):
    """Every version of an offer as sent (number 1) and revised (2, 3, ...): message, plan and
    expiry, append-only. The current version is also on Offer / OfferMilestone."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveSmallIntegerField()
    message = models.TextField()
    milestones = models.JSONField(
        default=list, help_text='[{"name", "description", "price_minor", "delivery_days", "revisions", "video_call"}]'
    )
    total_minor = models.PositiveIntegerField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["offer", "number"]
        constraints = [models.UniqueConstraint(fields=["offer", "number"], name="offer_revision_unique_number")]

    def __str__(self) -> str:
        return f"Offer #{self.offer_id} v{self.number}"


class OfferMessage(models.Model):
    """The offer's thread: the project's buyer and the offer's seller."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Message on offer {self.offer_id}"


class ProjectEvent(models.Model):
    """Append-only history of a project and its offers: who changed what, when and why. `offer`
    set = the offer's status changed; empty = the project's."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"
