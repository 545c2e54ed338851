"""Buyer projects and custom offers (milestones.project_services, project_selectors): posting,
visibility, offers and their rules, revise / withdraw / decline, the thread, moderation, the
expiry sweep, prefilled plans, accepting (the order's snapshot and fees, the project awarded,
the others told) and what an unpaid order's expiry undoes. Every refusal is checked to change
nothing. Fees come from a fixed `fees_for` here, except in the payments checkout test."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from gigs.models import Package
from gigs.tests.factories import CategoryFactory, GigFactory, UserFactory
from marketplace.exceptions import NotFound, ValidationFailed
from marketplace.money import format_money
from milestones import project_selectors as sel
from milestones import project_services as ps
from milestones.exceptions import (
    InvalidTransition,
    NotModerator,
    OfferExists,
    OfferExpired,
    OfferNotLive,
    OfferPlanInvalid,
    OfferRefused,
    OfferRevised,
    ProjectInvalid,
    ProjectNotOpen,
)
from milestones.models import MilestoneTemplate, Notification, Order, OrderEvent, OrderMilestone
from milestones.order_services import order_activate, order_expire
from milestones.project_models import (
    Offer,
    Project,
    ProjectEvent,
    ProjectInvite,
)
from milestones.project_selectors import OfferMilestoneInput as M
from milestones.project_services import ProjectMilestoneInput
from milestones.services import MilestoneInput, MilestoneTerms, plan_replace, template_save

from .factories import (
    PLAN,
    OfferFactory,
    ProjectFactory,
    accept_offer,
    fixed_fees,
    pin_project_rules,
    post_project,
    project_state,
    seller_in,
    send_offer,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
OS, PS = Offer.Status, Project.Status


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_project_rules(settings, CHECKOUT_EXPIRY_MINUTES=30, SWEEP_BATCH=500)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def category():
    return CategoryFactory()


@pytest.fixture
def project(clock, category):
    return post_project(category=category)


def minimal_project(category, start) -> dict:
    """project_create's arguments for a bare project over ten days from `start`, no sketch."""
    return {
        "buyer": UserFactory(),
        "title": "T",
        "description": "D",
        "category_id": category.pk,
        "budget_min_minor": 10000,
        "start_date": start,
        "deadline": start + timedelta(days=10),
    }


def refused(exc_type, fn, *args, **kwargs):
    """fn(*args, **kwargs) raises exc_type and changes nothing; returns the error."""
    before = project_state()
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    assert project_state() == before
    return info.value


# --- posting a project ---------------------------------------------------------------------------


