from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from marketplace.money import format_money

from .models import Category, Gig, GigFaq, GigRequirement, Package, SellerProfile, User
from .services import gig_pause


class SellerProfileInline(admin.StackedInline):
    model = SellerProfile
    can_delete = False
    readonly_fields = ["stripe_account_id", "created_at"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [SellerProfileInline]
    list_display = ["username", "email", "display_name", "is_staff", "is_active", "date_joined"]
    list_select_related = ["seller_profile"]
    search_fields = ["username", "email", "seller_profile__display_name"]

    @admin.display(description="Display name", ordering="seller_profile__display_name")
    def display_name(self, obj):
        return obj.public_name


@admin.register(SellerProfile)
class SellerProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "headline", "stripe_account_id", "created_at"]
    search_fields = ["display_name", "user__username", "user__email", "headline"]
    list_select_related = ["user"]
    readonly_fields = ["stripe_account_id", "created_at"]
    raw_id_fields = ["user"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


class PackageInline(admin.TabularInline):
    """Read-only: prices are money, and the seller's pricing step (or the API) checks their rules."""

    model = Package
    extra = 0
    can_delete = False
    fields = ["tier", "name", "price_minor", "currency", "delivery_days", "revisions", "description"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class GigRequirementInline(admin.TabularInline):
    model = GigRequirement
    extra = 0
    fields = ["position", "question", "required"]


class GigFaqInline(admin.TabularInline):
    model = GigFaq
    extra = 0


@admin.register(Gig)
class GigAdmin(admin.ModelAdmin):
    """Moderation view. Status changes go through the site's publish/pause services; admins can
    still correct content here."""

    list_display = ["title", "seller", "category", "status", "starting_price", "milestone_payments", "published_at"]
    list_filter = ["status", "category", "milestone_payments", "currency"]
    search_fields = ["title", "slug", "description", "seller__username", "seller__email"]
    list_select_related = ["seller", "category"]
    readonly_fields = ["slug", "status", "milestone_payments", "created_at", "updated_at", "published_at"]
    raw_id_fields = ["seller"]
    inlines = [PackageInline, GigFaqInline, GigRequirementInline]
    date_hierarchy = "created_at"
    actions = ["pause_gigs"]

    @admin.action(description="Pause selected gigs (hide them from the catalog)")
    def pause_gigs(self, request, queryset):
        paused = 0
        for gig in queryset.filter(status=Gig.Status.PUBLISHED):
            gig_pause(gig=gig)
            paused += 1
        self.message_user(request, f"Paused {paused} gig(s).")

    def has_add_permission(self, request):
        # Gigs are created by sellers (pages or API), which make the slug and check the rules.
        return False

    @admin.display(description="From", ordering="price_from_minor")
    def starting_price(self, obj):
        return format_money(obj.price_from_minor, obj.currency) if obj.price_from_minor else "—"


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    list_display = ["gig", "tier", "name", "price", "delivery_days", "revisions"]
    list_filter = ["tier", "currency"]
    search_fields = ["gig__title", "name"]
    list_select_related = ["gig"]
    readonly_fields = ["gig", "tier", "price_minor", "currency", "delivery_days", "revisions"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Price", ordering="price_minor")
    def price(self, obj):
        return format_money(obj.price_minor, obj.currency)


@admin.register(GigFaq)
class GigFaqAdmin(admin.ModelAdmin):
    list_display = ["question", "gig", "position"]
    search_fields = ["question", "answer", "gig__title"]
    list_select_related = ["gig"]
    raw_id_fields = ["gig"]


@admin.register(GigRequirement)
class GigRequirementAdmin(admin.ModelAdmin):
    """The questions gigs ask at checkout (content, like FAQs): orders keep their own copy of the
    answers, so correcting a question here changes no order."""

    list_display = ["question", "gig", "required", "position"]
    list_filter = ["required"]
    search_fields = ["question", "gig__title", "gig__seller__username"]
    list_select_related = ["gig"]
    raw_id_fields = ["gig"]

    def has_add_permission(self, request):
        # A gig's questions are set together by gig_set_requirements, which checks their number.
        return False
