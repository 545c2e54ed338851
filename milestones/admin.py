from functools import cache

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from gigs.admin import GigAdmin
from gigs.models import Gig
from marketplace.exceptions import DomainError
from marketplace.money import format_money

from . import project_services, services
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
from .project_models import (
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
        # `offer`: an order placed from a custom offer (gig empty) links to it.
        (None, {"fields": ["status", "buyer", "seller", "gig", "offer", "gig_title", "package_tier", "package_name"]}),
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


# --- buyer projects and custom offers (issue 7) ----------------------------------------------------
# View-only like the orders: statuses, budgets and offer amounts move only through
# milestones.project_services. Moderators (staff with change_project / change_offer) close a
# project or remove an offer with a reason, from the object's page (a button) or from the list
# (an action): both ask for the reason on an intermediate form and call project_close /
# offer_remove, which write the ProjectEvent (who, when, why) and tell the buyer or the seller.

MODERATION_FORM = """{% extends "admin/base_site.html" %}
{% block content %}
<h1>{{ title }}</h1>
<p>{{ explanation }}</p>
<ul>{% for obj in objects %}<li>{{ obj.label }}</li>{% endfor %}</ul>
<form method="post">{% csrf_token %}
  {% for obj in objects %}<input type="hidden" name="_selected_action" value="{{ obj.pk }}">{% endfor %}
  {% if action %}<input type="hidden" name="action" value="{{ action }}">
  <input type="hidden" name="apply" value="1">{% endif %}
  {{ form.as_p }}
  <input type="submit" value="{{ title }}">
</form>
{% endblock %}"""


@cache
def _moderation_template():
    # Kept here rather than in templates/: the one page both moderation actions share.
    return engines["django"].from_string(MODERATION_FORM)


class ModerationReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=project_services.REASON_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the project's history and sent to the user concerned.",
    )


