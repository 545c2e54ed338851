"""Gig API: list and detail for everyone, writes for the owner only (anyone else's gig is 404)."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from gigs import selectors, services
from gigs.exceptions import GigIncomplete

from .serializers import (
    CategorySerializer,
    GigFilterSerializer,
    GigListSerializer,
    GigWithExtrasSerializer,
    GigWriteSerializer,
    PublishProblemSerializer,
)


class CategoryListApi(GenericAPIView):
    serializer_class = CategorySerializer
    pagination_class = None
    permission_classes = [permissions.AllowAny]

    def get(self, request):
        return Response(CategorySerializer(selectors.category_list(), many=True).data)


class GigListApi(GenericAPIView):
    serializer_class = GigListSerializer

    @extend_schema(parameters=[GigFilterSerializer], responses=GigListSerializer(many=True))
    def get(self, request):
        filters = GigFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.gig_list_public(**filters.validated_data))
        return self.get_paginated_response(GigListSerializer(page, many=True).data)

    @extend_schema(request=GigWriteSerializer, responses={201: GigWithExtrasSerializer})
    def post(self, request):
        serializer = GigWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        gig = services.gig_save(seller=request.user, **serializer.service_kwargs())
        gig = selectors.gig_get_for_owner(user=request.user, pk=gig.pk)
        return Response(GigWithExtrasSerializer(gig).data, status=status.HTTP_201_CREATED)


class MyGigListApi(GenericAPIView):
    serializer_class = GigListSerializer
    permission_classes = [permissions.IsAuthenticated]

    def get(self, request):
        page = self.paginate_queryset(selectors.gig_list_for_seller(seller=request.user))
        return self.get_paginated_response(GigListSerializer(page, many=True).data)


class GigDetailApi(APIView):
    @extend_schema(responses=GigWithExtrasSerializer)
    def get(self, request, slug):
        return Response(GigWithExtrasSerializer(selectors.gig_get_for_viewer(slug=slug, user=request.user)).data)

    def _update(self, request, slug, *, partial):
        gig = selectors.gig_get_for_owner(user=request.user, slug=slug)
        serializer = GigWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        services.gig_save(seller=request.user, gig=gig, **serializer.service_kwargs())
        return Response(GigWithExtrasSerializer(selectors.gig_get_for_owner(user=request.user, pk=gig.pk)).data)

    @extend_schema(request=GigWriteSerializer, responses=GigWithExtrasSerializer)
    def put(self, request, slug):
        return self._update(request, slug, partial=False)

    @extend_schema(request=GigWriteSerializer, responses=GigWithExtrasSerializer)
    def patch(self, request, slug):
        return self._update(request, slug, partial=True)


class GigPublishApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: GigWithExtrasSerializer, 409: PublishProblemSerializer})
    def post(self, request, slug):
        gig = selectors.gig_get_for_owner(user=request.user, slug=slug)
        try:
            services.gig_publish(gig=gig)
        except GigIncomplete as exc:
            return Response({"detail": exc.message, "code": exc.code, "problems": exc.problems}, status=exc.http_status)
        return Response(GigWithExtrasSerializer(selectors.gig_get_for_owner(user=request.user, pk=gig.pk)).data)


class GigPauseApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses=GigWithExtrasSerializer)
    def post(self, request, slug):
        gig = selectors.gig_get_for_owner(user=request.user, slug=slug)
        services.gig_pause(gig=gig)
        return Response(GigWithExtrasSerializer(selectors.gig_get_for_owner(user=request.user, pk=gig.pk)).data)
