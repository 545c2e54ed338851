"""Disputes over an order's milestone: the parties' statements, messages, evidence and settlement
offers, and an admin's decision. Opening one freezes the milestone (milestones.lifecycle); the
decision moves its money (payments.lifecycle.dispute_settle_locked). A party may dispute the
whole order instead (kind "order"): it holds every milestone whose money is within reach
(DisputeHold rows, as a chargeback does) and its decision is spread over them. Chargebacks (kind
"chargeback": the buyer disputed the card payment with their bank, reported by the provider's
charge.dispute.* events) concern the whole order: they hold its unreleased milestones
(DisputeHold) until the card network decides (disputes.chargebacks). Only services write here."""

import uuid

from django.conf import settings
from django.db import models

from milestones.models import Order, OrderMilestone

# Stripe's dispute reason codes (charge.dispute.*'s `reason`) and dispute statuses, as people read
# them: the dispute page, admin and notifications name them through these (`provider_label`).
CHARGEBACK_REASONS: dict[str, str] = {
    "bank_cannot_process": "The bank could not process the payment",
    "check_returned": "Check returned",
    "credit_not_processed": "Refund not processed",
    "customer_initiated": "Disputed by the customer",
    "debit_not_authorized": "Debit not authorized",
    "duplicate": "Duplicate payment",
    "fraudulent": "Fraudulent payment (not made by the cardholder)",
    "general": "General dispute",
    "incorrect_account_details": "Incorrect account details",
    "insufficient_funds": "Insufficient funds",
    "product_not_received": "Product or service not received",
    "product_unacceptable": "Product or service unacceptable",
    "subscription_canceled": "Subscription canceled",
    "unrecognized": "Payment not recognized",
}
CHARGEBACK_STATUSES: dict[str, str] = {
    "warning_needs_response": "Inquiry: needs response",
    "warning_under_review": "Inquiry: under review",
    "warning_closed": "Inquiry closed",
    "needs_response": "Needs response",
    "under_review": "Under review",
    "won": "Won",
    "lost": "Lost",
    "prevented": "Prevented",
    "charge_refunded": "Charge refunded",
}


def provider_label(code: str, labels: dict[str, str]) -> str:
    """A provider code as people read it: its label, or the code humanized ("new_code" -> "New
    code") when the provider sends one not listed; "" for none."""
    code = (code or "").strip()
    if not code:
        return ""
    return labels.get(code) or code.replace("_", " ").replace("-", " ").capitalize()


def chargeback_reason_label(code: str) -> str:
    return provider_label(code, CHARGEBACK_REASONS)


def chargeback_status_label(code: str) -> str:
    return provider_label(code, CHARGEBACK_STATUSES)


