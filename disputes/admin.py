"""Disputes in admin: a list to work from, a read-only page with everything the decision needs,
and decision buttons (release, refund, split, ask for information, close) that take a note on an
intermediate form and call the services. Chargebacks (kind "chargeback") are listed with them:
their page shows the provider's status, amount and evidence due date, the milestones they hold
and a "Submit evidence" form (to Stripe in Stripe mode); with the local provider, actions simulate
a chargeback and the issuer's decision for demos. Statuses and money are never edited here."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from gigs.forms import MoneyField
from marketplace.exceptions import DomainError, ValidationFailed
from marketplace.money import format_money
from milestones.admin import ReadOnlyAdmin, ReadOnlyInline
from payments.exceptions import ProviderUnavailable
from payments.gateways import gateway

from . import chargebacks, services
from .models import (
    Dispute,
    DisputeEvent,
    DisputeEvidence,
    DisputeEvidenceSubmission,
    DisputeHold,
    DisputeMessage,
    SettlementOffer,
    chargeback_reason_label,
    chargeback_status_label,
)

DECISIONS = {
    "release": "Release to seller",
    "refund": "Refund buyer",
    "split": "Split",
    "request_info": "Ask for more information",
    "close": "Close without a decision",
}
# A decision waiting for a second admin (above DISPUTE_APPROVAL_ABOVE_MINOR).
APPROVALS = {
    "approve": "Approve the decision",
    "reject": "Reject the decision",
}
MONEY_DECISIONS = ("release", "refund", "split")
DECIDE_PERM = "disputes.change_dispute"
APPROVE_PERM = "disputes.approve_decision"


def status_label(value: str) -> str:
    """A dispute status (an event's from/to) as its label; "-" for none."""
    if not value:
        return "-"
    return Dispute.Status(value).label if value in Dispute.Status.values else value


class ProviderStatusFilter(admin.SimpleListFilter):
    """The provider's chargeback status, by its label (the values present)."""

    title = "provider status"
    parameter_name = "provider_status"

    def lookups(self, request, model_admin):
        values = (
            Dispute.objects.exclude(provider_status="")
            .order_by("provider_status")
            .values_list("provider_status", flat=True)
            .distinct()
        )
        return [(v, chargeback_status_label(v)) for v in values]

    def queryset(self, request, queryset):
        return queryset.filter(provider_status=self.value()) if self.value() else queryset


class OverdueFilter(admin.SimpleListFilter):
    title = "response window"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        overdue = Q(status=Dispute.Status.AWAITING_RESPONSE, response_due_at__lte=timezone.now())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [("1", "Under a day"), ("7", "Under a week"), ("old", "A week or more")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() in ("1", "7"):
            return queryset.filter(created_at__gt=now - timedelta(days=int(self.value())))
        if self.value() == "old":
            return queryset.filter(created_at__lte=now - timedelta(days=7))
        return queryset


class AmountFilter(admin.SimpleListFilter):
    title = "amount at stake"
    parameter_name = "stake"

    def lookups(self, request, model_admin):
        return [("small", "Under 100"), ("large", "100 or more")]

    def queryset(self, request, queryset):
        # A milestone dispute: the milestone's price; an order dispute, a chargeback: amount_minor.
        if self.value() == "small":
            return queryset.filter(
                Q(milestone__price_minor__lt=10000) | Q(milestone__isnull=True, amount_minor__lt=10000)
            )
        if self.value() == "large":
            return queryset.filter(
                Q(milestone__price_minor__gte=10000) | Q(milestone__isnull=True, amount_minor__gte=10000)
            )
        return queryset


class DecisionForm(forms.Form):
    """A decision's note and, for a split, the amount to the seller typed in the dispute's currency
    as every price on the site ("12" or "12.50", cleaned to minor units) or a percentage. The
    service checks again on the locked rows; its field errors come back here (`apply_service_errors`)."""

    note = forms.CharField(widget=forms.Textarea, help_text="Kept with the decision and shown in the audit.")
    seller_amount = MoneyField(required=False, max_length=40, label="Amount to the seller")
    percent = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100,
        help_text="Split: or a whole percentage to the seller (rounded down)",
    )
    SERVICE_FIELDS = {"seller_amount_minor": "seller_amount"}

    def __init__(self, *args, decision: str, currency: str, at_stake_minor: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.decision, self.currency, self.at_stake_minor = decision, currency, at_stake_minor

    def clean_seller_amount(self) -> int | None:
        raw = (self.cleaned_data.get("seller_amount") or "").strip()
        if self.decision != "split" or not raw:
            return None
        amount = self.fields["seller_amount"].to_minor(raw, self.currency)
        if amount > self.at_stake_minor:
            raise forms.ValidationError(
                f"At most {format_money(self.at_stake_minor, self.currency)}, the amount at stake."
            )
        return amount

    def clean(self):
        data = super().clean()
        if self.decision != "split":
            data["seller_amount"] = data["percent"] = None
            return data
        if "seller_amount" in self.errors or "percent" in self.errors:
            return data
        amount, percent = data.get("seller_amount"), data.get("percent")
        if amount is not None and percent is not None:
            raise forms.ValidationError("Give an amount or a percentage for the seller, not both.")
        if amount is None and percent is None:
            raise forms.ValidationError("Give an amount or a percentage for the seller.")
        return data

    def apply_service_errors(self, errors: dict[str, list[str]]) -> None:
        for key, texts in errors.items():
            field = self.SERVICE_FIELDS.get(key, key)
            for text in texts:
                self.add_error(field if field in self.fields else None, text)


class EvidenceForm(forms.Form):
    """Stripe's text evidence fields; submitted with submit=True (final)."""

    product_description = forms.CharField(
        required=False, widget=forms.Textarea, help_text="What was sold: the gig, the package, its milestones."
    )
    customer_name = forms.CharField(required=False)
    customer_email_address = forms.EmailField(required=False)
    service_date = forms.CharField(required=False, help_text="When the work was delivered (e.g. 2026-03-02).")
    access_activity_log = forms.CharField(
        required=False, widget=forms.Textarea, help_text="The buyer's activity: deliveries viewed, acceptances."
    )
    cancellation_rebuttal = forms.CharField(required=False, widget=forms.Textarea)
    refund_refusal_explanation = forms.CharField(required=False, widget=forms.Textarea)
    uncategorized_text = forms.CharField(
        required=False, widget=forms.Textarea, help_text="Anything else: messages with the buyer, the order's history."
    )

    def clean(self):
        data = super().clean()
        if not any((data.get(name) or "").strip() for name in chargebacks.EVIDENCE_TEXT_FIELDS):
            raise forms.ValidationError("Fill in at least one evidence field.")
        return data


def _local_mode() -> bool:
    return hasattr(gateway(), "simulate_chargeback")


class ApprovalForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea, help_text="Kept with the decision and shown in the audit.")


class MessageInline(ReadOnlyInline):
    model = DisputeMessage
    fields = ["author", "body", "created_at"]
    readonly_fields = fields


class EvidenceInline(ReadOnlyInline):
    model = DisputeEvidence
    fields = ["uploaded_by", "post", "file_link", "size", "created_at"]
    readonly_fields = fields

    @admin.display(description="file")
    def file_link(self, e):
        # Through the parties' file view (it lets staff with view_dispute in), never MEDIA_URL.
        url = reverse("dispute-evidence", args=[e.dispute_id, e.pk])
        return format_html('<a href="{}">{}</a>', url, e.name)


class OfferInline(ReadOnlyInline):
    model = SettlementOffer
    fields = ["proposed_by", "to_the_seller", "refunded", "status", "created_at", "answered_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("proposed_by", "dispute__order", "dispute__milestone")

    @admin.display(description="to the seller")
    def to_the_seller(self, o):
        return format_money(o.seller_amount_minor, o.dispute.order.currency)

    @admin.display(description="refunded")
    def refunded(self, o):
        # The offer shares the milestone's price (an order dispute: what it held when opened).
        d = o.dispute
        total = d.milestone.price_minor if d.milestone_id else d.amount_minor
        return format_money(total - o.seller_amount_minor, d.order.currency) if total is not None else "-"


class HoldInline(ReadOnlyInline):
    model = DisputeHold
    fk_name = "dispute"
    fields = ["milestone", "frozen_from", "payout_frozen", "party_dispute", "outcome", "refunded", "ended_at"]
    readonly_fields = fields
    verbose_name_plural = "milestones held (order dispute or chargeback)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("milestone", "dispute__order")

    @admin.display(description="refunded")
    def refunded(self, h):
        return format_money(h.amount_minor, h.dispute.order.currency)


class EvidenceSubmissionInline(ReadOnlyInline):
    model = DisputeEvidenceSubmission
    fields = ["created_at", "submitted_by", "evidence_sent", "provider_status_label", "idempotency_key"]
    readonly_fields = fields
    verbose_name_plural = "evidence submitted to the provider"

    @admin.display(description="evidence")
    def evidence_sent(self, e):
        rows = [(name.replace("_", " ").capitalize(), text) for name, text in (e.evidence or {}).items() if text]
        return format_html_join("", "<div><strong>{}</strong>: {}</div>", rows) or "-"

    @admin.display(description="provider status")
    def provider_status_label(self, e):
        return chargeback_status_label(e.provider_status) or "-"


class EventStatusLabels:
    """An event's from and to statuses by their labels (the inline and the events list)."""

    @admin.display(description="from")
    def from_status_label(self, e):
        return status_label(e.from_status)

    @admin.display(description="to")
    def to_status_label(self, e):
        return status_label(e.to_status)


class EventInline(EventStatusLabels, ReadOnlyInline):
    model = DisputeEvent
    fields = ["created_at", "actor", "action", "from_status_label", "to_status_label", "note"]
    readonly_fields = fields


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    # What fits at 1280px; the rest is on the dispute's page.
    list_display = ["id", "kind", "order_link", "status", "at_stake", "age", "overdue", "opened_by"]
    list_filter = [
        "kind",
        "status",
        ProviderStatusFilter,
        OverdueFilter,
        AgeFilter,
        AmountFilter,
        "reason",
        "outcome_wanted",
    ]
    search_fields = [
        "=id",
        "=order__id",
        "opened_by__username",
        "order__buyer__username",
        "order__seller__username",
        "description",
        "provider_dispute_id",
    ]
    list_select_related = ["order", "milestone", "opened_by"]
    readonly_fields = [
        "kind",
        "order_link",
        "milestone_label",
        "at_stake",
        "status",
        "provider_dispute_id",
        "provider_status_label",
        "provider_reason_label",
        "evidence_due_by",
        "evidence_submitted_at",
        "chargeback",
        "reason",
        "outcome_wanted",
        "amount_wanted",
        "opened_by",
        "description",
        "response",
        "responded_at",
        "response_due_at",
        "frozen_from",
        "resolution_action",
        "seller_amount",
        "refund_amount",
        "resolution_note",
        "resolved_by",
        "resolved_at",
        "pending_decision",
        "approved_by",
        "approved_at",
        "created_at",
        "milestone_plan",
        "ledger",
        "decide",
        "approval",
    ]
    fields = readonly_fields
    inlines = [HoldInline, EvidenceSubmissionInline, MessageInline, EvidenceInline, OfferInline, EventInline]
    actions = ["decide_action", "simulate_chargeback_action", "simulate_won_action", "simulate_lost_action"]

    # Nothing here is edited (no Save button, money and statuses read-only): the page needs the
    # view permission; the decision buttons need change_dispute, approving approve_decision.
    def has_change_permission(self, request, obj=None):
        return False

    def _without(self, request, names: list[str]) -> list[str]:
        hidden = set()
        if not request.user.has_perm(DECIDE_PERM):
            hidden.update({"decide", "chargeback"})
        if not request.user.has_perm(APPROVE_PERM):
            hidden.add("approval")
        return [n for n in names if n not in hidden]

    def get_readonly_fields(self, request, obj=None):
        return self._without(request, list(super().get_readonly_fields(request, obj)))

    def get_fields(self, request, obj=None):
        return self._without(request, list(super().get_fields(request, obj)))

    @admin.display(description="order")
    def order_link(self, d):
        url = reverse("admin:milestones_order_change", args=[d.order_id])
        return format_html('<a href="{}">#{}</a>', url, d.order_id)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not _local_mode() or not request.user.has_perm(DECIDE_PERM):
            for name in ("simulate_chargeback_action", "simulate_won_action", "simulate_lost_action"):
                actions.pop(name, None)
        return actions

    @admin.display(description="milestone")
    def milestone_label(self, d):
        if d.milestone is None:
            return "whole order (chargeback)" if d.is_chargeback else "whole order (order dispute: see the holds)"
        return f"{d.milestone} ({d.milestone.get_status_display()})"

    @admin.display(description="at stake")
    def at_stake(self, d):
        # An order dispute: what it held when opened (the decision shares out what it still holds).
        if d.milestone is None:
            return format_money(d.amount_minor or 0, d.order.currency)
        return format_money(d.milestone.price_minor, d.order.currency)

    @admin.display(description="provider status")
    def provider_status_label(self, d):
        return chargeback_status_label(d.provider_status) or "-"

    @admin.display(description="bank's reason")
    def provider_reason_label(self, d):
        return chargeback_reason_label(d.provider_reason) or "-"

    @admin.display(description="amount wanted")
    def amount_wanted(self, d):
        return format_money(d.amount_wanted_minor, d.order.currency) or "-"

    @admin.display(description="to the seller")
    def seller_amount(self, d):
        return format_money(d.seller_amount_minor, d.order.currency) or "-"

    @admin.display(description="refunded")
    def refund_amount(self, d):
        return format_money(d.refund_amount_minor, d.order.currency) or "-"

    @admin.display(description="age")
    def age(self, d):
        return f"{(timezone.now() - d.created_at).days} d"

    @admin.display(description="overdue", boolean=True)
    def overdue(self, d):
        return bool(
            d.status == Dispute.Status.AWAITING_RESPONSE and d.response_due_at and d.response_due_at <= timezone.now()
        )

    @admin.display(description="milestone plan, deliveries and revisions")
    def milestone_plan(self, d):
        """Every milestone of the order (price, delivery days, revisions, state, dates) with its
        deliveries (message, file names) and revision requests, oldest first: what the decision is
        about. Read-only text (the files are the parties'; the evidence files are linked below)."""
        cur = d.order.currency
        milestones = d.order.milestones.prefetch_related("deliveries__files", "revision_requests").order_by("position")
        parts = []
        for m in milestones:
            dates = [
                (label, value)
                for label, value in (
                    ("started", m.started_at),
                    ("due", m.due_at),
                    ("delivered", m.delivered_at),
                    ("review deadline", m.review_deadline),
                    ("accepted", m.accepted_at),
                    ("cancelled", m.cancelled_at),
                )
                if value
            ]
            history = sorted(
                [
                    (x.created_at, "Delivery", x.message, ", ".join(f.name for f in x.files.all()))
                    for x in m.deliveries.all()
                ]
                + [(r.created_at, "Revision requested", r.reason, "") for r in m.revision_requests.all()],
                key=lambda row: row[0],
            )
            parts.append(
                format_html(
                    "<div><strong>{}{}</strong>: {}, {} days, revisions {} of {} used, <em>{}</em>{}{}</div>",
                    "▶ " if m.pk == d.milestone_id else "",
                    str(m),
                    format_money(m.price_minor, cur),
                    m.delivery_days,
                    m.revisions_used,
                    m.revisions,
                    m.get_status_display(),
                    format_html_join(
                        "", "; {} {}", ((label, f"{timezone.localtime(v):%b %-d %Y, %H:%M}") for label, v in dates)
                    ),
                    format_html(
                        "<ul>{}</ul>",
                        format_html_join(
                            "",
                            "<li>{} ({}): {}{}</li>",
                            (
                                (
                                    kind,
                                    f"{timezone.localtime(at):%b %-d %Y, %H:%M}",
                                    text,
                                    f" [files: {files}]" if files else "",
                                )
                                for at, kind, text, files in history
                            ),
                        ),
                    )
                    if history
                    else "",
                )
            )
        return format_html_join("", "{}", ((p,) for p in parts)) or "-"

    @admin.display(description="order's ledger")
    def ledger(self, d):
        rows = [
            (t.reference, ", ".join(f"{e.account} {e.amount_minor:+d}" for e in t.entries.all()))
            for t in d.order.ledger_transactions.prefetch_related("entries").order_by("id")
        ]
        return format_html_join("\n", "<div><code>{}</code>: {}</div>", rows) or "-"

    @admin.display(description="decision waiting for approval")
    def pending_decision(self, d):
        if not d.has_pending_decision:
            return "-"
        cur = d.order.currency
        return (
            f"{d.get_pending_action_display()}: {format_money(d.pending_seller_amount_minor, cur)} to the seller, "
            f"{format_money(d.pending_refund_amount_minor, cur)} refunded; proposed by {d.proposed_by} "
            f"on {timezone.localtime(d.proposed_at):%b %-d, %H:%M}: {d.pending_note}"
        )

    def _buttons(self, d, choices: dict[str, str]):
        return format_html_join(
            " ",
            '<a class="button" href="{}">{}</a>',
            ((reverse("admin:disputes_dispute_decide", args=[d.pk, key]), label) for key, label in choices.items()),
        )

    @admin.display(description="chargeback")
    def chargeback(self, d):
        if not d.is_chargeback or not d.is_active:
            return "-"
        buttons = []
        if d.evidence_submitted_at is None:
            label = "Submit evidence to Stripe" if not _local_mode() else "Submit evidence (local provider)"
            buttons.append((reverse("admin:disputes_dispute_evidence", args=[d.pk]), label))
        if _local_mode():
            for outcome in ("won", "lost"):
                url = reverse("admin:disputes_dispute_simulate", args=[d.pk, outcome])
                buttons.append((url, f"Simulate: the issuer decides {outcome}"))
        return format_html_join(" ", '<a class="button" href="{}">{}</a>', buttons) or "-"

    @admin.display(description="decision")
    def decide(self, d):
        if not d.is_active or d.is_chargeback:  # the card issuer decides a chargeback
            return "-"
        if d.has_pending_decision:  # no second money decision while one waits
            return self._buttons(d, {k: v for k, v in DECISIONS.items() if k not in MONEY_DECISIONS})
        return self._buttons(d, DECISIONS)

    @admin.display(description="approval")
    def approval(self, d):
        return self._buttons(d, APPROVALS) if d.has_pending_decision else "-"

    def get_urls(self):
        return [
            path(
                "<int:dispute_id>/decide/<str:decision>/",
                self.admin_site.admin_view(self.decide_view),
                name="disputes_dispute_decide",
            ),
            path(
                "<int:dispute_id>/evidence/",
                self.admin_site.admin_view(self.evidence_view),
                name="disputes_dispute_evidence",
            ),
            path(
                "<int:dispute_id>/simulate/<str:outcome>/",
                self.admin_site.admin_view(self.simulate_view),
                name="disputes_dispute_simulate",
            ),
            *super().get_urls(),
        ]

    def _may_decide(self, request) -> None:
        if not self.has_view_permission(request) or not request.user.has_perm(DECIDE_PERM):
            raise PermissionDenied

    def evidence_view(self, request, dispute_id: int):
        """The evidence form: submits to the provider through chargebacks.chargeback_evidence_submit."""
        self._may_decide(request)
        d = get_object_or_404(Dispute.objects.select_related("order"), pk=dispute_id, kind=Dispute.Kind.CHARGEBACK)
        back = HttpResponseRedirect(reverse("admin:disputes_dispute_change", args=[d.pk]))
        form = EvidenceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                chargebacks.chargeback_evidence_submit(dispute_id=d.pk, admin=request.user, evidence=form.cleaned_data)
            except (DomainError, ProviderUnavailable) as exc:
                self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)
                return back
            self.message_user(request, f"Chargeback {d.pk}: evidence submitted.", messages.SUCCESS)
            return back
        context = {
            **self.admin_site.each_context(request),
            "title": "Submit evidence to Stripe" if not _local_mode() else "Submit evidence (local provider)",
            "dispute": d,
            "form": form,
            "at_stake": self.at_stake(d),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/disputes/dispute/evidence.html", context)

    def simulate_view(self, request, dispute_id: int, outcome: str):
        """Local provider only: the issuer decides the chargeback (POST; GET asks to confirm)."""
        self._may_decide(request)
        d = get_object_or_404(Dispute, pk=dispute_id, kind=Dispute.Kind.CHARGEBACK)
        back = HttpResponseRedirect(reverse("admin:disputes_dispute_change", args=[d.pk]))
        if request.method == "POST":
            try:
                chargebacks.chargeback_simulate_close(dispute_id=d.pk, outcome=outcome)
            except (DomainError, ValidationFailed) as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Chargeback {d.pk}: the issuer decided {outcome}.", messages.SUCCESS)
            return back
        context = {
            **self.admin_site.each_context(request),
            "title": f"Simulate: the issuer decides {outcome}",
            "dispute": d,
            "form": None,
            "at_stake": self.at_stake(d),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/disputes/dispute/evidence.html", context)

    @admin.action(description="Simulate a chargeback on the selected disputes' orders (local provider)")
    def simulate_chargeback_action(self, request, queryset):
        for order_id in sorted(set(queryset.values_list("order_id", flat=True))):
            if Dispute.objects.filter(
                order_id=order_id, kind=Dispute.Kind.CHARGEBACK, status__in=Dispute.ACTIVE
            ).exists():
                self.message_user(request, f"Order #{order_id} has a chargeback open already.", messages.WARNING)
                continue
            try:
                ref = chargebacks.chargeback_simulate(order_id=order_id)
            except DomainError as exc:
                self.message_user(request, f"Order #{order_id}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Order #{order_id}: chargeback {ref} simulated.", messages.SUCCESS)

    def _simulate_close(self, request, queryset, outcome: str) -> None:
        for d in queryset.filter(kind=Dispute.Kind.CHARGEBACK, status__in=Dispute.ACTIVE):
            try:
                chargebacks.chargeback_simulate_close(dispute_id=d.pk, outcome=outcome)
            except DomainError as exc:
                self.message_user(request, f"Chargeback {d.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Chargeback {d.pk}: the issuer decided {outcome}.", messages.SUCCESS)

    @admin.action(description="Simulate the issuer deciding the selected chargebacks: won (local provider)")
    def simulate_won_action(self, request, queryset):
        self._simulate_close(request, queryset, "won")

    @admin.action(description="Simulate the issuer deciding the selected chargebacks: lost (local provider)")
    def simulate_lost_action(self, request, queryset):
        self._simulate_close(request, queryset, "lost")

    @admin.action(description="Decide the selected dispute (one at a time)")
    def decide_action(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one dispute.", messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:disputes_dispute_change", args=[queryset.get().pk]))

    def decide_view(self, request, dispute_id: int, decision: str):
        if decision not in DECISIONS and decision not in APPROVALS:
            return HttpResponseRedirect(reverse("admin:disputes_dispute_changelist"))
        needed = APPROVE_PERM if decision in APPROVALS else DECIDE_PERM
        if not self.has_view_permission(request) or not request.user.has_perm(needed):
            raise PermissionDenied
        d = get_object_or_404(Dispute.objects.select_related("order", "milestone"), pk=dispute_id)
        if d.is_chargeback:  # the card issuer decides it: only evidence is sent from here
            self.message_user(request, "A chargeback is decided by the card issuer.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:disputes_dispute_change", args=[d.pk]))
        label = APPROVALS.get(decision) or DECISIONS[decision]
        at_stake = services.amount_at_stake(d)
        if decision in APPROVALS:
            form = ApprovalForm(request.POST or None)
        else:
            form = DecisionForm(
                request.POST or None, decision=decision, currency=d.order.currency, at_stake_minor=at_stake
            )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if decision == "approve":
                    d = services.dispute_decision_approve(dispute_id=d.pk, admin=request.user, note=data["note"])
                elif decision == "reject":
                    services.dispute_decision_reject(dispute_id=d.pk, admin=request.user, note=data["note"])
                elif decision == "request_info":
                    services.dispute_request_info(dispute_id=d.pk, admin=request.user, note=data["note"])
                elif decision == "close":
                    services.dispute_close(dispute_id=d.pk, admin=request.user, note=data["note"])
                else:
                    d = services.dispute_resolve(
                        dispute_id=d.pk,
                        admin=request.user,
                        action=decision,
                        note=data["note"],
                        seller_amount_minor=data.get("seller_amount"),
                        percent=data.get("percent"),
                    )
            except ValidationFailed as exc:
                if isinstance(form, DecisionForm) and exc.errors:
                    form.apply_service_errors(exc.errors)  # next to the field, the form shown again
                else:
                    self.message_user(request, exc.message, messages.ERROR)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:disputes_dispute_change", args=[d.pk]))
            else:
                if decision in MONEY_DECISIONS and d.has_pending_decision:
                    done = "recorded: it waits for a second admin's approval before money moves"
                else:
                    done = "done"
                self.message_user(request, f"Dispute {d.pk}: {label.lower()} {done}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:disputes_dispute_change", args=[d.pk]))
        title = label
        if decision in APPROVALS:
            title = f"{label}: {self.pending_decision(d)}"
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "dispute": d,
            "form": form,
            "at_stake": format_money(at_stake, d.order.currency),
            "held": services.held_milestones(d),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/disputes/dispute/decide.html", context)


