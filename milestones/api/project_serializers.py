"""Input and output shapes of the projects and offers API (issue 7). Money is integer minor units
with the currency beside it. The serializers check shape and types only (integers are JSON
integers, dates are dates); every rule (budgets, dates, shares, plan limits, who may do what)
lives in milestones.project_services, so the API and the pages refuse the same input with the
same messages. A multipart body (a project with attachments) sends every value as text: integer
fields then take digits, and the sketch milestones are sent as `milestones[0]name`, ...
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gigs.api.fields import StrictIntegerField
from gigs.models import Package
from milestones.project_models import (
    Offer,
    OfferMessage,
    OfferMilestone,
    OfferRevision,
    Project,
    ProjectAttachment,
    ProjectInvite,
    ProjectMilestone,
)
from milestones.project_selectors import OfferMilestoneInput
from milestones.project_services import MESSAGE_MAX_CHARS, REASON_MAX_CHARS, ProjectMilestoneInput, project_url

BUYER, SELLER = "buyer", "seller"
ROLES = [(BUYER, "Projects you posted"), (SELLER, "Open projects you may send an offer on")]
UPLOADS = (
    "Files of the brief (multipart, the same field repeated). Limits: settings UPLOAD_MAX_FILES, "
    "UPLOAD_MAX_BYTES, UPLOAD_EXTENSIONS; a file over them is a 400 under `attachments`."
)


def _values(choices) -> str:
    return ", ".join(f"{value} ({label.lower()})" for value, label in choices)


def status_field(choices) -> serializers.CharField:
    """A status as a plain string with its values documented (several models name their status
    field "status": OpenAPI enums named after the field would collide)."""
    return serializers.CharField(read_only=True, help_text=f"One of: {_values(choices)}.")


class IntegerInput(StrictIntegerField):
    """A JSON integer in a JSON body; digits in a multipart form (the view says which in the
    context, read from the root serializer, so nested fields follow it too)."""

    def to_internal_value(self, data):
        if self.context.get("form") and isinstance(data, str):
            return serializers.IntegerField.to_internal_value(self, data)
        return super().to_internal_value(data)


class ProjectPartySerializer(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField(source="public_name")


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


# --- projects: input ------------------------------------------------------------------------------


class ProjectMilestoneInputSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="1 to 80 characters.")
    description = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    share_bps = IntegerInput(help_text="Share of the budget in basis points (2500 = 25 %); the shares sum to 10000.")
    target_date = serializers.DateField(help_text="Between the start date and the deadline, in order.")


class ProjectWriteSerializer(serializers.Serializer):
    """A project's fields as posted (POST) or replaced (PUT; PATCH sends only what changes)."""

    title = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="1 to 100 characters.")
    description = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="Up to 5,000 characters.")
    category = IntegerInput(help_text="The category's id (GET /api/categories/).")
    budget_min_minor = IntegerInput(help_text="Least you expect to pay, in the currency's minor unit.")
    budget_max_minor = IntegerInput(
        required=False, allow_null=True, help_text="Most you will pay; left out or null: a fixed budget (the minimum)."
    )
    currency = serializers.CharField(
        required=False, allow_blank=True, max_length=3, help_text="USD, EUR, GBP, ...; default the platform's."
    )
    start_date = serializers.DateField(help_text="When the work may start (not in the past).")
    deadline = serializers.DateField(help_text="When the work must be done (not before the start).")
    visibility = serializers.ChoiceField(choices=Project.Visibility.choices, required=False)
    milestones = ProjectMilestoneInputSerializer(
        many=True, required=False, help_text="An optional sketch: none, or 2 to 5 stages (MILESTONES_MIN/MAX)."
    )

    def service_kwargs(self) -> dict:
        data = self.validated_data
        kwargs = {
            "title": data["title"],
            "description": data["description"],
            "category_id": data["category"],
            "budget_min_minor": data["budget_min_minor"],
            "budget_max_minor": data.get("budget_max_minor"),
            "currency": data.get("currency") or None,
            "start_date": data["start_date"],
            "deadline": data["deadline"],
            "visibility": data.get("visibility") or Project.Visibility.PUBLIC,
            "milestones": [
                ProjectMilestoneInput(
                    name=m["name"], share_bps=m["share_bps"], target_date=m["target_date"], description=m["description"]
                )
                for m in data.get("milestones", [])
            ],
        }
        return kwargs


class ProjectCreateSerializer(ProjectWriteSerializer):
    invites = serializers.ListField(
        child=IntegerInput(), required=False, default=list, help_text="Ids of sellers to invite."
    )
    attachments = serializers.ListField(
        child=serializers.FileField(), required=False, default=list, help_text=f"{UPLOADS} Multipart only."
    )


class ProjectListFilterSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES, default=BUYER, help_text="buyer (default) or seller.")
    q = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=200, help_text="Seller: words in the title or brief."
    )
    budget_min = serializers.IntegerField(
        required=False, min_value=0, help_text="Seller: the budget reaches at least this (minor units)."
    )
    budget_max = serializers.IntegerField(
        required=False, min_value=0, help_text="Seller: the work can be had for at most this (minor units)."
    )
    deadline_before = serializers.DateField(required=False, help_text="Seller: deadline on or before this date.")


class ProjectReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=REASON_MAX_CHARS)


class InviteSerializer(serializers.Serializer):
    sellers = serializers.ListField(child=StrictIntegerField(min_value=1), allow_empty=False, max_length=50)


class AttachmentsInputSerializer(serializers.Serializer):
    attachments = serializers.ListField(child=serializers.FileField(), allow_empty=False, help_text=UPLOADS)


# --- projects: output -----------------------------------------------------------------------------


class ProjectMilestoneSerializer(serializers.ModelSerializer):
    position = serializers.SerializerMethodField()

    class Meta:
        model = ProjectMilestone
        fields = ["position", "name", "description", "share_bps", "target_date"]

    def get_position(self, row) -> int:
        return row.position + 1


class ProjectAttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProjectAttachment
        fields = ["id", "name", "size", "content_type", "created_at"]


class InviteOutputSerializer(serializers.ModelSerializer):
    seller = serializers.IntegerField(source="seller_id")

    class Meta:
        model = ProjectInvite
        fields = ["seller", "created_at"]


class ProjectSerializer(serializers.ModelSerializer):
    """A project in a list. `invited` and `my_offer_status` are for sellers (null for its buyer)."""

    role = serializers.SerializerMethodField(help_text="Yours: buyer (you posted it) or seller.")
    status = status_field(Project.Status.choices)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    visibility = status_field(Project.Visibility.choices)
    category = CategoryRefSerializer()
    fixed_budget = serializers.BooleanField()
    live_offer_count = serializers.SerializerMethodField(
        help_text="In lists: how many offers are live. Null in the detail."
    )
    invited = serializers.SerializerMethodField(help_text="Seller: you were invited. Null for the buyer.")
    my_offer_status = serializers.SerializerMethodField(
        help_text="Seller: the status of your current offer (live, accepted) or null."
    )
    url = serializers.SerializerMethodField(help_text="The project page.")

    class Meta:
        model = Project
        fields = [
            "id",
            "role",
            "title",
            "category",
            "currency",
            "budget_min_minor",
            "budget_max_minor",
            "fixed_budget",
            "start_date",
            "deadline",
            "visibility",
            "status",
            "status_display",
            "live_offer_count",
            "invited",
            "my_offer_status",
            "created_at",
            "url",
        ]

    def _is_buyer(self, project) -> bool:
        return project.buyer_id == self.context["request"].user.pk

    def get_role(self, project) -> str:
        return BUYER if self._is_buyer(project) else SELLER

    @extend_schema_field(OpenApiTypes.INT)
    def get_live_offer_count(self, project):
        return getattr(project, "live_offer_count", None)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_invited(self, project):
        return None if self._is_buyer(project) else bool(getattr(project, "invited", False))

    @extend_schema_field(OpenApiTypes.STR)
    def get_my_offer_status(self, project):
        return None if self._is_buyer(project) else getattr(project, "my_offer_status", None)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, project):
        return self.context["request"].build_absolute_uri(project_url(project))


class ProjectSellerListSerializer(ProjectSerializer):
    """A project as a seller browses it: with its buyer."""

    buyer = ProjectPartySerializer()

    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "buyer"]


class ProjectDetailSerializer(ProjectSerializer):
    """One project with its brief, sketch, attachments' names and, for its buyer, the invitations."""

    buyer = ProjectPartySerializer()
    milestones = ProjectMilestoneSerializer(many=True)
    attachments = ProjectAttachmentSerializer(many=True)
    invites = serializers.SerializerMethodField(help_text="For the buyer: the sellers invited. Null for sellers.")
    closed_reason = serializers.CharField()

    class Meta(ProjectSerializer.Meta):
        fields = [
            *ProjectSerializer.Meta.fields,
            "buyer",
            "description",
            "milestones",
            "attachments",
            "invites",
            "closed_reason",
            "updated_at",
        ]

    @extend_schema_field(InviteOutputSerializer(many=True, allow_null=True))
    def get_invites(self, project):
        if not self._is_buyer(project):
            return None
        return InviteOutputSerializer(project.invites.order_by("created_at", "id"), many=True).data


# --- offers: input --------------------------------------------------------------------------------


class OfferMilestoneInputSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="1 to 80 characters.")
    description = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    price_minor = StrictIntegerField(
        help_text="In the project's currency's minor unit; at least the milestone minimum."
    )
    delivery_days = StrictIntegerField(help_text="1 to 365 days.")
    revisions = StrictIntegerField(required=False, default=0, help_text="0 to 99.")
    video_call = serializers.BooleanField(required=False, default=False)


