"""Admin for money: every order with its payment, escrow, payouts and refunds, payments, the
ledger (transactions and entries), the provider inbox, connected accounts, receipts, payouts
(with "Retry transfer now"), refunds and the local provider's rows. All read-only: money moves
only through payments.services and payments.lifecycle."""

from django.contrib import admin, messages

from marketplace.money import format_money
from milestones.admin import OrderAdmin, ReadOnlyAdmin, ReadOnlyInline
from milestones.models import Order

from . import ledger, lifecycle
from .models import (
    ConnectedAccount,
    Installation,
    LedgerEntry,
    LedgerTransaction,
    LocalPaymentIntent,
    LocalRefund,
    LocalTransfer,
    Payment,
    Payout,
    Receipt,
    Refund,
    WebhookEvent,
)


class PaymentAmounts:
    """Money columns of a payment, formatted with its currency."""

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj):
        return format_money(obj.amount_minor, obj.currency)

    @admin.display(description="Refunded")
    def refunded(self, obj):
        return format_money(obj.refunded_minor, obj.currency)


class PaymentInline(PaymentAmounts, ReadOnlyInline):
    model = Payment
    fields = ["provider", "provider_payment_id", "status", "amount", "charge_id", "failure_message", "refunded"]
    readonly_fields = fields


class LedgerTransactionInline(ReadOnlyInline):
    model = LedgerTransaction
    fields = ["created_at", "kind", "reference", "legs", "memo"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("entries")

    @admin.display(description="Entries (debit +, credit −)")
    def legs(self, obj):
        return "; ".join(f"{e.account} {e.amount_minor:+d} {e.currency}" for e in obj.entries.all())


class MoneyColumns:
    """amount / gross / commission of a payout or refund, formatted with its currency."""

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj):
        return format_money(obj.amount_minor, obj.currency)

    @admin.display(description="Price")
    def gross(self, obj):
        return format_money(obj.gross_minor, obj.currency)

    @admin.display(description="Commission")
    def commission(self, obj):
        return format_money(obj.commission_minor, obj.currency)


