"""Input and output shapes of the dispute API. Amounts are integers in the currency's minor unit;
a party is named by role (buyer, seller, or platform for an admin's message)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from disputes import services
from disputes.models import Dispute, DisputeEvidence, DisputeHold, DisputeMessage, SettlementOffer
from gigs.api.fields import StrictIntegerField
from payments.api.serializers import status_field

UPLOADS = (
    "Evidence files (multipart, the same field repeated). Limits: settings UPLOAD_MAX_FILES, "
    "UPLOAD_MAX_BYTES, UPLOAD_EXTENSIONS; a file over them is a 400 under `files`."
)
TEXT_MAX = 5000


def _role(dispute: Dispute, user_id: int | None) -> str:
    if user_id == dispute.order.buyer_id:
        return "buyer"
    if user_id == dispute.order.seller_id:
        return "seller"
    return "platform"


def _files_field() -> serializers.ListField:
    return serializers.ListField(child=serializers.FileField(), required=False, default=list, help_text=UPLOADS)


class FormAwareSerializer(serializers.Serializer):
    """JSON integers are strict (StrictIntegerField); a multipart form sends every value as text,
    so with `form=True` in the context its integer fields take digits."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.context.get("form"):
            for name, field in list(self.fields.items()):
                if isinstance(field, StrictIntegerField):
                    self.fields[name] = serializers.IntegerField(
                        min_value=field.min_value, required=field.required, allow_null=field.allow_null
                    )


class DisputeOpenSerializer(FormAwareSerializer):
    order = StrictIntegerField(min_value=1, help_text="The order's id.")
    milestone = StrictIntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="The id of the order's milestone to dispute. Omit it (or null) to dispute the whole order: "
        "every milestone whose money is within reach is held (unreleased ones, started or not; accepted ones "
        "whose payout is still pending clearance).",
    )
    reason = serializers.ChoiceField(choices=Dispute.Reason.choices)
    description = serializers.CharField(max_length=TEXT_MAX)
    outcome_wanted = serializers.ChoiceField(choices=Dispute.Outcome.choices)
    amount_wanted_minor = StrictIntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="With partial_refund: the amount you want refunded (at most the milestone's price, or what the "
        "order dispute holds).",
    )
    files = _files_field()


class DisputeRespondSerializer(serializers.Serializer):
    statement = serializers.CharField(max_length=TEXT_MAX)
    files = _files_field()


class DisputeMessageInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=TEXT_MAX)
    files = _files_field()


class OfferInputSerializer(serializers.Serializer):
    seller_amount_minor = StrictIntegerField(
        min_value=0,
        help_text="What the seller receives (0 to the amount at stake: the milestone's price, or the sum an order "
        "dispute holds, given to the held milestones earliest first); the rest is refunded.",
    )


class WithdrawInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")


class DisputeMilestoneSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.SerializerMethodField()
    name = serializers.CharField()
    price_minor = serializers.IntegerField()

    def get_position(self, milestone) -> int:
        return milestone.position + 1


RESOLUTION_ACTIONS = (
    "Once resolved, blank before: `release` (all to the seller), `refund` (all to the buyer), `split` "
    "(an admin's split), `settled` (a settlement offer accepted), `closed` (closed by an admin without a "
    "decision on the money: the milestones resume), `chargeback` (a milestone dispute ended because a lost "
    "chargeback refunded the milestone); a chargeback: `won` or `lost` (the card issuer's decision)."
)


class DisputeSerializer(serializers.ModelSerializer):
    """A dispute as one of its parties sees it in a list."""

    kind = serializers.ChoiceField(
        choices=Dispute.Kind.choices,
        read_only=True,
        help_text="milestone (one milestone), order (the whole order: `milestone` is null, see `held`), "
        "chargeback (the buyer's bank disputed the payment: `milestone` is null).",
    )
    role = serializers.SerializerMethodField(help_text="Yours in the order: buyer or seller.")
    opened_by = serializers.SerializerMethodField(help_text="buyer or seller.")
    status = status_field(Dispute.Status.choices)
    status_display = serializers.CharField(source="get_status_display")
    currency = serializers.CharField(source="order.currency")
    milestone = DisputeMilestoneSerializer(allow_null=True, help_text="Null for an order dispute and a chargeback.")
    amount_at_stake_minor = serializers.SerializerMethodField(
        help_text="A milestone dispute: the milestone's price; an order dispute: what it held when opened; a "
        "chargeback: the disputed amount."
    )
    resolution_action = serializers.ChoiceField(
        choices=[("", "Not resolved"), *Dispute.Action.choices], read_only=True, help_text=RESOLUTION_ACTIONS
    )

    class Meta:
        model = Dispute
        fields = [
            "id",
            "kind",
            "order",
            "milestone",
            "amount_at_stake_minor",
            "role",
            "opened_by",
            "reason",
            "outcome_wanted",
            "amount_wanted_minor",
            "currency",
            "status",
            "status_display",
            "response_due_at",
            "responded_at",
            "resolution_action",
            "seller_amount_minor",
            "refund_amount_minor",
            "resolved_at",
            "created_at",
        ]

    def get_role(self, dispute) -> str:
        return _role(dispute, self.context["request"].user.pk)

    def get_opened_by(self, dispute) -> str:
        return _role(dispute, dispute.opened_by_id)

    def get_amount_at_stake_minor(self, dispute) -> int:
        if dispute.milestone is not None:
            return dispute.milestone.price_minor
        return dispute.amount_minor or 0


