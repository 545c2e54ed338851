"""Accepting a custom offer (issue 7) through the API: the buyer of the offer's project places
its order with payments.services.checkout_accept_offer (the platform's fees, seller onboarding,
one order per acceptance) and starts its payment as POST /api/orders/<id>/payment/ does. Here
and not in milestones because milestones does not depend on payments. The offer's seller and
anyone else get 404; the offer's state refusals come back as 409 with the service's code."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import selectors, services

from .serializers import OrderSerializer, PaymentSerializer


class OfferAcceptInputSerializer(serializers.Serializer):
    checkout_token = serializers.UUIDField(
        help_text="A UUID you make once per acceptance: sending it again returns the order already placed (200)."
    )
    revision = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The offer's `revision` you accept (from GET /api/offers/<id>/): if the seller revised it "
        'since, nothing is placed (409 "offer_revised"). Left out: the current version.',
    )


class OfferAcceptSerializer(serializers.Serializer):
    """The order placed from the offer and its payment, ready to collect."""

    order = OrderSerializer(help_text="As GET /api/orders/<id>/ lists it: id, status, subtotal, fees, total, ...")
    payment = PaymentSerializer(
        allow_null=True,
        help_text="Stripe mode: confirm with Stripe.js and `client_secret`; local mode: open `pay_url`. Null "
        "when the order no longer awaits payment and none was started.",
    )


class OfferAcceptApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=OfferAcceptInputSerializer,
        responses={
            201: OfferAcceptSerializer,
            200: OpenApiResponse(OfferAcceptSerializer, description="The order this token (or this offer) placed."),
            400: OpenApiResponse(description='Field errors, e.g. {"checkout_token": ["Must be a valid UUID."]}.'),
            404: OpenApiResponse(description="No such offer, or not on your project (its seller included)."),
            409: OpenApiResponse(
                description='{"detail", "code"}: "offer_not_live", "offer_expired", "offer_revised" (the seller '
                'revised it after the `revision` you sent), "project_not_open" (another offer was accepted, or the '
                'project is closed) or "seller_cannot_receive". Nothing was written.'
            ),
            503: OpenApiResponse(
                description='{"detail", "code": "provider_unavailable"}: the order is placed; send the same token '
                "again to start its payment."
            ),
        },
    )
    def post(self, request, pk):
        """Accept a live offer on your project: an order of its milestones (amounts from the offer,
        the platform's fees) waiting for your payment, exactly like a gig order; the project is
        awarded and the other live offers end not selected. One acceptance, one order: the same
        `checkout_token`, or accepting the offer again, returns its order (200 instead of 201).
        Then pay it with the `payment` returned."""
        data = OfferAcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = data.validated_data["checkout_token"]
        placed = selectors.order_by_checkout_token(buyer=request.user, checkout_token=token)
        if placed is not None and placed.offer_id != pk:
            raise serializers.ValidationError({"checkout_token": ["This checkout token placed another order."]})
        order, created = services.checkout_accept_offer(
            buyer=request.user, offer_id=pk, checkout_token=token, revision=data.validated_data.get("revision")
        )
        if order.is_payable:
            services.payment_start(order=order)  # ProviderUnavailable: 503 (marketplace.api)
        order = selectors.order_get_for_buyer(user=request.user, pk=order.pk)
        context = {"request": request}
        body = {
            "order": OrderSerializer(order, context=context).data,
            "payment": (
                PaymentSerializer(payment, context=context).data
                if (payment := selectors.order_payment(order))
                else None
            ),
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
