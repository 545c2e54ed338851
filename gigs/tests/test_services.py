import pytest
from django.core import mail

from gigs import services
from gigs.exceptions import GigIncomplete, InvalidGigTransition
from gigs.models import Gig, Package, SellerProfile, User
from gigs.services import PackageInput
from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from marketplace.exceptions import ValidationFailed

pytestmark = pytest.mark.django_db


def packages(basic=2500, standard=5000, premium=9000, overrides=None):
    rows = []
    for tier, price in zip(Package.TIER_ORDER, (basic, standard, premium), strict=True):
        fields = {
            "name": f"{tier} name",
            "description": f"{tier} includes",
            "price_minor": price,
            "delivery_days": 3,
            "revisions": 1,
        }
        fields.update((overrides or {}).get(tier, {}))
        rows.append(PackageInput(tier=tier, **fields))
    return rows


class TestSignup:
    def test_creates_user_and_seller_profile(self):
        user = services.user_signup(username="zoe", email="Zoe@Example.com", password="x-pass-123", display_name="Zoë")
        assert user.check_password("x-pass-123")
        assert user.seller_profile.display_name == "Zoë"
        assert user.email == "Zoe@example.com"  # the domain part is normalised

    def test_email_is_unique_case_insensitively(self):
        services.user_signup(username="zoe", email="zoe@example.com", password="x-pass-123")
        with pytest.raises(ValidationFailed) as exc:
            services.user_signup(username="zed", email="ZOE@example.com", password="x-pass-123")
        assert "email" in exc.value.errors
        assert User.objects.count() == 1 and SellerProfile.objects.count() == 1


class TestGigCreate:
    def test_slug_is_unique(self):
        seller, category = UserFactory(), CategoryFactory()
        first = services.gig_create(seller=seller, title="I will design a logo", category=category)
        second = services.gig_create(seller=seller, title="I will design a logo", category=category)
        third = services.gig_create(seller=UserFactory(), title="I will design a logo!", category=category)
        assert [first.slug, second.slug, third.slug] == [
            "i-will-design-a-logo",
            "i-will-design-a-logo-2",
            "i-will-design-a-logo-3",
        ]
        assert first.status == Gig.Status.DRAFT and first.milestone_payments is True

    def test_rejects_short_title_and_missing_category(self):
        with pytest.raises(ValidationFailed) as exc:
            services.gig_create(seller=UserFactory(), title="logo", category=None)
        assert set(exc.value.errors) == {"title", "category"}
        assert not Gig.objects.exists()

    def test_renaming_keeps_the_slug(self):
        gig = GigFactory(slug="original-slug")
        services.gig_update_overview(gig=gig, title="A brand new title here", category=gig.category)
        gig.refresh_from_db()
        assert (gig.title, gig.slug) == ("A brand new title here", "original-slug")


class TestPackages:
    def test_sets_three_packages(self):
        gig = GigFactory()
        services.gig_set_packages(gig=gig, packages=packages(), currency="EUR")
        rows = {p.tier: p for p in gig.packages.all()}
        assert {t: p.price_minor for t, p in rows.items()} == {"basic": 2500, "standard": 5000, "premium": 9000}
        assert {p.currency for p in rows.values()} == {"EUR"}
        gig.refresh_from_db()
        assert gig.currency == "EUR"

    def test_replacing_updates_in_place(self):
        gig = GigFactory(priced=True)
        ids = set(gig.packages.values_list("id", flat=True))
        services.gig_set_packages(gig=gig, packages=packages(basic=1000))
        assert set(gig.packages.values_list("id", flat=True)) == ids
        assert gig.packages.get(tier="basic").price_minor == 1000

    @pytest.mark.parametrize("price", [0, -5])
    def test_price_must_be_positive(self, price):
        gig = GigFactory(priced=True)
        with pytest.raises(ValidationFailed) as exc:
            services.gig_set_packages(gig=gig, packages=packages(basic=price, standard=5000))
        assert "packages.basic.price_minor" in exc.value.errors

    def test_higher_package_cannot_be_cheaper(self):
        gig = GigFactory(priced=True)
        before = sorted(gig.packages.values_list("tier", "price_minor"))
        with pytest.raises(ValidationFailed) as exc:
            services.gig_set_packages(gig=gig, packages=packages(basic=5000, standard=4999, premium=6000))
        assert list(exc.value.errors) == ["packages.standard.price_minor"]
        assert "cannot be cheaper than Basic ($50)" in exc.value.errors["packages.standard.price_minor"][0]
        assert sorted(gig.packages.values_list("tier", "price_minor")) == before  # nothing changed

    def test_equal_prices_are_allowed(self):
        gig = GigFactory()
        services.gig_set_packages(gig=gig, packages=packages(basic=3000, standard=3000, premium=3000))
        assert gig.packages.count() == 3

    def test_needs_all_three_tiers(self):
        gig = GigFactory()
        with pytest.raises(ValidationFailed) as exc:
            services.gig_set_packages(gig=gig, packages=packages()[:2])
        assert "packages" in exc.value.errors
        assert not gig.packages.exists()

    def test_rejects_unknown_currency_and_bad_fields(self):
        gig = GigFactory()
        with pytest.raises(ValidationFailed) as exc:
            services.gig_set_packages(
                gig=gig,
                currency="XXX",
                packages=packages(overrides={"premium": {"name": " ", "delivery_days": 0, "revisions": 100}}),
            )
        assert {
            "currency",
            "packages.premium.name",
            "packages.premium.delivery_days",
            "packages.premium.revisions",
        } <= set(exc.value.errors)


