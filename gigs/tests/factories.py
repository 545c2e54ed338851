import factory
from factory.django import DjangoModelFactory

from gigs.models import Category, Gig, GigFaq, Package, SellerProfile, User
from gigs.services import gig_refresh_listing

PRICES = {Package.Tier.BASIC: (2500, 3, 1), Package.Tier.STANDARD: (5000, 5, 2), Package.Tier.PREMIUM: (9000, 7, 3)}


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pass-word-123")
    profile = factory.RelatedFactory("gigs.tests.factories.SellerProfileFactory", factory_related_name="user")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class SellerProfileFactory(DjangoModelFactory):
    class Meta:
        model = SellerProfile

    display_name = factory.LazyAttribute(lambda p: p.user.username.title())


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class GigFactory(DjangoModelFactory):
    """A draft gig with no packages, sold as plain packages (milestone payments off; the
    milestones app's tests build plans). Traits: `priced` adds the three packages, `published`
    also publishes it (with a description long enough)."""

    class Meta:
        model = Gig
        skip_postgeneration_save = True

    seller = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"I will do task number {n} for you")
    slug = factory.Sequence(lambda n: f"gig-{n}")
    category = factory.SubFactory(CategoryFactory)
    description = "A complete description of the work, long enough to be published on the site."
    milestone_payments = False

    class Params:
        priced = factory.Trait(
            packages=factory.RelatedFactoryList(
                "gigs.tests.factories.PackageFactory",
                factory_related_name="gig",
                size=3,
                tier=factory.Iterator(Package.TIER_ORDER),
            )
        )
        published = factory.Trait(
            priced=True,
            status=Gig.Status.PUBLISHED,
            published_at=factory.Faker("date_time_this_year", tzinfo=__import__("datetime").timezone.utc),
        )


class PackageFactory(DjangoModelFactory):
    """Writes a package row directly, then refreshes the gig's stored starting price as the
    services do."""

    class Meta:
        model = Package

    gig = factory.SubFactory(GigFactory)
    tier = Package.Tier.BASIC
    name = factory.LazyAttribute(lambda p: f"{p.tier.title()} package")
    description = "What this package includes."
    price_minor = factory.LazyAttribute(lambda p: PRICES[p.tier][0])
    currency = "USD"
    delivery_days = factory.LazyAttribute(lambda p: PRICES[p.tier][1])
    revisions = factory.LazyAttribute(lambda p: PRICES[p.tier][2])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        package = super()._create(model_class, *args, **kwargs)
        gig_refresh_listing(gig=package.gig)
        return package


class GigFaqFactory(DjangoModelFactory):
    class Meta:
        model = GigFaq

    gig = factory.SubFactory(GigFactory)
    question = "Do you offer refunds?"
    answer = "Unreleased milestones are refunded."
