"""Input and output shapes of the order API: orders, the milestone lifecycle (deliveries,
revision and cancellation requests, payouts, refunds) and the seller's earnings. Amounts are
integers in the currency's minor unit; what the buyer pays is computed on the server, so the
input has no amounts at all."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gigs.models import Package
from milestones.models import CancellationRequest, Delivery, DeliveryFile, Order, OrderMilestone, RevisionRequest
from payments import ledger, selectors
from payments.fees import seller_commission
from payments.forms import ANSWER_MAX_CHARS, DELIVERY_MESSAGE_MAX, REASON_MAX
from payments.models import Payment, Payout, Refund


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
    review_deadline = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Delivered milestones: accepted automatically at this time unless the buyer answers first.",
    )
    revisions_left = serializers.IntegerField(read_only=True)
    payout_status = serializers.SerializerMethodField(
        help_text="Released milestones: the seller's payout (pending_clearance, available, transferring, "
        "transferred, failed). Null until released."
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
            "delivered_at",
            "review_deadline",
            "revisions_used",
            "revisions_left",
            "accepted_at",
            "auto_accepted",
            "cancelled_at",
            "payout_status",
        ]

    def get_position(self, milestone) -> int:
        return milestone.position + 1

    @extend_schema_field(OpenApiTypes.STR)
    def get_payout_status(self, milestone):
        payout = selectors.milestone_payout(milestone)
        return payout.status if payout else None

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
    package_tier = serializers.CharField(
        read_only=True, help_text="basic, standard or premium; custom for an order placed from a custom offer."
    )
    gig = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="The gig's slug; null for an order from a custom offer."
    )
    offer = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The custom offer the order was placed from (GET /api/offers/{id}/); null for a gig."
    )
    project = serializers.SerializerMethodField(help_text="The buyer project of that offer; null for a gig.")
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
            "offer",
            "project",
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

    def get_project(self, order: Order) -> int | None:
        # `offer` is select_related by the order selectors: no query.
        return order.offer.project_id if order.offer_id else None

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


# --- the milestone lifecycle ---------------------------------------------------------------------


class DeliveryFileSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Download it (the order's buyer and seller only).")

    class Meta:
        model = DeliveryFile
        fields = ["id", "name", "size", "content_type", "url"]

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, row):
        url = reverse("order-file", args=[self.context["order"].pk, row.pk])
        return self.context["request"].build_absolute_uri(url)


class DeliverySerializer(serializers.ModelSerializer):
    files = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = ["id", "message", "created_at", "files"]

    @extend_schema_field(DeliveryFileSerializer(many=True))
    def get_files(self, delivery):
        return DeliveryFileSerializer(delivery.files.all(), many=True, context=self.context).data


class RevisionRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = RevisionRequest
        fields = ["id", "reason", "created_at"]


class CancellationRequestSerializer(serializers.ModelSerializer):
    requested_by = serializers.SerializerMethodField(help_text="buyer or seller.")
    status = status_field(CancellationRequest.Status.choices)

    class Meta:
        model = CancellationRequest
        fields = ["id", "requested_by", "reason", "status", "created_at", "expires_at", "answered_at", "auto_accepted"]

    def get_requested_by(self, req) -> str:
        return selectors.BUYER if req.requested_by_id == self.context["order"].buyer_id else selectors.SELLER


class PayoutSerializer(serializers.ModelSerializer):
    status = status_field(Payout.Status.choices)
    status_display = serializers.CharField(source="get_status_display")

    class Meta:
        model = Payout
        fields = [
            "status",
            "status_display",
            "gross_minor",
            "commission_minor",
            "amount_minor",
            "currency",
            "clears_at",
            "transferred_at",
        ]


class OrderMilestoneDetailSerializer(OrderMilestoneSerializer):
    """A milestone with its deliveries, revision and cancellation requests, and (for the seller)
    its payout."""

    deliveries = serializers.SerializerMethodField()
    revision_requests = serializers.SerializerMethodField()
    cancellation_requests = serializers.SerializerMethodField()
    payout = serializers.SerializerMethodField(help_text="For the seller, once released; null otherwise.")

    class Meta(OrderMilestoneSerializer.Meta):
        fields = [
            *OrderMilestoneSerializer.Meta.fields,
            "deliveries",
            "revision_requests",
            "cancellation_requests",
            "payout",
        ]

    @extend_schema_field(DeliverySerializer(many=True))
    def get_deliveries(self, milestone):
        return DeliverySerializer(milestone.deliveries.all(), many=True, context=self.context).data

    @extend_schema_field(RevisionRequestSerializer(many=True))
    def get_revision_requests(self, milestone):
        return RevisionRequestSerializer(milestone.revision_requests.all(), many=True).data

    @extend_schema_field(CancellationRequestSerializer(many=True))
    def get_cancellation_requests(self, milestone):
        return CancellationRequestSerializer(
            milestone.cancellation_requests.all(), many=True, context=self.context
        ).data

    @extend_schema_field(PayoutSerializer(allow_null=True))
    def get_payout(self, milestone):
        payout = selectors.milestone_payout(milestone)
        return PayoutSerializer(payout).data if payout and self.context.get("is_seller") else None


class RefundSerializer(serializers.ModelSerializer):
    status = status_field(Refund.Status.choices)
    milestone_ids = serializers.ListField(child=serializers.IntegerField(), help_text="The milestones it refunds.")

    class Meta:
        model = Refund
        fields = ["id", "amount_minor", "currency", "milestone_ids", "reason", "status", "created_at"]


class OrderDetailSerializer(OrderSerializer):
    """One order with each milestone's lifecycle and the order's refunds (from
    selectors.order_get_with_lifecycle)."""

    refunds = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "refunds"]

    @extend_schema_field(OrderMilestoneDetailSerializer(many=True))
    def get_milestones(self, order):
        context = {**self.context, "is_seller": self._is_seller(order), "order": order}
        return OrderMilestoneDetailSerializer(order.milestones.all(), many=True, context=context).data

    @extend_schema_field(RefundSerializer(many=True))
    def get_refunds(self, order):
        return RefundSerializer(order.refund_list, many=True).data


class DeliverInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=DELIVERY_MESSAGE_MAX, help_text="What you deliver.")
    files = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text="Files (multipart, the same field repeated). Limits: settings UPLOAD_MAX_FILES, "
        "UPLOAD_MAX_BYTES, UPLOAD_EXTENSIONS; a file over them is a 400 under `files`.",
    )


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=REASON_MAX)


class AnswerInputSerializer(serializers.Serializer):
    accept = serializers.BooleanField(help_text="true cancels (and refunds); false declines.")


class EarningsTotalsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    in_escrow_minor = serializers.IntegerField(
        help_text="Milestones of active orders not released yet, before commission."
    )
    pending_minor = serializers.IntegerField(help_text="Released, waiting out the clearance period.")
    available_minor = serializers.IntegerField(help_text="Cleared, not transferred yet (in_transit_minor included).")
    in_transit_minor = serializers.IntegerField(help_text="Part of available: a transfer under way or being retried.")
    transferred_minor = serializers.IntegerField()
    released_gross_minor = serializers.IntegerField(help_text="The released milestones' prices.")
    commission_minor = serializers.IntegerField(help_text="The commission taken on them.")
    payouts = serializers.IntegerField(help_text="How many milestones were released.")
    failed = serializers.IntegerField(help_text="How many transfers failed and are being retried.")


class EarningsPayoutSerializer(PayoutSerializer):
    order = serializers.IntegerField(source="order_id")
    gig_title = serializers.CharField(source="order.gig_title")
    milestone = serializers.IntegerField(source="milestone_id")
    milestone_position = serializers.SerializerMethodField()
    milestone_name = serializers.CharField(source="milestone.name")

    class Meta(PayoutSerializer.Meta):
        fields = [
            "id",
            "order",
            "gig_title",
            "milestone",
            "milestone_position",
            "milestone_name",
            "created_at",
            *PayoutSerializer.Meta.fields,
        ]

    def get_milestone_position(self, payout) -> int:
        return payout.milestone.position + 1


class EarningsSerializer(serializers.Serializer):
    """The shape of GET /api/me/earnings/ (documentation only)."""

    totals = EarningsTotalsSerializer(many=True)
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EarningsPayoutSerializer(many=True)
