from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from gigs.admin import GigAdmin
from gigs.models import Gig
from marketplace.money import format_money

from . import services
from .models import (
    CancellationRequest,
    Delivery,
    GigMilestone,
    GigMilestonePackage,
    MilestoneTemplate,
    Order,
    OrderEvent,
    OrderMilestone,
    RevisionRequest,
)


class MilestoneTemplateAdminForm(forms.ModelForm):
    """The milestones JSON is checked with the builder's rules, so a template that saves here can
    be applied to a gig (an example shape: any built-in template)."""

    class Meta:
        model = MilestoneTemplate
        fields = ["name", "description", "category", "owner", "milestones"]

    def clean(self):
        data = super().clean()
        if "milestones" in data and "name" in data:
            candidate = MilestoneTemplate(name=data["name"], milestones=data["milestones"])
            for key, messages in services.template_errors(candidate).items():
                field = "name" if key == "name" else "milestones"
                prefix = "" if key in ("name", "milestones") else f"{key}: "
                for message in messages:
                    self.add_error(field, f"{prefix}{message}")
        return data


@admin.register(MilestoneTemplate)
class MilestoneTemplateAdmin(admin.ModelAdmin):
    """Built-in templates (no owner) are managed here; sellers' own templates are visible too."""

    form = MilestoneTemplateAdminForm

    list_display = ["name", "owner", "category", "milestone_count", "updated_at"]
    list_filter = [("owner", admin.EmptyFieldListFilter), "category"]
    search_fields = ["name", "description", "owner__username"]
    list_select_related = ["owner", "category"]
    raw_id_fields = ["owner"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="Milestones")
    def milestone_count(self, obj):
        return len(obj.milestones or [])


class GigMilestoneInline(admin.TabularInline):
    """The gig's plan, read-only: prices are money and the builder checks the plan rules."""

    model = GigMilestone
    extra = 0
    can_delete = False
    fields = ["position", "name", "description", "video_call", "terms"]
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("gig").prefetch_related("tiers")

    @admin.display(description="Terms per package")
    def terms(self, obj):
        # Prices in the gig's currency, with its own decimals (¥600, not 6.00).
        return "; ".join(
            f"{t.tier}: {format_money(t.price_minor, obj.gig.currency)}, {t.delivery_days}d, {t.revisions} rev"
            for t in obj.tiers.all()
        )


admin.site.unregister(Gig)


@admin.register(Gig)
class GigWithPlanAdmin(GigAdmin):
    inlines = [*GigAdmin.inlines, GigMilestoneInline]
    list_display = [*GigAdmin.list_display, "plan_milestone_count"]


@admin.register(GigMilestonePackage)
class GigMilestonePackageAdmin(admin.ModelAdmin):
    list_display = ["milestone", "tier", "price_minor", "delivery_days", "revisions"]
    list_filter = ["tier"]
    search_fields = ["milestone__name", "milestone__gig__title"]
    list_select_related = ["milestone"]
    readonly_fields = ["milestone", "tier", "price_minor", "delivery_days", "revisions"]

    def has_add_permission(self, request):
        return False


# --- orders: read-only (money and status change only through the services) ---------------------


class OrderMilestoneInline(admin.TabularInline):
    model = OrderMilestone
    extra = 0
    can_delete = False
    fields = [
        "position",
        "name",
        "price",
        "delivery_days",
        "revisions",
        "revisions_used",
        "video_call",
        "status",
        "started_at",
        "due_at",
        "delivered_at",
        "review_deadline",
        "accepted_at",
        "auto_accepted",
        "cancelled_at",
    ]
    readonly_fields = fields
    ordering = ["position"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")

    @admin.display(description="Price")
    def price(self, obj):
        return format_money(obj.price_minor, obj.order.currency)


class OrderEventInline(admin.TabularInline):
    """The order's append-only history."""

    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "milestone", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "milestone")