class TestDescription:
    def test_replaces_faqs_and_drops_blank_rows(self):
        gig = GigFactory()
        services.gig_set_description(gig=gig, description="New words", faqs=[("Q1?", "A1"), ("", ""), ("Q2?", "A2")])
        assert list(gig.faqs.values_list("question", "position")) == [("Q1?", 0), ("Q2?", 1)]
        services.gig_set_description(gig=gig, description="New words", faqs=[])
        assert not gig.faqs.exists()

    def test_question_without_answer_is_refused_and_changes_nothing(self):
        gig = GigFactory(description="Old description")
        with pytest.raises(ValidationFailed) as exc:
            services.gig_set_description(gig=gig, description="Changed", faqs=[("Q?", "")])
        assert "faqs" in exc.value.errors
        gig.refresh_from_db()
        assert gig.description == "Old description"

    def test_a_live_gig_keeps_a_real_description(self):
        gig = GigFactory(published=True)
        with pytest.raises(ValidationFailed) as exc:
            services.gig_set_description(gig=gig, description="too short", faqs=[])
        assert "description" in exc.value.errors


class TestPublish:
    def test_incomplete_gig_lists_problems(self):
        gig = GigFactory(description="")
        with pytest.raises(GigIncomplete) as exc:
            services.gig_publish(gig=gig)
        assert len(exc.value.problems) == 2  # description and packages
        gig.refresh_from_db()
        assert gig.status == Gig.Status.DRAFT and gig.published_at is None

    def test_publish_emails_seller_once_after_commit(self, django_capture_on_commit_callbacks):
        gig = GigFactory(priced=True)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.gig_publish(gig=gig)
        assert len(callbacks) == 1 and mail.outbox == []  # nothing is sent before commit
        from gigs.tasks import gig_published_email_task

        gig_published_email_task.apply(args=[gig.pk])
        assert [m.to for m in mail.outbox] == [[gig.seller.email]]
        gig.refresh_from_db()
        assert gig.status == Gig.Status.PUBLISHED and gig.published_at is not None

    def test_publish_is_idempotent_and_republish_does_not_email_again(self, django_capture_on_commit_callbacks):
        gig = GigFactory(priced=True)
        with django_capture_on_commit_callbacks(execute=False) as first:
            services.gig_publish(gig=gig)
        gig.refresh_from_db()
        published_at = gig.published_at
        with django_capture_on_commit_callbacks(execute=False) as again:
            services.gig_publish(gig=gig)
            services.gig_pause(gig=gig)
            services.gig_publish(gig=gig)
        gig.refresh_from_db()
        assert (len(first), len(again)) == (1, 0)
        assert gig.published_at == published_at and gig.status == Gig.Status.PUBLISHED

    def test_cannot_pause_a_draft(self):
        gig = GigFactory(priced=True)
        with pytest.raises(InvalidGigTransition):
            services.gig_pause(gig=gig)


class TestGigSave:
    def test_collects_all_errors_and_writes_nothing(self):
        with pytest.raises(ValidationFailed) as exc:
            services.gig_save(
                seller=UserFactory(), title="short", category=CategoryFactory(), packages=packages(basic=0)
            )
        assert {"title", "packages.basic.price_minor"} <= set(exc.value.errors)
        assert not Gig.objects.exists()

    def test_rejected_update_leaves_gig_as_it_was(self):
        gig = GigFactory(priced=True, title="The original title")
        with pytest.raises(ValidationFailed):
            services.gig_save(
                seller=gig.seller, gig=gig, title="A perfectly valid title", packages=packages(standard=1)
            )
        gig.refresh_from_db()
        assert gig.title == "The original title"


def test_title_is_one_line():
    gig = services.gig_create(
        seller=UserFactory(), title="I will do this\nBcc: x@evil.test   thing", category=CategoryFactory()
    )
    assert gig.title == "I will do this Bcc: x@evil.test thing"
