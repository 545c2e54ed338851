"""Team invitations and order messages notify the people concerned, once."""

import pytest

from gigs.tests.factories import UserFactory
from milestones import workspace
from milestones.models import Notification
from payments.tests.factories import pay, place_order

pytestmark = pytest.mark.django_db


def test_an_invitation_notifies_the_invited_user_once():
    seller, member = UserFactory(), UserFactory()
    row = workspace.team_invite(seller=seller, identifier=member.username)
    note = Notification.objects.get(user=member, kind="team_invitation")
    assert seller.username in note.text and note.url == "/sell/team/"
    with pytest.raises(workspace.AlreadyInTeam):
        workspace.team_invite(seller=seller, identifier=member.username)
    assert Notification.objects.filter(user=member).count() == 1
    assert row.status == "invited"


def test_a_message_notifies_the_other_party_not_the_sender():
    order = place_order()
    pay(order)
    Notification.objects.all().delete()
    message = workspace.message_post(user=order.buyer, order_id=order.pk, body="Hello!")
    assert list(Notification.objects.values_list("user_id", "kind")) == [(order.seller_id, "message")]
    workspace.message_post(user=order.seller, order_id=order.pk, body="Hi")
    assert Notification.objects.filter(user=order.buyer, kind="message").count() == 1
    assert message.pk
