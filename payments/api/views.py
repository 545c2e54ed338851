"""Order API: place an order (idempotent on the checkout token), read your orders as buyer or
seller, start the payment; the milestone lifecycle (deliver, accept, request a revision, ask to
cancel and answer, cancel when the seller is late, stop the order); the seller's earnings.
Someone else's order, milestone or request is 404, and so is an action that is the other party's
(the buyer delivering). Services do every write and compute every amount; their errors come back
through the project's exception handler: {"detail", "code"} with the error's status (409 for a
refused order or payment, `invalid_transition` or `revisions_exhausted` for an action the
milestone's state does not allow), field errors as 400."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from gigs import selectors as gig_selectors
from marketplace.exceptions import NotFound, ValidationFailed
from milestones import lifecycle as milestone_lifecycle
from milestones.models import CancellationRequest, Order, OrderMilestone
from payments import lifecycle, selectors, services
from payments.exceptions import PaymentRefused

from .serializers import (
    AnswerInputSerializer,
    DeliverInputSerializer,
    EarningsPayoutSerializer,
    EarningsSerializer,
    EarningsTotalsSerializer,
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderListFilterSerializer,
    OrderSerializer,
    PaymentSerializer,
    ReasonInputSerializer,
)

NOT_FOUND = OpenApiResponse(description="No such order, or it is neither yours as buyer nor as seller.")
REFUSED = OpenApiResponse(
    description='{"detail", "code"}: "order_refused" (your own gig, not on sale, no such package; '
    'with "field" when it names one) or "seller_cannot_receive" (Stripe mode, seller not onboarded). '
    "Nothing was written."
)
INVALID = OpenApiResponse(
    description='Field errors, e.g. {"answers": {"12": ["Answer this question."]}} for a required question '
    "left blank. Nothing was written."
)
UNAVAILABLE = OpenApiResponse(description='{"detail", "code": "provider_unavailable"}: try again later.')


def _answers_errors(exc: ValidationFailed) -> ValidationFailed:
    """The service names answers "requirements.<id>"; the input calls them "answers"."""
    prefix = "requirements."
    return ValidationFailed(
        {("answers." + key[len(prefix) :] if key.startswith(prefix) else key): v for key, v in exc.errors.items()}
    )


def _order_response(request, order, *, code=status.HTTP_200_OK) -> Response:
    order = selectors.order_get_for_party(user=request.user, pk=order.pk)
    return Response(OrderSerializer(order, context={"request": request}).data, status=code)


class OrderListApi(GenericAPIView):
    serializer_class = OrderSerializer
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(parameters=[OrderListFilterSerializer], responses=OrderSerializer(many=True))
    def get(self, request):
        """Your orders, newest first: those you bought (`role=buyer`, the default) or sold."""
        filters = OrderListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.order_list_for(user=request.user, role=filters.validated_data["role"]))
        context = {"request": request, "escrow": selectors.escrow_held(page)}
        return self.get_paginated_response(OrderSerializer(page, many=True, context=context).data)

    @extend_schema(
        request=OrderCreateSerializer,
        responses={201: OrderSerializer, 200: OrderSerializer, 400: INVALID, 409: REFUSED},
    )
    def post(self, request):
        """Order a package of a published gig. Amounts come from the gig (its milestone plan) and
        the platform's fees. The same `checkout_token` again returns the order already placed
        (200) instead of a second one (201). Then start its payment."""
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        placed = selectors.order_by_checkout_token(buyer=request.user, checkout_token=params["checkout_token"])
        if placed is not None:  # a retry: answer as the first time, even if the gig changed since
            return _order_response(request, placed)
        try:
            gig = gig_selectors.gig_get_for_viewer(slug=params["gig"], user=request.user)
        except NotFound:
            raise serializers.ValidationError({"gig": ["No such gig."]}) from None
        try:
            order, created = services.checkout_place_order(
                buyer=request.user,
                gig=gig,
                tier=params["package"],
                checkout_token=params["checkout_token"],
                answers=params["answers"],
            )
        except ValidationFailed as exc:
            raise _answers_errors(exc) from exc
        return _order_response(request, order, code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _order_detail_response(request, order_id: int, *, code=status.HTTP_200_OK) -> Response:
    order = selectors.order_get_with_lifecycle(user=request.user, pk=order_id)
    return Response(OrderDetailSerializer(order, context={"request": request}).data, status=code)


class OrderDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: OrderDetailSerializer, 404: NOT_FOUND})
    def get(self, request, pk):
        """One of your orders, as its buyer or its seller (the seller sees the amounts after
        commission and each released milestone's payout), with each milestone's deliveries,
        revision and cancellation requests, and the order's refunds."""
        return _order_detail_response(request, pk)


class OrderPaymentApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: PaymentSerializer,
            404: NOT_FOUND,
            409: OpenApiResponse(description='{"detail", "code": "payment_refused"}: not awaiting payment.'),
            503: UNAVAILABLE,
        },
    )
    def post(self, request, pk):
        """Start (or get again) the payment of your order awaiting payment: one payment per order,
        so a declined card is retried on the same one. Stripe mode: confirm it with Stripe.js and
        `client_secret`. Local mode: open `pay_url`. The order becomes active when the provider's
        event is processed."""
        order = selectors.order_get_for_buyer(user=request.user, pk=pk)
        if not order.is_payable:
            raise PaymentRefused("This order is not awaiting payment.")
        payment = services.payment_start(order=order)  # ProviderUnavailable: 503 (marketplace.api)
        return Response(PaymentSerializer(payment, context={"request": request}).data)


