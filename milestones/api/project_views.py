"""Projects and custom offers API (issue 7): buyers post projects, invite sellers, compare the
offers and decline or accept them (accepting places an order: payments.api.offer_views); sellers
browse the open projects they may offer on, send, revise and withdraw offers; both write on the
offer's thread.

Who sees what is the selectors' (milestones.project_selectors): a project's buyer sees every offer
on it but those a moderator removed, a seller only their own; an invitation-only project is 404 to
a seller not invited, and so is anyone else's project or offer, on every read and write, before
the input is even checked. The services in milestones.project_services do every write (atomic,
rows locked, an event row per change); their errors come back through the project's exception
handler: field errors as 400 nested like the input (list positions as string keys), a refusal as
409 {"detail", "code"} with nothing written.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.exceptions import NotFound
from milestones import project_selectors as selectors
from milestones import project_services as services
from milestones.project_models import Project

from .project_serializers import (
    SELLER,
    AttachmentsInputSerializer,
    InviteOutputSerializer,
    InviteSerializer,
    OfferDetailSerializer,
    OfferMessageInputSerializer,
    OfferMessageSerializer,
    OfferSerializer,
    OfferWriteSerializer,
    PrefillFilterSerializer,
    PrefillSerializer,
    ProjectAttachmentSerializer,
    ProjectCreateSerializer,
    ProjectDetailSerializer,
    ProjectListFilterSerializer,
    ProjectReasonSerializer,
    ProjectSellerListSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
)
from .views import keyed_errors

PARSERS = [JSONParser, MultiPartParser, FormParser]
PROJECT_NOT_FOUND = OpenApiResponse(
    description="No such project, or you may not see it (someone else's; invitation-only and you are not invited)."
)
OFFER_NOT_FOUND = OpenApiResponse(
    description="No such offer, it is not yours (as the project's buyer or the offer's seller), a moderator "
    "removed it (for the buyer), or the action is the other party's."
)
INVALID = OpenApiResponse(
    description="Field errors nested like the input, list positions as string keys, e.g. "
    '{"milestones": {"1": {"share_bps": ["..."]}}} or {"budget_max_minor": ["..."]}. Nothing was written.'
)
PROJECT_AFTER = "The project afterwards, as GET /api/projects/<id>/ returns it."
OFFER_AFTER = "The offer afterwards, as GET /api/offers/<id>/ returns it."


def _conflict(codes: str) -> OpenApiResponse:
    return OpenApiResponse(description=f'{{"detail", "code"}}: {codes}. Nothing was written.')


def _is_form(request) -> bool:
    return (request.content_type or "").startswith(("multipart/", "application/x-www-form-urlencoded"))


def _valid(serializer_class, request, data=None) -> dict:
    serializer = serializer_class(
        data=request.data if data is None else data, context={"request": request, "form": _is_form(request)}
    )
    if not serializer.is_valid():
        raise serializers.ValidationError(keyed_errors(serializer.errors))
    return serializer


def _own_project(request, project_id: int) -> Project:
    """The caller's own project (its buyer); 404 for anyone else, whatever they may see of it."""
    project = Project.objects.filter(pk=project_id, buyer_id=request.user.pk).first()
    if project is None:
        raise NotFound("No such project.")
    return project


def _project_response(request, project_id: int, *, code=status.HTTP_200_OK) -> Response:
    project = selectors.project_get_for_user(user=request.user, project_id=project_id)
    return Response(ProjectDetailSerializer(project, context={"request": request}).data, status=code)


def _offer_response(request, offer_id: int, *, code=status.HTTP_200_OK) -> Response:
    offer = selectors.offer_get_for_user(user=request.user, offer_id=offer_id)
    order = selectors.offer_current_order(offer=offer) if offer.status == offer.Status.ACCEPTED else None
    return Response(OfferDetailSerializer(offer, context={"request": request, "order": order}).data, status=code)


# --- projects -------------------------------------------------------------------------------------


