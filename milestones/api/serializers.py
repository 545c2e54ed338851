"""Input/output shapes of the milestone plan and template API.

The serializers check shape and types only (integers are integers, tiers are known tiers); every
plan rule (prices, totals, names, counts) lives in `services.check_plan`, so the API, the page and
templates reject the same plans with the same messages. Money is integer minor units.
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gigs.api.fields import StrictIntegerField
from gigs.models import Package
from milestones import services
from milestones.models import GigMilestone, MilestoneTemplate

TIERS = list(Package.TIER_ORDER)


class TermsSerializer(serializers.Serializer):
    """A milestone's terms in one package."""

    price_minor = StrictIntegerField(
        help_text="Integer price in the currency's minor unit (cents for USD); at least the platform's "
        "milestone minimum."
    )
    delivery_days = StrictIntegerField(help_text="1 to 365 days.")
    revisions = StrictIntegerField(required=False, default=0, help_text="0 to 99.")


class MilestonePackagesSerializer(serializers.Serializer):
    """The packages that include a milestone, keyed by tier; a tier left out is not included."""

    basic = TermsSerializer(required=False)
    standard = TermsSerializer(required=False)
    premium = TermsSerializer(required=False)

    def to_internal_value(self, data):
        # A plain Serializer drops keys it does not know; an unknown tier is a mistake to report.
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in set(data) - set(TIERS))
            if unknown:
                raise serializers.ValidationError(
                    {key: [f"Unknown package; use {', '.join(TIERS)}."] for key in unknown}, code="unknown_tier"
                )
        return super().to_internal_value(data)


class MilestoneListSerializer(serializers.ListSerializer):
    """Checks the count before the items, so a sixth milestone is one error on `milestones`,
    whatever the items hold; item errors come keyed by position as a string ("0", "1", ...)."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError(["Send the milestones as a list."], code="not_a_list")
        most = settings.MARKETPLACE["MILESTONES_MAX"]
        if len(data) > most:
            raise serializers.ValidationError([f"A plan has at most {most} milestones."], code="max_length")
        validated, errors = [], {}
        for index, item in enumerate(data):
            try:
                validated.append(self.child.run_validation(item))
            except serializers.ValidationError as exc:
                errors[str(index)] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        return validated


class MilestoneSerializer(serializers.Serializer):
    """One milestone of a plan or template: the same shape is read and written."""

    name = serializers.CharField(
        allow_blank=True, trim_whitespace=False, help_text="1 to 80 characters (checked with the plan rules)."
    )
    description = serializers.CharField(
        required=False, default="", allow_blank=True, trim_whitespace=False, help_text="Up to 1000 characters."
    )
    video_call = serializers.BooleanField(required=False, default=False)
    packages = MilestonePackagesSerializer()

    class Meta:
        list_serializer_class = MilestoneListSerializer


def milestone_inputs(items: list[dict]) -> list[services.MilestoneInput]:
    """Validated milestone dicts -> the services' input."""
    return [
        services.MilestoneInput(
            name=item["name"],
            description=item.get("description", ""),
            video_call=item.get("video_call", False),
            packages={
                tier: services.MilestoneTerms(
                    price_minor=terms["price_minor"],
                    delivery_days=terms["delivery_days"],
                    revisions=terms.get("revisions", 0),
                )
                for tier, terms in item["packages"].items()
            },
        )
        for item in items
    ]


# --- plan -----------------------------------------------------------------------------------------


class PlanWriteSerializer(serializers.Serializer):
    """PUT body: the whole plan and the milestone-payments switch, replaced together."""

    milestone_payments = serializers.BooleanField(
        help_text="On: the gig sells in milestones and each package's price and delivery become the sums "
        "of its milestones (2 to 5 milestones by default, every package covered, Basic at least the platform "
        "minimum, higher packages not cheaper). Off: the plan is kept but not offered."
    )
    milestones = MilestoneSerializer(many=True, help_text="In order; at most 5 (MILESTONES_MAX).")

    def service_kwargs(self) -> dict:
        data = self.validated_data
        return {"milestone_payments": data["milestone_payments"], "milestones": milestone_inputs(data["milestones"])}


class TotalSerializer(serializers.Serializer):
    price_minor = serializers.IntegerField()
    delivery_days = serializers.IntegerField()


class PlanTotalsSerializer(serializers.Serializer):
    """Sums per package over the milestones it includes; a package with none is left out."""

    basic = TotalSerializer(required=False)
    standard = TotalSerializer(required=False)
    premium = TotalSerializer(required=False)


class PlanSerializer(serializers.Serializer):
    """A gig's plan as read (GET) and as returned by every write."""

    milestone_payments = serializers.BooleanField()
    milestones = MilestoneSerializer(many=True)
    totals = PlanTotalsSerializer()


def plan_data(*, milestone_payments: bool, rows: list[GigMilestone]) -> dict:
    """What PlanSerializer renders, from `selectors.plan_for_gig` (its prefetch: no more queries)."""
    milestones = [
        services.MilestoneInput(
            name=row.name,
            description=row.description,
            video_call=row.video_call,
            packages={
                t.tier: services.MilestoneTerms(t.price_minor, t.delivery_days, t.revisions)
                for t in sorted(row.tiers.all(), key=lambda t: TIERS.index(t.tier))
            },
        )
        for row in rows
    ]
    totals = services.plan_totals(milestones)
    return {
        "milestone_payments": milestone_payments,
        "milestones": [m.to_data() for m in milestones],
        "totals": {tier: {"price_minor": price, "delivery_days": days} for tier, (price, days) in totals.items()},
    }


class ApplyTemplateSerializer(serializers.Serializer):
    template = serializers.IntegerField(min_value=1, help_text="A built-in template or one of yours.")


# --- templates ------------------------------------------------------------------------------------


class TemplateSerializer(serializers.ModelSerializer):
    builtin = serializers.BooleanField(source="is_builtin", read_only=True)
    category = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text="Slug of the gig category a built-in template is for; null for general ones and your own.",
    )
    milestones = serializers.SerializerMethodField()

    class Meta:
        model = MilestoneTemplate
        fields = ["id", "name", "description", "builtin", "category", "milestones", "created_at", "updated_at"]

    @extend_schema_field(MilestoneSerializer(many=True))
    def get_milestones(self, template: MilestoneTemplate) -> list[dict]:
        # Normalised through the services' input, as applying the template would read it
        # (built-ins are edited in the admin, where a key may be missing).
        return [m.to_data() for m in services.template_milestones(template)]


class TemplateFilterSerializer(serializers.Serializer):
    category = serializers.SlugField(
        required=False, allow_blank=True, help_text="Only the templates for this category (its slug)."
    )


class TemplateCreateSerializer(serializers.Serializer):
    """Either the milestones themselves or `from_gig`: the saved plan of one of your gigs."""

    name = serializers.CharField(allow_blank=True, help_text="1 to 80 characters, unique among your templates.")
    description = serializers.CharField(required=False, default="", allow_blank=True, max_length=240)
    milestones = MilestoneSerializer(many=True, required=False)
    from_gig = serializers.SlugField(required=False, help_text="Slug of one of your gigs whose plan to save.")

    def validate(self, attrs):
        if ("milestones" in attrs) == ("from_gig" in attrs):
            raise serializers.ValidationError("Send either milestones or from_gig.", code="one_source")
        return attrs


class TemplateRenameSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, help_text="1 to 80 characters, unique among your templates.")
