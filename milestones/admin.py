from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from gigs.admin import GigAdmin
from gigs.models import Gig
from marketplace.money import format_money

from . import services
from .models import (
    CancellationRequest,
    Delivery,
    DeliveryFile,
    GigMilestone,
    GigMilestonePackage,
    MessageAttachment,
    MilestoneNote,
    MilestoneTemplate,
    Notification,
    Order,
    OrderEvent,
    OrderMessage,
    OrderMilestone,
    RevisionRequest,
    Task,
    TeamMember,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only: rows that only services write (money, statuses, history, provider state).
    Defined here because payments.admin imports this module: both apps share it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


class PlanTerms:
    """A gig milestone's terms in each package (its `tiers` prefetched, its gig selected)."""

    @admin.display(description="Terms per package")
    def terms(self, obj):
        # Prices in the gig's currency, with its own decimals (¥600, not 6.00).
        return "; ".join(
            f"{t.tier}: {format_money(t.price_minor, obj.gig.currency)}, {t.delivery_days}d, {t.revisions} rev"
            for t in obj.tiers.all()
        )


class GigMilestoneInline(PlanTerms, admin.TabularInline):
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


class MilestonePrice:
    """An order milestone's price in the order's currency (its order selected)."""

    @admin.display(description="Price", ordering="price_minor")
    def price(self, obj):
        return format_money(obj.price_minor, obj.order.currency)


class OrderMilestoneInline(MilestonePrice, admin.TabularInline):
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


@admin.register(GigMilestone)
class GigMilestoneAdmin(PlanTerms, ReadOnlyAdmin):
    """Gigs' plans, view-only: the builder (plan_replace) checks the plan rules on every change."""

    list_display = ["__str__", "gig", "terms", "video_call"]
    list_filter = ["video_call"]
    search_fields = ["name", "description", "gig__title", "gig__seller__username"]
    list_select_related = ["gig"]
    fields = ["gig", "position", "name", "description", "video_call", "terms"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tiers")


# --- the milestone lifecycle: view-only (statuses and money move only through the services) -----


@admin.register(OrderMilestone)
class OrderMilestoneAdmin(MilestonePrice, ReadOnlyAdmin):
    """Every order milestone with its state and deadlines. Delivering, accepting, revising and
    cancelling happen on the order's pages (milestones.lifecycle, payments.lifecycle)."""

    list_display = [
        "__str__",
        "order",
        "order__seller",
        "order__buyer",
        "status",
        "price",
        "revisions_used",
        "due_at",
        "delivered_at",
        "review_deadline",
        "accepted_at",
    ]
    list_filter = ["status", "auto_accepted", "video_call", "order__currency"]
    search_fields = [
        "=order__id",
        "name",
        "order__gig_title",
        "order__buyer__username",
        "order__buyer__email",
        "order__seller__username",
        "order__seller__email",
    ]
    list_select_related = ["order__buyer", "order__seller"]
    date_hierarchy = "due_at"
    fields = [
        "order",
        "position",
        "name",
        "description",
        "status",
        "price",
        "delivery_days",
        "revisions",
        "revisions_used",
        "video_call",
        "started_at",
        "due_at",
        "delivered_at",
        "review_deadline",
        "reminded_48h",
        "reminded_24h",
        "accepted_at",
        "auto_accepted",
        "cancelled_at",
    ]
    readonly_fields = fields


class DeliveryFileInline(ReadOnlyInline):
    # Files are named, not linked: downloads are for the order's parties only.
    model = DeliveryFile
    fields = ["name", "size", "content_type"]
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "milestone__order", "sender", "file_count", "excerpt", "created_at"]
    list_filter = ["milestone__status"]
    search_fields = ["=milestone__order__id", "message", "sender__username", "milestone__order__gig_title"]
    list_select_related = ["milestone__order", "sender"]
    date_hierarchy = "created_at"
    fields = ["milestone", "sender", "message", "created_at"]
    readonly_fields = fields
    inlines = [DeliveryFileInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(file_count=Count("files", distinct=True))

    @admin.display(description="Files", ordering="file_count")
    def file_count(self, obj):
        return obj.file_count

    @admin.display(description="Message")
    def excerpt(self, obj):
        return obj.message[:80]


@admin.register(DeliveryFile)
class DeliveryFileAdmin(ReadOnlyAdmin):
    list_display = ["name", "delivery", "delivery__milestone__order", "size", "content_type"]
    list_filter = ["content_type"]
    search_fields = ["name", "=delivery__milestone__order__id"]
    list_select_related = ["delivery__milestone__order"]
    fields = ["delivery", "name", "size", "content_type"]  # not `file`: no download link here
    readonly_fields = fields


@admin.register(RevisionRequest)
class RevisionRequestAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "milestone__order", "requested_by", "excerpt", "created_at"]
    search_fields = ["=milestone__order__id", "reason", "requested_by__username", "milestone__order__gig_title"]
    list_select_related = ["milestone__order", "requested_by"]
    date_hierarchy = "created_at"
    fields = ["milestone", "requested_by", "reason", "created_at"]
    readonly_fields = fields

    @admin.display(description="Reason")
    def excerpt(self, obj):
        return obj.reason[:80]


@admin.register(CancellationRequest)
class CancellationRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "milestone__order",
        "requested_by",
        "status",
        "auto_accepted",
        "created_at",
        "expires_at",
        "answered_at",
        "answered_by",
    ]
    list_filter = ["status", "auto_accepted"]
    search_fields = ["=milestone__order__id", "reason", "requested_by__username", "answered_by__username"]
    list_select_related = ["milestone__order", "requested_by", "answered_by"]
    date_hierarchy = "created_at"
    fields = [
        "milestone",
        "requested_by",
        "reason",
        "status",
        "created_at",
        "expires_at",
        "answered_at",
        "answered_by",
        "auto_accepted",
    ]
    readonly_fields = fields


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin):
    """The append-only history of every order."""

    list_display = ["created_at", "order", "milestone", "from_status", "to_status", "actor", "reason"]
    list_filter = ["to_status", "from_status"]
    search_fields = ["=order__id", "reason", "actor__username", "order__gig_title"]
    list_select_related = ["order", "milestone", "actor"]
    date_hierarchy = "created_at"
    fields = ["order", "milestone", "from_status", "to_status", "actor", "reason", "created_at"]
    readonly_fields = fields


