"""Accounts, seller profiles, categories, gigs, their three packages and FAQs."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse


class User(AbstractUser):
    """One account both buys and sells, as on Fiverr. Email is required and unique."""

    email = models.EmailField("email address")

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="gigs_user_email_ci_unique",
                violation_error_message="An account with that email already exists.",
            ),
        ]

    @property
    def public_name(self) -> str:
        profile = getattr(self, "seller_profile", None)
        return profile.display_name if profile and profile.display_name else self.username


class SellerProfile(models.Model):
    """What buyers see of a seller. Created with the account; later holds the Stripe account."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="seller_profile")
    display_name = models.CharField(max_length=80)
    headline = models.CharField(max_length=140, blank=True)
    bio = models.TextField(blank=True, max_length=4000)
    stripe_account_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=240, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Gig(models.Model):
    TITLE_MIN_CHARS = 10

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        PAUSED = "paused", "Paused"

    # A published gig can be paused and resumed; a paused gig can go back to draft for edits.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.DRAFT: frozenset({Status.PUBLISHED}),
        Status.PUBLISHED: frozenset({Status.PAUSED}),
        Status.PAUSED: frozenset({Status.PUBLISHED}),
    }

    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gigs")
    title = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, unique=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="gigs")
    description = models.TextField(blank=True, max_length=12000)
    status = models.CharField(max_length=12, choices=Status, default=Status.DRAFT)
    # On by default: the gig sells in milestones, and its package prices and delivery times are
    # the sums of its plan (kept by the milestones app through gig_set_plan_summary). Off: plain
    # packages, each with its own price; the plan is kept but not offered.
    milestone_payments = models.BooleanField(default=True)
    plan_milestone_count = models.PositiveSmallIntegerField(default=0, editable=False)
    currency = models.CharField(max_length=3, default="USD")
    # Kept by the services that write packages, so the catalog filters and sorts on an indexed
    # column instead of aggregating every gig's packages (see docs/benchmarks.md).
    price_from_minor = models.PositiveIntegerField(null=True, blank=True, editable=False)
    fastest_delivery_days = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-published_at", "-created_at"]
        indexes = [
            models.Index(fields=["status", "-published_at"], name="gig_status_published_idx"),
            models.Index(fields=["category", "status"], name="gig_category_status_idx"),
            models.Index(fields=["status", "price_from_minor"], name="gig_status_price_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("gig-detail", kwargs={"slug": self.slug})

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def prices_from_plan(self) -> bool:
        """True when the packages' price and delivery are derived from the milestone plan."""
        return self.milestone_payments and self.plan_milestone_count > 0


class Package(models.Model):
    class Tier(models.TextChoices):
        BASIC = "basic", "Basic"
        STANDARD = "standard", "Standard"
        PREMIUM = "premium", "Premium"

    TIER_ORDER = [Tier.BASIC, Tier.STANDARD, Tier.PREMIUM]

    gig = models.ForeignKey(Gig, on_delete=models.CASCADE, related_name="packages")
    tier = models.CharField(max_length=10, choices=Tier)
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=600)
    price_minor = models.PositiveIntegerField(help_text="Price in the currency's minor unit (cents).")
    currency = models.CharField(max_length=3, default="USD")
    delivery_days = models.PositiveSmallIntegerField()
    revisions = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gig", "tier"], name="package_one_per_tier"),
            models.CheckConstraint(condition=models.Q(price_minor__gt=0), name="package_price_positive"),
            models.CheckConstraint(condition=models.Q(delivery_days__gt=0), name="package_delivery_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.gig} / {self.get_tier_display()}"

    @property
    def rank(self) -> int:
        return self.TIER_ORDER.index(self.tier)


class GigFaq(models.Model):
    gig = models.ForeignKey(Gig, on_delete=models.CASCADE, related_name="faqs")
    question = models.CharField(max_length=200)
    answer = models.TextField(max_length=2000)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "gig FAQ"

    def __str__(self) -> str:
        return self.question


class GigRequirement(models.Model):
    """A question the buyer answers at checkout ("What is your brand name?"); the answers are
    copied into the order."""

    gig = models.ForeignKey(Gig, on_delete=models.CASCADE, related_name="requirements")
    question = models.CharField(max_length=200)
    required = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.question
