"""The "Dispute agents" group: exactly the permissions resolving disputes needs, and the admin
enforcing them (the decision buttons, a second admin's approval, 403 elsewhere)."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from disputes.models import Dispute, DisputeEvent
from disputes.tests.helpers import assert_dispute_books
from gigs.models import Gig, User
from gigs.tests.factories import UserFactory
from milestones.models import OrderMilestone
from payments.models import LedgerEntry, LedgerTransaction, Payout, Refund
from payments.tests.test_lifecycle import fresh, milestones_of, paid_order, pin_rules

pytestmark = pytest.mark.django_db

S = OrderMilestone.Status

EXPECTED = {
    "disputes.view_dispute",
    "disputes.change_dispute",
    "disputes.approve_decision",
    "disputes.view_disputeevent",
    "disputes.view_disputemessage",
    "disputes.view_disputeevidence",
    "disputes.view_settlementoffer",
    # An order dispute's and a chargeback's page list their holds and the evidence sent to Stripe
    # (inlines, hidden from staff without the view permission).
    "disputes.view_disputehold",
    "disputes.view_disputeevidencesubmission",
    "milestones.view_order",
    "milestones.view_ordermilestone",
    "payments.view_ledgertransaction",
    "payments.view_ledgerentry",
    "payments.view_payout",
    "payments.view_refund",
}


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5, DISPUTE_APPROVAL_ABOVE_MINOR=50000)


def agent(client=None):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Dispute agents"))
    if client is not None:
        client.force_login(user)
    return User.objects.get(pk=user.pk)  # no cached permissions


def decide_url(d: Dispute, decision: str) -> str:
    return reverse("admin:disputes_dispute_decide", args=[d.pk, decision])


def test_the_group_has_exactly_the_permissions_disputes_need():
    group = Group.objects.get(name="Dispute agents")
    perms = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert perms == EXPECTED
    assert not any(p.split(".")[1].startswith(("add_", "delete_")) for p in perms)
    assert agent().get_all_permissions() == EXPECTED


def test_an_agent_opens_the_dispute_and_decides(client, dispute):
    user = agent(client)
    page = client.get(reverse("admin:disputes_dispute_change", args=[dispute.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    body = page.content.decode()
    assert decide_url(dispute, "split") in body and f"escrow:{dispute.order_id}" in body
    assert decide_url(dispute, "approve") not in body  # nothing waits
    for name in ("milestones_order", "payments_ledgertransaction", "payments_payout", "payments_refund"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    done = client.post(decide_url(dispute, "split"), {"percent": "25", "note": "A quarter was usable."})
    assert done.status_code == 302
    d = fresh(dispute)
    assert (d.status, d.resolved_by, d.seller_amount_minor) == (Dispute.Status.RESOLVED, user, 500)
    assert_dispute_books()


def test_an_agent_cannot_change_ledger_rows_users_or_gigs(client, dispute):
    agent(client)
    entry = LedgerEntry.objects.first()
    txn = LedgerTransaction.objects.first()
    other = UserFactory()
    assert client.get(reverse("admin:payments_ledgerentry_change", args=[entry.pk])).status_code == 200  # read-only
    refused = [
        client.post(reverse("admin:payments_ledgerentry_change", args=[entry.pk]), {"amount_minor": "1"}),
        client.post(reverse("admin:payments_ledgertransaction_delete", args=[txn.pk]), {"post": "yes"}),
        client.get(reverse("admin:payments_ledgerentry_add")),
        client.get(reverse("admin:gigs_user_change", args=[other.pk])),
        client.post(reverse("admin:gigs_user_change", args=[other.pk]), {"is_superuser": "on"}),
        client.get(reverse("admin:gigs_user_changelist")),
        client.get(reverse("admin:gigs_gig_changelist")),
        client.get(reverse("admin:gigs_gig_add")),
        client.get(reverse("admin:gigs_gig_change", args=[Gig.objects.first().pk])),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert not fresh(other).is_superuser
    assert LedgerEntry.objects.filter(pk=entry.pk, amount_minor=entry.amount_minor).exists()


def test_an_agent_sees_what_an_order_dispute_holds(client, clock):
    from disputes.tests.helpers import open_order_dispute

    order = paid_order()
    d = open_order_dispute(order)
    agent(client)
    body = client.get(reverse("admin:disputes_dispute_change", args=[d.pk])).content.decode()
    assert "Milestones held (order dispute or chargeback)" in body
    assert all(str(m) in body for m in milestones_of(order))
    assert client.get(reverse("admin:disputes_disputehold_changelist")).status_code == 200
    assert client.get(reverse("admin:disputes_disputeevidencesubmission_changelist")).status_code == 200


def test_staff_outside_the_group_cannot_decide(client, dispute):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:disputes_dispute_change", args=[dispute.pk])).status_code == 403
    for decision in ("release", "refund", "split", "close", "request_info", "approve", "reject"):
        assert client.get(decide_url(dispute, decision)).status_code == 403, decision
    assert client.post(decide_url(dispute, "release"), {"note": "Mine now."}).status_code == 403
    assert fresh(dispute).is_active and not Payout.objects.exists() and not Refund.objects.exists()


def test_view_only_staff_sees_the_page_without_the_buttons(client, dispute):
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_dispute"))
    client.force_login(staff)
    page = client.get(reverse("admin:disputes_dispute_change", args=[dispute.pk]))
    assert page.status_code == 200 and decide_url(dispute, "split") not in page.content.decode()
    assert client.post(decide_url(dispute, "release"), {"note": "x"}).status_code == 403


def test_second_approval_through_the_admin(client, settings, dispute):
    pin_rules(settings, DISPUTE_APPROVAL_ABOVE_MINOR=1000)
    first = agent(client)
    assert client.post(decide_url(dispute, "release"), {"note": "Delivered as agreed."}).status_code == 302
    page = client.get(reverse("admin:disputes_dispute_change", args=[dispute.pk])).content.decode()
    assert "Delivered as agreed." in page and decide_url(dispute, "approve") in page
    assert decide_url(dispute, "release") not in page  # no second money decision while one waits
    assert not Payout.objects.exists()
    # The proposer is refused with a message; nothing moves.
    client.post(decide_url(dispute, "approve"), {"note": "Mine."})
    assert fresh(dispute).has_pending_decision and not Payout.objects.exists()
    # A view-and-decide user without the approval permission gets 403.
    from django.contrib.auth.models import Permission

    decider = UserFactory(is_staff=True)
    decider.user_permissions.add(*Permission.objects.filter(codename__in=["view_dispute", "change_dispute"]))
    client.force_login(decider)
    page = client.get(reverse("admin:disputes_dispute_change", args=[dispute.pk])).content.decode()
    assert "Delivered as agreed." in page and decide_url(dispute, "approve") not in page
    assert client.post(decide_url(dispute, "approve"), {"note": "Fine."}).status_code == 403
    # A second agent approves.
    second = agent(client)
    form = client.get(decide_url(dispute, "approve"))
    assert form.status_code == 200 and "Delivered as agreed." in form.content.decode()
    assert client.post(decide_url(dispute, "approve"), {"note": "Checked."}).status_code == 302
    d = fresh(dispute)
    assert (d.status, d.proposed_by, d.approved_by) == (Dispute.Status.RESOLVED, first, second)
    assert fresh(d.milestone).status == S.ACCEPTED and Payout.objects.get().gross_minor == 2000
    assert DisputeEvent.objects.filter(dispute=d, action="decision approved").count() == 1
    assert_dispute_books()