ORDER_MONEY_FIELDS = ["subtotal", "service_fee", "small_order_fee", "total", "commission_bps"]
ORDER_LIFECYCLE_FIELDS = ["deliveries", "revision_requests", "cancellation_requests"]


def _list(rows, fmt: str, args) -> str:
    if not rows:
        return "—"
    return format_html("<ul>{}</ul>", format_html_join("", "<li>" + fmt + "</li>", (args(r) for r in rows)))


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "—"


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Every order and its money, read-only: statuses move only through the order services, and
    amounts are a snapshot taken at checkout."""

    list_display = ["__str__", "buyer", "seller", "package_tier", "status", "total", "created_at", "paid_at"]
    list_filter = ["status", "package_tier", "currency", "milestone_payments"]
    search_fields = ["=id", "gig_title", "buyer__username", "buyer__email", "seller__username", "seller__email"]
    list_select_related = ["buyer", "seller"]
    date_hierarchy = "created_at"
    inlines = [OrderMilestoneInline, OrderEventInline]
    fieldsets = [
        (None, {"fields": ["status", "buyer", "seller", "gig", "gig_title", "package_tier", "package_name"]}),
        ("Money", {"fields": ["currency", *ORDER_MONEY_FIELDS, "milestone_payments"]}),
        ("Checkout", {"fields": ["checkout_token", "requirements", "created_at", "expires_at", "paid_at"]}),
        ("Deliveries and requests", {"fields": ORDER_LIFECYCLE_FIELDS}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request):
        return False  # orders are placed by buyers at checkout

    def has_change_permission(self, request, obj=None):
        return False  # view-only: nothing here may change an order

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger and the history refer to them

    @admin.display(description="Subtotal", ordering="subtotal_minor")
    def subtotal(self, obj):
        return format_money(obj.subtotal_minor, obj.currency)

    @admin.display(description="Service fee")
    def service_fee(self, obj):
        return format_money(obj.service_fee_minor, obj.currency)

    @admin.display(description="Small order fee")
    def small_order_fee(self, obj):
        return format_money(obj.small_order_fee_minor, obj.currency)

    @admin.display(description="Total", ordering="total_minor")
    def total(self, obj):
        return format_money(obj.total_minor, obj.currency)

    # The lifecycle's rows hang off the milestones (no inline can reach them): listed read-only.
    # Files are named, not linked: downloads are for the order's parties only.

    @admin.display(description="Deliveries")
    def deliveries(self, obj):
        rows = (
            Delivery.objects.filter(milestone__order=obj)
            .select_related("milestone")
            .prefetch_related("files")
            .order_by("created_at", "id")
        )
        return _list(
            rows,
            "Milestone {} · {} · {} <em>({})</em>",
            lambda d: (
                d.milestone.position + 1,
                _when(d.created_at),
                d.message[:300],
                ", ".join(f"{f.name} ({f.size} B)" for f in d.files.all()) or "no files",
            ),
        )

    @admin.display(description="Revision requests")
    def revision_requests(self, obj):
        rows = RevisionRequest.objects.filter(milestone__order=obj).select_related("milestone").order_by("created_at")
        return _list(
            rows, "Milestone {} · {} · {}", lambda r: (r.milestone.position + 1, _when(r.created_at), r.reason[:300])
        )

    @admin.display(description="Cancellation requests")
    def cancellation_requests(self, obj):
        rows = (
            CancellationRequest.objects.filter(milestone__order=obj)
            .select_related("milestone")
            .order_by("created_at", "id")
        )
        return _list(
            rows,
            "Milestone {} · asked by the {} {} · {} · <strong>{}</strong>{} · expires {}",
            lambda r: (
                r.milestone.position + 1,
                "buyer" if r.requested_by_id == obj.buyer_id else "seller",
                _when(r.created_at),
                r.reason[:300],
                r.get_status_display(),
                " (automatically)" if r.auto_accepted else "",
                _when(r.expires_at),
            ),
        )
