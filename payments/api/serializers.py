"""Input and output shapes of the order API. Amounts are integers in the currency's minor unit;
what the buyer pays is computed on the server, so the input has no amounts at all."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gigs.models import Package
from milestones.models import Order, OrderMilestone
from payments import ledger, selectors
from payments.fees import seller_commission
from payments.forms import ANSWER_MAX_CHARS
from payments.models import Payment


class OrderCreateSerializer(serializers.Serializer):
    gig = serializers.SlugField(help_text="The gig's slug.")
    package = serializers.ChoiceField(choices=Package.Tier.choices, help_text="The package's tier.")
    checkout_token = serializers.UUIDField(
        help_text="A UUID you make once per checkout: sending it again returns the order already placed (200)."
    )
    answers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=ANSWER_MAX_CHARS, trim_whitespace=True),
        required=False,
        default=dict,
        help_text="Answers to the gig's requirement questions, keyed by requirement id "
        "(the `requirements` of GET /api/gigs/<slug>/).",
    )

    def validate_answers(self, value: dict) -> dict[int, str]:
        answers = {}
        for key, answer in value.items():
            try:
                answers[int(key)] = answer
            except (TypeError, ValueError):
                raise serializers.ValidationError(f"“{key}” is not a requirement id.") from None
        return answers


def _values(choices) -> str:
    return ", ".join(f"{value} ({label.lower()})" for value, label in choices)


def status_field(choices) -> serializers.CharField:
    """A status as a plain string with its values documented: several models name their status
    field "status", and OpenAPI enums named after the field would collide (and rename the gig's)."""
    return serializers.CharField(read_only=True, help_text=f"One of: {_values(choices)}.")


class OrderListFilterSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=selectors.ROLES, default=selectors.BUYER, help_text="Orders you bought (buyer) or sold (seller)."
    )


class PartySerializer(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField(source="public_name")


class OrderMilestoneSerializer(serializers.ModelSerializer):
    position = serializers.SerializerMethodField()
    status = status_field(OrderMilestone.Status.choices)
    status_display = serializers.CharField(source="get_status_display")
    escrow_state = serializers.SerializerMethodField()
    seller_net_minor = serializers.SerializerMethodField(
        help_text="For the seller: the price after commission. Null for the buyer."
    )

    class Meta:
        model = OrderMilestone
        fields = [
            "id",
            "position",
            "name",
            "description",
            "price_minor",
            "delivery_days",
            "revisions",
            "video_call",
            "status",
            "status_display",
            "escrow_state",
            "seller_net_minor",
            "started_at",
            "due_at",
        ]

    def get_position(self, milestone) -> int:
        return milestone.position + 1

    def get_escrow_state(self, milestone) -> str:
        return selectors.milestone_escrow_state(milestone.order, milestone)

    @extend_schema_field(OpenApiTypes.INT)
    def get_seller_net_minor(self, milestone):
        if not self.context.get("is_seller"):
            return None
        return milestone.price_minor - seller_commission(milestone.price_minor, milestone.order.commission_bps)


class PaymentSummarySerializer(serializers.ModelSerializer):
    status = status_field(Payment.Status.choices)
    status_display = serializers.CharField(source="get_status_display")

    class Meta:
        model = Payment
        fields = ["provider", "status", "status_display", "amount_minor", "currency", "failure_message"]


class PaymentSerializer(PaymentSummarySerializer):
    """The order's payment with what a client needs to collect the card."""

    client_secret = serializers.CharField(
        help_text="Stripe mode: confirm the PaymentIntent with Stripe.js (Payment Element) and this secret."
    )
    provider_payment_id = serializers.CharField()
    pay_url = serializers.SerializerMethodField(help_text="Local mode: the simulated card page. Null with Stripe.")

    class Meta(PaymentSummarySerializer.Meta):
        fields = [*PaymentSummarySerializer.Meta.fields, "provider_payment_id", "client_secret", "pay_url"]

    @extend_schema_field(OpenApiTypes.URI)
    def get_pay_url(self, payment):
        if payment.provider != "local":
            return None
        url = reverse("order-pay", args=[payment.order_id])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class OrderSerializer(serializers.ModelSerializer):
    """An order as its buyer or seller sees it. The seller's commission is shown to the seller
    only (null for the buyer)."""

    role = serializers.SerializerMethodField()
    status = status_field(Order.Status.choices)
    package_tier = serializers.CharField(read_only=True, help_text="basic, standard or premium.")
    gig = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    buyer = PartySerializer(read_only=True)
    seller = PartySerializer(read_only=True)
    status_display = serializers.CharField(source="get_status_display")
    seller_commission_minor = serializers.SerializerMethodField(help_text="For the seller only; null for the buyer.")
    seller_net_minor = serializers.SerializerMethodField(
        help_text="For the seller only: what the seller receives once every milestone is released."
    )
    escrow_minor = serializers.SerializerMethodField(help_text="What escrow holds for the order now.")
    escrow_state = serializers.SerializerMethodField()
    milestones = serializers.SerializerMethodField()
    payment = serializers.SerializerMethodField()
    receipt_number = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text="The order page.")

    class Meta:
        model = Order
        fields = [
            "id",
            "role",
            "status",
            "status_display",
            "gig",
            "gig_title",
            "package_tier",
            "package_name",
            "milestone_payments",
            "buyer",
            "seller",
            "currency",
            "subtotal_minor",
            "service_fee_minor",
            "small_order_fee_minor",
            "total_minor",
            "seller_commission_minor",
            "seller_net_minor",
            "escrow_minor",
            "escrow_state",
            "milestones",
            "requirements",
            "payment",
            "receipt_number",
            "created_at",
            "expires_at",
            "paid_at",
            "url",
        ]

    def _is_seller(self, order) -> bool:
        user = self.context["request"].user
        return order.seller_id == user.pk and order.buyer_id != user.pk

    def get_role(self, order) -> str:
        return selectors.SELLER if self._is_seller(order) else selectors.BUYER

    @extend_schema_field(OpenApiTypes.INT)
    def get_seller_commission_minor(self, order):
        if not self._is_seller(order):
            return None
        return sum(line.commission_minor for line in selectors.seller_lines(order))

    @extend_schema_field(OpenApiTypes.INT)
    def get_seller_net_minor(self, order):
        return selectors.seller_net_minor(order) if self._is_seller(order) else None

    def get_escrow_minor(self, order) -> int:
        held = self.context.get("escrow")
        return held.get(order.pk, 0) if held is not None else ledger.escrow_balance(order)

    def get_escrow_state(self, order) -> str:
        return selectors.escrow_state(order)

    @extend_schema_field(OrderMilestoneSerializer(many=True))
    def get_milestones(self, order):
        context = {**self.context, "is_seller": self._is_seller(order)}
        return OrderMilestoneSerializer(order.milestones.all(), many=True, context=context).data

    @extend_schema_field(PaymentSummarySerializer(allow_null=True))
    def get_payment(self, order):
        payment = selectors.order_payment(order)
        return PaymentSummarySerializer(payment).data if payment else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_receipt_number(self, order):
        receipt = selectors.order_receipt(order)
        return receipt.number if receipt else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, order):
        return self.context["request"].build_absolute_uri(reverse("order-detail", args=[order.pk]))
