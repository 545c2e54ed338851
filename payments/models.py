"""Money: the double-entry ledger, payments of orders, the provider-event inbox, sellers'
connected accounts, receipts, and the local provider's simulated payment intents.

Amounts are integers in the currency's minor unit. Ledger entries are signed: a debit is
positive, a credit negative; each transaction's entries sum to zero per currency (checked in
code, and on PostgreSQL by a deferred constraint trigger), and entries are never updated or
deleted (another trigger).
"""

from django.conf import settings
from django.db import models

from milestones.models import Order, OrderMilestone


class LedgerTransaction(models.Model):
    """One balanced posting. `reference` is its idempotency key: posting it again does nothing."""

    class Kind(models.TextChoices):
        ORDER_FUNDED = "order_funded", "Order funded"
        PAYMENT_REFUNDED = "payment_refunded", "Payment refunded"
        MILESTONE_RELEASED = "milestone_released", "Milestone released"
        PAYOUT_CLEARED = "payout_cleared", "Payout cleared"
        PAYOUT_TRANSFERRED = "payout_transferred", "Payout transferred"
        MILESTONES_REFUNDED = "milestones_refunded", "Milestones refunded"
        # Chargebacks (payments.ledger.post_chargeback_*): funds the card network withdrew or
        # gave back, held money a lost chargeback refunded, and what no held money covered.
        CHARGEBACK_FUNDS = "chargeback_funds", "Chargeback funds withdrawn or reinstated"
        CHARGEBACK_REFUNDED = "chargeback_refunded", "Refunded by a lost chargeback"
        CHARGEBACK_LOSS = "chargeback_loss", "Chargeback loss"

    kind = models.CharField(max_length=32, choices=Kind)
    reference = models.CharField(max_length=120, unique=True)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_transactions"
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


class LedgerEntry(models.Model):
    """One leg: `amount_minor` > 0 debits `account`, < 0 credits it. Accounts are names:
    platform_cash, platform_revenue, escrow:<order id>, seller_pending:<user id>, ..."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.CharField(max_length=64, db_index=True)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "ledger entries"
        constraints = [models.CheckConstraint(condition=~models.Q(amount_minor=0), name="ledger_entry_not_zero")]

    def __str__(self) -> str:
        return f"{self.account} {self.amount_minor:+d} {self.currency}"


class Payment(models.Model):
    """The buyer's payment of an order: one per order (a declined card can be retried on it), one
    provider payment intent, so at most one successful charge."""

    class Status(models.TextChoices):
        REQUIRES_PAYMENT = "requires_payment", "Awaiting card"
        REQUIRES_ACTION = "requires_action", "Awaiting confirmation"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Declined"
        CANCELED = "canceled", "Canceled"

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="payment")
    provider = models.CharField(max_length=16)
    provider_payment_id = models.CharField(max_length=120, unique=True)
    client_secret = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.REQUIRES_PAYMENT)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    charge_id = models.CharField(max_length=120, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    refunded_minor = models.PositiveIntegerField(default=0)
    # Unix time (the provider event's `created`) of the status stored: an older event arriving
    # late does not replace it (succeeded is final whatever its time).
    state_as_of = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider_payment_id} ({self.status})"


class WebhookEvent(models.Model):
    """The inbox: every provider event (Stripe webhooks and the local provider's), stored raw
    before it is processed, unique on its id so a duplicate is recognised and ignored."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Stored for later"
        FAILED = "failed", "Failed"

    event_id = models.CharField(max_length=120, unique=True)
    source = models.CharField(max_length=16, help_text="stripe, connect or local")
    type = models.CharField(max_length=80, db_index=True)
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "received_at"], name="webhook_event_pending")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class ConnectedAccount(models.Model):
    """A seller's Stripe Connect account and what it can do, kept current by account.updated."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connected_account")
    stripe_account_id = models.CharField(max_length=64, unique=True)
    details_submitted = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    transfers_active = models.BooleanField(default=False)
    # Unix time of the Stripe state stored (the event's `created`, or when it was retrieved).
    state_as_of = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.stripe_account_id


class Receipt(models.Model):
    """Issued when an order is paid. Its id is the sequential receipt number."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="receipt")
    issued_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"R-{self.pk:06d}"


