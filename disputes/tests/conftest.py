"""Fixtures shared by the dispute tests. A module that needs other rules (an approval threshold)
or another order defines its own fixture of the same name, which takes precedence."""

import pytest

from disputes.models import Dispute
from gigs.tests.factories import UserFactory
from milestones.models import Order, OrderMilestone
from payments.tests.test_lifecycle import clock, deliver, fresh, milestones_of, paid_order, pin_rules

from .helpers import assert_dispute_books, open_dispute

__all__ = ["clock"]  # time stands still at payments.tests.test_lifecycle.NOW until a test moves it


@pytest.fixture(autouse=True)
def _rules(settings):
    pin_rules(settings, DISPUTE_RESPONSE_DAYS=5)


@pytest.fixture
def books(db):
    """Use it (pytest.mark.usefixtures) to end every test of a module with the books checked."""
    yield
    assert_dispute_books()


@pytest.fixture
def order(clock) -> Order:
    return paid_order()


@pytest.fixture
def delivered(order) -> OrderMilestone:
    m1 = milestones_of(order)[0]
    deliver(m1)
    return fresh(m1)


@pytest.fixture
def dispute(delivered) -> Dispute:
    """A milestone dispute, opened by the buyer on the delivered first milestone."""
    return open_dispute(delivered)


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)
