"""Every write of the gigs app: accounts, seller profiles, gigs, packages, FAQs, publishing.

Services validate the rules that span fields or rows and raise `ValidationFailed` with keys
named after the input ("title", "packages.standard.price_minor", "faqs") so that forms and the
API can put each message next to what it concerns. Each write is one transaction: a rejected
input changes nothing.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.text import slugify

from marketplace.exceptions import ValidationFailed
from marketplace.money import format_money

from .exceptions import GigIncomplete, InvalidGigTransition
from .models import Category, Gig, GigFaq, GigRequirement, Package, SellerProfile, User


def _rules() -> dict:
    return settings.MARKETPLACE


# --- accounts ---------------------------------------------------------------------------------


def user_signup(*, username: str, email: str, password: str, display_name: str = "") -> User:
    """Create an account and its seller profile together. Email is unique, case-insensitively."""
    email = User.objects.normalize_email(email).strip()
    errors: dict[str, list[str]] = {}
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["That username is taken."]
    if User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["An account with that email already exists."]
    if errors:
        raise ValidationFailed(errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password)
            SellerProfile.objects.create(user=user, display_name=display_name.strip() or username)
    except IntegrityError as exc:  # a concurrent sign-up with the same name or email won
        raise ValidationFailed({"username": ["That username or email is taken."]}) from exc
    return user


def seller_profile_get_or_create(*, user: User) -> SellerProfile:
    """Accounts made outside sign-up (createsuperuser, admin) get their profile on first use."""
    profile, _ = SellerProfile.objects.get_or_create(user=user, defaults={"display_name": user.username})
    return profile


def seller_profile_update(*, user: User, display_name: str, headline: str = "", bio: str = "") -> SellerProfile:
    if not display_name.strip():
        raise ValidationFailed({"display_name": ["Enter the name buyers will see."]})
    profile = seller_profile_get_or_create(user=user)
    profile.display_name = display_name.strip()
    profile.headline = headline.strip()
    profile.bio = bio.strip()
    profile.save(update_fields=["display_name", "headline", "bio"])
    return profile


# --- gigs -------------------------------------------------------------------------------------


def _unique_slug(title: str, *, exclude_pk: int | None = None) -> str:
    base = slugify(title)[:100] or "gig"
    taken = set(Gig.objects.filter(slug__startswith=base).exclude(pk=exclude_pk).values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _one_line(text: str) -> str:
    """Titles are one line: newlines and runs of spaces collapse (they also end up in emails)."""
    return " ".join(text.split())


def _check_overview(*, title: str, category: Category | None, currency: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if len(_one_line(title)) < Gig.TITLE_MIN_CHARS:
        errors["title"] = [f"Use at least {Gig.TITLE_MIN_CHARS} characters so buyers know what you offer."]
    if category is None:
        errors["category"] = ["Choose a category."]
    if currency not in _rules()["CURRENCIES"]:
        errors["currency"] = [f"Choose one of {', '.join(_rules()['CURRENCIES'])}."]
    return errors


def gig_create(
    *,
    seller: User,
    title: str,
    category: Category | None,
    description: str = "",
    milestone_payments: bool = True,
    currency: str | None = None,
) -> Gig:
    """Create a draft gig owned by `seller` with a unique slug made from its title."""
    currency = currency or _rules()["DEFAULT_CURRENCY"]
    errors = _check_overview(title=title, category=category, currency=currency)
    if errors:
        raise ValidationFailed(errors)
    seller_profile_get_or_create(user=seller)
    for _ in range(3):  # a concurrent create may take the same slug between check and insert
        try:
            with transaction.atomic():
                return Gig.objects.create(
                    seller=seller,
                    title=_one_line(title),
                    slug=_unique_slug(title),
                    category=category,
                    description=description.strip(),
                    milestone_payments=milestone_payments,
                    currency=currency,
                )
        except IntegrityError:
            continue
    raise ValidationFailed({"title": ["Could not make a unique address for this title; try again."]})


def gig_update_overview(*, gig: Gig, title: str, category: Category | None) -> Gig:
    """Change title and category. The slug stays: links to a gig must not break when it is renamed."""
    errors = _check_overview(title=title, category=category, currency=gig.currency)
    if errors:
        raise ValidationFailed(errors)
    gig.title = _one_line(title)
    gig.category = category
    gig.save(update_fields=["title", "category", "updated_at"])
    return gig


@dataclass(frozen=True)
class PackageInput:
    tier: str
    name: str
    description: str
    price_minor: int
    delivery_days: int
    revisions: int


def check_packages(packages: list[PackageInput], *, currency: str) -> dict[str, list[str]]:
    """Every rule about a gig's three packages, as errors keyed `packages.<tier>.<field>`."""
    rules = _rules()
    errors: dict[str, list[str]] = {}

    def add(tier: str, field: str, message: str) -> None:
        errors.setdefault(f"packages.{tier}.{field}", []).append(message)

    tiers = [p.tier for p in packages]
    if sorted(tiers) != sorted(Package.TIER_ORDER) or len(tiers) != 3:
        return {"packages": ["Give exactly three packages: basic, standard and premium."]}
    if currency not in rules["CURRENCIES"]:
        errors["currency"] = [f"Choose one of {', '.join(rules['CURRENCIES'])}."]
    by_tier = {p.tier: p for p in packages}
    for tier in Package.TIER_ORDER:
        p = by_tier[tier]
        if not p.name.strip():
            add(tier, "name", "Name this package.")
        if not p.description.strip():
            add(tier, "description", "Say what this package includes.")
        if not isinstance(p.price_minor, int) or p.price_minor <= 0:
            add(tier, "price_minor", "The price must be a positive whole number of cents.")
        elif p.price_minor > rules["PACKAGE_MAX_PRICE_MINOR"]:
            add(
                tier,
                "price_minor",
                f"The price can be at most {format_money(rules['PACKAGE_MAX_PRICE_MINOR'], currency)}.",
            )
        if not isinstance(p.delivery_days, int) or not 1 <= p.delivery_days <= rules["PACKAGE_MAX_DELIVERY_DAYS"]:
            add(tier, "delivery_days", f"Delivery takes 1 to {rules['PACKAGE_MAX_DELIVERY_DAYS']} days.")
        if not isinstance(p.revisions, int) or not 0 <= p.revisions <= rules["PACKAGE_MAX_REVISIONS"]:
            add(tier, "revisions", f"Revisions go from 0 to {rules['PACKAGE_MAX_REVISIONS']}.")
    # A higher package may not be cheaper than the one below it (equal is allowed).
    for lower, higher in zip(Package.TIER_ORDER, Package.TIER_ORDER[1:], strict=False):
        lo, hi = by_tier[lower], by_tier[higher]
        if (
            f"packages.{lower}.price_minor" not in errors
            and f"packages.{higher}.price_minor" not in errors
            and hi.price_minor < lo.price_minor
        ):
            add(
                higher,
                "price_minor",
                f"{Package.Tier(higher).label} cannot be cheaper than {Package.Tier(lower).label} "
                f"({format_money(lo.price_minor, currency)}).",
            )
    return errors


