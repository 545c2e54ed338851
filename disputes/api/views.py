"""Dispute API: open a dispute on a milestone of your order (or on the whole order), list and read your disputes, answer
one, write to its thread, propose, accept or decline a settlement, withdraw it. Only the order's
buyer and seller see a dispute: anyone else gets 404 on every read and write. The services in
disputes.services do every write (atomic, with the order, milestone and dispute locked) and their
errors come back through the project's exception handler: field errors as 400, a step the
dispute's state does not allow as 409 {"detail", "code"}."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from disputes import selectors, services
from marketplace.exceptions import NotFound
from payments import selectors as order_selectors

from .serializers import (
    DisputeDetailSerializer,
    DisputeMessageInputSerializer,
    DisputeOpenSerializer,
    DisputeRespondSerializer,
    DisputeSerializer,
    OfferInputSerializer,
    WithdrawInputSerializer,
)

NOT_FOUND = OpenApiResponse(description="No such dispute (or order, milestone, offer), or it is not yours.")
FIELD_ERRORS = OpenApiResponse(description='Field errors, e.g. {"statement": ["This field is required."]}.')
AFTER = "The dispute afterwards, as GET /api/disputes/<id>/ returns it."
PARSERS = [JSONParser, MultiPartParser, FormParser]


def _conflict(codes: str) -> OpenApiResponse:
    return OpenApiResponse(description=f'{{"detail", "code"}}: {codes}. Nothing was written.')


def _valid(serializer_class, request) -> dict:
    form = request.content_type.startswith(("multipart/", "application/x-www-form-urlencoded"))
    data = serializer_class(data=request.data, context={"request": request, "form": form})
    data.is_valid(raise_exception=True)
    return data.validated_data


def _detail(request, dispute_id: int, *, code=status.HTTP_200_OK) -> Response:
    dispute = selectors.dispute_get_for_party(user=request.user, pk=dispute_id)
    return Response(DisputeDetailSerializer(dispute, context={"request": request}).data, status=code)


def _offer_of(dispute, offer_id: int) -> int:
    if not any(offer.pk == offer_id for offer in dispute.offers.all()):
        raise NotFound("No such offer.")
    return offer_id


class DisputeListApi(GenericAPIView):
    serializer_class = DisputeSerializer
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = PARSERS

    @extend_schema(responses=DisputeSerializer(many=True))
    def get(self, request):
        """Your disputes as buyer or seller, newest first."""
        page = self.paginate_queryset(selectors.disputes_for_user(user=request.user))
        return self.get_paginated_response(DisputeSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request={"application/json": DisputeOpenSerializer, "multipart/form-data": DisputeOpenSerializer},
        responses={
            201: OpenApiResponse(DisputeDetailSerializer, description=AFTER),
            400: FIELD_ERRORS,
            404: NOT_FOUND,
            409: _conflict(
                '"dispute_not_allowed" (the milestone is not in progress, delivered or in revision, or its money '
                "cleared; the whole order: not active, a chargeback holds it, or nothing is within reach) "
                'or "dispute_already_open" (on the milestone, on the whole order that holds it, or, for the whole '
                "order, on any of its milestones)"
            ),
        },
    )
    def post(self, request):
        """Dispute a milestone of your order, as its buyer or seller: the milestone is frozen at once
        (no automatic release) and the other party has DISPUTE_RESPONSE_DAYS to answer. Without
        `milestone`, dispute the whole order: every milestone whose money is within reach is held at
        once (`kind` "order", `held` lists them)."""
        data = _valid(DisputeOpenSerializer, request)
        order = order_selectors.order_get_for_party(user=request.user, pk=data["order"])
        opening = {
            "user": request.user,
            "reason": data["reason"],
            "description": data["description"],
            "outcome_wanted": data["outcome_wanted"],
            "amount_wanted_minor": data.get("amount_wanted_minor"),
            "files": data["files"],
        }
        if data.get("milestone") is None:
            dispute = services.dispute_open_order(order_id=order.pk, **opening)
        else:
            if not any(m.pk == data["milestone"] for m in order.milestones.all()):
                raise NotFound("No such milestone.")
            dispute = services.dispute_open(milestone_id=data["milestone"], **opening)
        return _detail(request, dispute.pk, code=status.HTTP_201_CREATED)


class DisputeDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: DisputeDetailSerializer, 404: NOT_FOUND})
    def get(self, request, pk):
        """One of your disputes with the statements, the thread, the evidence's names, the
        settlement offers, the response deadline and the resolution."""
        return _detail(request, pk)


class DisputeRespondApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = PARSERS

    @extend_schema(
        request={"application/json": DisputeRespondSerializer, "multipart/form-data": DisputeRespondSerializer},
        responses={
            200: OpenApiResponse(DisputeDetailSerializer, description=AFTER),
            400: FIELD_ERRORS,
            404: NOT_FOUND,
            409: _conflict(
                '"dispute_closed" (you opened it, or it is not awaiting an answer) or "response_window_over"'
            ),
        },
    )
    def post(self, request, pk):
        """Answer a dispute the other party opened, within the response window, with a statement
        and evidence: it goes to the platform's review."""
        dispute = selectors.dispute_get_for_party(user=request.user, pk=pk)
        data = _valid(DisputeRespondSerializer, request)
        services.dispute_respond(
            dispute_id=dispute.pk, user=request.user, statement=data["statement"], files=data["files"]
        )
        return _detail(request, dispute.pk)


class DisputeMessageApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = PARSERS

    @extend_schema(
        request={
            "application/json": DisputeMessageInputSerializer,
            "multipart/form-data": DisputeMessageInputSerializer,
        },
        responses={
            201: OpenApiResponse(DisputeDetailSerializer, description=AFTER),
            400: FIELD_ERRORS,
            404: NOT_FOUND,
            409: _conflict('"dispute_closed" (resolved or withdrawn)'),
        },
    )
    def post(self, request, pk):
        """Write to the dispute's thread (with files) while it is active."""
        dispute = selectors.dispute_get_for_party(user=request.user, pk=pk)
        data = _valid(DisputeMessageInputSerializer, request)
        services.dispute_message_post(dispute_id=dispute.pk, user=request.user, body=data["body"], files=data["files"])
        return _detail(request, dispute.pk, code=status.HTTP_201_CREATED)


class OfferProposeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=OfferInputSerializer,
        responses={
            201: OpenApiResponse(DisputeDetailSerializer, description=AFTER),
            400: FIELD_ERRORS,
            404: NOT_FOUND,
            409: _conflict('"dispute_closed" (resolved or withdrawn)'),
        },
    )
    def post(self, request, pk):
        """Propose a settlement: an amount for the seller, the rest refunded to the buyer. Your
        earlier open offer is withdrawn; the other party accepts or declines."""
        dispute = selectors.dispute_get_for_party(user=request.user, pk=pk)
        data = _valid(OfferInputSerializer, request)
        services.settlement_propose(
            dispute_id=dispute.pk, user=request.user, seller_amount_minor=data["seller_amount_minor"]
        )
        return _detail(request, dispute.pk, code=status.HTTP_201_CREATED)


class OfferAcceptApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(DisputeDetailSerializer, description=AFTER),
            404: NOT_FOUND,
            409: _conflict('"settlement_refused" (your own offer, or no longer open) or "dispute_closed"'),
        },
    )
    def post(self, request, pk, offer_id):
        """Accept the other party's open offer: the dispute resolves with its amounts (the seller's
        share released, the rest refunded) without an admin. Accepting it again changes nothing."""
        dispute = selectors.dispute_get_for_party(user=request.user, pk=pk)
        services.settlement_accept(offer_id=_offer_of(dispute, offer_id), user=request.user)
        return _detail(request, dispute.pk)


class OfferDeclineApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(DisputeDetailSerializer, description=AFTER),
            404: NOT_FOUND,
            409: _conflict('"settlement_refused" (your own offer, or no longer open)'),
        },
    )
    def post(self, request, pk, offer_id):
        """Decline the other party's open offer. Declining it again changes nothing."""
        dispute = selectors.dispute_get_for_party(user=request.user, pk=pk)
        services.settlement_decline(offer_id=_offer_of(dispute, offer_id), user=request.user)
        return _detail(request, dispute.pk)


class DisputeWithdrawApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=WithdrawInputSerializer,
        responses={
            200: OpenApiResponse(DisputeDetailSerializer, description=AFTER),
            400: FIELD_ERRORS,
            404: NOT_FOUND,
            409: _conflict(
                '"dispute_closed" (you did not open it, it is decided, or a decision waits for a second admin)'
            ),
        },
    )
    def post(self, request, pk):
        """Withdraw a dispute you opened, until it is decided: the milestone resumes where it was
        (a delivery gets back the review time it had left). Withdrawing it again changes nothing."""
        dispute = selectors.dispute_get_for_party(user=request.user, pk=pk)
        data = _valid(WithdrawInputSerializer, request)
        services.dispute_withdraw(dispute_id=dispute.pk, user=request.user, note=data["note"])
        return _detail(request, dispute.pk)