class PayoutInline(MoneyColumns, ReadOnlyInline):
    model = Payout
    fields = ["milestone", "status", "gross", "commission", "amount", "clears_at", "transferred_at", "last_error"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("milestone")


class RefundInline(MoneyColumns, ReadOnlyInline):
    model = Refund
    fields = ["created_at", "amount", "milestone_ids", "reason", "status", "provider_refund_id", "last_error"]
    readonly_fields = fields
    show_change_link = True


admin.site.unregister(Order)


@admin.register(Order)
class OrderWithMoneyAdmin(OrderAdmin):
    """The order with its payment, what escrow holds for it, its payouts and refunds, and its
    ledger postings."""

    inlines = [PaymentInline, *OrderAdmin.inlines, PayoutInline, RefundInline, LedgerTransactionInline]
    fieldsets = [
        *OrderAdmin.fieldsets[:1],
        (OrderAdmin.fieldsets[1][0], {"fields": [*OrderAdmin.fieldsets[1][1]["fields"], "escrow_held"]}),
        *OrderAdmin.fieldsets[2:],
    ]

    @admin.display(description="Held in escrow")
    def escrow_held(self, obj):
        return format_money(ledger.escrow_balance(obj), obj.currency)


@admin.register(Payment)
class PaymentAdmin(PaymentAmounts, ReadOnlyAdmin):
    list_display = ["provider_payment_id", "order", "provider", "status", "amount", "created_at"]
    list_filter = ["status", "provider", "currency"]
    search_fields = ["=order__id", "provider_payment_id", "charge_id", "order__buyer__username"]
    list_select_related = ["order"]
    readonly_fields = [
        "order",
        "provider",
        "provider_payment_id",
        "status",
        "amount",
        "refunded",
        "charge_id",
        "failure_message",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ["account", "amount_minor", "currency"]
    readonly_fields = fields


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["reference", "kind", "order", "memo", "created_at"]
    list_filter = ["kind"]
    search_fields = ["reference", "=order__id", "memo"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    readonly_fields = ["kind", "reference", "order", "memo", "created_at"]
    fields = readonly_fields
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MoneyColumns, ReadOnlyAdmin):
    """Every leg of every posting (debit +, credit −), searchable by account: never changed or
    deleted, here or anywhere (a database trigger refuses it too)."""

    list_display = ["id", "transaction", "transaction__order", "account", "amount", "currency", "created_at"]
    list_filter = ["transaction__kind", "currency"]
    search_fields = ["account", "transaction__reference", "=transaction__order__id"]
    list_select_related = ["transaction__order"]
    date_hierarchy = "transaction__created_at"
    readonly_fields = ["transaction", "account", "amount_minor", "amount", "currency", "created_at"]
    fields = readonly_fields

    @admin.display(description="Posted", ordering="transaction__created_at")
    def created_at(self, obj):
        return obj.transaction.created_at


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "source", "type", "status", "attempts", "received_at", "processed_at"]
    list_filter = ["status", "source", "type"]
    search_fields = ["event_id", "type"]
    date_hierarchy = "received_at"
    readonly_fields = [
        "event_id",
        "source",
        "type",
        "status",
        "attempts",
        "error",
        "payload",
        "received_at",
        "processed_at",
    ]
    fields = readonly_fields


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(ReadOnlyAdmin):
    """Sellers' Stripe Connect accounts, kept current by account.updated events."""

    list_display = [
        "stripe_account_id",
        "user",
        "details_submitted",
        "charges_enabled",
        "payouts_enabled",
        "transfers_active",
        "updated_at",
    ]
    list_filter = ["transfers_active", "payouts_enabled", "charges_enabled", "details_submitted"]
    search_fields = ["stripe_account_id", "user__username", "user__email"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "stripe_account_id",
        "details_submitted",
        "charges_enabled",
        "payouts_enabled",
        "transfers_active",
        "state_as_of",
        "updated_at",
    ]
    fields = readonly_fields


@admin.register(Installation)
class InstallationAdmin(ReadOnlyAdmin):
    """This installation's key at the provider (it prefixes every idempotency key): shown, never
    changed or deleted."""

    list_display = ["id", "key", "created_at"]
    search_fields = ["key"]
    readonly_fields = ["id", "key", "created_at"]
    fields = readonly_fields


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["number", "order", "issued_at"]
    search_fields = ["=id", "=order__id"]
    list_select_related = ["order"]
    readonly_fields = ["number", "order", "issued_at"]
    fields = readonly_fields


@admin.register(Payout)
class PayoutAdmin(MoneyColumns, ReadOnlyAdmin):
    """Released milestones' money for sellers. Those failing for over PAYOUT_RECONCILE_HOURS are
    flagged "needs reconciliation": compare with the provider, then retry."""

    list_display = [
        "id",
        "seller",
        "order",
        "milestone",
        "amount",
        "status",
        "clears_at",
        "attempts",
        "needs_reconciliation",
        "transferred_at",
    ]
    list_filter = ["status", "needs_reconciliation", "currency"]
    search_fields = ["=id", "=order__id", "seller__username", "seller__email", "transfer_id"]
    list_select_related = ["seller", "order", "milestone"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "order",
        "milestone",
        "seller",
        "status",
        "gross",
        "commission",
        "amount",
        "currency",
        "clears_at",
        "transfer_id",
        "transferred_at",
        "attempts",
        "first_attempt_at",
        "next_attempt_at",
        "first_failed_at",
        "last_error",
        "needs_reconciliation",
        "created_at",
    ]
    fields = readonly_fields
    actions = ["retry_transfer"]

    def has_retry_permission(self, request) -> bool:
        # The pages stay read-only; retrying calls the service, for those who may manage payouts.
        return request.user.has_perm("payments.change_payout")

    @admin.action(description="Retry transfer now", permissions=["retry"])
    def retry_transfer(self, request, queryset):
        """payments.lifecycle.payout_transfer for each selected payout: it transfers what is
        available or due for a retry and leaves the rest (pending clearance, transferred, or
        failed with its next retry still ahead) as they are."""
        sent, failed, untouched = [], [], []
        for payout in queryset.order_by("pk"):
            before = payout.status
            after = lifecycle.payout_transfer(payout_id=payout.pk, force=True)
            if after.status == Payout.Status.TRANSFERRED and before != Payout.Status.TRANSFERRED:
                sent.append(after)
            elif after.status == Payout.Status.FAILED and after.attempts > payout.attempts:
                failed.append(after)
            else:
                untouched.append(after)
        if sent:
            self.message_user(
                request,
                f"Transferred: {', '.join(f'payout {p.pk} ({p.transfer_id})' for p in sent)}.",
                messages.SUCCESS,
            )
        for p in failed:
            self.message_user(request, f"Payout {p.pk} failed again: {p.last_error}", messages.ERROR)
        for p in untouched:
            why = {
                Payout.Status.PENDING_CLEARANCE: f"pending clearance until {p.clears_at:%Y-%m-%d %H:%M}",
                Payout.Status.TRANSFERRED: "already transferred",
                Payout.Status.FAILED: f"next retry not before {p.next_attempt_at:%Y-%m-%d %H:%M}"
                if p.next_attempt_at
                else "failed",
                Payout.Status.TRANSFERRING: "a transfer is under way",
            }.get(p.status, p.get_status_display())
            self.message_user(request, f"Payout {p.pk} not sent: {why}.", messages.WARNING)


@admin.register(Refund)
class RefundAdmin(MoneyColumns, ReadOnlyAdmin):
    """Refunds of cancelled milestones. Failures are retried with backoff by the retry sweep;
    those still not sent PAYOUT_RECONCILE_HOURS after the first attempt are flagged "needs
    reconciliation": compare with the provider (its refund under the idempotency key)."""

    list_display = [
        "id",
        "order",
        "amount",
        "milestone_ids",
        "status",
        "attempts",
        "next_attempt_at",
        "needs_reconciliation",
        "reason",
        "created_at",
    ]
    list_filter = ["status", "needs_reconciliation", "currency"]
    search_fields = ["=id", "=order__id", "order__buyer__username", "provider_refund_id", "idempotency_key"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "order",
        "amount",
        "currency",
        "milestone_ids",
        "reason",
        "status",
        "idempotency_key",
        "provider_refund_id",
        "attempts",
        "first_attempt_at",
        "next_attempt_at",
        "last_error",
        "needs_reconciliation",
        "created_at",
    ]
    fields = readonly_fields


# --- the local provider's side (what Stripe would hold), used when no Stripe keys are set --------
# Amounts are the provider's raw integers in minor units, as Stripe's API reports them.


@admin.register(LocalPaymentIntent)
class LocalPaymentIntentAdmin(ReadOnlyAdmin):
    list_display = ["id", "amount", "currency", "status", "charge_id", "transfer_group", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["=id", "charge_id", "transfer_group", "idempotency_key"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "amount",
        "currency",
        "status",
        "metadata",
        "transfer_group",
        "idempotency_key",
        "charge_id",
        "last_error",
        "created_at",
    ]
    fields = readonly_fields


@admin.register(LocalTransfer)
class LocalTransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "amount", "currency", "destination", "source_transaction", "transfer_group", "created_at"]
    list_filter = ["currency"]
    search_fields = ["=id", "destination", "source_transaction", "transfer_group", "idempotency_key"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "amount",
        "currency",
        "destination",
        "source_transaction",
        "transfer_group",
        "idempotency_key",
        "created_at",
    ]
    fields = readonly_fields


@admin.register(LocalRefund)
class LocalRefundAdmin(ReadOnlyAdmin):
    list_display = ["id", "payment_intent", "amount", "created_at"]
    search_fields = ["=id", "payment_intent", "idempotency_key"]
    date_hierarchy = "created_at"
    readonly_fields = ["id", "payment_intent", "amount", "idempotency_key", "created_at"]
    fields = readonly_fields
