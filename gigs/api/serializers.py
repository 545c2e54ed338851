from django.conf import settings
from rest_framework import serializers

from gigs import hooks
from gigs.api.fields import StrictIntegerField
from gigs.models import Category, Gig, Package
from gigs.selectors import PRICE_FILTER_MAX_MINOR
from gigs.services import PackageInput


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug", "description"]


class SellerSerializer(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField(source="public_name")


class PackageSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60)
    description = serializers.CharField(max_length=600)
    price_minor = StrictIntegerField(
        min_value=1, help_text="Integer price in the currency's minor unit (cents for USD), sent as a JSON integer."
    )
    currency = serializers.CharField(read_only=True)
    delivery_days = serializers.IntegerField(min_value=1, max_value=365)
    revisions = serializers.IntegerField(min_value=0, max_value=99)


class PackagesSerializer(serializers.Serializer):
    """The three packages keyed by tier, the same shape for reading and writing."""

    basic = PackageSerializer()
    standard = PackageSerializer()
    premium = PackageSerializer()

    def to_representation(self, gig_packages):
        by_tier = {p.tier: p for p in gig_packages}
        return {tier: PackageSerializer(by_tier[tier]).data if tier in by_tier else None for tier in Package.TIER_ORDER}


class FaqSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=200)
    answer = serializers.CharField(max_length=2000)


class RequirementSerializer(serializers.Serializer):
    """A question the buyer answers at checkout; `id` is the key of its answer in an order."""

    id = serializers.IntegerField(read_only=True)
    question = serializers.CharField(max_length=200)
    required = serializers.BooleanField(default=True)


class GigListSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    seller = SellerSerializer(read_only=True)
    price_from_minor = serializers.IntegerField(read_only=True, allow_null=True)
    fastest_delivery_days = serializers.IntegerField(read_only=True, allow_null=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Gig
        fields = [
            "id",
            "slug",
            "title",
            "category",
            "seller",
            "status",
            "currency",
            "price_from_minor",
            "fastest_delivery_days",
            "published_at",
            "url",
        ]


class GigDetailSerializer(GigListSerializer):
    packages = PackagesSerializer(source="packages.all", read_only=True)
    faqs = FaqSerializer(many=True, read_only=True)
    requirements = RequirementSerializer(many=True, read_only=True)

    class Meta(GigListSerializer.Meta):
        fields = [
            "id",
            "slug",
            "title",
            "category",
            "seller",
            "status",
            "currency",
            "description",
            "milestone_payments",
            "price_from_minor",
            "fastest_delivery_days",
            "packages",
            "faqs",
            "requirements",
            "published_at",
            "created_at",
            "updated_at",
            "url",
        ]


class GigWithExtrasSerializer(GigDetailSerializer):
    """The detail plus what later apps add through gigs.hooks (the milestone plan, ...)."""

    def to_representation(self, gig):
        return {**super().to_representation(gig), **hooks.gig_detail_api_fields(gig)}


class GigWriteSerializer(serializers.Serializer):
    """Input for create (POST) and update (PUT/PATCH). Money is integer minor units."""

    title = serializers.CharField(max_length=100)
    category = serializers.SlugRelatedField(slug_field="slug", queryset=Category.objects.all())
    description = serializers.CharField(max_length=12000, required=False, allow_blank=True)
    currency = serializers.ChoiceField(choices=[], required=False)
    milestone_payments = serializers.BooleanField(required=False)
    packages = PackagesSerializer(required=False)
    faqs = FaqSerializer(many=True, required=False, max_length=10)
    requirements = RequirementSerializer(many=True, required=False, max_length=10)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in settings.MARKETPLACE["CURRENCIES"]]

    def validate_packages(self, value):
        # A PATCH may omit whole parts, but the packages part, when sent, is always complete:
        # DRF would otherwise apply `partial` to the nested tiers too.
        if self.partial:
            full = PackagesSerializer(data=self.initial_data.get("packages"))
            full.is_valid(raise_exception=True)
            return full.validated_data
        return value

    def service_kwargs(self) -> dict:
        data = self.validated_data
        kwargs = {key: data.get(key) for key in ("title", "category", "description", "currency", "milestone_payments")}
        if "packages" in data:
            kwargs["packages"] = [PackageInput(tier=tier, **data["packages"][tier]) for tier in Package.TIER_ORDER]
        if "faqs" in data:
            kwargs["faqs"] = [(f["question"], f["answer"]) for f in data["faqs"]]
        if "requirements" in data:
            kwargs["requirements"] = [(r["question"], r["required"]) for r in data["requirements"]]
        return kwargs


class GigFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=100)
    category = serializers.SlugField(required=False, allow_blank=True)
    min_price_minor = serializers.IntegerField(required=False, min_value=0, max_value=PRICE_FILTER_MAX_MINOR)
    max_price_minor = serializers.IntegerField(required=False, min_value=0, max_value=PRICE_FILTER_MAX_MINOR)
    ordering = serializers.ChoiceField(choices=["newest", "price", "-price", "title"], required=False)

    def validate(self, attrs):
        lo, hi = attrs.get("min_price_minor"), attrs.get("max_price_minor")
        if lo is not None and hi is not None and lo > hi:
            raise serializers.ValidationError({"max_price_minor": ["Must not be below min_price_minor."]})
        return attrs


class PublishProblemSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    problems = serializers.ListField(child=serializers.CharField())
