"""Reads of the gigs app, scoped to who is asking. Each list runs a fixed number of queries."""

from django.db.models import Prefetch, Q, QuerySet

from marketplace.exceptions import NotFound
from marketplace.money import MAX_DIGITS

from .models import Category, Gig, GigFaq, GigRequirement, Package, User

ORDERINGS = {
    "newest": ("-published_at", "-id"),
    "price": ("price_from_minor", "-published_at", "-id"),
    "-price": ("-price_from_minor", "-published_at", "-id"),
    "title": ("title", "id"),
}
DEFAULT_ORDERING = "newest"
# The price filters (page and API) take at most 15 digits of minor units: far above any price, and
# a clear error rather than a query the database cannot compare (or an overflow in Python).
PRICE_FILTER_MAX_MINOR = 10**MAX_DIGITS - 1


def _with_listing_fields(qs: QuerySet[Gig]) -> QuerySet[Gig]:
    # The starting price (cheapest package) and fastest delivery are stored on the gig.
    return qs.select_related("seller__seller_profile", "category")


def gig_list_public(
    *,
    q: str = "",
    category: str = "",
    min_price_minor: int | None = None,
    max_price_minor: int | None = None,
    ordering: str = DEFAULT_ORDERING,
) -> QuerySet[Gig]:
    """Published gigs for the catalog, searched over title and description.

    The price range applies to the starting price, in minor units of the gig's own currency.
    Unknown orderings fall back to newest first.
    """
    qs = _with_listing_fields(Gig.objects.filter(status=Gig.Status.PUBLISHED))
    q = q.strip()
    if q:
        for word in q.split()[:8]:
            qs = qs.filter(Q(title__icontains=word) | Q(description__icontains=word))
    if category:
        qs = qs.filter(category__slug=category)
    if min_price_minor is not None:
        qs = qs.filter(price_from_minor__gte=min_price_minor)
    if max_price_minor is not None:
        qs = qs.filter(price_from_minor__lte=max_price_minor)
    return qs.order_by(*ORDERINGS.get(ordering, ORDERINGS[DEFAULT_ORDERING]))


def gig_list_for_seller(*, seller: User) -> QuerySet[Gig]:
    return _with_listing_fields(Gig.objects.filter(seller=seller)).order_by("-created_at")


def _detail_queryset() -> QuerySet[Gig]:
    return Gig.objects.select_related("seller__seller_profile", "category").prefetch_related(
        Prefetch("packages", queryset=Package.objects.order_by("price_minor", "id")),
        Prefetch("faqs", queryset=GigFaq.objects.order_by("position", "id")),
        Prefetch("requirements", queryset=GigRequirement.objects.order_by("position", "id")),
    )


def gig_get_for_viewer(*, slug: str, user: User | None) -> Gig:
    """A published gig for anyone; a draft or paused gig only for its seller (others: NotFound)."""
    visible = Q(status=Gig.Status.PUBLISHED)
    if user is not None and user.is_authenticated:
        visible |= Q(seller=user)
    gig = _detail_queryset().filter(visible, slug=slug).first()
    if gig is None:
        raise NotFound("No such gig.")
    return gig


def gig_get_for_owner(*, user: User, pk: int | None = None, slug: str | None = None) -> Gig:
    """The seller's own gig for editing; anyone else's is NotFound, whatever its status."""
    lookup = {"pk": pk} if pk is not None else {"slug": slug}
    gig = _detail_queryset().filter(seller=user, **lookup).first() if user.is_authenticated else None
    if gig is None:
        raise NotFound("No such gig.")
    return gig


def category_list() -> QuerySet[Category]:
    return Category.objects.all()


def packages_by_tier(gig: Gig) -> dict[str, Package]:
    """Uses the prefetched packages: no query when the gig came from a selector."""
    return {p.tier: p for p in gig.packages.all()}
