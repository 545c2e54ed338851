"""Milestone plans of gigs (the builder) and milestone templates.

Orders and their milestones (snapshots of a plan) land here with the checkout issue; a plan is
only ever read by checkout, so editing it never touches an order already placed.
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