def gig_set_packages(*, gig: Gig, packages: list[PackageInput], currency: str | None = None) -> Gig:
    """Replace the gig's three packages in one transaction; a rejected set changes nothing."""
    currency = currency or gig.currency
    errors = check_packages(packages, currency=currency)
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        gig = Gig.objects.select_for_update().get(pk=gig.pk)
        existing = {p.tier: p for p in gig.packages.all()}
        if gig.prices_from_plan:
            errors = _check_derived(packages, existing, currency=currency, old_currency=gig.currency)
            if errors:
                raise ValidationFailed(errors)
        for p in packages:
            row = existing.get(p.tier) or Package(gig=gig, tier=p.tier)
            row.name = p.name.strip()
            row.description = p.description.strip()
            row.price_minor = p.price_minor
            row.currency = currency
            row.delivery_days = p.delivery_days
            row.revisions = p.revisions
            row.save()
        gig.currency = currency
        gig.save(update_fields=["currency", "updated_at"])
        gig_refresh_listing(gig=gig)
    return gig


def _check_derived(
    packages: list[PackageInput], existing: dict[str, Package], *, currency: str, old_currency: str
) -> dict[str, list[str]]:
    """With a milestone plan in force, price and delivery are the plan's sums: refuse other values."""
    errors: dict[str, list[str]] = {}
    if currency != old_currency:
        errors["currency"] = ["Turn milestone payments off before changing the currency of a milestone plan."]
    for p in packages:
        row = existing.get(p.tier)
        if row is None:
            continue
        if p.price_minor != row.price_minor:
            errors[f"packages.{p.tier}.price_minor"] = [
                f"This is the sum of the package's milestones ({format_money(row.price_minor, row.currency)}); "
                "change the milestones on the Description & FAQ step."
            ]
        if p.delivery_days != row.delivery_days:
            errors[f"packages.{p.tier}.delivery_days"] = [
                f"This is the sum of the package's milestones ({row.delivery_days} days); "
                "change the milestones on the Description & FAQ step."
            ]
    return errors


