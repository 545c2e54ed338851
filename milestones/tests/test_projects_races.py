"""Races on accepting custom offers, on real PostgreSQL with real concurrent transactions
(threads released together, each with its own connection; payments.tests.test_races.race).

Each test ends with exactly one effect: one order for one offer however many accept it at once,
one order for a project whose offers are accepted at once, one payment, one offer per seller,
each due offer expired once, and an order that the expiry sweep and the buyer's card race on
either funded once (offer accepted, project awarded) or expired (project open, offer live).
"""

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from milestones import project_services as ps
from milestones.exceptions import OfferExists, OfferNotLive, ProjectNotOpen
from milestones.models import Order, OrderEvent
from milestones.project_models import Offer, Project, ProjectEvent
from payments import ledger, services
from payments.gateways import gateway
from payments.gateways.local import CARD_SUCCEEDS
from payments.models import LedgerTransaction, LocalPaymentIntent, Payment
from payments.tests.factories import process_inbox
from payments.tests.test_races import THREADS, assert_funded_exactly_once, race, stagger

from .factories import PLAN, post_project, seller_in, send_offer

pytestmark = pytest.mark.django_db(transaction=True)

OS, PS = Offer.Status, Project.Status


def accept(offer: Offer, token: uuid.UUID | None = None):
    return services.checkout_accept_offer(
        buyer=offer.project.buyer, offer_id=offer.pk, checkout_token=token or uuid.uuid4()
    )


def test_20_acceptances_of_one_offer_place_one_order_and_one_payment():
    project = post_project()
    offer, other = send_offer(project=project), send_offer(project=project)
    offer = Offer.objects.select_related("project__buyer").get(pk=offer.pk)

    def work(_: int) -> tuple[int, bool]:
        order, created = accept(offer)
        return order.pk, created

    results = race(THREADS, work)

    order = Order.objects.get()
    assert {pk for pk, _ in results} == {order.pk}
    assert [created for _, created in results].count(True) == 1
    assert (order.offer_id, order.status, order.milestones.count()) == (offer.pk, Order.Status.PENDING_PAYMENT, 3)
    assert OrderEvent.objects.filter(order=order).count() == 1
    assert ProjectEvent.objects.filter(offer=offer, to_status=OS.ACCEPTED).count() == 1
    assert ProjectEvent.objects.filter(offer=other, to_status=OS.NOT_SELECTED).count() == 1
    assert Project.objects.get(pk=project.pk).status == PS.AWARDED

    payments = race(THREADS, lambda _: services.payment_start(order=order).pk)
    assert len(set(payments)) == 1 and Payment.objects.count() == 1
    payment = Payment.objects.get()
    assert gateway().submit_card(payment.provider_payment_id, CARD_SUCCEEDS).status == "succeeded"
    process_inbox()
    assert_funded_exactly_once(order)


def test_two_offers_of_one_project_accepted_at_once_give_one_order():
    project = post_project()
    offers = [send_offer(project=project), send_offer(project=project)]
    offers = [Offer.objects.select_related("project__buyer").get(pk=o.pk) for o in offers]

    def work(i: int):
        try:
            order, created = accept(offers[i % 2])
        except (ProjectNotOpen, OfferNotLive) as exc:
            return exc.code
        return ("order", order.pk, created)

    results = race(THREADS, work)

    order = Order.objects.get()
    won = Offer.objects.get(status=OS.ACCEPTED)
    assert order.offer_id == won.pk
    assert Offer.objects.exclude(pk=won.pk).get().status == OS.NOT_SELECTED
    placed = [r for r in results if isinstance(r, tuple)]
    assert {r[1] for r in placed} == {order.pk} and [r[2] for r in placed].count(True) == 1
    # Every thread that asked for the winning offer got its order; every one that asked for the
    # other was refused with a clear code.
    for i, result in enumerate(results):
        if offers[i % 2].pk == won.pk:
            assert isinstance(result, tuple)
        else:
            assert result in ("offer_not_live", "project_not_open")
    assert Project.objects.get(pk=project.pk).status == PS.AWARDED


def test_20_sends_by_one_seller_make_one_offer():
    project = post_project()
    seller = seller_in(project.category)

    def work(_: int):
        try:
            return ps.offer_send(seller=seller, project_id=project.pk, message="Hi", milestones=PLAN).pk
        except OfferExists as exc:
            return exc.code

    results = race(THREADS, work)

    offer = Offer.objects.get()
    assert Counter(results) == {offer.pk: 1, "offer_exists": THREADS - 1}
    assert offer.milestones.count() == 3 and offer.revisions.count() == 1


def test_concurrent_expiry_sweeps_expire_each_offer_once():
    project = post_project()
    offers = [send_offer(project=project, expiry_days=1) for _ in range(12)]
    Offer.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    counts = race(8, lambda _: ps.offers_expire_sweep(batch=3))

    assert sum(counts) == len(offers)
    assert set(Offer.objects.values_list("status", flat=True)) == {OS.EXPIRED}
    assert ProjectEvent.objects.filter(to_status=OS.EXPIRED).count() == len(offers)


def test_the_order_expiry_sweep_racing_with_the_card_leaves_each_project_consistent():
    """Offer orders past their window: the buyer's card and the expiry sweep race. Charged =
    funded once, the offer accepted and the project awarded; not charged = the order expired, the
    project open again and the offer live (the other offer back too)."""
    pairs = []
    for _ in range(THREADS // 2):
        project = post_project()
        chosen, other = send_offer(project=project), send_offer(project=project)
        order, _ = accept(Offer.objects.select_related("project__buyer").get(pk=chosen.pk))
        pairs.append((order, services.payment_start(order=order), chosen, other))
    Order.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    def work(i: int) -> str | None:
        stagger(i, step=0.025)
        if i % 2:
            services.orders_expire_sweep()
            return None
        return gateway().submit_card(pairs[i // 2][1].provider_payment_id, CARD_SUCCEEDS).status

    outcomes = race(THREADS, work)[::2]
    process_inbox()

    for (order, payment, chosen, other), outcome in zip(pairs, outcomes, strict=True):
        order.refresh_from_db()
        project = Project.objects.get(pk=chosen.project_id)
        statuses = (Offer.objects.get(pk=chosen.pk).status, Offer.objects.get(pk=other.pk).status)
        if outcome == "succeeded":
            assert_funded_exactly_once(order)
            assert (project.status, statuses) == (PS.AWARDED, (OS.ACCEPTED, OS.NOT_SELECTED))
        else:
            assert outcome == "failed"
            assert LocalPaymentIntent.objects.get(pk=payment.provider_payment_id).status == "canceled"
            assert order.status == Order.Status.EXPIRED
            assert not LedgerTransaction.objects.filter(order=order).exists()
            assert (project.status, statuses) == (PS.OPEN, (OS.LIVE, OS.LIVE))
    assert all(total == 0 for total in ledger.trial_balance().values())