class DisputeHoldSerializer(serializers.ModelSerializer):
    milestone = DisputeMilestoneSerializer()
    outcome = serializers.ChoiceField(
        choices=DisputeHold.Outcome.choices,
        read_only=True,
        help_text="blank while held; resumed, settled (by the decision), refunded (by a chargeback).",
    )

    class Meta:
        model = DisputeHold
        fields = ["milestone", "frozen_from", "payout_frozen", "outcome", "amount_minor"]


class DisputeMessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField(help_text="buyer, seller or platform.")

    class Meta:
        model = DisputeMessage
        fields = ["id", "author", "body", "created_at"]

    def get_author(self, msg) -> str:
        return _role(self.context["dispute"], msg.author_id)


class DisputeEvidenceSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.SerializerMethodField(help_text="buyer, seller or platform.")
    post = serializers.ChoiceField(
        choices=DisputeEvidence.Post.choices,
        read_only=True,
        help_text="What it came with: opening, response, message (see `message`); blank for older files.",
    )

    class Meta:
        model = DisputeEvidence
        fields = ["id", "name", "size", "uploaded_by", "post", "message", "created_at"]

    def get_uploaded_by(self, row) -> str:
        return _role(self.context["dispute"], row.uploaded_by_id)


class SettlementOfferSerializer(serializers.ModelSerializer):
    proposed_by = serializers.SerializerMethodField(help_text="buyer or seller.")
    status = status_field(SettlementOffer.Status.choices)
    refund_minor = serializers.SerializerMethodField(help_text="What the buyer gets back if it is accepted.")

    class Meta:
        model = SettlementOffer
        fields = ["id", "proposed_by", "seller_amount_minor", "refund_minor", "status", "created_at", "answered_at"]

    def get_proposed_by(self, offer) -> str:
        return _role(self.context["dispute"], offer.proposed_by_id)

    def get_refund_minor(self, offer) -> int:
        return self.context["at_stake"] - offer.seller_amount_minor


class DisputeDetailSerializer(DisputeSerializer):
    """One dispute with the statements, the thread, the evidence's names and the offers."""

    messages = serializers.SerializerMethodField()
    evidence = serializers.SerializerMethodField()
    offers = serializers.SerializerMethodField()
    held = serializers.SerializerMethodField(
        help_text="An order dispute: the milestones it holds (and held), earliest first; empty otherwise."
    )
    held_minor = serializers.SerializerMethodField(
        help_text="What a decision shares out now: the milestone's price, or the sum an order dispute still holds."
    )

    class Meta(DisputeSerializer.Meta):
        fields = [
            *DisputeSerializer.Meta.fields,
            "held_minor",
            "held",
            "description",
            "response",
            "resolution_note",
            "messages",
            "evidence",
            "offers",
        ]

    def _child_context(self, dispute) -> dict:
        if "at_stake" not in self.context:
            self.context["at_stake"] = services.amount_at_stake(dispute)
        return {**self.context, "dispute": dispute}

    def get_held_minor(self, dispute) -> int:
        return self._child_context(dispute)["at_stake"]

    @extend_schema_field(DisputeHoldSerializer(many=True))
    def get_held(self, dispute):
        if not dispute.is_order_dispute:
            return []
        rows = DisputeHold.objects.filter(dispute=dispute).select_related("milestone").order_by("milestone__position")
        return DisputeHoldSerializer(rows, many=True).data

    @extend_schema_field(DisputeMessageSerializer(many=True))
    def get_messages(self, dispute):
        return DisputeMessageSerializer(dispute.messages.all(), many=True, context=self._child_context(dispute)).data

    @extend_schema_field(DisputeEvidenceSerializer(many=True))
    def get_evidence(self, dispute):
        return DisputeEvidenceSerializer(dispute.evidence.all(), many=True, context=self._child_context(dispute)).data

    @extend_schema_field(SettlementOfferSerializer(many=True))
    def get_offers(self, dispute):
        return SettlementOfferSerializer(dispute.offers.all(), many=True, context=self._child_context(dispute)).data
