"""Admin for money: every order with its payment and escrow, payments, the ledger, the provider
inbox and receipts. All read-only: money moves only through payments.services."""

from django.contrib import admin

from marketplace.money import format_money
from milestones.admin import OrderAdmin
from milestones.models import Order

from . import ledger
from .models import LedgerEntry, LedgerTransaction, Payment, Receipt, WebhookEvent


class ReadOnlyAdmin(admin.ModelAdmin):
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


admin.site.unregister(Order)


@admin.register(Order)
class OrderWithMoneyAdmin(OrderAdmin):
    """The order with its payment, what escrow holds for it, and its ledger postings."""

    inlines = [PaymentInline, *OrderAdmin.inlines, LedgerTransactionInline]
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
    readonly_fields = ["kind", "reference", "order", "memo", "created_at"]
    fields = readonly_fields
    inlines = [LedgerEntryInline]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "source", "type", "status", "attempts", "received_at", "processed_at"]
    list_filter = ["status", "source", "type"]
    search_fields = ["event_id", "type"]
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


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["number", "order", "issued_at"]
    search_fields = ["=id", "=order__id"]
    list_select_related = ["order"]
    readonly_fields = ["number", "order", "issued_at"]
    fields = readonly_fields