# --- the milestone lifecycle ---------------------------------------------------------------------

MILESTONE_NOT_FOUND = OpenApiResponse(
    description="No such order or milestone, it is not yours, or the action is the other party's "
    "(only the seller delivers; only the buyer accepts, asks for revisions, stops or cancels a late milestone)."
)
STATE_REFUSED = OpenApiResponse(
    description='{"detail", "code"}: "invalid_transition" (the milestone\'s state does not allow it now) or '
    '"revisions_exhausted". Nothing was written.'
)
FIELD_ERRORS = OpenApiResponse(description='Field errors, e.g. {"reason": ["This field is required."]}.')
ORDER_AFTER = "The order afterwards, as GET /api/orders/<id>/ returns it."


def _milestone(request, pk: int, milestone_id: int) -> tuple[Order, OrderMilestone]:
    """The order (its parties only) and one of its milestones; NotFound (404) otherwise."""
    order = selectors.order_get_for_party(user=request.user, pk=pk)
    milestone = next((m for m in order.milestones.all() if m.pk == milestone_id), None)
    if milestone is None:
        raise NotFound("No such milestone.")
    return order, milestone


def _valid(serializer_class, request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


class MilestoneDeliverApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": DeliverInputSerializer},
        responses={
            201: OpenApiResponse(OrderDetailSerializer, description=ORDER_AFTER),
            400: OpenApiResponse(description='Field errors, e.g. {"files": ["setup.exe: files of this type ..."]}.'),
            404: MILESTONE_NOT_FOUND,
            409: STATE_REFUSED,
        },
    )
    def post(self, request, pk, milestone_id):
        """Deliver a milestone in progress (or after a revision request), as its seller: a message
        and files. The buyer then has REVIEW_DAYS to accept it or ask for a revision; without an
        answer it is accepted automatically (`review_deadline`)."""
        order, milestone = _milestone(request, pk, milestone_id)
        data = _valid(DeliverInputSerializer, request)
        milestone_lifecycle.milestone_deliver(
            milestone_id=milestone.pk, seller=request.user, message=data["message"], files=data["files"]
        )
        return _order_detail_response(request, order.pk, code=status.HTTP_201_CREATED)


class MilestoneAcceptApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(OrderDetailSerializer, description=ORDER_AFTER),
            404: MILESTONE_NOT_FOUND,
            409: STATE_REFUSED,
        },
    )
    def post(self, request, pk, milestone_id):
        """Accept a delivered milestone, as its buyer: its price is released from escrow to the
        seller and the next milestone starts (the last one completes the order). Accepting an
        accepted milestone again changes nothing."""
        order, milestone = _milestone(request, pk, milestone_id)
        lifecycle.milestone_accept(milestone_id=milestone.pk, buyer=request.user)
        return _order_detail_response(request, order.pk)


class MilestoneRequestRevisionApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=ReasonInputSerializer,
        responses={
            200: OpenApiResponse(OrderDetailSerializer, description=ORDER_AFTER),
            400: FIELD_ERRORS,
            404: MILESTONE_NOT_FOUND,
            409: STATE_REFUSED,
        },
    )
    def post(self, request, pk, milestone_id):
        """Ask for changes to a delivered milestone, as its buyer; uses one of its revisions
        (`revisions_left`). With none left: 409 `revisions_exhausted` (accept it, ask to cancel,
        or dispute)."""
        order, milestone = _milestone(request, pk, milestone_id)
        data = _valid(ReasonInputSerializer, request)
        milestone_lifecycle.milestone_request_revision(
            milestone_id=milestone.pk, buyer=request.user, reason=data["reason"]
        )
        return _order_detail_response(request, order.pk)


class MilestoneCancelRequestApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=ReasonInputSerializer,
        responses={
            201: OpenApiResponse(OrderDetailSerializer, description=ORDER_AFTER),
            400: FIELD_ERRORS,
            404: MILESTONE_NOT_FOUND,
            409: STATE_REFUSED,
        },
    )
    def post(self, request, pk, milestone_id):
        """Ask to cancel a milestone in progress, as the buyer or the seller. The other party
        answers (POST /api/cancellation-requests/<id>/answer/) within CANCELLATION_ANSWER_HOURS,
        else it is accepted automatically (`expires_at`). A request about a delivered milestone
        with no revisions left (once per delivery and party) must be answered by the review
        deadline (`expires_at`); unanswered, it closes and the milestone is accepted
        automatically. One open request per milestone."""
        order, milestone = _milestone(request, pk, milestone_id)
        data = _valid(ReasonInputSerializer, request)
        lifecycle.cancellation_request(milestone_id=milestone.pk, user=request.user, reason=data["reason"])
        return _order_detail_response(request, order.pk, code=status.HTTP_201_CREATED)


class MilestoneCancelLateApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(OrderDetailSerializer, description=ORDER_AFTER),
            404: MILESTONE_NOT_FOUND,
            409: STATE_REFUSED,
        },
    )
    def post(self, request, pk, milestone_id):
        """As the buyer, cancel a milestone in progress whose seller is LATE_CANCEL_HOURS past its
        due date, without the seller's agreement: it and the milestones not started are cancelled
        and refunded (`refunds`)."""
        order, milestone = _milestone(request, pk, milestone_id)
        lifecycle.milestone_cancel_late(milestone_id=milestone.pk, buyer=request.user)
        return _order_detail_response(request, order.pk)


class CancellationAnswerApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=AnswerInputSerializer,
        responses={
            200: OpenApiResponse(OrderDetailSerializer, description=ORDER_AFTER),
            400: FIELD_ERRORS,
            404: OpenApiResponse(description="No such request, or not on one of your orders."),
            409: STATE_REFUSED,
        },
    )
    def post(self, request, request_id):
        """Answer the other party's cancellation request: `accept: true` cancels the milestone
        and those not started and refunds them; `false` declines. Answering an answered request
        again changes nothing; the requester cannot answer (409)."""
        data = _valid(AnswerInputSerializer, request)
        req = lifecycle.cancellation_answer(request_id=request_id, user=request.user, accept=data["accept"])
        order_id = CancellationRequest.objects.filter(pk=req.pk).values_list("milestone__order_id", flat=True).get()
        return _order_detail_response(request, order_id)


class OrderStopApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(OrderDetailSerializer, description=ORDER_AFTER),
            404: NOT_FOUND,
            409: STATE_REFUSED,
        },
    )
    def post(self, request, pk):
        """As the buyer, stop the order after an accepted milestone: the milestones not started
        are cancelled and their price refunded in one refund (`refunds`); a milestone under way
        goes on."""
        order = selectors.order_get_for_party(user=request.user, pk=pk)
        lifecycle.order_stop(order_id=order.pk, buyer=request.user)
        return _order_detail_response(request, order.pk)


class MyEarningsApi(GenericAPIView):
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = EarningsPayoutSerializer

    @extend_schema(
        parameters=[OpenApiParameter("page", int, description="A page number of the payouts (20 a page).")],
        responses=EarningsSerializer,
    )
    def get(self, request):
        """Your earnings as a seller: totals per currency (in escrow, pending clearance, available,
        transferred, commission taken) and your released milestones' payouts, newest first,
        paginated."""
        page = self.paginate_queryset(selectors.payout_list_for_seller(seller=request.user))
        response = self.get_paginated_response(EarningsPayoutSerializer(page, many=True).data)
        totals = selectors.earnings_totals_for_seller(seller=request.user)
        response.data = {"totals": EarningsTotalsSerializer(totals, many=True).data, **response.data}
        return response