def gig_set_plan_summary(
    *, gig: Gig, milestone_payments: bool, milestone_count: int, totals: dict[str, tuple[int, int]]
) -> Gig:
    """The hook through which the milestones app reports a saved plan (it runs inside that
    service's transaction, with the gig locked).

    `totals` maps tier -> (price_minor, delivery_days) summed over the tier's milestones. With
    milestone payments on, they become the packages' price and delivery; missing packages are
    created with the tier's name, to be described on the pricing step.
    """
    gig.milestone_payments = milestone_payments
    gig.plan_milestone_count = milestone_count
    gig.save(update_fields=["milestone_payments", "plan_milestone_count", "updated_at"])
    if milestone_payments:
        existing = {p.tier: p for p in Package.objects.filter(gig=gig)}
        for tier, (price_minor, days) in totals.items():
            row = existing.get(tier) or Package(gig=gig, tier=tier, name=Package.Tier(tier).label, description="")
            row.price_minor, row.delivery_days, row.currency = price_minor, days, gig.currency
            row.save()
        gig_refresh_listing(gig=gig)
    return gig


def gig_refresh_listing(*, gig: Gig) -> Gig:
    """Recompute the starting price and fastest delivery the catalog sorts and filters on.

    Called by every write of packages (services, admin); cheap and idempotent.
    """
    agg = Package.objects.filter(gig=gig).aggregate(price=Min("price_minor"), days=Min("delivery_days"))
    gig.price_from_minor, gig.fastest_delivery_days = agg["price"], agg["days"]
    Gig.objects.filter(pk=gig.pk).update(price_from_minor=agg["price"], fastest_delivery_days=agg["days"])
    return gig


def gig_set_description(*, gig: Gig, description: str, faqs: list[tuple[str, str]]) -> Gig:
    """Replace description and FAQ. A published gig must stay publishable after the edit."""
    rules = _rules()
    errors: dict[str, list[str]] = {}
    faqs = [(q.strip(), a.strip()) for q, a in faqs if q.strip() or a.strip()]
    if len(faqs) > rules["GIG_MAX_FAQS"]:
        errors["faqs"] = [f"At most {rules['GIG_MAX_FAQS']} questions."]
    elif any(not q or not a for q, a in faqs):
        errors["faqs"] = ["Each question needs an answer, and each answer a question."]
    if gig.status != Gig.Status.DRAFT and len(description.strip()) < rules["GIG_MIN_DESCRIPTION_CHARS"]:
        errors["description"] = [
            f"A live gig needs a description of at least {rules['GIG_MIN_DESCRIPTION_CHARS']} characters."
        ]
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        gig = Gig.objects.select_for_update().get(pk=gig.pk)
        gig.description = description.strip()
        gig.save(update_fields=["description", "updated_at"])
        gig.faqs.all().delete()
        GigFaq.objects.bulk_create(GigFaq(gig=gig, question=q, answer=a, position=i) for i, (q, a) in enumerate(faqs))
    return gig


def gig_publish_problems(gig: Gig) -> list[str]:
    """What stops this gig from being published; empty when it can go live."""
    rules = _rules()
    problems = []
    if len(gig.description.strip()) < rules["GIG_MIN_DESCRIPTION_CHARS"]:
        problems.append(f"Write a description of at least {rules['GIG_MIN_DESCRIPTION_CHARS']} characters.")
    if gig.milestone_payments and not rules["MILESTONES_MIN"] <= gig.plan_milestone_count <= rules["MILESTONES_MAX"]:
        problems.append(
            f"Plan {rules['MILESTONES_MIN']} to {rules['MILESTONES_MAX']} milestones on the Description & FAQ "
            "step, or turn milestone payments off."
        )
    packages = list(gig.packages.all())
    if len(packages) != 3:
        problems.append("Set the price of all three packages.")
    elif check_packages(
        [PackageInput(p.tier, p.name, p.description, p.price_minor, p.delivery_days, p.revisions) for p in packages],
        currency=gig.currency,
    ):
        problems.append("Fix the packages on the pricing step.")
    return problems


def _change_status(gig: Gig, *, to: str) -> Gig:
    if gig.status == to:
        return gig
    if to not in Gig.TRANSITIONS[gig.status]:
        raise InvalidGigTransition(
            f"A {gig.get_status_display().lower()} gig cannot become {Gig.Status(to).label.lower()}."
        )
    gig.status = to
    fields = ["status", "updated_at"]
    if to == Gig.Status.PUBLISHED and gig.published_at is None:
        gig.published_at = timezone.now()
        fields.append("published_at")
    gig.save(update_fields=fields)
    return gig