class OfferWriteSerializer(serializers.Serializer):
    """An offer as sent (POST on the project's offers) or revised (PUT on the offer)."""

    message = serializers.CharField(
        allow_blank=True, trim_whitespace=False, help_text=f"To the buyer, up to {MESSAGE_MAX_CHARS:,} characters."
    )
    milestones = OfferMilestoneInputSerializer(
        many=True, help_text="One milestone (a plain fixed-price offer), or 2 to 5 (MILESTONES_MIN/MAX)."
    )
    expiry_days = StrictIntegerField(
        required=False, allow_null=True, help_text="Days the offer stays open (1 to OFFER_MAX_EXPIRY_DAYS)."
    )

    def service_kwargs(self) -> dict:
        data = self.validated_data
        return {
            "message": data["message"],
            "milestones": [OfferMilestoneInput(**m) for m in data["milestones"]],
            "expiry_days": data.get("expiry_days"),
        }


class OfferMessageInputSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, help_text=f"Up to {MESSAGE_MAX_CHARS:,} characters.")


class PrefillFilterSerializer(serializers.Serializer):
    template = serializers.IntegerField(required=False, min_value=1, help_text="A built-in template or one of yours.")
    gig = serializers.IntegerField(required=False, min_value=1, help_text="The id of one of your gigs.")
    tier = serializers.ChoiceField(choices=Package.Tier.choices, required=False, default="standard")

    def validate(self, attrs):
        if ("template" in attrs) == ("gig" in attrs):
            raise serializers.ValidationError("Send either template or gig.", code="one_source")
        return attrs


# --- offers: output -------------------------------------------------------------------------------


class OfferMilestoneSerializer(serializers.ModelSerializer):
    position = serializers.SerializerMethodField()

    class Meta:
        model = OfferMilestone
        fields = ["position", "name", "description", "price_minor", "delivery_days", "revisions", "video_call"]

    def get_position(self, row) -> int:
        return row.position + 1


class PrefillMilestoneSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    price_minor = serializers.IntegerField()
    delivery_days = serializers.IntegerField()
    revisions = serializers.IntegerField()
    video_call = serializers.BooleanField()


class PrefillSerializer(serializers.Serializer):
    milestones = PrefillMilestoneSerializer(many=True)


class OfferSerializer(serializers.ModelSerializer):
    """An offer with its plan and how it compares with the project: the delivery date counted from
    the project's start (or today once it passed), late (after the deadline) and over budget
    (above the budget's maximum)."""

    role = serializers.SerializerMethodField(help_text="Yours: buyer (of the project) or seller (of the offer).")
    project = serializers.IntegerField(source="project_id")
    seller = ProjectPartySerializer()
    status = status_field(Offer.Status.choices)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    total_minor = serializers.IntegerField(help_text="The plan's total, in the currency's minor unit.")
    total_days = serializers.IntegerField(help_text="The plan's days, summed.")
    delivery_date = serializers.DateField()
    late = serializers.BooleanField(help_text="Delivered after the project's deadline.")
    days_late = serializers.IntegerField()
    over_budget = serializers.BooleanField(help_text="Above the budget's maximum.")
    over_budget_minor = serializers.IntegerField(help_text="By how much (0 within the budget).")
    under_budget_min = serializers.BooleanField(help_text="Cheaper than the budget's minimum.")
    milestones = OfferMilestoneSerializer(many=True)

    class Meta:
        model = Offer
        fields = [
            "id",
            "role",
            "project",
            "seller",
            "status",
            "status_display",
            "message",
            "currency",
            "total_minor",
            "total_days",
            "delivery_date",
            "late",
            "days_late",
            "over_budget",
            "over_budget_minor",
            "under_budget_min",
            "expires_at",
            "revision",
            "milestones",
            "created_at",
            "updated_at",
            "answered_at",
        ]

    def get_role(self, offer) -> str:
        return SELLER if offer.seller_id == self.context["request"].user.pk else BUYER


class OfferRevisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = OfferRevision
        fields = ["number", "message", "milestones", "total_minor", "expires_at", "created_at"]


class OfferDetailSerializer(OfferSerializer):
    """One offer with its earlier versions and the order placed from it (once accepted)."""

    revisions = serializers.SerializerMethodField()
    order = serializers.SerializerMethodField(help_text="Accepted: the id of its order (GET /api/orders/<id>/).")

    class Meta(OfferSerializer.Meta):
        fields = [*OfferSerializer.Meta.fields, "revisions", "order"]

    @extend_schema_field(OfferRevisionSerializer(many=True))
    def get_revisions(self, offer):
        return OfferRevisionSerializer(offer.revisions.order_by("number"), many=True).data

    @extend_schema_field(OpenApiTypes.INT)
    def get_order(self, offer):
        order = self.context.get("order")
        return order.pk if order is not None else None


class OfferMessageSerializer(serializers.ModelSerializer):
    sender = ProjectPartySerializer()
    sender_role = serializers.SerializerMethodField(help_text="buyer or seller.")

    class Meta:
        model = OfferMessage
        fields = ["id", "sender", "sender_role", "body", "created_at"]

    def get_sender_role(self, msg) -> str:
        return SELLER if msg.sender_id == self.context["offer"].seller_id else BUYER
