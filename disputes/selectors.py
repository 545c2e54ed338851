"""Reads of disputes, scoped to the order's parties: anyone else gets NotFound (a 404)."""

from django.db.models import Prefetch, Q, QuerySet

from gigs.models import User
from marketplace.exceptions import NotFound

from .models import Dispute, DisputeMessage


def _for_party(user: User) -> QuerySet[Dispute]:
    if not user.is_authenticated:
        return Dispute.objects.none()
    return Dispute.objects.filter(Q(order__buyer=user) | Q(order__seller=user)).select_related(
        "order__buyer", "order__seller", "milestone", "opened_by"
    )


def disputes_for_user(*, user: User) -> QuerySet[Dispute]:
    """Disputes on orders the user bought or sold, newest first (a constant number of queries)."""
    return _for_party(user).order_by("-created_at", "-id")


def dispute_get_for_party(*, user: User, pk: int) -> Dispute:
    """One dispute with its messages, evidence and offers, for the order's buyer or seller only."""
    dispute = (
        _for_party(user)
        .prefetch_related(
            Prefetch("messages", queryset=DisputeMessage.objects.select_related("author")),
            "evidence",
            "offers",
        )
        .filter(pk=pk)
        .first()
    )
    if dispute is None:
        raise NotFound("No such dispute.")
    return dispute