def gig_publish(*, gig: Gig) -> Gig:
    """Put a draft or paused gig live. Raises GigIncomplete listing what is missing.

    Idempotent: publishing a published gig returns it unchanged. The seller is emailed once, on
    the first publication, by a task queued after commit.
    """
    from .tasks import gig_published_email_task

    with transaction.atomic():
        gig = Gig.objects.select_for_update().get(pk=gig.pk)
        if gig.status == Gig.Status.PUBLISHED:
            return gig
        problems = gig_publish_problems(gig)
        if problems:
            raise GigIncomplete(problems)
        first_time = gig.published_at is None
        _change_status(gig, to=Gig.Status.PUBLISHED)
        if first_time:
            gig_published_email_task.delay_on_commit(gig.pk)
    return gig


def gig_pause(*, gig: Gig) -> Gig:
    """Take a published gig off the catalog; it keeps its address and can be published again."""
    with transaction.atomic():
        gig = Gig.objects.select_for_update().get(pk=gig.pk)
        return _change_status(gig, to=Gig.Status.PAUSED)


def gig_save(
    *,
    seller: User,
    gig: Gig | None = None,
    title: str | None = None,
    category: Category | None = None,
    description: str | None = None,
    currency: str | None = None,
    milestone_payments: bool | None = None,
    packages: list[PackageInput] | None = None,
    faqs: list[tuple[str, str]] | None = None,
    requirements: list[tuple[str, bool]] | None = None,
) -> Gig:
    """Create (gig=None) or update a gig with any of its parts in one transaction (the API's write).

    Every part is checked before anything is written, and all errors come back together; a
    rejected write changes nothing. Omitted parts (None) keep their current value.
    """
    creating = gig is None
    title = title if title is not None else (gig.title if gig else "")
    category = category if category is not None else (gig.category if gig else None)
    currency = currency or (gig.currency if gig else _rules()["DEFAULT_CURRENCY"])
    errors = _check_overview(title=title, category=category, currency=currency)
    if creating or currency != gig.currency:
        errors.pop("currency", None)
        if currency not in _rules()["CURRENCIES"]:
            errors["currency"] = [f"Choose one of {', '.join(_rules()['CURRENCIES'])}."]
    if not creating and milestone_payments is not None and milestone_payments != gig.milestone_payments:
        # Turning milestones on must check the plan, which the milestones app owns.
        errors["milestone_payments"] = ["Change it together with the milestone plan (PUT /api/gigs/<slug>/plan/)."]
    if requirements is not None:
        errors.update(_check_requirements(requirements))
    if packages is not None:
        errors.update(check_packages(packages, currency=currency))
    elif gig is not None and currency != gig.currency:
        errors.setdefault("currency", []).append("Send the packages with their new prices when changing currency.")
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        if creating:
            gig = gig_create(
                seller=seller,
                title=title,
                category=category,
                description=description or "",
                milestone_payments=True if milestone_payments is None else milestone_payments,
                currency=currency,
            )
        else:
            gig_update_overview(gig=gig, title=title, category=category)
        if packages is not None:
            gig_set_packages(gig=gig, packages=packages, currency=currency)
        if description is not None or faqs is not None:
            gig_set_description(
                gig=gig,
                description=description if description is not None else gig.description,
                faqs=faqs if faqs is not None else [(f.question, f.answer) for f in gig.faqs.all()],
            )
        if requirements is not None:
            gig_set_requirements(gig=gig, requirements=requirements)
    return gig


def _check_requirements(requirements: list[tuple[str, bool]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for i, (question, _required) in enumerate(requirements):
        if not question.strip() or len(question.strip()) > 200:
            errors[f"requirements.{i}.question"] = ["Use 1 to 200 characters."]
    if len(requirements) > _rules()["GIG_MAX_REQUIREMENTS"]:
        errors["requirements"] = [f"Ask at most {_rules()['GIG_MAX_REQUIREMENTS']} questions."]
    return errors


def gig_set_requirements(*, gig: Gig, requirements: list[tuple[str, bool]]) -> Gig:
    """Replace the questions the buyer answers at checkout: (question, required) in order.
    Orders copy the questions and answers, so this never changes an order already placed."""
    errors = _check_requirements(requirements)
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        GigRequirement.objects.filter(gig=gig).delete()
        GigRequirement.objects.bulk_create(
            GigRequirement(gig=gig, question=q.strip(), required=required, position=i)
            for i, (q, required) in enumerate(requirements)
        )
    return gig