class LocalPaymentIntent(models.Model):
    """The local provider's side of a payment (what Stripe would hold): used only when no Stripe
    keys are configured. Its status guards against a second successful charge."""

    class Status(models.TextChoices):
        REQUIRES_PAYMENT_METHOD = "requires_payment_method"
        REQUIRES_ACTION = "requires_action"
        SUCCEEDED = "succeeded"
        CANCELED = "canceled"

    id = models.CharField(primary_key=True, max_length=64)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=32, choices=Status, default=Status.REQUIRES_PAYMENT_METHOD)
    metadata = models.JSONField(default=dict)
    transfer_group = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    charge_id = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id


class Payout(models.Model):
    """A released milestone's money for the seller: the price less the commission. It waits out
    the clearance period, becomes available, and is transferred to the seller's account."""

    class Status(models.TextChoices):
        PENDING_CLEARANCE = "pending_clearance", "Pending clearance"
        AVAILABLE = "available", "Available"
        TRANSFERRING = "transferring", "Transferring"
        TRANSFERRED = "transferred", "Transferred"
        FAILED = "failed", "Failed (retrying)"
        CANCELLED = "cancelled", "Cancelled (refunded in a dispute)"

    # A dispute on a payout pending clearance sets `frozen` (the status stays, so unfreezing
    # resumes exactly where it was); a dispute refunding all of it cancels it.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING_CLEARANCE: frozenset({Status.AVAILABLE, Status.CANCELLED}),
        Status.AVAILABLE: frozenset({Status.TRANSFERRING}),
        Status.TRANSFERRING: frozenset({Status.TRANSFERRED, Status.FAILED}),
        Status.FAILED: frozenset({Status.TRANSFERRING}),
        Status.TRANSFERRED: frozenset(),
        Status.CANCELLED: frozenset(),
    }

    milestone = models.OneToOneField(OrderMilestone, on_delete=models.PROTECT, related_name="payout")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payouts")
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    gross_minor = models.PositiveIntegerField(help_text="The milestone's price.")
    commission_minor = models.PositiveIntegerField()
    amount_minor = models.PositiveIntegerField(help_text="What the seller receives.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING_CLEARANCE)
    clears_at = models.DateTimeField()
    # Held by an open dispute: no clearance, no transfer (the sweeps lock the row and re-check).
    frozen = models.BooleanField(default=False)
    transfer_id = models.CharField(max_length=120, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The first claim: a transfer that crashes every time never fails "properly", yet is flagged
    # once it has been trying for PAYOUT_RECONCILE_HOURS.
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # Failing for over a day: someone must look (listed in admin); retries go on.
    needs_reconciliation = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    transferred_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "clears_at"], name="payout_status_clears"),
            models.Index(fields=["seller", "status"], name="payout_seller_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor=models.F("gross_minor") - models.F("commission_minor")),
                name="payout_amount_is_gross_less_commission",
            )
        ]

    def __str__(self) -> str:
        return f"Payout {self.pk} ({self.status})"


class Refund(models.Model):
    """Money given back to the buyer for cancelled milestones: one refund per cancellation, with
    a deterministic idempotency key."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (retrying)"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    milestone_ids = models.JSONField(default=list)
    reason = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=120, unique=True)
    status = models.CharField(max_length=12, choices=Status, default=Status.PENDING)
    provider_refund_id = models.CharField(max_length=120, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Retries, as for payouts: the sweep sends again once next_attempt_at passes (backoff after
    # a failure, 10 minutes after a claim that never came back); trying for more than
    # PAYOUT_RECONCILE_HOURS since the first attempt flags it for someone to look (admin).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    needs_reconciliation = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="refund_status_next_attempt")]

    def __str__(self) -> str:
        return f"Refund {self.pk} ({self.status})"


class LocalTransfer(models.Model):
    """The local provider's record of a transfer to a seller (what Stripe would hold)."""

    id = models.CharField(primary_key=True, max_length=64)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    destination = models.CharField(max_length=64)
    source_transaction = models.CharField(max_length=64, blank=True)
    transfer_group = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id


class LocalRefund(models.Model):
    """The local provider's record of a refund (what Stripe would hold)."""

    id = models.CharField(primary_key=True, max_length=64)
    payment_intent = models.CharField(max_length=64)
    amount = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id


class Installation(models.Model):
    """This installation's identity at the payment provider: one row (pk 1), made by migration
    0008 (or on first use when it is missing), whose random `key` prefixes every idempotency key
    sent (payments.keys), so two databases sharing one Stripe account never send the same key.
    Never change or delete it while the database is in use: keys of retries would change."""

    SINGLETON = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON)
    key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="installation_singleton")]

    def __str__(self) -> str:
        return f"Installation {self.key}"
