"""Milestone plan and template API. Reads for whoever may see the gig; writes for the owner only
(anyone else's gig or template is 404, never a hint that it exists). The services do every write
and check every rule; errors come back nested like the input, list positions as string keys:
{"milestones": {"1": {"packages": {"basic": {"price_minor": ["..."]}}}}}.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from gigs import selectors as gig_selectors
from marketplace.api import NON_FIELD
from marketplace.exceptions import NotFound
from milestones import selectors, services

from .serializers import (
    ApplyTemplateSerializer,
    PlanSerializer,
    PlanWriteSerializer,
    TemplateCreateSerializer,
    TemplateFilterSerializer,
    TemplateRenameSerializer,
    TemplateSerializer,
    milestone_inputs,
    plan_data,
)

INVALID = OpenApiResponse(
    description="Invalid input: errors nested like the input, list positions as string keys, e.g. "
    '{"milestones": {"1": {"packages": {"basic": {"price_minor": ["..."]}}}}}; '
    'package totals under {"packages": {"<tier>": [...]}}. Nothing was changed.'
)
NOT_FOUND = OpenApiResponse(description="No such gig or template, or it is not yours.")
NAME_TAKEN = OpenApiResponse(description='{"detail", "code": "template_name_taken", "field": "name"}')


def keyed_errors(detail, *, top: bool = True):
    """DRF errors in the services' shape: list positions as string keys, positions without errors
    left out, and a nested object's only "non_field_errors" (not an object, say) as its own list,
    as the services report a whole milestone's `packages`."""
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        detail = dict(enumerate(detail))
    if not isinstance(detail, dict):
        return detail
    keyed = {str(key): keyed_errors(value, top=False) for key, value in detail.items()}
    keyed = {key: value for key, value in keyed.items() if value}
    if not top and list(keyed) == [NON_FIELD]:
        return keyed[NON_FIELD]
    return keyed


def _validated(serializer_class, data) -> serializers.Serializer:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise serializers.ValidationError(keyed_errors(serializer.errors))
    return serializer


def _plan_response(gig) -> Response:
    data = plan_data(milestone_payments=gig.milestone_payments, rows=selectors.plan_for_gig(gig))
    return Response(PlanSerializer(data).data)


class GigPlanApi(APIView):
    """A gig's milestone plan: read it, or replace it (and the milestone-payments switch) at once."""

    parser_classes = [JSONParser]

    @extend_schema(responses={200: PlanSerializer, 404: NOT_FOUND})
    def get(self, request, slug):
        """The plan of a gig you can see (published, or yours)."""
        return _plan_response(gig_selectors.gig_get_for_viewer(slug=slug, user=request.user))

    @extend_schema(request=PlanWriteSerializer, responses={200: PlanSerializer, 400: INVALID, 404: NOT_FOUND})
    def put(self, request, slug):
        """Replace the whole plan of your gig. With milestone payments on, the packages' price and
        delivery become the plan's sums. A rejected plan changes nothing."""
        gig = gig_selectors.gig_get_for_owner(user=request.user, slug=slug)
        serializer = _validated(PlanWriteSerializer, request.data)
        gig = services.plan_replace(gig=gig, **serializer.service_kwargs())
        return _plan_response(gig)


class GigPlanApplyTemplateApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(request=ApplyTemplateSerializer, responses={200: PlanSerializer, 400: INVALID, 404: NOT_FOUND})
    def post(self, request, slug):
        """Replace your gig's plan with a template's milestones (built-in or yours), keeping the
        milestone-payments switch; 400 and nothing changed when the result breaks a plan rule."""
        gig = gig_selectors.gig_get_for_owner(user=request.user, slug=slug)
        serializer = _validated(ApplyTemplateSerializer, request.data)
        template = selectors.template_get_for(request.user, serializer.validated_data["template"])
        if template is None:
            raise NotFound("No such template.")
        gig = services.plan_apply_template(gig=gig, template=template)
        return _plan_response(gig)


class MilestoneTemplateListApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(parameters=[TemplateFilterSerializer], responses={200: TemplateSerializer(many=True), 400: INVALID})
    def get(self, request):
        """Built-in templates, then yours; `?category=<slug>`: only those for that category (an
        unknown slug lists none)."""
        category = _validated(TemplateFilterSerializer, request.query_params).validated_data.get("category", "")
        templates = selectors.template_list_for(request.user, category=category)
        return Response(TemplateSerializer(templates, many=True).data)

    @extend_schema(
        request=TemplateCreateSerializer,
        responses={201: TemplateSerializer, 400: INVALID, 404: NOT_FOUND, 409: NAME_TAKEN},
    )
    def post(self, request):
        """Save milestones, or one of your gigs' plans (`from_gig`), as a template of yours."""
        data = _validated(TemplateCreateSerializer, request.data).validated_data
        if "from_gig" in data:
            gig = gig_selectors.gig_get_for_owner(user=request.user, slug=data["from_gig"])
            milestones = services.plan_inputs(gig)
            if not milestones:
                raise serializers.ValidationError({"from_gig": ["That gig has no milestone plan to save."]})
        else:
            milestones = milestone_inputs(data["milestones"])
        template = services.template_save(
            owner=request.user,
            name=data["name"],
            description=data["description"],
            milestones=milestones,
        )
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class MilestoneTemplateDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(responses={200: TemplateSerializer, 404: NOT_FOUND})
    def get(self, request, template_id):
        """A built-in template or one of yours."""
        template = selectors.template_get_for(request.user, template_id)
        if template is None:
            raise NotFound("No such template.")
        return Response(TemplateSerializer(template).data)

    @extend_schema(
        request=TemplateRenameSerializer,
        responses={200: TemplateSerializer, 400: INVALID, 404: NOT_FOUND, 409: NAME_TAKEN},
    )
    def patch(self, request, template_id):
        """Rename one of your templates (built-ins are managed by the platform: 404)."""
        name = _validated(TemplateRenameSerializer, request.data).validated_data["name"]
        template = services.template_rename(owner=request.user, template_id=template_id, name=name)
        return Response(TemplateSerializer(template).data)

    @extend_schema(responses={204: None, 404: NOT_FOUND})
    def delete(self, request, template_id):
        """Delete one of your templates (built-ins: 404)."""
        services.template_delete(owner=request.user, template_id=template_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