class TestProjectCreate:
    def test_posts_an_open_project_with_its_sketch_invites_and_attachment(self, clock, category):
        buyer, invited = UserFactory(), UserFactory()
        start = NOW.date() + timedelta(days=2)
        sketch = [
            ProjectMilestoneInput("Design", 4000, start + timedelta(days=5), "Mock-ups"),
            ProjectMilestoneInput("Build", 6000, start + timedelta(days=20)),
        ]
        project = ps.project_create(
            buyer=buyer,
            title="  A shop  ",
            description="Sell cakes online.",
            category_id=category.pk,
            budget_min_minor=30000,
            budget_max_minor=50000,
            currency="EUR",
            start_date=start,
            deadline=start + timedelta(days=30),
            visibility=Project.Visibility.INVITE_ONLY,
            milestones=sketch,
            invited_seller_ids=[invited.pk],
            attachments=[SimpleUploadedFile("brief.pdf", b"%PDF-1", content_type="application/pdf")],
        )
        project.refresh_from_db()
        assert (project.title, project.status, project.currency) == ("A shop", PS.OPEN, "EUR")
        assert (project.budget_min_minor, project.budget_max_minor, project.fixed_budget) == (30000, 50000, False)
        assert [(m.position, m.name, m.share_bps) for m in project.milestones.order_by("position")] == [
            (0, "Design", 4000),
            (1, "Build", 6000),
        ]
        assert list(project.invites.values_list("seller_id", flat=True)) == [invited.pk]
        [attachment] = project.attachments.all()
        assert (attachment.name, attachment.size) == ("brief.pdf", 6)
        assert Notification.objects.get(user=invited).kind == "project_invite"
        assert ProjectEvent.objects.get(project=project).to_status == PS.OPEN

    def test_a_fixed_budget_is_the_minimum_twice(self, clock):
        project = post_project(budget_min_minor=20000, budget_max_minor=None)
        assert (project.budget_min_minor, project.budget_max_minor, project.fixed_budget) == (20000, 20000, True)

    @pytest.mark.parametrize(
        ("change", "key"),
        [
            ({"budget_min_minor": 0}, "budget_min_minor"),
            ({"budget_min_minor": 50000, "budget_max_minor": 40000}, "budget_max_minor"),
            ({"start_date": NOW.date() - timedelta(days=1)}, "start_date"),
            ({"deadline": NOW.date()}, "deadline"),
            ({"title": " "}, "title"),
            ({"currency": "XXX"}, "currency"),
            ({"visibility": "secret"}, "visibility"),
        ],
    )
    def test_field_rules_refuse_and_write_nothing(self, clock, change, key):
        start = NOW.date() + timedelta(days=1)
        kwargs = {
            "buyer": UserFactory(),
            "title": "T",
            "description": "D",
            "category_id": CategoryFactory().pk,
            "budget_min_minor": 10000,
            "budget_max_minor": 20000,
            "start_date": start,
            "deadline": start + timedelta(days=10),
        } | change
        err = refused(ProjectInvalid, ps.project_create, **kwargs)
        assert key in err.errors and err.code == "project_invalid"

    def test_sketch_limits_follow_the_settings_read_at_call_time(self, clock, settings, category):
        start = NOW.date() + timedelta(days=1)
        six = [ProjectMilestoneInput(f"M{i}", 10000 // 6 + (1 if i < 4 else 0), start) for i in range(6)]
        kwargs = minimal_project(category, start)
        err = refused(ProjectInvalid, ps.project_create, milestones=six, **kwargs)
        assert err.errors == {"milestones": ["Sketch 2 to 5 milestones, or none."]}
        settings.MARKETPLACE = {**settings.MARKETPLACE, "MILESTONES_MAX": 6}
        assert ps.project_create(milestones=six, **kwargs).milestones.count() == 6

    def test_sketch_shares_must_make_100_percent_and_dates_fall_in_the_timeline(self, clock, category):
        start = NOW.date() + timedelta(days=1)
        kwargs = minimal_project(category, start)
        err = refused(
            ProjectInvalid,
            ps.project_create,
            milestones=[ProjectMilestoneInput("A", 5000, start), ProjectMilestoneInput("B", 4000, start)],
            **kwargs,
        )
        assert err.errors == {"milestones": ["The shares add up to 90 % of the budget: make them 100 %."]}
        err = refused(
            ProjectInvalid,
            ps.project_create,
            milestones=[
                ProjectMilestoneInput("A", 5000, start + timedelta(days=5)),
                ProjectMilestoneInput("B", 5000, start + timedelta(days=11)),
            ],
            **kwargs,
        )
        assert list(err.errors) == ["milestones.1.target_date"]

    def test_inviting_yourself_is_refused(self, clock, category):
        buyer = UserFactory()
        refused(ProjectInvalid, post_project, buyer=buyer, category=category, invited=[buyer])


# --- visibility -----------------------------------------------------------------------------------


class TestVisibility:
    def test_public_projects_are_open_to_sellers_of_their_category_only(self, project, category):
        inside, outside = seller_in(category), seller_in(CategoryFactory())
        assert [p.pk for p in sel.project_list_for_seller(seller=inside)] == [project.pk]
        assert list(sel.project_list_for_seller(seller=outside)) == []
        assert sel.project_get_for_user(user=inside, project_id=project.pk) == project
        with pytest.raises(NotFound):
            sel.project_get_for_user(user=outside, project_id=project.pk)

    def test_a_draft_gig_does_not_make_a_seller_of_the_category(self, project, category):
        seller = UserFactory()
        GigFactory(seller=seller, category=category)
        assert list(sel.project_list_for_seller(seller=seller)) == []

    def test_invitation_only_projects_are_found_only_by_invited_sellers(self, clock, category):
        invited, other = seller_in(category), seller_in(category)
        project = post_project(category=category, visibility=Project.Visibility.INVITE_ONLY, invited=[invited])
        [row] = sel.project_list_for_seller(seller=invited)
        assert row.pk == project.pk and row.invited is True
        assert list(sel.project_list_for_seller(seller=other)) == []
        with pytest.raises(NotFound):
            sel.project_get_for_user(user=other, project_id=project.pk)
        refused(NotFound, send_offer, project=project, seller=other)

    def test_an_invitation_opens_a_public_project_outside_the_sellers_categories(self, project):
        seller = UserFactory()
        ps.project_invite(buyer=project.buyer, project_id=project.pk, seller_ids=[seller.pk])
        assert [p.pk for p in sel.project_list_for_seller(seller=seller)] == [project.pk]
        # Inviting again changes nothing and notifies once.
        ps.project_invite(buyer=project.buyer, project_id=project.pk, seller_ids=[seller.pk])
        assert ProjectInvite.objects.filter(seller=seller).count() == 1
        assert Notification.objects.filter(user=seller, kind="project_invite").count() == 1

    def test_someone_elses_project_cannot_be_edited_or_invited_to(self, project):
        stranger = UserFactory()
        refused(NotFound, ps.project_invite, buyer=stranger, project_id=project.pk, seller_ids=[])
        refused(NotFound, ps.project_close, actor=stranger, project_id=project.pk)

    def test_own_projects_are_not_listed_to_their_buyer_as_a_seller(self, clock, category):
        buyer = seller_in(category)
        post_project(buyer=buyer, category=category)
        assert list(sel.project_list_for_seller(seller=buyer)) == []

    def test_search_and_filters(self, clock, category):
        seller = seller_in(category)
        cheap = post_project(category=category, title="Logo for a cafe", budget_min_minor=5000, budget_max_minor=8000)
        dear = post_project(
            category=category, description="A large shop with payments", budget_min_minor=90000, budget_max_minor=None
        )
        soon = post_project(category=category, title="Quick fix", days=3)

        def ids(**kw):
            return {p.pk for p in sel.project_list_for_seller(seller=seller, **kw)}

        assert ids(q="cafe logo") == {cheap.pk}
        assert ids(q="SHOP payments") == {dear.pk}
        assert ids(q="cafe shop") == set()
        assert ids(budget_min=85000) == {dear.pk}
        assert ids(budget_max=10000) == {cheap.pk}
        assert ids(deadline_before=NOW.date() + timedelta(days=5)) == {soon.pk}

    def test_past_its_deadline_a_project_takes_no_new_offers_until_the_buyer_moves_it(self, project, clock):
        offered, late = send_offer(project=project).seller, seller_in(project.category)
        clock.move_to(NOW + timedelta(days=32))  # the deadline (start + 30 days) has passed
        assert list(sel.project_list_for_seller(seller=late)) == []
        refused(NotFound, send_offer, project=project, seller=late)
        # The seller with an offer still sees it; the buyer may still accept that offer.
        assert sel.project_get_for_user(user=offered, project_id=project.pk) == project
        ps.project_update(**edit_kwargs(project, deadline=timezone.localdate() + timedelta(days=10)))
        assert [p.pk for p in sel.project_list_for_seller(seller=late)] == [project.pk]
        assert send_offer(project=project, seller=late).status == Offer.Status.LIVE

    def test_closed_and_awarded_projects_leave_the_list_but_stay_visible_to_sellers_with_an_offer(self, project):
        offer = send_offer(project=project)
        other = seller_in(project.category)
        accept_offer(offer)
        assert list(sel.project_list_for_seller(seller=offer.seller)) == []
        assert sel.project_get_for_user(user=offer.seller, project_id=project.pk).status == PS.AWARDED
        with pytest.raises(NotFound):
            sel.project_get_for_user(user=other, project_id=project.pk)


# --- offers -----------------------------------------------------------------------------------


class TestOfferSend:
    def test_sends_a_live_offer_with_its_plan_totals_and_first_revision(self, project):
        offer = send_offer(project=project)
        offer.refresh_from_db()
        assert (offer.status, offer.currency, offer.total_minor, offer.total_days) == (OS.LIVE, "USD", 30000, 6)
        assert offer.expires_at == NOW + timedelta(days=7)
        assert [
            (m.name, m.price_minor, m.delivery_days, m.revisions, m.video_call) for m in offer.milestones.all()
        ] == [
            ("Discovery", 10000, 2, 1, True),
            ("Build", 15000, 3, 2, False),
            ("Launch", 5000, 1, 0, False),
        ]
        [rev] = offer.revisions.all()
        assert (rev.number, rev.total_minor, len(rev.milestones)) == (1, 30000, 3)
        assert Notification.objects.get(user=project.buyer).kind == "offer_received"

    def test_expiry_days_are_the_sellers_choice_within_the_limit(self, project):
        assert send_offer(project=project, expiry_days=2).expires_at == NOW + timedelta(days=2)
        err = refused(OfferPlanInvalid, send_offer, project=project, seller=seller_in(project.category), expiry_days=31)
        assert list(err.errors) == ["expiry_days"]

    @pytest.mark.parametrize(
        ("plan", "key"),
        [
            ([M(f"M{i}", "", 1000, 1) for i in range(6)], "milestones"),
            ([M("A", "", 0, 1), M("B", "", 1000, 1)], "milestones.0.price_minor"),
            ([M("A", "", 400, 1)], "milestones.0.price_minor"),
            ([M("A", "", 1000, 0)], "milestones.0.delivery_days"),
            ([M(" ", "", 1000, 1)], "milestones.0.name"),
            ([M("A", "", 1000, 1, revisions=100)], "milestones.0.revisions"),
            ([], "milestones"),
        ],
    )
    def test_plan_rules_refuse_with_a_code_and_write_nothing(self, project, plan, key):
        seller = seller_in(project.category)
        err = refused(OfferPlanInvalid, send_offer, project=project, seller=seller, plan=plan)
        assert key in err.errors and err.code == "offer_plan_invalid" and err.http_status == 400

    def test_the_least_price_is_worded_in_the_projects_currency(self, project):
        err = refused(OfferPlanInvalid, send_offer, project=project, plan=[M("A", "", 400, 1)])
        assert err.errors["milestones.0.price_minor"] == [
            f"Each milestone costs at least {format_money(500, project.currency)}."
        ]

    def test_the_maximum_is_read_from_the_settings_at_call_time(self, project, settings):
        six = [M(f"M{i}", "", 1000, 1) for i in range(6)]
        refused(OfferPlanInvalid, send_offer, project=project, seller=seller_in(project.category), plan=six)
        settings.MARKETPLACE = {**settings.MARKETPLACE, "MILESTONES_MAX": 6}
        assert send_offer(project=project, plan=six).milestones.count() == 6

    def test_a_single_milestone_offer_is_a_plain_fixed_price_offer(self, project):
        assert send_offer(project=project, plan=[M("All of it", "", 30000, 10)]).total_minor == 30000

    def test_no_offer_on_your_own_project(self, project, category):
        GigFactory(seller=project.buyer, category=category, published=True)
        err = refused(OfferRefused, send_offer, project=project, seller=project.buyer)
        assert err.code == "offer_refused"

    def test_one_live_offer_per_seller_and_project(self, project):
        offer = send_offer(project=project)
        err = refused(OfferExists, send_offer, project=project, seller=offer.seller)
        assert err.code == "offer_exists"

    def test_the_database_allows_one_current_offer_per_seller(self, project):
        offer = send_offer(project=project)
        with pytest.raises(IntegrityError), transaction.atomic():
            Offer.objects.create(
                project=project,
                seller=offer.seller,
                message="x",
                currency="USD",
                total_minor=1,
                total_days=1,
                expires_at=NOW,
            )

    def test_a_withdrawn_offer_may_be_followed_by_a_new_one(self, project):
        offer = send_offer(project=project)
        ps.offer_withdraw(seller=offer.seller, offer_id=offer.pk)
        assert send_offer(project=project, seller=offer.seller).status == OS.LIVE

    def test_no_offer_on_a_closed_project(self, project):
        first = send_offer(project=project)
        ps.project_close(actor=project.buyer, project_id=project.pk)
        # The seller who had an offer still sees the project: they learn it is closed.
        err = refused(ProjectNotOpen, send_offer, project=project, seller=first.seller)
        assert err.code == "project_not_open"
        # A seller who never had one is told nothing about it.
        refused(NotFound, send_offer, project=project, seller=seller_in(project.category))


class TestReviseWithdrawDecline:
    def test_revise_replaces_message_plan_and_expiry_and_keeps_every_version(self, project, clock):
        offer = send_offer(project=project)
        clock.shift(timedelta(days=2))
        ps.offer_revise(
            seller=offer.seller,
            offer_id=offer.pk,
            message="Cheaper.",
            milestones=[M("All", "", 20000, 5)],
            expiry_days=3,
        )
        offer.refresh_from_db()
        assert (offer.message, offer.total_minor, offer.total_days, offer.revision) == ("Cheaper.", 20000, 5, 2)
        assert offer.expires_at == NOW + timedelta(days=5)
        assert [m.name for m in offer.milestones.all()] == ["All"]
        assert list(offer.revisions.values_list("number", "total_minor")) == [(1, 30000), (2, 20000)]
        assert Notification.objects.filter(user=project.buyer, kind="offer_revised").count() == 1

    def test_revise_refusals_change_nothing(self, project):
        offer = send_offer(project=project)
        stranger = seller_in(project.category)
        refused(NotFound, ps.offer_revise, seller=stranger, offer_id=offer.pk, message="x", milestones=PLAN)
        refused(
            OfferPlanInvalid,
            ps.offer_revise,
            seller=offer.seller,
            offer_id=offer.pk,
            message="x",
            milestones=[M("A", "", 0, 1)],
        )
        ps.offer_withdraw(seller=offer.seller, offer_id=offer.pk)
        err = refused(
            OfferNotLive, ps.offer_revise, seller=offer.seller, offer_id=offer.pk, message="x", milestones=PLAN
        )
        assert err.code == "offer_not_live"

    def test_an_offer_past_its_expiry_cannot_be_revised_or_accepted_before_the_sweep(self, project, clock):
        offer = send_offer(project=project, expiry_days=1)
        clock.shift(timedelta(days=1))
        err = refused(
            OfferExpired, ps.offer_revise, seller=offer.seller, offer_id=offer.pk, message="x", milestones=PLAN
        )
        assert err.code == "offer_expired"
        refused(OfferExpired, accept_offer, offer)

    def test_withdraw_is_idempotent_and_refused_once_accepted(self, project):
        offer = send_offer(project=project)
        assert ps.offer_withdraw(seller=offer.seller, offer_id=offer.pk).status == OS.WITHDRAWN
        events = ProjectEvent.objects.count()
        assert ps.offer_withdraw(seller=offer.seller, offer_id=offer.pk).status == OS.WITHDRAWN
        assert ProjectEvent.objects.count() == events
        accepted = send_offer(project=project)
        accept_offer(accepted)
        refused(OfferNotLive, ps.offer_withdraw, seller=accepted.seller, offer_id=accepted.pk)

    def test_decline_by_the_buyer_only(self, project):
        offer = send_offer(project=project)
        refused(NotFound, ps.offer_decline, buyer=offer.seller, offer_id=offer.pk)
        ps.offer_decline(buyer=project.buyer, offer_id=offer.pk, reason="Too slow")
        offer.refresh_from_db()
        assert offer.status == OS.DECLINED and offer.answered_at == NOW
        note = Notification.objects.get(user=offer.seller, kind="offer_declined")
        assert "Too slow" in note.text
        refused(OfferNotLive, accept_offer, offer)


class TestThread:
    def test_the_buyer_and_the_seller_write_and_the_other_is_told(self, project):
        offer = send_offer(project=project)
        ps.offer_message_post(user=project.buyer, offer_id=offer.pk, body="Can you start Monday?")
        ps.offer_message_post(user=offer.seller, offer_id=offer.pk, body="Yes.")
        assert [(m.sender_id, m.body) for m in sel.offer_messages(offer=offer)] == [
            (project.buyer.pk, "Can you start Monday?"),
            (offer.seller.pk, "Yes."),
        ]
        assert Notification.objects.filter(user=offer.seller, kind="offer_message").count() == 1
        assert Notification.objects.filter(user=project.buyer, kind="offer_message").count() == 1
        # Each links to the offer's page, where the thread is (not the project page of every offer).
        urls = set(Notification.objects.filter(kind="offer_message").values_list("url", flat=True))
        assert urls == {f"/projects/{project.pk}/offers/{offer.pk}/"}

    def test_nobody_else_writes_and_an_ended_offers_thread_is_closed(self, project):
        offer = send_offer(project=project)
        refused(NotFound, ps.offer_message_post, user=seller_in(project.category), offer_id=offer.pk, body="Hi")
        refused(ValidationFailed, ps.offer_message_post, user=project.buyer, offer_id=offer.pk, body="  ")
        ps.offer_decline(buyer=project.buyer, offer_id=offer.pk)
        refused(OfferNotLive, ps.offer_message_post, user=offer.seller, offer_id=offer.pk, body="Why?")


class TestOfferVisibility:
    def test_the_buyer_sees_every_offer_a_seller_only_their_own(self, project):
        a, b = send_offer(project=project), send_offer(project=project)
        assert {o.pk for o in sel.offer_list_for_project(user=project.buyer, project=project)} == {a.pk, b.pk}
        assert [o.pk for o in sel.offer_list_for_project(user=a.seller, project=project)] == [a.pk]
        assert sel.offer_get_for_user(user=a.seller, offer_id=a.pk).pk == a.pk
        with pytest.raises(NotFound):
            sel.offer_get_for_user(user=a.seller, offer_id=b.pk)
        with pytest.raises(NotFound):
            sel.offer_get_for_user(user=UserFactory(), offer_id=a.pk)

    def test_comparisons_with_budget_and_deadline(self, clock, category):
        project = post_project(category=category, budget_min_minor=20000, budget_max_minor=25000, days=5)
        cheap_slow = send_offer(project=project, plan=[M("All", "", 20000, 10)])
        dear_fast = send_offer(project=project, plan=[M("All", "", 30000, 3)])
        offers = {o.pk: o for o in sel.offer_list_for_project(user=project.buyer, project=project)}
        start = NOW.date() + timedelta(days=1)
        slow, fast = offers[cheap_slow.pk], offers[dear_fast.pk]
        assert (slow.delivery_date, slow.late, slow.days_late, slow.over_budget) == (
            start + timedelta(days=10),
            True,
            5,
            False,
        )
        assert (fast.delivery_date, fast.late, fast.over_budget, fast.over_budget_minor) == (
            start + timedelta(days=3),
            False,
            True,
            5000,
        )
        assert [m.name for m in fast.milestones.all()] == ["All"]

    def test_a_removed_offer_is_hidden_from_the_buyer_not_from_its_seller(self, project):
        offer = send_offer(project=project)
        ps.offer_remove(moderator=UserFactory(is_staff=True, is_superuser=True), offer_id=offer.pk, reason="Spam")
        assert sel.offer_list_for_project(user=project.buyer, project=project) == []
        assert [o.status for o in sel.offer_list_for_project(user=offer.seller, project=project)] == [OS.REMOVED]
        with pytest.raises(NotFound):
            sel.offer_get_for_user(user=project.buyer, offer_id=offer.pk)


# --- moderation -----------------------------------------------------------------------------------


def moderator(perm: str):
    user = UserFactory(is_staff=True)
    app, codename = perm.split(".")
    user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return type(user).objects.get(pk=user.pk)  # fresh permission cache


class TestModeration:
    def test_a_moderator_closes_a_project_with_a_reason_and_its_offers_end(self, project):
        offer = send_offer(project=project)
        mod = moderator("milestones.change_project")
        refused(ValidationFailed, ps.project_close, actor=mod, project_id=project.pk, reason=" ")
        ps.project_close(actor=mod, project_id=project.pk, reason="Against the rules")
        project.refresh_from_db()
        offer.refresh_from_db()
        assert (project.status, project.closed_by, project.closed_reason) == (PS.CLOSED, mod, "Against the rules")
        assert offer.status == OS.NOT_SELECTED
        assert Notification.objects.filter(user=project.buyer, kind="project_closed").count() == 1
        assert Notification.objects.filter(user=offer.seller, kind="offer_not_selected").count() == 1

    def test_staff_without_the_permission_is_nobody(self, project):
        refused(NotFound, ps.project_close, actor=UserFactory(is_staff=True), project_id=project.pk, reason="x")
        offer = send_offer(project=project)
        refused(NotModerator, ps.offer_remove, moderator=UserFactory(is_staff=True), offer_id=offer.pk, reason="x")

    def test_the_buyer_closes_an_open_project_not_an_awarded_one(self, project):
        offer = send_offer(project=project)
        accept_offer(offer)
        refused(ProjectNotOpen, ps.project_close, actor=project.buyer, project_id=project.pk)

    def test_offer_remove_needs_a_reason_and_leaves_accepted_offers_alone(self, project):
        mod = moderator("milestones.change_offer")
        offer = send_offer(project=project)
        refused(ValidationFailed, ps.offer_remove, moderator=mod, offer_id=offer.pk, reason="")
        accept_offer(offer)
        refused(InvalidTransition, ps.offer_remove, moderator=mod, offer_id=offer.pk, reason="Spam")


# --- the expiry sweep -----------------------------------------------------------------------------


class TestExpirySweep:
    def test_expires_live_offers_past_their_expiry_only_and_tells_their_sellers(self, project, clock):
        due = [send_offer(project=project, expiry_days=1) for _ in range(3)]
        later = send_offer(project=project, expiry_days=3)
        withdrawn = send_offer(project=project, expiry_days=1)
        ps.offer_withdraw(seller=withdrawn.seller, offer_id=withdrawn.pk)
        clock.shift(timedelta(days=1))

        assert ps.offers_expire_sweep(batch=2) == 3
        assert {o.pk: o.status for o in Offer.objects.all()} == {
            **{o.pk: OS.EXPIRED for o in due},
            later.pk: OS.LIVE,
            withdrawn.pk: OS.WITHDRAWN,
        }
        assert Notification.objects.filter(kind="offer_expired").count() == 3
        assert ProjectEvent.objects.filter(to_status=OS.EXPIRED).count() == 3
        # Again: nothing left to do.
        assert ps.offers_expire_sweep() == 0

    def test_the_beat_schedule_runs_the_sweep(self, settings):
        assert (
            settings.CELERY_BEAT_SCHEDULE["offers-expire-sweep"]["task"] == "milestones.tasks.offers_expire_sweep_task"
        )
        from milestones.tasks import offers_expire_sweep_task

        assert offers_expire_sweep_task.name == "milestones.tasks.offers_expire_sweep_task"

    def test_the_task_runs_the_sweep(self, project, clock):
        from milestones.tasks import offers_expire_sweep_task

        offer = send_offer(project=project, expiry_days=1)
        clock.shift(timedelta(days=1, seconds=1))
        assert offers_expire_sweep_task() == 1
        assert Offer.objects.get(pk=offer.pk).status == OS.EXPIRED


# --- prefilled plans ------------------------------------------------------------------------------


class TestPrefill:
    def test_from_an_own_template_with_the_chosen_package_terms(self, clock):
        seller = UserFactory()
        template = template_save(
            owner=seller,
            name="Mine",
            milestones=[
                MilestoneInput(
                    "Sketch",
                    "Ideas",
                    True,
                    {"basic": MilestoneTerms(1000, 2, 1), "premium": MilestoneTerms(3000, 4, 2)},
                ),
                MilestoneInput("Final", "", False, {"basic": MilestoneTerms(2000, 3, 0)}),
            ],
        )
        assert sel.offer_prefill_from_template(seller=seller, template_id=template.pk, tier="premium") == [
            M("Sketch", "Ideas", 3000, 4, 2, True),
            M("Final", "", 2000, 3, 0, False),
        ]
        with pytest.raises(NotFound):
            sel.offer_prefill_from_template(seller=UserFactory(), template_id=template.pk)
        builtin = MilestoneTemplate.objects.filter(owner__isnull=True).first()
        assert builtin is not None and sel.offer_prefill_from_template(seller=UserFactory(), template_id=builtin.pk)

    def test_from_an_own_gig_package(self, clock):
        gig = GigFactory(published=True, milestone_payments=True)
        plan_replace(
            gig=gig,
            milestones=[
                MilestoneInput(
                    "One",
                    "First",
                    False,
                    {t: MilestoneTerms(1000 * (i + 1), 2, 1) for i, t in enumerate(Package.TIER_ORDER)},
                ),
                MilestoneInput(
                    "Two", "", True, {t: MilestoneTerms(2000 * (i + 1), 3, 0) for i, t in enumerate(Package.TIER_ORDER)}
                ),
            ],
            milestone_payments=True,
        )
        assert sel.offer_prefill_from_gig(seller=gig.seller, gig_id=gig.pk, tier="standard") == [
            M("One", "First", 2000, 2, 1, False),
            M("Two", "", 4000, 3, 0, True),
        ]
        with pytest.raises(NotFound):
            sel.offer_prefill_from_gig(seller=UserFactory(), gig_id=gig.pk, tier="standard")
        with pytest.raises(NotFound):
            sel.offer_prefill_from_gig(seller=gig.seller, gig_id=gig.pk, tier="gold")


# --- accepting ------------------------------------------------------------------------------------


class TestAccept:
    def test_places_an_unpaid_order_with_the_offers_snapshot_and_fees(self, project):
        offer = send_offer(project=project)
        token = uuid.uuid4()
        order, created = ps.order_place_from_offer(
            buyer=project.buyer, offer_id=offer.pk, checkout_token=token, fees_for=fixed_fees
        )
        assert created
        order.refresh_from_db()
        assert (order.status, order.buyer, order.seller, order.gig, order.offer) == (
            Order.Status.PENDING_PAYMENT,
            project.buyer,
            offer.seller,
            None,
            offer,
        )
        assert (order.gig_title, order.package_tier, order.package_name, order.milestone_payments) == (
            project.title,
            "custom",
            "Custom offer",
            True,
        )
        assert (order.subtotal_minor, order.service_fee_minor, order.small_order_fee_minor, order.total_minor) == (
            30000,
            3000,
            300,
            33300,
        )
        assert order.commission_bps == 2000 and order.expires_at == NOW + timedelta(minutes=30)
        assert order.requirements == [{"question": "Project brief", "answer": project.description, "required": False}]
        assert [
            (m.position, m.name, m.description, m.price_minor, m.delivery_days, m.revisions, m.video_call, m.status)
            for m in order.milestones.order_by("position")
        ] == [
            (0, "Discovery", "Workshop and brief.", 10000, 2, 1, True, OrderMilestone.Status.LOCKED),
            (1, "Build", "The site, built.", 15000, 3, 2, False, OrderMilestone.Status.LOCKED),
            (2, "Launch", "Live and handed over.", 5000, 1, 0, False, OrderMilestone.Status.LOCKED),
        ]
        assert OrderEvent.objects.get(order=order).reason == f"placed from offer #{offer.pk} (version 1)"

    def test_the_order_keeps_the_whole_brief(self, clock, category):
        brief = "We need a shop. " * 300  # 4,800 characters: more than a gig's requirement answer
        project = post_project(category=category, description=brief)
        order = accept_offer(send_offer(project=project))
        assert order.requirements == [{"question": "Project brief", "answer": brief.strip(), "required": False}]

    def test_closes_the_project_and_tells_the_other_sellers(self, project):
        chosen, other, gone = send_offer(project=project), send_offer(project=project), send_offer(project=project)
        ps.offer_withdraw(seller=gone.seller, offer_id=gone.pk)
        order = accept_offer(chosen)
        project.refresh_from_db()
        assert project.status == PS.AWARDED
        assert {o.pk: o.status for o in Offer.objects.all()} == {
            chosen.pk: OS.ACCEPTED,
            other.pk: OS.NOT_SELECTED,
            gone.pk: OS.WITHDRAWN,
        }
        assert Notification.objects.filter(user=other.seller, kind="offer_not_selected").count() == 1
        assert not Notification.objects.filter(user=gone.seller, kind="offer_not_selected").exists()
        assert Notification.objects.get(user=chosen.seller, kind="offer_accepted").text.endswith(
            f"order #{order.pk} waits for the buyer's payment."
        )
        # No new offers on an awarded project.
        refused(NotFound, send_offer, project=project, seller=seller_in(project.category))
        refused(ProjectNotOpen, send_offer, project=project, seller=gone.seller)

    def test_accepting_twice_gives_the_same_order(self, project):
        offer = send_offer(project=project)
        order = accept_offer(offer)
        before = project_state()
        again, created = ps.order_place_from_offer(
            buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4(), fees_for=fixed_fees
        )
        assert (again.pk, created) == (order.pk, False)
        assert project_state() == before

    def test_the_same_token_gives_the_same_order(self, project):
        offer, token = send_offer(project=project), uuid.uuid4()
        order = accept_offer(offer, token=token)
        assert accept_offer(offer, token=token).pk == order.pk

    def test_a_second_offer_of_an_awarded_project_cannot_be_accepted(self, project):
        a, b = send_offer(project=project), send_offer(project=project)
        accept_offer(a)
        refused(OfferNotLive, accept_offer, b)  # not selected now

    def test_a_version_revised_since_the_buyer_saw_it_is_refused(self, project):
        offer = send_offer(project=project)
        ps.offer_revise(seller=offer.seller, offer_id=offer.pk, message="Dearer now.", milestones=PLAN[:2])
        err = refused(
            OfferRevised,
            ps.order_place_from_offer,
            buyer=project.buyer,
            offer_id=offer.pk,
            checkout_token=uuid.uuid4(),
            fees_for=fixed_fees,
            revision=1,
        )
        assert (err.code, err.http_status) == ("offer_revised", 409) and "version 2" in err.message
        order, created = ps.order_place_from_offer(
            buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4(), fees_for=fixed_fees, revision=2
        )
        assert created and order.subtotal_minor == 25000

    def test_only_the_buyer_accepts(self, project):
        offer = send_offer(project=project)
        refused(
            NotFound,
            ps.order_place_from_offer,
            buyer=offer.seller,
            offer_id=offer.pk,
            checkout_token=uuid.uuid4(),
            fees_for=fixed_fees,
        )

    def test_the_database_allows_one_unpaid_order_per_offer(self, project):
        order = accept_offer(send_offer(project=project))
        with pytest.raises(IntegrityError), transaction.atomic():
            Order.objects.create(
                **{
                    f.attname: getattr(order, f.attname)
                    for f in Order._meta.concrete_fields
                    if f.attname not in ("id", "checkout_token")
                },
                checkout_token=uuid.uuid4(),
            )

    def test_the_order_runs_the_same_lifecycle_once_paid(self, project):
        order = accept_offer(send_offer(project=project))
        with transaction.atomic():
            order_activate(order_id=order.pk, reason="paid")
        order.refresh_from_db()
        first = order.milestones.get(position=0)
        assert order.status == Order.Status.ACTIVE and first.status == OrderMilestone.Status.IN_PROGRESS
        assert first.due_at == NOW + timedelta(days=2)
        assert Project.objects.get(pk=project.pk).status == PS.AWARDED


class TestOrderExpiry:
    def test_an_unpaid_order_reopens_the_project_and_its_offers_go_live_again(self, project, clock):
        chosen, other = send_offer(project=project), send_offer(project=project)
        order = accept_offer(chosen)
        clock.shift(timedelta(minutes=31))
        with transaction.atomic():
            _, changed = order_expire(order_id=order.pk)
        assert changed
        assert Project.objects.get(pk=project.pk).status == PS.OPEN
        assert {o.pk: o.status for o in Offer.objects.all()} == {chosen.pk: OS.LIVE, other.pk: OS.LIVE}
        assert Notification.objects.filter(user=chosen.seller, kind="offer_order_expired").count() == 1
        assert Notification.objects.filter(user=other.seller, kind="offer_live_again").count() == 1
        # It can be accepted again: a new order (the expired one stays expired).
        second = accept_offer(chosen)
        assert second.pk != order.pk and second.status == Order.Status.PENDING_PAYMENT
        assert Offer.objects.get(pk=other.pk).status == OS.NOT_SELECTED

    def test_offers_past_their_expiry_end_expired_instead(self, project, clock):
        chosen = send_offer(project=project, expiry_days=1)
        other = send_offer(project=project, expiry_days=1)
        order = accept_offer(chosen)
        clock.shift(timedelta(days=1))
        with transaction.atomic():
            order_expire(order_id=order.pk)
        assert Project.objects.get(pk=project.pk).status == PS.OPEN
        assert {o.pk: o.status for o in Offer.objects.all()} == {chosen.pk: OS.EXPIRED, other.pk: OS.EXPIRED}

    def test_a_payment_after_the_expiry_accepts_the_offer_again(self, project, clock):
        chosen, other = send_offer(project=project), send_offer(project=project)
        order = accept_offer(chosen)
        clock.shift(timedelta(minutes=31))
        with transaction.atomic():
            order_expire(order_id=order.pk)
            order_activate(order_id=order.pk, reason="paid late")
        assert Order.objects.get(pk=order.pk).status == Order.Status.ACTIVE
        assert Project.objects.get(pk=project.pk).status == PS.AWARDED
        assert {o.pk: o.status for o in Offer.objects.all()} == {chosen.pk: OS.ACCEPTED, other.pk: OS.NOT_SELECTED}


# --- payments' entry point ------------------------------------------------------------------------


class TestCheckoutAcceptOffer:
    def test_uses_the_platform_fees_and_the_usual_payment(self, project, settings):
        from payments import services as payments
        from payments.fees import order_fees

        offer = send_offer(project=project)
        order, created = payments.checkout_accept_offer(
            buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4()
        )
        fees = order_fees(30000, "USD")
        assert created
        assert (order.service_fee_minor, order.small_order_fee_minor, order.commission_bps) == (
            fees.service_fee_minor,
            fees.small_order_fee_minor,
            fees.commission_bps,
        )
        assert order.total_minor == 30000 + fees.service_fee_minor + fees.small_order_fee_minor
        payment = payments.payment_start(order=order)
        assert payment.amount_minor == order.total_minor
        assert payments.payment_start(order=order).pk == payment.pk


def test_factories_build_offers_in_each_state(clock):
    assert ProjectFactory().status == PS.OPEN
    assert ProjectFactory(invite_only=True).visibility == Project.Visibility.INVITE_ONLY
    assert OfferFactory().status == OS.LIVE
    assert OfferFactory(accepted=True).status == OS.ACCEPTED
    assert OfferFactory(withdrawn=True).status == OS.WITHDRAWN
    assert OfferFactory(declined=True).status == OS.DECLINED


# --- query counts -------------------------------------------------------------------------------


def count_queries(fn) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


class TestQueryCounts:
    def test_project_list_for_seller_runs_one_query_at_1_and_at_many_rows(self, clock, category):
        seller = seller_in(category)

        def read():
            return [
                (p.buyer.public_name, p.category.name, p.live_offer_count, p.invited, p.my_offer_status)
                for p in sel.project_list_for_seller(seller=seller, q="website", budget_min=1000)
            ]

        first = post_project(category=category, title="A website")
        send_offer(project=first, seller=seller)
        assert len(read()) == 1
        one = count_queries(read)
        for i in range(6):
            p = post_project(category=category, title=f"Website {i}")
            send_offer(project=p)
            if i % 2:
                ps.project_invite(buyer=p.buyer, project_id=p.pk, seller_ids=[seller.pk])
        rows = read()
        assert len(rows) == 7 and rows[-1][2:] == (1, False, OS.LIVE)  # the oldest: this seller's offer
        assert [r[3] for r in rows].count(True) == 3
        assert count_queries(read) == one == 1

    def test_offer_list_for_project_runs_two_queries_at_1_and_at_many_offers(self, project):
        def read():
            return [
                (o.seller.public_name, [m.name for m in o.milestones.all()], o.over_budget, o.late, o.delivery_date)
                for o in sel.offer_list_for_project(user=project.buyer, project=project)
            ]

        send_offer(project=project)
        assert len(read()) == 1
        one = count_queries(read)
        for _ in range(5):
            send_offer(project=project)
        assert len(read()) == 6
        assert count_queries(read) == one == 2

    def test_project_list_for_buyer_runs_one_query(self, clock, category):
        buyer = UserFactory()

        def read():
            return [(p.category.name, p.live_offer_count) for p in sel.project_list_for_buyer(buyer=buyer)]

        send_offer(project=post_project(buyer=buyer, category=category))
        assert read() == [(category.name, 1)]
        one = count_queries(read)
        for _ in range(4):
            send_offer(project=post_project(buyer=buyer, category=category))
        assert len(read()) == 5 and count_queries(read) == one == 1


# --- an offer's order on the existing order pages and API (Order.gig is empty) --------------------


class TestOfferOrderPages:
    @pytest.fixture
    def paid(self, project):
        from payments import services as payments
        from payments.tests.factories import pay

        offer = send_offer(project=project)
        order, _ = payments.checkout_accept_offer(buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4())
        pay(order)
        order.refresh_from_db()
        assert order.status == Order.Status.ACTIVE
        return order

    def test_the_pay_page_works_unchanged(self, project, client):
        from django.urls import reverse

        order = accept_offer(send_offer(project=project))
        client.force_login(project.buyer)
        page = client.get(reverse("order-pay", args=[order.pk]))
        assert page.status_code == 200
        assert project.title in page.content.decode()

    def test_order_pages_for_buyer_and_seller(self, paid, client):
        from django.urls import reverse

        for user, list_page in ((paid.buyer, "my-orders"), (paid.seller, "orders-received")):
            client.force_login(user)
            for url in (
                reverse("order-detail", args=[paid.pk]),
                reverse(list_page),
                reverse("order-workspace", args=[paid.pk]),
            ):
                page = client.get(url)
                assert page.status_code == 200, url
                assert paid.gig_title in page.content.decode(), url
        client.force_login(paid.buyer)
        receipt = client.get(reverse("order-receipt", args=[paid.pk]))
        assert receipt.status_code == 200 and "Custom offer" in receipt.content.decode()

    def test_the_orders_api(self, paid, api_client):
        api_client.force_authenticate(paid.buyer)
        detail = api_client.get(f"/api/orders/{paid.pk}/")
        assert detail.status_code == 200
        assert (detail.json()["gig"], detail.json()["package_tier"], detail.json()["gig_title"]) == (
            None,
            "custom",
            paid.gig_title,
        )
        listing = api_client.get("/api/orders/")
        assert listing.status_code == 200 and listing.json()["results"][0]["id"] == paid.pk


# --- editing a project ----------------------------------------------------------------------------


def edit_kwargs(project: Project, **change) -> dict:
    return {
        "buyer": project.buyer,
        "project_id": project.pk,
        "title": project.title,
        "description": project.description,
        "category_id": project.category_id,
        "budget_min_minor": project.budget_min_minor,
        "budget_max_minor": project.budget_max_minor,
        "currency": project.currency,
        "start_date": project.start_date,
        "deadline": project.deadline,
        "visibility": project.visibility,
    } | change


class TestProjectUpdate:
    def test_the_buyer_edits_an_open_project_and_offers_compare_with_the_new_budget(self, project):
        offer = send_offer(project=project)  # $300 against $250-$400
        start = project.start_date
        ps.project_update(
            **edit_kwargs(
                project,
                budget_min_minor=10000,
                budget_max_minor=20000,
                milestones=[ProjectMilestoneInput("A", 5000, start), ProjectMilestoneInput("B", 5000, start)],
            )
        )
        project.refresh_from_db()
        assert (project.budget_min_minor, project.budget_max_minor, project.milestones.count()) == (10000, 20000, 2)
        [compared] = sel.offer_list_for_project(user=project.buyer, project=project)
        assert (compared.pk, compared.over_budget, compared.over_budget_minor) == (offer.pk, True, 10000)
        assert ProjectEvent.objects.filter(project=project, reason="edited").count() == 1

    def test_refusals_change_nothing(self, project):
        refused(NotFound, ps.project_update, **edit_kwargs(project, buyer=UserFactory()))
        refused(ProjectInvalid, ps.project_update, **edit_kwargs(project, budget_min_minor=0))
        send_offer(project=project)
        err = refused(ProjectInvalid, ps.project_update, **edit_kwargs(project, currency="EUR"))
        assert list(err.errors) == ["currency"]
        ps.project_close(actor=project.buyer, project_id=project.pk)
        refused(ProjectNotOpen, ps.project_update, **edit_kwargs(project, title="New"))

    def test_a_stored_start_date_may_stay_in_the_past(self, project, clock):
        clock.shift(timedelta(days=3))
        ps.project_update(**edit_kwargs(project, title="Still the same start"))
        assert Project.objects.get(pk=project.pk).title == "Still the same start"

    def test_attachments_are_added_within_the_upload_limits(self, project, settings):
        settings.MARKETPLACE = {**settings.MARKETPLACE, "UPLOAD_MAX_FILES": 2}
        pdf = SimpleUploadedFile("a.pdf", b"%PDF", content_type="application/pdf")
        assert [a.name for a in ps.project_attachment_add(buyer=project.buyer, project_id=project.pk, files=[pdf])] == [
            "a.pdf"
        ]
        exe = SimpleUploadedFile("run.exe", b"MZ")
        refused(ProjectInvalid, ps.project_attachment_add, buyer=project.buyer, project_id=project.pk, files=[exe])
        two = [SimpleUploadedFile(f"{i}.pdf", b"%PDF") for i in range(2)]
        refused(ProjectInvalid, ps.project_attachment_add, buyer=project.buyer, project_id=project.pk, files=two)


class TestCheckoutAcceptOfferRules:
    def test_a_provider_with_onboarding_needs_a_seller_who_can_receive(self, project, monkeypatch):
        from payments import services as payments
        from payments.exceptions import SellerCannotReceive
        from payments.models import ConnectedAccount

        class Onboarding:
            requires_onboarding = True

        offer = send_offer(project=project)
        monkeypatch.setattr(payments, "gateway", Onboarding)
        err = refused(
            SellerCannotReceive,
            payments.checkout_accept_offer,
            buyer=project.buyer,
            offer_id=offer.pk,
            checkout_token=uuid.uuid4(),
        )
        assert err.code == "seller_cannot_receive"
        ConnectedAccount.objects.create(user=offer.seller, stripe_account_id="acct_1", transfers_active=True)
        order, created = payments.checkout_accept_offer(
            buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4()
        )
        assert created and order.offer_id == offer.pk

    def test_accepting_again_after_the_window_closed_expires_the_old_order_and_places_a_new_one(self, project, clock):
        from payments import services as payments

        offer, other = send_offer(project=project), send_offer(project=project)
        first, _ = payments.checkout_accept_offer(buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4())
        payments.payment_start(order=first)
        clock.shift(timedelta(minutes=31))
        second, created = payments.checkout_accept_offer(
            buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4()
        )
        assert created and second.pk != first.pk
        assert Order.objects.get(pk=first.pk).status == Order.Status.EXPIRED
        assert {o.pk: o.status for o in Offer.objects.all()} == {offer.pk: OS.ACCEPTED, other.pk: OS.NOT_SELECTED}
        assert Project.objects.get(pk=project.pk).status == PS.AWARDED

    def test_the_payments_expiry_sweep_reopens_the_project(self, project, clock):
        from payments import services as payments

        offer = send_offer(project=project)
        order, _ = payments.checkout_accept_offer(buyer=project.buyer, offer_id=offer.pk, checkout_token=uuid.uuid4())
        clock.shift(timedelta(minutes=31))
        assert payments.orders_expire_sweep() == 1
        assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED
        assert Project.objects.get(pk=project.pk).status == PS.OPEN
        assert Offer.objects.get(pk=offer.pk).status == OS.LIVE

    def test_a_late_payment_does_not_accept_an_offer_the_seller_replaced(self, project, clock):
        offer = send_offer(project=project, expiry_days=1)
        order = accept_offer(offer)
        clock.shift(timedelta(days=1))
        with transaction.atomic():
            order_expire(order_id=order.pk)
        assert Offer.objects.get(pk=offer.pk).status == OS.EXPIRED
        newer = send_offer(project=project, seller=offer.seller)
        with transaction.atomic():
            order_activate(order_id=order.pk, reason="paid late")
        assert Order.objects.get(pk=order.pk).status == Order.Status.ACTIVE
        assert {o.pk: o.status for o in Offer.objects.all()} == {offer.pk: OS.EXPIRED, newer.pk: OS.LIVE}
        assert ProjectEvent.objects.filter(offer=offer, reason__contains="paid after it had expired").count() == 1