class Dispute(models.Model):
    class Kind(models.TextChoices):
        MILESTONE = "milestone", "Milestone dispute"
        ORDER = "order", "Order dispute"
        CHARGEBACK = "chargeback", "Chargeback"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        AWAITING_RESPONSE = "awaiting_response", "Awaiting response"
        UNDER_REVIEW = "under_review", "Under review"
        RESOLVED = "resolved", "Resolved"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Reason(models.TextChoices):
        NOT_DELIVERED = "not_delivered", "Work not delivered"
        NOT_AS_DESCRIBED = "not_as_described", "Work not as described"
        QUALITY = "quality", "Quality problems"
        LATE = "late", "Late delivery"
        UNRESPONSIVE = "unresponsive", "The other party does not answer"
        SCOPE = "scope", "Disagreement over the scope"
        OTHER = "other", "Other"

    class Outcome(models.TextChoices):
        FULL_REFUND = "full_refund", "Full refund"
        PARTIAL_REFUND = "partial_refund", "Partial refund"
        RELEASE = "release", "Release to the seller"
        REDO = "redo", "Redo the work"

    class Action(models.TextChoices):
        RELEASE = "release", "Released to the seller"
        REFUND = "refund", "Refunded to the buyer"
        SPLIT = "split", "Split"
        SETTLED = "settled", "Settled by the parties"
        CLOSED = "closed", "Closed without a decision"
        # Chargebacks: the card network's decision.
        WON = "won", "Chargeback won"
        LOST = "lost", "Chargeback lost"
        # A milestone dispute ended because a lost chargeback refunded the milestone.
        CHARGEBACK = "chargeback", "Settled by a chargeback"

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.OPEN: frozenset({Status.AWAITING_RESPONSE, Status.UNDER_REVIEW, Status.RESOLVED, Status.WITHDRAWN}),
        Status.AWAITING_RESPONSE: frozenset({Status.UNDER_REVIEW, Status.RESOLVED, Status.WITHDRAWN}),
        # An admin asking for more information gives the parties another response window.
        Status.UNDER_REVIEW: frozenset({Status.AWAITING_RESPONSE, Status.RESOLVED, Status.WITHDRAWN}),
        Status.RESOLVED: frozenset(),
        Status.WITHDRAWN: frozenset(),
    }
    ACTIVE = frozenset({Status.OPEN, Status.AWAITING_RESPONSE, Status.UNDER_REVIEW})

    kind = models.CharField(max_length=10, choices=Kind, default=Kind.MILESTONE)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="disputes")
    # A milestone dispute's milestone; null for an order dispute and a chargeback, which concern
    # the whole order (see DisputeHold).
    milestone = models.ForeignKey(
        OrderMilestone, on_delete=models.PROTECT, null=True, blank=True, related_name="disputes"
    )
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disputes_opened")
    reason = models.CharField(max_length=20, choices=Reason)
    description = models.TextField(max_length=5000)
    outcome_wanted = models.CharField(max_length=20, choices=Outcome)
    amount_wanted_minor = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.OPEN)
    # The other party's statement, due by response_due_at (DISPUTE_RESPONSE_DAYS).
    response = models.TextField(max_length=5000, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    response_due_at = models.DateTimeField(null=True, blank=True)
    # The milestone's status when the dispute froze it: a dispute ended without a decision
    # (withdrawn, closed) resumes it there.
    frozen_from = models.CharField(max_length=20, choices=OrderMilestone.Status, blank=True)
    # A delivery frozen while waiting for its review: the review time it had left, given back
    # when the dispute ends without a decision (milestones.lifecycle.milestone_unfreeze_locked).
    review_left = models.DurationField(null=True, blank=True)
    resolution_action = models.CharField(max_length=10, choices=Action, blank=True)
    seller_amount_minor = models.PositiveIntegerField(null=True, blank=True)
    refund_amount_minor = models.PositiveIntegerField(null=True, blank=True)
    resolution_note = models.TextField(max_length=5000, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="disputes_resolved"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # A decision above DISPUTE_APPROVAL_ABOVE_MINOR waits here for a second admin (no money moves
    # until then); approving it resolves the dispute, rejecting it clears these fields.
    pending_action = models.CharField(max_length=10, choices=Action, blank=True)
    pending_seller_amount_minor = models.PositiveIntegerField(null=True, blank=True)
    pending_refund_amount_minor = models.PositiveIntegerField(null=True, blank=True)
    pending_note = models.TextField(max_length=5000, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Chargebacks: the provider's dispute (Stripe du_..., or the local provider's) as last
    # reported. provider_state_as_of is the `created` (Unix seconds) of the event whose status is
    # stored: an older event never replaces it, and a final status (won, lost) never changes.
    provider_dispute_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    provider_charge_id = models.CharField(max_length=64, blank=True)
    provider_status = models.CharField(max_length=32, blank=True)
    provider_reason = models.CharField(max_length=64, blank=True)
    provider_state_as_of = models.BigIntegerField(default=0)
    amount_minor = models.PositiveIntegerField(
        null=True, blank=True, help_text="The disputed amount (an order dispute: what it held when opened)."
    )
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_decision", "Can approve or reject a dispute decision awaiting a second admin")]
        constraints = [
            models.UniqueConstraint(
                fields=["milestone"],
                condition=models.Q(status__in=["open", "awaiting_response", "under_review"]),
                name="dispute_one_active_per_milestone",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="milestone", milestone__isnull=False)
                | models.Q(kind__in=["order", "chargeback"], milestone__isnull=True),
                name="dispute_milestone_only_for_milestone_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["milestone", "order"]) | models.Q(provider_dispute_id__isnull=False),
                name="dispute_chargeback_has_provider_id",
            ),
        ]
        indexes = [models.Index(fields=["status", "response_due_at"], name="dispute_status_due")]

    def __str__(self) -> str:
        return f"Dispute {self.pk} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def has_pending_decision(self) -> bool:
        return self.is_active and bool(self.pending_action)

    @property
    def is_chargeback(self) -> bool:
        return self.kind == self.Kind.CHARGEBACK

    @property
    def is_order_dispute(self) -> bool:
        return self.kind == self.Kind.ORDER

    @property
    def provider_reason_label(self) -> str:
        return chargeback_reason_label(self.provider_reason)

    @property
    def provider_status_label(self) -> str:
        return chargeback_status_label(self.provider_status)


class DisputeHold(models.Model):
    """A milestone a dispute over the whole order (a chargeback, or a party's order dispute)
    holds: what it was when the hold began, so that ending the dispute without taking the money
    resumes it there and a decision settles it. Unreleased milestones, started or not, are frozen
    (`disputed`; a `locked` one resumes as locked); an accepted milestone whose payout is pending
    clearance has its payout frozen. For a chargeback, one already frozen by a party's dispute is
    recorded with that dispute (`party_dispute`): it stays that dispute's to unfreeze."""

    class Outcome(models.TextChoices):
        HELD = "", "Held"
        RESUMED = "resumed", "Resumed"
        REFUNDED = "refunded", "Refunded by the chargeback"
        SETTLED = "settled", "Settled by the dispute's decision"

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="holds")
    milestone = models.ForeignKey(OrderMilestone, on_delete=models.PROTECT, related_name="chargeback_holds")
    frozen_from = models.CharField(max_length=20, choices=OrderMilestone.Status)
    review_left = models.DurationField(null=True, blank=True)  # as Dispute.review_left
    # The chargeback froze the payout (pending clearance) itself, and unfreezes it.
    payout_frozen = models.BooleanField(default=False)
    party_dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome, blank=True, default=Outcome.HELD)
    amount_minor = models.PositiveIntegerField(
        default=0, help_text="Refunded (by the chargeback, or by the order dispute's decision)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["milestone__position", "id"]
        constraints = [models.UniqueConstraint(fields=["dispute", "milestone"], name="dispute_hold_once")]

    def __str__(self) -> str:
        return f"Hold of {self.milestone} by dispute {self.dispute_id} ({self.get_outcome_display()})"


class DisputeEvidenceSubmission(models.Model):
    """Evidence an admin sent to the provider for a chargeback (Stripe's evidence fields, submitted
    with submit=True): the audit of what was sent, by whom, and the provider's answer."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="evidence_submissions")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    evidence = models.JSONField()
    idempotency_key = models.CharField(max_length=120, unique=True)
    provider_status = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Evidence for dispute {self.dispute_id} ({self.created_at:%Y-%m-%d})"


class DisputeEvent(models.Model):
    """Append-only audit of a dispute: who did what, when, and why."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    action = models.CharField(max_length=40)
    note = models.TextField(max_length=5000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status or '-'} -> {self.to_status}"


class DisputeMessage(models.Model):
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]


