"""Order API: place an order (idempotent on the checkout token), read your orders as buyer or
seller, start the payment. Someone else's order is 404. Services do every write and compute every
amount; their errors come back through the project's exception handler:
{"detail", "code"} with the error's status (409 for a refused order or payment)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from gigs import selectors as gig_selectors
from marketplace.exceptions import NotFound, ValidationFailed
from payments import selectors, services
from payments.exceptions import PaymentRefused

from .serializers import OrderCreateSerializer, OrderListFilterSerializer, OrderSerializer, PaymentSerializer

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


class OrderDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: OrderSerializer, 404: NOT_FOUND})
    def get(self, request, pk):
        """One of your orders, as its buyer or its seller (the seller sees the amounts after
        commission)."""
        order = selectors.order_get_for_party(user=request.user, pk=pk)
        return Response(OrderSerializer(order, context={"request": request}).data)


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