# --- the order workspace and notifications: view-only (the parties' record, written by services) -


@admin.register(TeamMember)
class TeamMemberAdmin(ReadOnlyAdmin):
    """Sellers' teams. Inviting, accepting and removing go through milestones.workspace (which
    also unassigns a removed member's tasks)."""

    list_display = ["member", "seller", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["seller__username", "seller__email", "member__username", "member__email"]
    list_select_related = ["seller", "member"]
    date_hierarchy = "created_at"
    fields = ["seller", "member", "status", "created_at"]
    readonly_fields = fields


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ["title", "milestone", "milestone__order", "parent", "assignee", "done", "created_at", "done_at"]
    list_filter = ["done", ("parent", admin.EmptyFieldListFilter)]
    search_fields = ["title", "=milestone__order__id", "assignee__username", "created_by__username"]
    list_select_related = ["milestone__order", "parent", "assignee"]
    date_hierarchy = "created_at"
    fields = ["milestone", "parent", "title", "assignee", "done", "position", "created_by", "created_at", "done_at"]
    readonly_fields = fields


@admin.register(MilestoneNote)
class MilestoneNoteAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "milestone__order", "author", "visibility", "excerpt", "created_at"]
    list_filter = ["visibility"]
    search_fields = ["body", "=milestone__order__id", "author__username"]
    list_select_related = ["milestone__order", "author"]
    date_hierarchy = "created_at"
    fields = ["milestone", "author", "visibility", "body", "created_at"]
    readonly_fields = fields

    @admin.display(description="Note")
    def excerpt(self, obj):
        return obj.body[:80]


class MessageAttachmentInline(ReadOnlyInline):
    model = MessageAttachment
    fields = ["name", "size", "content_type"]  # named, not linked (downloads are the parties')
    readonly_fields = fields


@admin.register(OrderMessage)
class OrderMessageAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "order", "sender", "excerpt", "attachment_count", "created_at"]
    search_fields = ["body", "=order__id", "sender__username", "order__gig_title"]
    list_select_related = ["order", "sender"]
    date_hierarchy = "created_at"
    fields = ["order", "sender", "body", "created_at"]
    readonly_fields = fields
    inlines = [MessageAttachmentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(attachment_count=Count("attachments", distinct=True))

    @admin.display(description="Attachments", ordering="attachment_count")
    def attachment_count(self, obj):
        return obj.attachment_count

    @admin.display(description="Message")
    def excerpt(self, obj):
        return obj.body[:80]


@admin.register(MessageAttachment)
class MessageAttachmentAdmin(ReadOnlyAdmin):
    list_display = ["name", "message", "message__order", "size", "content_type"]
    list_filter = ["content_type"]
    search_fields = ["name", "=message__order__id"]
    list_select_related = ["message__order"]
    fields = ["message", "name", "size", "content_type"]  # not `file`: no download link here
    readonly_fields = fields


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """What each user was told, and whether it was read and emailed (the email task claims
    `emailed_at`; nothing here may reset it)."""

    list_display = ["text", "user", "kind", "order", "milestone", "created_at", "read_at", "emailed_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter), ("emailed_at", admin.EmptyFieldListFilter)]
    search_fields = ["text", "dedupe_key", "=order__id", "user__username", "user__email"]
    list_select_related = ["user", "order", "milestone"]
    date_hierarchy = "created_at"
    fields = ["user", "kind", "text", "url", "order", "milestone", "dedupe_key", "created_at", "read_at", "emailed_at"]
    readonly_fields = fields
