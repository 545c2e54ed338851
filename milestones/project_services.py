"""Writes of buyer projects and custom offers (issue 7). docs/projects.md has the rules.

Every transition runs inside `transaction.atomic()` on rows locked in one fixed order — an order
(when one is involved) first, then the project, then its offers — re-checks the state under the
lock, writes a ProjectEvent (who, from, to, why), and is a no-op when the row is already in the
target state. A refused call raises a DomainError (codes in milestones.exceptions) and writes
nothing. Notifications are rows written in the same transaction, emailed after commit.

Accepting an offer places an Order (`order_place_from_offer`, called by
payments.services.checkout_accept_offer with the platform's fees): pending payment, with
OrderMilestones copied from the offer, the same payment page, escrow and lifecycle as a gig
order. The project is then awarded (no new offers) and the other live offers end "not
selected". When that order expires unpaid (milestones.order_services.order_expire calls
`offer_order_expired_locked`), the acceptance is undone: the project opens again, and the
accepted offer and those not selected go back to live, each while before its own expiry
(expired otherwise). A payment arriving after all (an expired order revived by its payment,
Order.TRANSITIONS) accepts the offer again when nothing else was accepted meanwhile
(`offer_order_paid_locked`).
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from gigs.models import Category, User
from marketplace.exceptions import NotFound, ValidationFailed
from marketplace.money import format_money

from .exceptions import (
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
from .models import Order, OrderEvent, OrderMilestone
from .notifications import notify, notify_many
from .order_services import OrderFees
from .project_models import (
    Offer,
    OfferMessage,
    OfferMilestone,
    OfferRevision,
    Project,
    ProjectAttachment,
    ProjectEvent,
    ProjectInvite,
    ProjectMilestone,
)
from .project_selectors import OfferMilestoneInput, project_open_to_seller, project_visible_to

__all__ = [
    "OfferMilestoneInput",
    "ProjectMilestoneInput",
    "offer_decline",
    "offer_message_post",
    "offer_remove",
    "offer_revise",
    "offer_send",
    "offer_withdraw",
    "offers_expire_sweep",
    "order_place_from_offer",
    "project_attachment_add",
    "project_close",
    "project_create",
    "project_invite",
    "project_update",
]

PS, OS = Project.Status, Offer.Status
CUSTOM_PACKAGE_NAME = "Custom offer"
MESSAGE_MAX_CHARS = 5000
REASON_MAX_CHARS = 300


def _rules() -> dict:
    return settings.MARKETPLACE


def project_url(project: Project | int) -> str:
    """The project page (the pages' URL: /projects/<id>/), used in notifications."""
    return f"/projects/{getattr(project, 'pk', project)}/"


def offer_url(offer: Offer) -> str:
    """The offer's page with its thread (/projects/<id>/offers/<offer_id>/), for thread messages."""
    return f"/projects/{offer.project_id}/offers/{offer.pk}/"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- state changes --------------------------------------------------------------------------------


def _change_project(project: Project, to: str, *, actor: User | None, reason: str) -> bool:
    """On a locked project: move to `to` if the map allows it (event written, saved); False when
    already there. Raises InvalidTransition."""
    if project.status == to:
        return False
    if to not in Project.TRANSITIONS[project.status]:
        raise InvalidTransition(f"A project that is {project.get_status_display().lower()} cannot become {to}.")
    ProjectEvent.objects.create(
        project=project, actor=actor, from_status=project.status, to_status=to, reason=reason[:REASON_MAX_CHARS]
    )
    project.status = to
    project.save(update_fields=["status", "updated_at"])
    return True


def _change_offer(offer: Offer, to: str, *, actor: User | None, reason: str, now: datetime | None = None) -> bool:
    """On a locked offer: move to `to` if the map allows it (event written, saved); False when
    already there. Raises InvalidTransition."""
    if offer.status == to:
        return False
    if to not in Offer.TRANSITIONS[offer.status]:
        raise InvalidTransition(f"An offer that is {offer.get_status_display().lower()} cannot become {to}.")
    ProjectEvent.objects.create(
        project_id=offer.project_id,
        offer=offer,
        actor=actor,
        from_status=offer.status,
        to_status=to,
        reason=reason[:REASON_MAX_CHARS],
    )
    offer.status = to
    fields = ["status", "updated_at"]
    if to in (OS.ACCEPTED, OS.DECLINED, OS.NOT_SELECTED):
        offer.answered_at = now or timezone.now()
        fields.append("answered_at")
    offer.save(update_fields=fields)
    return True


def _lock_project(project_id: int) -> Project:
    project = Project.objects.select_for_update().filter(pk=project_id).first()
    if project is None:
        raise NotFound("No such project.")
    return project


def _lock_offer_and_project(offer_id: int) -> tuple[Project, Offer]:
    """Lock the offer's project, then the offer (the fixed order every writer uses)."""
    project_id = Offer.objects.filter(pk=offer_id).values_list("project_id", flat=True).first()
    if project_id is None:
        raise NotFound("No such offer.")
    project = _lock_project(project_id)
    return project, Offer.objects.select_for_update().get(pk=offer_id)


def _is_moderator(user: User, perm: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm(perm))


def _check_live(offer: Offer, now: datetime) -> None:
    if offer.status == OS.ACCEPTED:
        raise OfferNotLive("This offer was accepted: its order is placed.")
    if offer.status != OS.LIVE:
        raise OfferNotLive(f"This offer is {offer.get_status_display().lower()}.")
    if offer.is_past_expiry(now):
        raise OfferExpired("This offer has expired.")


# --- projects -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectMilestoneInput:
    """One milestone of the buyer's sketch: what is delivered, its share of the budget in basis
    points (the shares sum to 10000) and a target date between the start and the deadline."""

    name: str
    share_bps: int
    target_date: date
    description: str = ""


def _check_project(
    *,
    title: str,
    description: str,
    category_id: int,
    currency: str,
    budget_min_minor: int,
    budget_max_minor: int,
    start_date: date,
    deadline: date,
    visibility: str,
    milestones: Sequence[ProjectMilestoneInput],
    earliest_start: date,
) -> dict[str, list[str]]:
    rules = _rules()
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if not title.strip():
        add("title", "Give the project a title.")
    elif len(title.strip()) > 100:
        add("title", "Use at most 100 characters.")
    if not description.strip():
        add("description", "Describe the work.")
    elif len(description.strip()) > 5000:
        add("description", "Use at most 5,000 characters.")
    if not _is_int(category_id) or not Category.objects.filter(pk=category_id).exists():
        add("category", "Choose a category.")
    if currency not in rules["CURRENCIES"]:
        add("currency", f"Choose one of {', '.join(rules['CURRENCIES'])}.")
    top = rules["PACKAGE_MAX_PRICE_MINOR"]
    if not _is_int(budget_min_minor) or budget_min_minor <= 0:
        add("budget_min_minor", "Enter a budget above zero, in whole cents.")
    elif budget_min_minor > top:
        add("budget_min_minor", "That budget is too high.")
    if not _is_int(budget_max_minor) or budget_max_minor <= 0:
        add("budget_max_minor", "Enter a budget above zero, in whole cents.")
    elif budget_max_minor > top:
        add("budget_max_minor", "That budget is too high.")
    elif _is_int(budget_min_minor) and budget_max_minor < budget_min_minor:
        add("budget_max_minor", "The most you pay cannot be less than the least.")
    dates_ok = isinstance(start_date, date) and isinstance(deadline, date)
    if not isinstance(start_date, date):
        add("start_date", "Enter a start date.")
    elif start_date < earliest_start:
        add("start_date", "The start date cannot be in the past.")
    if not isinstance(deadline, date):
        add("deadline", "Enter a deadline.")
    elif dates_ok and deadline < start_date:
        add("deadline", "The deadline cannot be before the start date.")
    if visibility not in Project.Visibility.values:
        add("visibility", "Choose who may see the project.")

    lo, hi = rules["MILESTONES_MIN"], rules["MILESTONES_MAX"]
    if milestones and not lo <= len(milestones) <= hi:
        add("milestones", f"Sketch {lo} to {hi} milestones, or none.")
        return errors
    previous = None
    for i, m in enumerate(milestones):
        key = f"milestones.{i}"
        name = (m.name or "").strip()
        if not name:
            add(f"{key}.name", "Name this milestone.")
        elif len(name) > rules["MILESTONE_NAME_MAX_CHARS"]:
            add(f"{key}.name", f"Use at most {rules['MILESTONE_NAME_MAX_CHARS']} characters.")
        if len(m.description or "") > rules["MILESTONE_DESCRIPTION_MAX_CHARS"]:
            add(f"{key}.description", f"Use at most {rules['MILESTONE_DESCRIPTION_MAX_CHARS']} characters.")
        if not _is_int(m.share_bps) or not 0 < m.share_bps <= 10000:
            add(f"{key}.share_bps", "A share is above 0 % and at most 100 % of the budget.")
        if not isinstance(m.target_date, date):
            add(f"{key}.target_date", "Enter a target date.")
        elif dates_ok and not start_date <= m.target_date <= deadline:
            add(f"{key}.target_date", "A target date falls between the start date and the deadline.")
        elif previous is not None and m.target_date < previous:
            add(f"{key}.target_date", "A milestone cannot be due before the one above it.")
        if isinstance(m.target_date, date):
            previous = m.target_date
    if milestones and not any(k.endswith(".share_bps") for k in errors):
        total = sum(m.share_bps for m in milestones)
        if total != 10000:
            add("milestones", f"The shares add up to {total / 100:g} % of the budget: make them 100 %.")
    return errors


def _check_sellers(buyer: User, seller_ids: Sequence[int]) -> list[int]:
    ids = sorted({int(s) for s in seller_ids})
    if buyer.pk in ids:
        raise ProjectInvalid({"invites": ["You cannot invite yourself."]})
    found = set(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
    if missing := [s for s in ids if s not in found]:
        raise ProjectInvalid({"invites": [f"No such seller: {', '.join(map(str, missing))}."]})
    return ids


def _write_sketch(project: Project, milestones: Sequence[ProjectMilestoneInput]) -> None:
    ProjectMilestone.objects.filter(project=project).delete()
    ProjectMilestone.objects.bulk_create(
        ProjectMilestone(
            project=project,
            position=i,
            name=m.name.strip(),
            description=(m.description or "").strip(),
            share_bps=m.share_bps,
            target_date=m.target_date,
        )
        for i, m in enumerate(milestones)
    )


def _write_attachments(project: Project, files: Sequence[UploadedFile]) -> None:
    for f in files:
        ProjectAttachment.objects.create(
            project=project,
            file=f,
            name=f.name[:200],
            size=f.size,
            content_type=(getattr(f, "content_type", "") or "application/octet-stream")[:100],
        )


def _invite_locked(project: Project, seller_ids: list[int], *, actor: User) -> list[ProjectInvite]:
    existing = set(
        ProjectInvite.objects.filter(project=project, seller_id__in=seller_ids).values_list("seller_id", flat=True)
    )
    new = [ProjectInvite(project=project, seller_id=s) for s in seller_ids if s not in existing]
    ProjectInvite.objects.bulk_create(new, ignore_conflicts=True)
    for invite in new:
        notify(
            user=User(pk=invite.seller_id),
            kind="project_invite",
            text=f"You are invited to send an offer on the project “{project.title}”.",
            dedupe_key=f"project-{project.pk}-invite-{invite.seller_id}",
            url=project_url(project),
        )
    return list(ProjectInvite.objects.filter(project=project, seller_id__in=seller_ids).order_by("seller_id"))


def project_create(
    *,
    buyer: User,
    title: str,
    description: str,
    category_id: int,
    budget_min_minor: int,
    budget_max_minor: int | None = None,
    currency: str | None = None,
    start_date: date,
    deadline: date,
    visibility: str = Project.Visibility.PUBLIC,
    milestones: Sequence[ProjectMilestoneInput] = (),
    invited_seller_ids: Sequence[int] = (),
    attachments: Sequence[UploadedFile] = (),
) -> Project:
    """Post a project, open for offers. `budget_max_minor` None = a fixed budget (the minimum);
    `currency` None = MARKETPLACE_DEFAULT_CURRENCY. `milestones` is an optional sketch: none,
    or MILESTONES_MIN to MILESTONES_MAX (read now), shares summing to 100 %, target dates in
    order between start and deadline. Invited sellers are told (notification). Attachments
    follow the UPLOAD_* limits.
    Raises ProjectInvalid (field errors keyed like the arguments: `budget_max_minor`,
    `milestones.1.share_bps`, `invites`, `attachments`); nothing is written then."""
    from .lifecycle import check_uploads

    currency = currency or _rules()["DEFAULT_CURRENCY"]
    budget_max_minor = budget_min_minor if budget_max_minor is None else budget_max_minor
    milestones = list(milestones)
    errors = _check_project(
        title=title,
        description=description,
        category_id=category_id,
        currency=currency,
        budget_min_minor=budget_min_minor,
        budget_max_minor=budget_max_minor,
        start_date=start_date,
        deadline=deadline,
        visibility=visibility,
        milestones=milestones,
        earliest_start=timezone.localdate(),
    )
    try:
        check_uploads(list(attachments), field="attachments")
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ProjectInvalid(errors)
    seller_ids = _check_sellers(buyer, invited_seller_ids)
    with transaction.atomic():
        project = Project.objects.create(
            buyer=buyer,
            title=title.strip(),
            description=description.strip(),
            category_id=category_id,
            currency=currency,
            budget_min_minor=budget_min_minor,
            budget_max_minor=budget_max_minor,
            start_date=start_date,
            deadline=deadline,
            visibility=visibility,
        )
        ProjectEvent.objects.create(project=project, actor=buyer, to_status=project.status, reason="posted")
        _write_sketch(project, milestones)
        _write_attachments(project, attachments)
        if seller_ids:
            _invite_locked(project, seller_ids, actor=buyer)
    return project


def project_update(
    *,
    buyer: User,
    project_id: int,
    title: str,
    description: str,
    category_id: int,
    budget_min_minor: int,
    budget_max_minor: int | None = None,
    currency: str | None = None,
    start_date: date,
    deadline: date,
    visibility: str = Project.Visibility.PUBLIC,
    milestones: Sequence[ProjectMilestoneInput] = (),
) -> Project:
    """Replace an open project's fields and sketch (same rules as project_create; a start date
    already stored may stay in the past). Offers already sent stay as they are and are compared
    with the new budget and deadline. The currency cannot change once an offer was sent.
    Raises NotFound (not the buyer's), ProjectNotOpen, ProjectInvalid; nothing written then."""
    currency = currency or _rules()["DEFAULT_CURRENCY"]
    budget_max_minor = budget_min_minor if budget_max_minor is None else budget_max_minor
    milestones = list(milestones)
    with transaction.atomic():
        project = _lock_project(project_id)
        if project.buyer_id != buyer.pk:
            raise NotFound("No such project.")
        if project.status != PS.OPEN:
            raise ProjectNotOpen("Only an open project can be edited.")
        errors = _check_project(
            title=title,
            description=description,
            category_id=category_id,
            currency=currency,
            budget_min_minor=budget_min_minor,
            budget_max_minor=budget_max_minor,
            start_date=start_date,
            deadline=deadline,
            visibility=visibility,
            milestones=milestones,
            earliest_start=min(timezone.localdate(), project.start_date),
        )
        if currency != project.currency and project.offers.exists():
            errors.setdefault("currency", []).append("Offers were sent in this currency: it cannot change now.")
        if errors:
            raise ProjectInvalid(errors)
        for name, value in {
            "title": title.strip(),
            "description": description.strip(),
            "category_id": category_id,
            "currency": currency,
            "budget_min_minor": budget_min_minor,
            "budget_max_minor": budget_max_minor,
            "start_date": start_date,
            "deadline": deadline,
            "visibility": visibility,
        }.items():
            setattr(project, name, value)
        project.save()
        ProjectEvent.objects.create(
            project=project, actor=buyer, from_status=project.status, to_status=project.status, reason="edited"
        )
        _write_sketch(project, milestones)
    return project


def project_attachment_add(*, buyer: User, project_id: int, files: Sequence[UploadedFile]) -> list[ProjectAttachment]:
    """Attach more files to the buyer's open project (UPLOAD_* limits, counting those attached).
    Raises NotFound, ProjectNotOpen, ProjectInvalid."""
    from .lifecycle import check_uploads

    with transaction.atomic():
        project = _lock_project(project_id)
        if project.buyer_id != buyer.pk:
            raise NotFound("No such project.")
        if project.status != PS.OPEN:
            raise ProjectNotOpen("Only an open project can be edited.")
        already = ProjectAttachment.objects.filter(project=project).count()
        if already + len(files) > _rules()["UPLOAD_MAX_FILES"]:
            raise ProjectInvalid({"attachments": [f"Attach at most {_rules()['UPLOAD_MAX_FILES']} files."]})
        try:
            check_uploads(list(files), field="attachments")
        except ValidationFailed as exc:
            raise ProjectInvalid(exc.errors) from exc
        _write_attachments(project, files)
        return list(ProjectAttachment.objects.filter(project=project).order_by("created_at", "id"))


def project_invite(*, buyer: User, project_id: int, seller_ids: Sequence[int]) -> list[ProjectInvite]:
    """Invite sellers to the buyer's open project (what makes an invitation-only project visible
    to them; on a public one it points them at it). Idempotent: inviting again changes nothing
    and notifies once. Returns the invitations of these sellers.
    Raises NotFound (not the buyer's), ProjectNotOpen, ProjectInvalid (`invites`: yourself, no
    such user)."""
    ids = _check_sellers(buyer, seller_ids)
    with transaction.atomic():
        project = _lock_project(project_id)
        if project.buyer_id != buyer.pk:
            raise NotFound("No such project.")
        if project.status != PS.OPEN:
            raise ProjectNotOpen("This project takes no offers now.")
        return _invite_locked(project, ids, actor=buyer)


def _end_live_offers_locked(project: Project, *, except_offer: Offer | None, actor, reason: str, text: str, key: str):
    """Live offers of a locked project (but one) end "not selected"; their sellers are told."""
    now = timezone.now()
    others = Offer.objects.select_for_update().filter(project=project, status=OS.LIVE).order_by("pk")
    if except_offer is not None:
        others = others.exclude(pk=except_offer.pk)
    for other in others:
        _change_offer(other, OS.NOT_SELECTED, actor=actor, reason=reason, now=now)
        notify(
            user=User(pk=other.seller_id),
            kind="offer_not_selected",
            text=text,
            dedupe_key=f"offer-{other.pk}-not-selected-{key}",
            url=project_url(project),
        )


def project_close(*, actor: User, project_id: int, reason: str = "") -> Project:
    """Close a project to offers for good. By its buyer (an open project; the reason is optional)
    or by a moderator (staff with milestones.change_project; a reason is required; an awarded
    project too: its order goes on). Live offers end "not selected" and their sellers are told;
    a moderator's closing is told to the buyer. Idempotent on a closed project.
    Raises NotFound (neither the buyer nor a moderator), ProjectNotOpen (the buyer closing an
    awarded project: the order runs), ValidationFailed (`reason`, for a moderator)."""
    reason = (reason or "").strip()
    with transaction.atomic():
        project = _lock_project(project_id)
        is_buyer = project.buyer_id == actor.pk
        moderating = not is_buyer and _is_moderator(actor, "milestones.change_project")
        if not is_buyer and not moderating:
            raise NotFound("No such project.")
        if project.status == PS.CLOSED:
            return project
        if moderating and not reason:
            raise ValidationFailed({"reason": ["Say why the project is closed."]})
        if is_buyer and project.status != PS.OPEN:
            raise ProjectNotOpen("An offer was accepted: this project runs as an order now.")
        why = (
            f"closed by a moderator: {reason}"
            if moderating
            else f"closed by the buyer{': ' + reason if reason else ''}"
        )
        _change_project(project, PS.CLOSED, actor=actor, reason=why)
        project.closed_reason = reason[:REASON_MAX_CHARS]
        project.closed_by = actor
        project.save(update_fields=["closed_reason", "closed_by", "updated_at"])
        _end_live_offers_locked(
            project,
            except_offer=None,
            actor=actor,
            reason="project closed",
            text=f"The project “{project.title}” was closed: your offer was not selected.",
            key="closed",
        )
        if moderating:
            notify(
                user=project.buyer,
                kind="project_closed",
                text=f"A moderator closed your project “{project.title}”: {reason}",
                dedupe_key=f"project-{project.pk}-closed",
                url=project_url(project),
            )
    return project


# --- offers ---------------------------------------------------------------------------------------


def _check_offer(
    message: str, milestones: Sequence[OfferMilestoneInput], expiry_days: int, currency: str
) -> dict[str, list[str]]:
    """The offer rules, read from settings now: a message; 1 milestone (a plain fixed-price
    offer) or MILESTONES_MIN..MILESTONES_MAX; each named, priced at least
    MILESTONE_MIN_PRICE_MINOR (so never zero), 1..PACKAGE_MAX_DELIVERY_DAYS days, 0..99 revisions;
    the total at most PACKAGE_MAX_PRICE_MINOR; an expiry of 1..OFFER_MAX_EXPIRY_DAYS days."""
    rules = _rules()
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if not (message or "").strip():
        add("message", "Tell the buyer about your offer.")
    elif len(message.strip()) > MESSAGE_MAX_CHARS:
        add("message", "Use at most 5,000 characters.")
    max_days = rules["OFFER_MAX_EXPIRY_DAYS"]
    if not _is_int(expiry_days) or not 1 <= expiry_days <= max_days:
        add("expiry_days", f"An offer stays open 1 to {max_days} days.")
    lo, hi = rules["MILESTONES_MIN"], rules["MILESTONES_MAX"]
    if len(milestones) > hi:
        add("milestones", f"An offer has at most {hi} milestones.")
        return errors
    if not milestones:
        add("milestones", "Add at least one milestone.")
        return errors
    if 1 < len(milestones) < lo:
        add("milestones", f"Offer one milestone, or {lo} to {hi}.")
    min_price = rules["MILESTONE_MIN_PRICE_MINOR"]
    for i, m in enumerate(milestones):
        key = f"milestones.{i}"
        name = (m.name or "").strip()
        if not name:
            add(f"{key}.name", "Name this milestone.")
        elif len(name) > rules["MILESTONE_NAME_MAX_CHARS"]:
            add(f"{key}.name", f"Use at most {rules['MILESTONE_NAME_MAX_CHARS']} characters.")
        if len(m.description or "") > rules["MILESTONE_DESCRIPTION_MAX_CHARS"]:
            add(f"{key}.description", f"Use at most {rules['MILESTONE_DESCRIPTION_MAX_CHARS']} characters.")
        if not _is_int(m.price_minor) or m.price_minor <= 0:
            add(f"{key}.price_minor", "Enter a price above zero, in whole cents.")
        elif m.price_minor < min_price:
            add(f"{key}.price_minor", f"Each milestone costs at least {format_money(min_price, currency)}.")
        if not _is_int(m.delivery_days) or not 1 <= m.delivery_days <= rules["PACKAGE_MAX_DELIVERY_DAYS"]:
            add(f"{key}.delivery_days", f"Delivery takes 1 to {rules['PACKAGE_MAX_DELIVERY_DAYS']} days.")
        if not _is_int(m.revisions) or not 0 <= m.revisions <= rules["PACKAGE_MAX_REVISIONS"]:
            add(f"{key}.revisions", f"Revisions go from 0 to {rules['PACKAGE_MAX_REVISIONS']}.")
    if not errors:
        if sum(m.price_minor for m in milestones) > rules["PACKAGE_MAX_PRICE_MINOR"]:
            add("milestones", "The offer's total is too high.")
        if sum(m.delivery_days for m in milestones) > rules["PACKAGE_MAX_DELIVERY_DAYS"]:
            add("milestones", f"An offer may take at most {rules['PACKAGE_MAX_DELIVERY_DAYS']} days in all.")
    return errors


def _write_plan(offer: Offer, milestones: Sequence[OfferMilestoneInput]) -> None:
    """Replace the offer's milestones and record this version (OfferRevision number = revision)."""
    OfferMilestone.objects.filter(offer=offer).delete()
    OfferMilestone.objects.bulk_create(
        OfferMilestone(
            offer=offer,
            position=i,
            name=m.name.strip(),
            description=(m.description or "").strip(),
            price_minor=m.price_minor,
            delivery_days=m.delivery_days,
            revisions=m.revisions,
            video_call=bool(m.video_call),
        )
        for i, m in enumerate(milestones)
    )
    OfferRevision.objects.create(
        offer=offer,
        number=offer.revision,
        message=offer.message,
        milestones=[m.to_data() for m in milestones],
        total_minor=offer.total_minor,
        expires_at=offer.expires_at,
    )


def offer_send(
    *,
    seller: User,
    project_id: int,
    message: str,
    milestones: Sequence[OfferMilestoneInput],
    expiry_days: int | None = None,
) -> Offer:
    """Send an offer on an open project the seller may see: a message and a milestone plan (rules
    in _check_offer, read from settings at call time), in the project's currency, live for
    `expiry_days` (default OFFER_EXPIRY_DAYS). One live offer per seller and project (a
    partial unique constraint backs the check): revise it instead. The buyer is told.
    Raises OfferPlanInvalid (field errors, checked first), NotFound (a project this seller may
    not see: invitation-only without an invitation, or another category), OfferRefused (their
    own project), ProjectNotOpen, OfferExists. Nothing is written then."""
    expiry_days = _rules()["OFFER_EXPIRY_DAYS"] if expiry_days is None else expiry_days
    milestones = list(milestones)
    # The project's currency words the price rules; an unknown project fails later, as a 404.
    currency = Project.objects.filter(pk=project_id).values_list("currency", flat=True).first()
    errors = _check_offer(message, milestones, expiry_days, currency or _rules()["DEFAULT_CURRENCY"])
    if errors:
        raise OfferPlanInvalid(errors)
    try:
        with transaction.atomic():
            project = _lock_project(project_id)
            if project.buyer_id == seller.pk:
                raise OfferRefused("You cannot send an offer on your own project.")
            if not project_open_to_seller(seller=seller, project_id=project.pk):
                # A seller who may still see it (they sent an offer before) learns it is closed;
                # anyone else gets the 404 of a project that does not exist.
                if project.status != PS.OPEN and project_visible_to(user=seller, project=project):
                    raise ProjectNotOpen("This project takes no offers now.")
                raise NotFound("No such project.")
            if Offer.objects.filter(project=project, seller=seller, status__in=Offer.CURRENT).exists():
                raise OfferExists("You already have an offer on this project: revise it instead.")
            now = timezone.now()
            offer = Offer.objects.create(
                project=project,
                seller=seller,
                message=message.strip(),
                currency=project.currency,
                total_minor=sum(m.price_minor for m in milestones),
                total_days=sum(m.delivery_days for m in milestones),
                expires_at=now + timedelta(days=expiry_days),
            )
            _write_plan(offer, milestones)
            ProjectEvent.objects.create(
                project=project, offer=offer, actor=seller, to_status=offer.status, reason="sent"
            )
            notify(
                user=project.buyer,
                kind="offer_received",
                text=f"{seller.public_name} sent an offer on your project “{project.title}”.",
                dedupe_key=f"offer-{offer.pk}-received",
                url=project_url(project),
            )
            return offer
    except IntegrityError as exc:  # the same seller's offer sent at the same moment
        raise OfferExists("You already have an offer on this project: revise it instead.") from exc


def offer_revise(
    *,
    seller: User,
    offer_id: int,
    message: str,
    milestones: Sequence[OfferMilestoneInput],
    expiry_days: int | None = None,
) -> Offer:
    """Replace a live offer's message, plan and expiry (counted from now; default
    OFFER_EXPIRY_DAYS) in one go; `revision` goes up by one and OfferRevision keeps every
    version. The buyer is told. Raises OfferPlanInvalid, NotFound (not the seller's),
    OfferNotLive / OfferExpired, ProjectNotOpen. Nothing is written then."""
    expiry_days = _rules()["OFFER_EXPIRY_DAYS"] if expiry_days is None else expiry_days
    milestones = list(milestones)
    currency = Offer.objects.filter(pk=offer_id).values_list("currency", flat=True).first()
    errors = _check_offer(message, milestones, expiry_days, currency or _rules()["DEFAULT_CURRENCY"])
    if errors:
        raise OfferPlanInvalid(errors)
    with transaction.atomic():
        project, offer = _lock_offer_and_project(offer_id)
        if offer.seller_id != seller.pk:
            raise NotFound("No such offer.")
        now = timezone.now()
        _check_live(offer, now)
        if project.status != PS.OPEN:
            raise ProjectNotOpen("This project takes no offers now.")
        offer.message = message.strip()
        offer.total_minor = sum(m.price_minor for m in milestones)
        offer.total_days = sum(m.delivery_days for m in milestones)
        offer.expires_at = now + timedelta(days=expiry_days)
        offer.revision += 1
        offer.save(update_fields=["message", "total_minor", "total_days", "expires_at", "revision", "updated_at"])
        _write_plan(offer, milestones)
        ProjectEvent.objects.create(
            project=project,
            offer=offer,
            actor=seller,
            from_status=offer.status,
            to_status=offer.status,
            reason=f"revised (version {offer.revision})",
        )
        notify(
            user=project.buyer,
            kind="offer_revised",
            text=f"{seller.public_name} revised their offer on “{project.title}”.",
            dedupe_key=f"offer-{offer.pk}-revision-{offer.revision}",
            url=project_url(project),
        )
    return offer


def offer_withdraw(*, seller: User, offer_id: int, reason: str = "") -> Offer:
    """The seller takes back a live offer (before it is accepted). Idempotent on a withdrawn
    offer. Raises NotFound (not the seller's), OfferNotLive (accepted, declined, ...)."""
    with transaction.atomic():
        project, offer = _lock_offer_and_project(offer_id)
        if offer.seller_id != seller.pk:
            raise NotFound("No such offer.")
        if offer.status == OS.WITHDRAWN:
            return offer
        if offer.status != OS.LIVE:
            _check_live(offer, timezone.now())
        _change_offer(offer, OS.WITHDRAWN, actor=seller, reason=(reason or "").strip() or "withdrawn by the seller")
        notify(
            user=project.buyer,
            kind="offer_withdrawn",
            text=f"{seller.public_name} withdrew their offer on “{project.title}”.",
            dedupe_key=f"offer-{offer.pk}-withdrawn",
            url=project_url(project),
        )
    return offer


def offer_decline(*, buyer: User, offer_id: int, reason: str = "") -> Offer:
    """The project's buyer declines a live offer; its seller is told (with the reason). Idempotent
    on a declined offer. Raises NotFound (not the buyer's project, or a removed offer),
    OfferNotLive (withdrawn, accepted, expired, ...)."""
    with transaction.atomic():
        project, offer = _lock_offer_and_project(offer_id)
        if project.buyer_id != buyer.pk or offer.status == OS.REMOVED:
            raise NotFound("No such offer.")
        if offer.status == OS.DECLINED:
            return offer
        if offer.status != OS.LIVE:
            _check_live(offer, timezone.now())
        reason = (reason or "").strip()
        _change_offer(offer, OS.DECLINED, actor=buyer, reason=reason or "declined by the buyer")
        notify(
            user=User(pk=offer.seller_id),
            kind="offer_declined",
            text=f"Your offer on “{project.title}” was declined{': ' + reason if reason else '.'}",
            dedupe_key=f"offer-{offer.pk}-declined",
            url=project_url(project),
        )
    return offer


def offer_message_post(*, user: User, offer_id: int, body: str) -> OfferMessage:
    """A message on the offer's thread, by the project's buyer or the offer's seller, while the
    offer is live or accepted (questions before accepting; the order has its own thread after).
    The other party is told. Raises NotFound (anyone else; a removed offer), OfferNotLive,
    ValidationFailed (`body`: empty or over 5,000 characters)."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed({"body": ["Write a message."]})
    if len(body) > MESSAGE_MAX_CHARS:
        raise ValidationFailed({"body": ["Use at most 5,000 characters."]})
    with transaction.atomic():
        project, offer = _lock_offer_and_project(offer_id)
        if user.pk not in (project.buyer_id, offer.seller_id) or offer.status == OS.REMOVED:
            raise NotFound("No such offer.")
        if offer.status not in Offer.CURRENT:
            raise OfferNotLive(f"This offer is {offer.get_status_display().lower()}: its thread is closed.")
        msg = OfferMessage.objects.create(offer=offer, sender=user, body=body)
        to = offer.seller_id if user.pk == project.buyer_id else project.buyer_id
        notify(
            user=User(pk=to),
            kind="offer_message",
            text=f"New message from {user.public_name} about the offer on “{project.title}”.",
            dedupe_key=f"offer-message-{msg.pk}",
            url=offer_url(offer),
        )
    return msg


def offer_remove(*, moderator: User, offer_id: int, reason: str) -> Offer:
    """A moderator (staff with milestones.change_offer) removes an offer that is not accepted: it
    is hidden from the buyer and ends. The seller is told why. Idempotent on a removed offer.
    Raises NotModerator, NotFound, ValidationFailed (`reason` required), InvalidTransition (an
    accepted offer: its order is handled through the order)."""
    if not _is_moderator(moderator, "milestones.change_offer"):
        raise NotModerator("Only a moderator may remove offers.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["Say why the offer is removed."]})
    with transaction.atomic():
        project, offer = _lock_offer_and_project(offer_id)
        if offer.status == OS.REMOVED:
            return offer
        _change_offer(offer, OS.REMOVED, actor=moderator, reason=f"removed by a moderator: {reason}")
        notify(
            user=User(pk=offer.seller_id),
            kind="offer_removed",
            text=f"A moderator removed your offer on “{project.title}”: {reason}",
            dedupe_key=f"offer-{offer.pk}-removed",
            url=project_url(project),
        )
    return offer


def offers_expire_sweep(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Expire live offers whose expiry passed, in batches of SWEEP_BATCH until none is left,
    skipping rows another transaction holds (the next run takes them). Sellers are told (one
    INSERT per batch). Safe to run from several workers at once. Returns how many expired."""
    now = now or timezone.now()
    batch = batch or _rules()["SWEEP_BATCH"]
    total = 0
    while True:
        with transaction.atomic():
            due = list(
                # Only the offers are locked (of=self): their projects are only read for the texts,
                # so an acceptance holding a project's lock does not make the sweep skip its offers.
                Offer.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=OS.LIVE, expires_at__lte=now)
                .select_related("project")
                .order_by("expires_at", "pk")[:batch]
            )
            if due:
                ProjectEvent.objects.bulk_create(
                    ProjectEvent(
                        project_id=o.project_id, offer=o, from_status=OS.LIVE, to_status=OS.EXPIRED, reason="expired"
                    )
                    for o in due
                )
                Offer.objects.filter(pk__in=[o.pk for o in due]).update(status=OS.EXPIRED, updated_at=now)
                notify_many(
                    [
                        {
                            "user_id": o.seller_id,
                            "kind": "offer_expired",
                            "text": f"Your offer on “{o.project.title}” expired.",
                            "dedupe_key": f"offer-{o.pk}-expired-{o.expires_at:%Y%m%d%H%M%S}",
                            "url": project_url(o.project_id),
                        }
                        for o in due
                    ]
                )
        total += len(due)
        if len(due) < batch:
            return total


# --- accepting: the order -------------------------------------------------------------------------


def order_place_from_offer(
    *,
    buyer: User,
    offer_id: int,
    checkout_token: uuid.UUID,
    fees_for: Callable[[int, str], OrderFees],
    revision: int | None = None,
) -> tuple[Order, bool]:
    """The buyer accepts a live offer: an Order in pending_payment, exactly like a gig order
    (milestones.order_services.order_place), with the offer's milestones copied into
    OrderMilestones, amounts from the offer and `fees_for(subtotal, currency)` (payments'
    order_fees), never from the request. The snapshot: gig empty, `offer` set, gig_title = the
    project's title, package_tier "custom", package_name "Custom offer", the project brief as the
    one requirement answer. The project becomes awarded (no new offers), the other live offers
    end not selected, their sellers and the accepted seller are told.

    Returns (order, created). One acceptance, one order: the same checkout token gives back its
    order; accepting an offer already accepted gives back its order (created False), whatever
    the token — the project and the offer are locked, and the database allows one unpaid order
    per offer (Order constraint order_one_unpaid_per_offer) and one accepted offer per project.
    `revision`: the version the buyer saw (the checkout page's, the API's optional field); a
    seller's revision since then is refused (OfferRevised), so the buyer never accepts, and
    tells the other sellers about, terms they did not see.
    Raises NotFound (not the buyer's project, or a removed offer), OfferNotLive / OfferExpired,
    OfferRevised, ProjectNotOpen (another offer was accepted, or the project closed). Nothing
    written then.
    payments.services.checkout_accept_offer is the entry point (seller onboarding, due orders)."""
    existing = Order.objects.filter(buyer=buyer, checkout_token=checkout_token).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            project, offer = _lock_offer_and_project(offer_id)
            if project.buyer_id != buyer.pk or offer.status == OS.REMOVED:
                raise NotFound("No such offer.")
            if offer.status == OS.ACCEPTED:
                current = Order.objects.filter(offer=offer).exclude(status=Order.Status.EXPIRED).order_by("-pk").first()
                if current is not None:
                    return current, False
            now = timezone.now()
            _check_live(offer, now)
            if project.status != PS.OPEN:
                raise ProjectNotOpen("Another offer was accepted, or the project is closed.")
            if revision is not None and revision != offer.revision:
                raise OfferRevised(
                    f"The seller revised this offer since you opened it (now version {offer.revision}): "
                    "check the new terms, then accept again."
                )
            order = _create_order_from_offer(
                buyer=buyer, project=project, offer=offer, token=checkout_token, fees_for=fees_for, now=now
            )
            _change_offer(offer, OS.ACCEPTED, actor=buyer, reason=f"accepted: order #{order.pk}", now=now)
            _change_project(project, PS.AWARDED, actor=buyer, reason=f"offer #{offer.pk} accepted: order #{order.pk}")
            _end_live_offers_locked(
                project,
                except_offer=offer,
                actor=buyer,
                reason=f"offer #{offer.pk} accepted",
                text=f"The buyer of “{project.title}” accepted another offer: yours was not selected.",
                key=f"order-{order.pk}",
            )
            notify(
                user=User(pk=offer.seller_id),
                kind="offer_accepted",
                text=f"Your offer on “{project.title}” was accepted: order #{order.pk} waits for the buyer's payment.",
                dedupe_key=f"offer-{offer.pk}-accepted-order-{order.pk}",
                url=project_url(project),
            )
            return order, True
    except IntegrityError:
        # The same checkout token placed at the same moment by another request of this buyer.
        existing = Order.objects.filter(buyer=buyer, checkout_token=checkout_token).first()
        if existing is not None:
            return existing, False
        raise


def _create_order_from_offer(
    *, buyer: User, project: Project, offer: Offer, token: uuid.UUID, fees_for, now: datetime
) -> Order:
    lines = list(OfferMilestone.objects.filter(offer=offer).order_by("position"))
    subtotal = sum(m.price_minor for m in lines)
    fees = fees_for(subtotal, offer.currency)
    order = Order.objects.create(
        buyer=buyer,
        seller_id=offer.seller_id,
        gig=None,
        offer=offer,
        checkout_token=token,
        gig_title=project.title[:100],
        package_tier=Order.CUSTOM_TIER,
        package_name=CUSTOM_PACKAGE_NAME,
        milestone_payments=len(lines) > 1,
        currency=offer.currency,
        subtotal_minor=subtotal,
        service_fee_minor=fees.service_fee_minor,
        small_order_fee_minor=fees.small_order_fee_minor,
        total_minor=subtotal + fees.service_fee_minor + fees.small_order_fee_minor,
        commission_bps=fees.commission_bps,
        # The whole brief (up to 5,000 characters): the snapshot of what the buyer asked for.
        requirements=[{"question": "Project brief", "answer": project.description, "required": False}],
        expires_at=now + timedelta(minutes=_rules()["CHECKOUT_EXPIRY_MINUTES"]),
    )
    OrderMilestone.objects.bulk_create(
        OrderMilestone(
            order=order,
            position=i,
            name=m.name,
            description=m.description,
            price_minor=m.price_minor,
            delivery_days=m.delivery_days,
            revisions=m.revisions,
            video_call=m.video_call,
        )
        for i, m in enumerate(lines)
    )
    OrderEvent.objects.create(
        order=order,
        actor=buyer,
        to_status=order.status,
        reason=f"placed from offer #{offer.pk} (version {offer.revision})",
    )
    return order


# --- hooks of the order lifecycle (milestones.order_services) -------------------------------------


def offer_order_expired_locked(*, order: Order, now: datetime) -> None:
    """The order of an accepted offer expired unpaid (order_services.order_expire, on the locked
    order, in its transaction): the acceptance is undone. The project opens again (when it is
    still awarded; a project a moderator closed stays closed); the offer goes back to live while
    before its expiry (expired otherwise), and so do the offers that were not selected. The
    buyer and the sellers concerned are told. Nothing happens when the offer is no longer
    accepted or has another order that still counts."""
    offer_id = order.offer_id
    project, offer = _lock_offer_and_project(offer_id)
    if offer.status != OS.ACCEPTED:
        return
    if Order.objects.filter(offer=offer).exclude(pk=order.pk).exclude(status=Order.Status.EXPIRED).exists():
        return
    why = f"order #{order.pk} not paid in time"
    reopened = project.status == PS.AWARDED
    if reopened:
        _change_project(project, PS.OPEN, actor=None, reason=f"{why}: open for offers again")
    back = OS.LIVE if reopened and not offer.is_past_expiry(now) else OS.EXPIRED
    _change_offer(offer, back, actor=None, reason=why)
    until = f" (until {timezone.localtime(offer.expires_at):%b %-d, %H:%M})" if back == OS.LIVE else ""
    state = f"your offer is live again{until}" if back == OS.LIVE else "your offer has ended"
    notify(
        user=User(pk=offer.seller_id),
        kind="offer_order_expired",
        text=f"The buyer of “{project.title}” did not pay order #{order.pk} in time: {state}.",
        dedupe_key=f"order-{order.pk}-expired-offer-{offer.pk}",
        url=project_url(project),
    )
    notify(
        user=project.buyer,
        kind="offer_order_expired",
        text=f"Order #{order.pk} was not paid in time"
        + (f": the project “{project.title}” is open for offers again." if reopened else "."),
        dedupe_key=f"order-{order.pk}-expired-project",
        url=project_url(project),
    )
    if not reopened:
        return
    for other in Offer.objects.select_for_update().filter(project=project, status=OS.NOT_SELECTED).order_by("pk"):
        live = not other.is_past_expiry(now)
        _change_offer(other, OS.LIVE if live else OS.EXPIRED, actor=None, reason=f"{why}: project reopened")
        if live:
            notify(
                user=User(pk=other.seller_id),
                kind="offer_live_again",
                text=f"The project “{project.title}” is open again: your offer is live again.",
                dedupe_key=f"order-{order.pk}-expired-offer-{other.pk}",
                url=project_url(project),
            )


def offer_order_paid_locked(*, order: Order) -> None:
    """An offer's order is paid (order_services.order_activate, on the locked order, in its
    transaction). Normally the offer is accepted already: nothing to do. A payment that arrives
    after the order expired (and the acceptance was undone) accepts the offer again when the
    project is open and no other offer was accepted meanwhile (the other live offers end not
    selected) and the seller has no newer offer there; otherwise only an event records it: the
    buyer paid, the order runs (two orders on one project are then possible; docs/projects.md)."""
    project, offer = _lock_offer_and_project(order.offer_id)
    if offer.status == OS.ACCEPTED:
        return
    why = f"order #{order.pk} paid after it had expired"
    # The seller may have sent a new offer since (one current offer per seller and project).
    newer = Offer.objects.filter(project=project, seller_id=offer.seller_id, status__in=Offer.CURRENT)
    if project.status == PS.OPEN and offer.status in (OS.LIVE, OS.EXPIRED) and not newer.exclude(pk=offer.pk).exists():
        _change_offer(offer, OS.ACCEPTED, actor=None, reason=why)
        _change_project(project, PS.AWARDED, actor=None, reason=why)
        _end_live_offers_locked(
            project,
            except_offer=offer,
            actor=None,
            reason=f"offer #{offer.pk} accepted ({why})",
            text=f"The buyer of “{project.title}” accepted another offer: yours was not selected.",
            key=f"order-{order.pk}",
        )
        return
    ProjectEvent.objects.create(
        project=project, offer=offer, from_status=offer.status, to_status=offer.status, reason=why
    )


# The notification kinds this module writes (pages may pick icons or texts by kind).
NOTIFICATION_KINDS = frozenset(
    {
        "project_invite",
        "project_closed",
        "offer_received",
        "offer_revised",
        "offer_withdrawn",
        "offer_declined",
        "offer_message",
        "offer_removed",
        "offer_expired",
        "offer_accepted",
        "offer_not_selected",
        "offer_order_expired",
        "offer_live_again",
    }
)
