from django import forms
from django.contrib import admin

from gigs.admin import GigAdmin
from gigs.models import Gig

from . import services
from .models import GigMilestone, GigMilestonePackage, MilestoneTemplate


class MilestoneTemplateAdminForm(forms.ModelForm):
    """The milestones JSON is checked with the builder's rules, so a template that saves here can
    be applied to a gig (an example shape: any built-in template)."""

    class Meta:
        model = MilestoneTemplate
        fields = ["name", "description", "owner", "milestones"]

    def clean(self):
        data = super().clean()
        if "milestones" in data and "name" in data:
            candidate = MilestoneTemplate(name=data["name"], milestones=data["milestones"])
            for key, messages in services.template_errors(candidate).items():
                field = "name" if key == "name" else "milestones"
                prefix = "" if key in ("name", "milestones") else f"{key}: "
                for message in messages:
                    self.add_error(field, f"{prefix}{message}")
        return data


@admin.register(MilestoneTemplate)
class MilestoneTemplateAdmin(admin.ModelAdmin):
    """Built-in templates (no owner) are managed here; sellers' own templates are visible too."""

    form = MilestoneTemplateAdminForm

    list_display = ["name", "owner", "milestone_count", "updated_at"]
    list_filter = [("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "description", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="Milestones")
    def milestone_count(self, obj):
        return len(obj.milestones or [])


class GigMilestoneInline(admin.TabularInline):
    """The gig's plan, read-only: prices are money and the builder checks the plan rules."""

    model = GigMilestone
    extra = 0
    can_delete = False
    fields = ["position", "name", "description", "video_call", "terms"]
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tiers")

    @admin.display(description="Terms per package")
    def terms(self, obj):
        return "; ".join(
            f"{t.tier}: {t.price_minor / 100:.2f}, {t.delivery_days}d, {t.revisions} rev" for t in obj.tiers.all()
        )


admin.site.unregister(Gig)


@admin.register(Gig)
class GigWithPlanAdmin(GigAdmin):
    inlines = [*GigAdmin.inlines, GigMilestoneInline]
    list_display = [*GigAdmin.list_display, "plan_milestone_count"]


@admin.register(GigMilestonePackage)
class GigMilestonePackageAdmin(admin.ModelAdmin):
    list_display = ["milestone", "tier", "price_minor", "delivery_days", "revisions"]
    list_filter = ["tier"]
    search_fields = ["milestone__name", "milestone__gig__title"]
    list_select_related = ["milestone"]
    readonly_fields = ["milestone", "tier", "price_minor", "delivery_days", "revisions"]

    def has_add_permission(self, request):
        return False