class ProjectListApi(GenericAPIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = PARSERS
    serializer_class = ProjectSerializer

    @extend_schema(parameters=[ProjectListFilterSerializer], responses=ProjectSellerListSerializer(many=True))
    def get(self, request):
        """`role=buyer` (default): the projects you posted, in every state, newest first.
        `role=seller`: the open projects you may send an offer on (public ones in the categories of
        your published gigs, and those you were invited to), newest first, filtered by `q` (every
        word in the title or brief), `budget_min` / `budget_max` (minor units) and
        `deadline_before`; each with its buyer, whether you were invited and your offer's status."""
        filters = _valid(ProjectListFilterSerializer, request, request.query_params).validated_data
        if filters["role"] == SELLER:
            qs = selectors.project_list_for_seller(
                seller=request.user,
                q=filters["q"],
                budget_min=filters.get("budget_min"),
                budget_max=filters.get("budget_max"),
                deadline_before=filters.get("deadline_before"),
            )
            output = ProjectSellerListSerializer
        else:
            qs, output = selectors.project_list_for_buyer(buyer=request.user), ProjectSerializer
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(output(page, many=True, context={"request": request}).data)

    @extend_schema(
        request={"application/json": ProjectCreateSerializer, "multipart/form-data": ProjectCreateSerializer},
        responses={201: OpenApiResponse(ProjectDetailSerializer, description=PROJECT_AFTER), 400: INVALID},
    )
    def post(self, request):
        """Post a project, open for offers: a brief, a category, a budget (a range, or fixed when
        `budget_max_minor` is left out), a start date and a deadline, public (sellers of the
        category) or invitation-only, with an optional milestone sketch, invited sellers (told by
        a notification) and, in a multipart body, attachments."""
        data = _valid(ProjectCreateSerializer, request)
        project = services.project_create(
            buyer=request.user,
            **data.service_kwargs(),
            invited_seller_ids=data.validated_data["invites"],
            attachments=data.validated_data["attachments"],
        )
        return _project_response(request, project.pk, code=status.HTTP_201_CREATED)


def _current_input(project: Project) -> dict:
    """The project's fields in the write shape, for PATCH to start from."""
    return {
        "title": project.title,
        "description": project.description,
        "category": project.category_id,
        "budget_min_minor": project.budget_min_minor,
        "budget_max_minor": project.budget_max_minor,
        "currency": project.currency,
        "start_date": project.start_date.isoformat(),
        "deadline": project.deadline.isoformat(),
        "visibility": project.visibility,
        "milestones": [
            {
                "name": m.name,
                "description": m.description,
                "share_bps": m.share_bps,
                "target_date": m.target_date.isoformat(),
            }
            for m in project.milestones.order_by("position")
        ],
    }


class ProjectDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(responses={200: ProjectDetailSerializer, 404: PROJECT_NOT_FOUND})
    def get(self, request, pk):
        """A project you may see: yours, an open one you may offer on, or one you sent an offer on."""
        return _project_response(request, pk)

    def _update(self, request, pk, *, partial: bool) -> Response:
        project = _own_project(request, pk)
        if partial:
            if not isinstance(request.data, dict):
                raise serializers.ValidationError({"non_field_errors": ["Send an object."]})
            data = _valid(ProjectWriteSerializer, request, {**_current_input(project), **request.data})
        else:
            data = _valid(ProjectWriteSerializer, request)
        kwargs = data.service_kwargs()
        kwargs["currency"] = kwargs["currency"] or project.currency  # left out: unchanged
        services.project_update(buyer=request.user, project_id=project.pk, **kwargs)
        return _project_response(request, project.pk)

    @extend_schema(
        request=ProjectWriteSerializer,
        responses={
            200: OpenApiResponse(ProjectDetailSerializer, description=PROJECT_AFTER),
            400: INVALID,
            404: PROJECT_NOT_FOUND,
            409: _conflict('"project_not_open" (an offer was accepted, or it is closed)'),
        },
    )
    def put(self, request, pk):
        """Replace your open project's fields and sketch (the same rules as posting it; a start
        date already past may stay). Offers already sent stay as they are and are compared with
        the new budget and deadline; the currency cannot change once an offer was sent."""
        return self._update(request, pk, partial=False)

    @extend_schema(
        request=ProjectWriteSerializer,
        responses={
            200: OpenApiResponse(ProjectDetailSerializer, description=PROJECT_AFTER),
            400: INVALID,
            404: PROJECT_NOT_FOUND,
            409: _conflict('"project_not_open"'),
        },
    )
    def patch(self, request, pk):
        """Change some of your open project's fields (the others, the sketch included, stay)."""
        return self._update(request, pk, partial=True)


class ProjectCloseApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=ProjectReasonSerializer,
        responses={
            200: OpenApiResponse(ProjectDetailSerializer, description=PROJECT_AFTER),
            400: INVALID,
            404: PROJECT_NOT_FOUND,
            409: _conflict('"project_not_open" (an offer was accepted: the project runs as an order)'),
        },
    )
    def post(self, request, pk):
        """Close your open project to offers for good, with an optional reason: its live offers
        end not selected and their sellers are told. Closing it again changes nothing."""
        project = _own_project(request, pk)
        data = _valid(ProjectReasonSerializer, request).validated_data
        services.project_close(actor=request.user, project_id=project.pk, reason=data["reason"])
        return _project_response(request, project.pk)


class ProjectInviteApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=InviteSerializer,
        responses={
            200: InviteOutputSerializer(many=True),
            400: INVALID,
            404: PROJECT_NOT_FOUND,
            409: _conflict('"project_not_open"'),
        },
    )
    def post(self, request, pk):
        """Invite sellers (by id) to your open project: what makes an invitation-only project
        visible to them; on a public one it points them at it. Inviting again changes nothing
        and notifies once. Returns the invitations of these sellers. 400 under `invites` for
        yourself or an unknown user."""
        project = _own_project(request, pk)
        data = _valid(InviteSerializer, request).validated_data
        invites = services.project_invite(buyer=request.user, project_id=project.pk, seller_ids=data["sellers"])
        return Response(InviteOutputSerializer(invites, many=True).data)


class ProjectAttachmentsApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": AttachmentsInputSerializer},
        responses={
            201: ProjectAttachmentSerializer(many=True),
            400: INVALID,
            404: PROJECT_NOT_FOUND,
            409: _conflict('"project_not_open"'),
        },
    )
    def post(self, request, pk):
        """Attach more files to your open project's brief (the upload limits count those already
        attached). Returns every attachment of the project."""
        project = _own_project(request, pk)
        data = _valid(AttachmentsInputSerializer, request).validated_data
        rows = services.project_attachment_add(buyer=request.user, project_id=project.pk, files=data["attachments"])
        return Response(ProjectAttachmentSerializer(rows, many=True).data, status=status.HTTP_201_CREATED)


# --- offers ---------------------------------------------------------------------------------------


class ProjectOffersApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(responses={200: OfferSerializer(many=True), 404: PROJECT_NOT_FOUND})
    def get(self, request, pk):
        """The offers on a project, side by side. Its buyer sees every offer but removed ones (live
        and accepted first, then by total), each with how it compares: `delivery_date`, `late`,
        `over_budget`, ...; a seller sees only their own offers."""
        project = selectors.project_get_for_user(user=request.user, project_id=pk)
        offers = selectors.offer_list_for_project(user=request.user, project=project)
        return Response(OfferSerializer(offers, many=True, context={"request": request}).data)

    @extend_schema(
        request=OfferWriteSerializer,
        responses={
            201: OpenApiResponse(OfferDetailSerializer, description=OFFER_AFTER),
            400: INVALID,
            404: PROJECT_NOT_FOUND,
            409: _conflict(
                '"offer_refused" (your own project), "offer_exists" (revise your live offer instead) or '
                '"project_not_open"'
            ),
        },
    )
    def post(self, request, pk):
        """Send an offer on an open project you may see: a message and your milestone plan, in the
        project's currency, live for `expiry_days` (default OFFER_EXPIRY_DAYS). One live offer per
        seller and project. The buyer is told."""
        project = selectors.project_get_for_user(user=request.user, project_id=pk)
        data = _valid(OfferWriteSerializer, request)
        offer = services.offer_send(seller=request.user, project_id=project.pk, **data.service_kwargs())
        return _offer_response(request, offer.pk, code=status.HTTP_201_CREATED)


class OfferDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(responses={200: OfferDetailSerializer, 404: OFFER_NOT_FOUND})
    def get(self, request, pk):
        """An offer, as the project's buyer or the offer's seller: its plan, the comparisons, every
        version sent (`revisions`) and, once accepted, its order's id."""
        return _offer_response(request, pk)

    @extend_schema(
        request=OfferWriteSerializer,
        responses={
            200: OpenApiResponse(OfferDetailSerializer, description=OFFER_AFTER),
            400: INVALID,
            404: OFFER_NOT_FOUND,
            409: _conflict('"offer_not_live", "offer_expired" or "project_not_open"'),
        },
    )
    def put(self, request, pk):
        """Revise your live offer: its message, plan and expiry (counted from now) are replaced at
        once and `revision` goes up by one (earlier versions are kept). The buyer is told."""
        offer = selectors.offer_get_for_user(user=request.user, offer_id=pk)
        data = _valid(OfferWriteSerializer, request)
        services.offer_revise(seller=request.user, offer_id=offer.pk, **data.service_kwargs())
        return _offer_response(request, offer.pk)


class OfferWithdrawApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=ProjectReasonSerializer,
        responses={
            200: OpenApiResponse(OfferDetailSerializer, description=OFFER_AFTER),
            400: INVALID,
            404: OFFER_NOT_FOUND,
            409: _conflict('"offer_not_live" (accepted, declined, ...) or "offer_expired"'),
        },
    )
    def post(self, request, pk):
        """Take back your live offer, as its seller. Withdrawing it again changes nothing."""
        offer = selectors.offer_get_for_user(user=request.user, offer_id=pk)
        data = _valid(ProjectReasonSerializer, request).validated_data
        services.offer_withdraw(seller=request.user, offer_id=offer.pk, reason=data["reason"])
        return _offer_response(request, offer.pk)


class OfferDeclineApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=ProjectReasonSerializer,
        responses={
            200: OpenApiResponse(OfferDetailSerializer, description=OFFER_AFTER),
            400: INVALID,
            404: OFFER_NOT_FOUND,
            409: _conflict('"offer_not_live" (withdrawn, accepted, ...) or "offer_expired"'),
        },
    )
    def post(self, request, pk):
        """Decline a live offer on your project, as its buyer; the seller is told, with the
        reason. Declining it again changes nothing."""
        offer = selectors.offer_get_for_user(user=request.user, offer_id=pk)
        data = _valid(ProjectReasonSerializer, request).validated_data
        services.offer_decline(buyer=request.user, offer_id=offer.pk, reason=data["reason"])
        return _offer_response(request, offer.pk)


class OfferMessagesApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    def _messages(self, request, offer, *, code=status.HTTP_200_OK) -> Response:
        rows = selectors.offer_messages(offer=offer)
        context = {"request": request, "offer": offer}
        return Response(OfferMessageSerializer(rows, many=True, context=context).data, status=code)

    @extend_schema(responses={200: OfferMessageSerializer(many=True), 404: OFFER_NOT_FOUND})
    def get(self, request, pk):
        """The offer's thread between the project's buyer and the offer's seller, oldest first."""
        return self._messages(request, selectors.offer_get_for_user(user=request.user, offer_id=pk))

    @extend_schema(
        request=OfferMessageInputSerializer,
        responses={
            201: OfferMessageSerializer(many=True),
            400: INVALID,
            404: OFFER_NOT_FOUND,
            409: _conflict('"offer_not_live" (the thread closes when the offer ends)'),
        },
    )
    def post(self, request, pk):
        """Write on the offer's thread while it is live or accepted; the other party is told.
        Returns the whole thread."""
        offer = selectors.offer_get_for_user(user=request.user, offer_id=pk)
        data = _valid(OfferMessageInputSerializer, request).validated_data
        services.offer_message_post(user=request.user, offer_id=offer.pk, body=data["body"])
        return self._messages(request, offer, code=status.HTTP_201_CREATED)


class OfferPrefillApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        parameters=[PrefillFilterSerializer],
        responses={
            200: PrefillSerializer,
            400: INVALID,
            404: OpenApiResponse(description="No such template or gig, or not yours."),
        },
    )
    def get(self, request):
        """A milestone plan to start an offer from: a template's (`template`: built-in or yours) or
        one package (`tier`, default standard) of one of your gigs (`gig`: amounts in the gig's
        currency). Nothing is checked against the plan rules until you send the offer."""
        filters = _valid(PrefillFilterSerializer, request, request.query_params).validated_data
        if "template" in filters:
            lines = selectors.offer_prefill_from_template(
                seller=request.user, template_id=filters["template"], tier=filters["tier"]
            )
        else:
            lines = selectors.offer_prefill_from_gig(seller=request.user, gig_id=filters["gig"], tier=filters["tier"])
        return Response(PrefillSerializer({"milestones": [line.to_data() for line in lines]}).data)