def evidence_upload_to(instance: "DisputeEvidence", filename: str) -> str:
    return f"disputes/dispute-{instance.dispute_id}/{uuid.uuid4().hex}/{filename}"


class DisputeEvidence(models.Model):
    """A file either party attached (Django storage; served only to the parties and admins), with
    the post it came with: the opening statement, the answer, or a thread message (`message`).
    Files stored before the link existed have `post` empty (the page then places them by time)."""

    class Post(models.TextChoices):
        UNKNOWN = "", "Unknown"
        OPENING = "opening", "Opening statement"
        RESPONSE = "response", "Answer"
        MESSAGE = "message", "Message"

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="evidence")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to=evidence_upload_to)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField(default=0)
    post = models.CharField(max_length=10, choices=Post, blank=True, default=Post.UNKNOWN)
    message = models.ForeignKey(DisputeMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="files")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class SettlementOffer(models.Model):
    """A party proposes an amount for the seller, the rest refunded; the other party accepting it
    resolves the dispute without an admin."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"
        # Still open when the dispute ended (decided, settled, closed, withdrawn, or by a
        # chargeback): nobody answered it, and it can no longer be.
        EXPIRED = "expired", "Not answered"

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="offers")
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    seller_amount_minor = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Offer {self.pk}: {self.seller_amount_minor} to the seller ({self.status})"