class ModeratedAdmin(ReadOnlyAdmin):
    """A view-only admin with one moderation step (closing, removing) that needs a reason and
    `moderation_perm`: a button on the object's page and an action on the list, both through
    ModerationReasonForm, then `moderate()` (a service) per object. Refusals are shown as
    errors and change nothing."""

    moderation_perm = ""
    moderation_slug = ""
    moderation_label = ""
    moderation_explanation = ""
    moderation_action_name = ""

    def moderate(self, user, obj, reason: str) -> None:
        raise NotImplementedError

    def may_moderate(self, obj) -> bool:
        raise NotImplementedError

    def _may(self, request) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(self.moderation_perm)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._may(request):
            actions.pop(self.moderation_action_name, None)
        return actions

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                f"<int:object_id>/{self.moderation_slug}/",
                self.admin_site.admin_view(self.moderation_view),
                name=f"{opts.app_label}_{opts.model_name}_{self.moderation_slug}",
            ),
            *super().get_urls(),
        ]

    def moderation_url(self, obj) -> str:
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{self.moderation_slug}", args=[obj.pk])

    @admin.display(description="moderation")
    def moderation(self, obj):
        if not self.may_moderate(obj):
            return "-"
        return format_html('<a class="button" href="{}">{}…</a>', self.moderation_url(obj), self.moderation_label)

    def _without_button(self, request, names) -> list[str]:
        return [n for n in names if n != "moderation" or self._may(request)]

    def get_fields(self, request, obj=None):
        return self._without_button(request, super().get_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        return self._without_button(request, super().get_readonly_fields(request, obj))

    def _apply(self, request, objects, reason: str) -> None:
        done = 0
        for obj in objects:
            if not self.may_moderate(obj):
                self.message_user(
                    request, f"{obj}: nothing to do ({obj.get_status_display().lower()}).", messages.WARNING
                )
                continue
            try:
                self.moderate(request.user, obj, reason)
            except DomainError as exc:
                self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{self.moderation_label}: done for {done}.", messages.SUCCESS)

    def _form_page(self, request, objects, form, *, action: str | None):
        context = {
            **self.admin_site.each_context(request),
            "title": self.moderation_label,
            "explanation": self.moderation_explanation,
            "objects": [{"pk": o.pk, "label": f"#{o.pk} {o} ({o.get_status_display()})"} for o in objects],
            "form": form,
            "action": action,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, _moderation_template(), context)

    def moderation_view(self, request, object_id: int):
        """The object page's button: the reason form, then the service."""
        if not self._may(request):
            raise PermissionDenied
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        form = ModerationReasonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            self._apply(request, [obj], form.cleaned_data["reason"])
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        return self._form_page(request, [obj], form, action=None)

    def _moderate_selected(self, request, queryset):
        """The list's action: the reason form first (posted back to the list with the selection),
        then the service for each selected object."""
        if not self._may(request):
            raise PermissionDenied
        objects = list(queryset.order_by("pk"))
        form = ModerationReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._apply(request, objects, form.cleaned_data["reason"])
            return None
        return self._form_page(request, objects, form, action=self.moderation_action_name)


class ProjectMilestoneInline(ReadOnlyInline):
    model = ProjectMilestone
    fields = ["position", "name", "description", "share_bps", "target_date"]
    readonly_fields = fields
    verbose_name_plural = "sketch milestones"


class ProjectInviteInline(ReadOnlyInline):
    model = ProjectInvite
    fields = ["seller", "created_at"]
    readonly_fields = fields


class ProjectAttachmentInline(ReadOnlyInline):
    model = ProjectAttachment
    fields = ["name", "size", "content_type", "created_at"]  # named, not linked
    readonly_fields = fields


class ProjectOfferInline(ReadOnlyInline):
    model = Offer
    fields = ["seller", "status", "total", "total_days", "revision", "expires_at", "created_at"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("seller")

    @admin.display(description="total")
    def total(self, obj):
        return format_money(obj.total_minor, obj.currency)


class ProjectEventInline(ReadOnlyInline):
    """The project's and its offers' append-only history."""

    model = ProjectEvent
    fields = ["created_at", "offer", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "offer")


@admin.register(Project)
class ProjectAdmin(ModeratedAdmin):
    """Buyers' projects, view-only; a moderator closes one (open or awarded: an awarded
    project's order goes on) with a reason the buyer is told."""

    moderation_perm = "milestones.change_project"
    moderation_slug = "close"
    moderation_label = "Close project"
    moderation_action_name = "close_projects"
    moderation_explanation = (
        "The project takes no more offers; its live offers end not selected and their sellers are told. "
        "The buyer is told why. An accepted offer's order goes on."
    )

    list_display = ["title", "buyer", "category", "status", "visibility", "budget", "deadline", "offers", "created_at"]
    list_filter = ["status", "visibility", "category", "currency"]
    search_fields = ["=id", "title", "description", "buyer__username", "buyer__email"]
    list_select_related = ["buyer", "category"]
    date_hierarchy = "created_at"
    fields = [
        "title",
        "buyer",
        "category",
        "status",
        "visibility",
        "budget",
        "start_date",
        "deadline",
        "description",
        "closed_reason",
        "closed_by",
        "created_at",
        "updated_at",
        "moderation",
    ]
    readonly_fields = fields
    inlines = [
        ProjectMilestoneInline,
        ProjectInviteInline,
        ProjectAttachmentInline,
        ProjectOfferInline,
        ProjectEventInline,
    ]
    actions = ["close_projects"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(offer_count=Count("offers", distinct=True))

    def may_moderate(self, obj) -> bool:
        return obj.status != Project.Status.CLOSED

    def moderate(self, user, obj, reason: str) -> None:
        project_services.project_close(actor=user, project_id=obj.pk, reason=reason)

    @admin.display(description="budget", ordering="budget_max_minor")
    def budget(self, obj):
        return obj.budget_text

    @admin.display(description="offers", ordering="offer_count")
    def offers(self, obj):
        return obj.offer_count

    @admin.action(description="Close the selected projects (asks for a reason)")
    def close_projects(self, request, queryset):
        return self._moderate_selected(request, queryset)


class OfferMilestoneInline(ReadOnlyInline):
    model = OfferMilestone
    fields = ["position", "name", "description", "price", "delivery_days", "revisions", "video_call"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("offer")

    @admin.display(description="price")
    def price(self, obj):
        return format_money(obj.price_minor, obj.offer.currency)


class OfferMessageInline(ReadOnlyInline):
    model = OfferMessage
    fields = ["created_at", "sender", "body"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sender")


class OfferRevisionInline(ReadOnlyInline):
    model = OfferRevision
    fields = ["number", "created_at", "total_minor", "expires_at", "message", "milestones"]
    readonly_fields = fields
    verbose_name_plural = "versions sent"


class OfferEventInline(ReadOnlyInline):
    model = ProjectEvent
    fk_name = "offer"
    fields = ["created_at", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Offer)
class OfferAdmin(ModeratedAdmin):
    """Sellers' offers, view-only; a moderator removes one that is not accepted (it is hidden
    from the buyer and ends; the seller is told why)."""

    moderation_perm = "milestones.change_offer"
    moderation_slug = "remove"
    moderation_label = "Remove offer"
    moderation_action_name = "remove_offers"
    moderation_explanation = (
        "The offer ends and is hidden from the buyer; its seller is told why. An accepted offer cannot be "
        "removed: its order is handled through the order."
    )

    list_display = ["__str__", "project", "seller", "status", "total", "total_days", "revision", "expires_at"]
    list_filter = ["status", "project__category", "project__visibility", "currency"]
    search_fields = ["=id", "=project__id", "project__title", "seller__username", "seller__email", "message"]
    list_select_related = ["project", "seller"]
    date_hierarchy = "created_at"
    fields = [
        "project",
        "seller",
        "status",
        "total",
        "total_days",
        "revision",
        "expires_at",
        "message",
        "created_at",
        "updated_at",
        "answered_at",
        "order",
        "moderation",
    ]
    readonly_fields = fields
    inlines = [OfferMilestoneInline, OfferRevisionInline, OfferMessageInline, OfferEventInline]
    actions = ["remove_offers"]

    def may_moderate(self, obj) -> bool:
        return obj.status not in (Offer.Status.REMOVED, Offer.Status.ACCEPTED)

    def moderate(self, user, obj, reason: str) -> None:
        project_services.offer_remove(moderator=user, offer_id=obj.pk, reason=reason)

    @admin.display(description="total", ordering="total_minor")
    def total(self, obj):
        return format_money(obj.total_minor, obj.currency)

    @admin.display(description="order")
    def order(self, obj):
        rows = Order.objects.filter(offer=obj).order_by("pk").values_list("pk", "status")
        return (
            format_html_join(
                ", ",
                '<a href="{}">#{}</a> ({})',
                ((reverse("admin:milestones_order_change", args=[pk]), pk, status) for pk, status in rows),
            )
            or "-"
        )

    @admin.action(description="Remove the selected offers (asks for a reason)")
    def remove_offers(self, request, queryset):
        return self._moderate_selected(request, queryset)


@admin.register(ProjectMilestone)
class ProjectMilestoneAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "project", "share_bps", "target_date"]
    search_fields = ["name", "=project__id", "project__title"]
    list_select_related = ["project"]
    fields = ["project", "position", "name", "description", "share_bps", "target_date"]
    readonly_fields = fields


@admin.register(ProjectInvite)
class ProjectInviteAdmin(ReadOnlyAdmin):
    list_display = ["project", "seller", "created_at"]
    search_fields = ["=project__id", "project__title", "seller__username", "seller__email"]
    list_select_related = ["project", "seller"]
    date_hierarchy = "created_at"
    fields = ["project", "seller", "created_at"]
    readonly_fields = fields


@admin.register(ProjectAttachment)
class ProjectAttachmentAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "size", "content_type", "created_at"]
    list_filter = ["content_type"]
    search_fields = ["name", "=project__id", "project__title"]
    list_select_related = ["project"]
    fields = ["project", "name", "size", "content_type", "created_at"]  # not `file`: no download link here
    readonly_fields = fields


@admin.register(OfferMilestone)
class OfferMilestoneAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "offer", "offer__project", "price", "delivery_days", "revisions"]
    search_fields = ["name", "=offer__id", "=offer__project__id"]
    list_select_related = ["offer__project"]
    fields = ["offer", "position", "name", "description", "price", "delivery_days", "revisions", "video_call"]
    readonly_fields = fields

    @admin.display(description="price", ordering="price_minor")
    def price(self, obj):
        return format_money(obj.price_minor, obj.offer.currency)


@admin.register(OfferRevision)
class OfferRevisionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "offer", "total", "expires_at", "created_at"]
    search_fields = ["=offer__id", "message"]
    list_select_related = ["offer"]
    date_hierarchy = "created_at"
    fields = ["offer", "number", "message", "milestones", "total", "expires_at", "created_at"]
    readonly_fields = fields

    @admin.display(description="total", ordering="total_minor")
    def total(self, obj):
        return format_money(obj.total_minor, obj.offer.currency)


@admin.register(OfferMessage)
class OfferMessageAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "offer", "sender", "excerpt", "created_at"]
    search_fields = ["body", "=offer__id", "sender__username"]
    list_select_related = ["offer", "sender"]
    date_hierarchy = "created_at"
    fields = ["offer", "sender", "body", "created_at"]
    readonly_fields = fields

    @admin.display(description="Message")
    def excerpt(self, obj):
        return obj.body[:80]


class EventSubjectFilter(admin.SimpleListFilter):
    title = "about"
    parameter_name = "about"

    def lookups(self, request, model_admin):
        return [("project", "The project"), ("offer", "An offer")]

    def queryset(self, request, queryset):
        if self.value() == "project":
            return queryset.filter(offer__isnull=True)
        if self.value() == "offer":
            return queryset.filter(~Q(offer=None))
        return queryset


@admin.register(ProjectEvent)
class ProjectEventAdmin(ReadOnlyAdmin):
    """The append-only history of every project and offer: moderators' steps included."""

    list_display = ["created_at", "project", "offer", "from_status", "to_status", "actor", "reason"]
    list_filter = [EventSubjectFilter, "to_status", "from_status"]
    search_fields = ["=project__id", "=offer__id", "reason", "actor__username", "project__title"]
    list_select_related = ["project", "offer", "actor"]
    date_hierarchy = "created_at"
    fields = ["project", "offer", "from_status", "to_status", "actor", "reason", "created_at"]
    readonly_fields = fields