@admin.register(DisputeHold)
class DisputeHoldAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "dispute", "milestone", "frozen_from", "payout_frozen", "outcome", "refunded"]
    list_select_related = ["dispute__order", "milestone"]
    list_filter = ["outcome"]

    @admin.display(description="refunded")
    def refunded(self, h):
        return format_money(h.amount_minor, h.dispute.order.currency)


@admin.register(DisputeEvidenceSubmission)
class DisputeEvidenceSubmissionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "dispute", "submitted_by", "provider_status_label"]
    list_select_related = ["dispute", "submitted_by"]

    @admin.display(description="provider status")
    def provider_status_label(self, e):
        return chargeback_status_label(e.provider_status) or "-"


@admin.register(DisputeEvent)
class DisputeEventAdmin(EventStatusLabels, ReadOnlyAdmin):
    list_display = ["created_at", "dispute", "actor", "action", "from_status_label", "to_status_label"]
    list_select_related = ["dispute", "actor"]
    list_filter = ["action"]


@admin.register(DisputeMessage)
class DisputeMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "dispute", "author", "__str__"]
    list_select_related = ["dispute", "author"]


@admin.register(DisputeEvidence)
class DisputeEvidenceAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "dispute", "uploaded_by", "name", "size"]
    list_select_related = ["dispute", "uploaded_by"]


@admin.register(SettlementOffer)
class SettlementOfferAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "dispute", "proposed_by", "to_the_seller", "status"]
    list_select_related = ["dispute__order", "proposed_by"]
    list_filter = ["status"]

    @admin.display(description="to the seller")
    def to_the_seller(self, o):
        return format_money(o.seller_amount_minor, o.dispute.order.currency)
