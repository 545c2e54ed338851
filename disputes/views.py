"""The parties' dispute pages: open a dispute on a milestone, the dispute page (statements, the
thread with its files, settlement offers, withdrawal, the outcome), the small POST forms of that
page, "My disputes", and the evidence files.

Only the order's buyer and seller see a dispute (staff with the admin's view permission may read
it and write to its thread); anyone else gets a 404 on every page, form and file, never a hint
that it exists. Every write goes through disputes.services (atomic, rows locked, the state
re-checked). A refused step changes nothing: input errors come back next to their field on the
re-rendered page, any other refusal as a message.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from marketplace.exceptions import DomainError, NotFound, ValidationFailed
from marketplace.money import format_money
from milestones.models import Order, OrderMilestone
from payments.models import Payout, Refund

from . import selectors, services
from .forms import DisputeOpenForm, MessageForm, OfferForm, RespondForm, WithdrawForm
from .models import Dispute, DisputeEvidence, DisputeMessage, SettlementOffer

log = logging.getLogger(__name__)

DISPUTE_PAGE_SIZE = 20
STAFF_PERM = "disputes.view_dispute"
# Evidence stored before DisputeEvidence.post/message existed has no link to its post: it is shown
# with the post of the same person nearest in time (the service wrote both in one transaction),
# within this. Newer files carry their post.
EVIDENCE_WINDOW = timedelta(seconds=60)
MS = OrderMilestone.Status


def _is_agent(user) -> bool:
    return user.is_staff and user.has_perm(STAFF_PERM)


PARTIES = ("order__buyer__seller_profile", "order__seller__seller_profile", "milestone", "opened_by")


def _party_disputes(user):
    return selectors.disputes_for_user(user=user).select_related(*PARTIES)


def _dispute_or_404(request, pk: int) -> Dispute:
    """The dispute with its thread, evidence and offers, for its parties (and staff allowed to
    see disputes in admin); Http404 for anyone else."""
    user = request.user
    scope = Dispute.objects.all() if _is_agent(user) else selectors.disputes_for_user(user=user)
    dispute = (
        scope.select_related(*PARTIES)
        .prefetch_related(
            Prefetch("messages", queryset=DisputeMessage.objects.select_related("author")), "evidence", "offers"
        )
        .filter(pk=pk)
        .first()
    )
    if dispute is None:
        raise Http404("No such dispute.")
    return dispute


def _role(dispute: Dispute, user_id: int | None) -> str:
    if user_id == dispute.order.buyer_id:
        return "buyer"
    if user_id == dispute.order.seller_id:
        return "seller"
    return "platform"


def _who(dispute: Dispute, user_id: int | None, viewer_id: int) -> str:
    if user_id == viewer_id:
        return "You"
    role = _role(dispute, user_id)
    if role == "buyer":
        return f"The buyer ({dispute.order.buyer.public_name})"
    if role == "seller":
        return f"The seller ({dispute.order.seller.public_name})"
    return "The platform"


def _posts(dispute: Dispute, viewer_id: int) -> tuple[list[dict], list[DisputeEvidence]]:
    """The statements and the thread in time order, each with the files its author attached with
    it; files that match no post (none should) come back separately."""
    responder_id = None
    if dispute.responded_at:
        responder_id = (
            dispute.order.seller_id if dispute.opened_by_id == dispute.order.buyer_id else dispute.order.buyer_id
        )
    posts = [
        {"kind": "opened", "author_id": dispute.opened_by_id, "at": dispute.created_at, "text": dispute.description}
    ]
    if dispute.responded_at:
        posts.append(
            {"kind": "response", "author_id": responder_id, "at": dispute.responded_at, "text": dispute.response}
        )
    posts += [
        {"kind": "message", "author_id": msg.author_id, "at": msg.created_at, "text": msg.body, "message_id": msg.pk}
        for msg in dispute.messages.all()
    ]
    posts.sort(key=lambda p: p["at"])
    for post in posts:
        post["files"] = []
        post["who"] = _who(dispute, post["author_id"], viewer_id)
        post["role"] = _role(dispute, post["author_id"])
    by_kind = {p["kind"]: p for p in posts if p["kind"] in ("opened", "response")}
    by_message = {p["message_id"]: p for p in posts if p["kind"] == "message"}
    unmatched = []
    for ev in dispute.evidence.all():
        # The post it came with, when recorded (files stored since DisputeEvidence.post exists).
        linked = None
        if ev.post == DisputeEvidence.Post.OPENING:
            linked = by_kind.get("opened")
        elif ev.post == DisputeEvidence.Post.RESPONSE:
            linked = by_kind.get("response")
        elif ev.post == DisputeEvidence.Post.MESSAGE:
            linked = by_message.get(ev.message_id)
        if linked is not None:
            linked["files"].append(ev)
            continue
        if ev.post:
            unmatched.append(ev)  # its post is gone (a message deleted): listed apart
            continue
        mine = [
            p for p in posts if p["author_id"] == ev.uploaded_by_id and abs(p["at"] - ev.created_at) <= EVIDENCE_WINDOW
        ]
        if mine:
            min(mine, key=lambda p: abs(p["at"] - ev.created_at))["files"].append(ev)
        else:
            unmatched.append(ev)
    return posts, unmatched


def _refund_of(order: Order, milestone: OrderMilestone | None) -> Refund | None:
    if milestone is None:
        return None
    # Filtered here: a JSON "contains" lookup is not available on SQLite (the local run).
    return next(
        (r for r in Refund.objects.filter(order=order).order_by("-id") if milestone.pk in r.milestone_ids), None
    )


def _page(request, dispute: Dispute, *, bound: dict | None = None, status: int = 200):
    """Render the dispute page; `bound` holds a form that came back with errors, keyed by name,
    shown in place of the empty one."""
    bound = bound or {}
    user = request.user
    order, m = dispute.order, dispute.milestone
    is_party = user.pk in (order.buyer_id, order.seller_id)
    # A chargeback (the buyer's bank disputes the payment, reported by the provider) is decided by
    # the card network: the parties read it here but have no steps to take.
    chargeback = getattr(dispute, "kind", "") == "chargeback"
    active = dispute.is_active and not chargeback
    # An order dispute: the milestones it holds (held, resumed, settled), and the sum at stake.
    holds = (
        list(dispute.holds.select_related("milestone").order_by("milestone__position", "milestone_id"))
        if dispute.is_order_dispute
        else []
    )
    at_stake = m.price_minor if m is not None else services.amount_at_stake(dispute)
    now = timezone.now()
    can_respond = (
        is_party
        and not chargeback
        and dispute.opened_by_id != user.pk
        and dispute.status == Dispute.Status.AWAITING_RESPONSE
        and (dispute.response_due_at is None or dispute.response_due_at > now)
    )
    offers = list(dispute.offers.all())
    offer_rows = [
        {
            "offer": o,
            "who": _who(dispute, o.proposed_by_id, user.pk),
            "refund_minor": (at_stake - o.seller_amount_minor) if m or holds else None,
            "answerable": is_party
            and active
            and o.status == SettlementOffer.Status.OPEN
            and o.proposed_by_id != user.pk,
        }
        for o in offers
    ]
    posts, other_files = _posts(dispute, user.pk)
    resolved = dispute.status == Dispute.Status.RESOLVED
    payout = refund = None
    if resolved and m is not None:
        payout = Payout.objects.filter(milestone=m).first() if dispute.seller_amount_minor else None
        refund = _refund_of(order, m) if dispute.refund_amount_minor else None
    currency = order.currency
    context = {
        "dispute": dispute,
        "order": order,
        "milestone": m,
        "holds": holds,
        "at_stake": at_stake,
        "order_dispute": dispute.is_order_dispute,
        "currency": currency,
        "is_party": is_party,
        "chargeback": chargeback,
        "is_buyer": user.pk == order.buyer_id,
        "is_opener": user.pk == dispute.opened_by_id,
        "opener_role": _role(dispute, dispute.opened_by_id),
        "other_party": "seller" if user.pk == order.buyer_id else "buyer",
        "posts": posts,
        "other_files": other_files,
        "offer_rows": offer_rows,
        "payout": payout,
        "refund": refund,
        "respond_form": (bound.get("respond") or RespondForm(auto_id="respond-%s")) if can_respond else None,
        "message_form": (bound.get("message") or MessageForm(auto_id="message-%s")) if active else None,
        "offer_form": (
            (bound.get("offer") or OfferForm(auto_id="offer-%s", milestone=m, price_minor=at_stake, currency=currency))
            if is_party and active and (m is not None or dispute.is_order_dispute)
            else None
        ),
        "withdraw_form": (
            (bound.get("withdraw") or WithdrawForm(auto_id="withdraw-%s"))
            if active and user.pk == dispute.opened_by_id and not dispute.has_pending_decision
            else None
        ),
        "response_over": dispute.status == Dispute.Status.AWAITING_RESPONSE
        and dispute.response_due_at is not None
        and dispute.response_due_at <= now,
    }
    return render(request, "disputes/dispute_detail.html", context, status=status)


def _perform(request, dispute: Dispute, key: str, form, action: Callable[[], str]):
    """Run a service for a valid form: its message on success; NotFound is a 404; input errors go
    back to the form; any other refusal is a message. The services write nothing when they refuse."""
    if form.is_valid():
        try:
            done = action()
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except ValidationFailed as exc:
            form.apply_service_errors(exc.errors)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("dispute-detail", pk=dispute.pk)
        else:
            messages.success(request, done)
            return redirect("dispute-detail", pk=dispute.pk)
    # Re-read: the page shows the dispute as it is now (nothing was written).
    return _page(request, _dispute_or_404(request, dispute.pk), bound={key: form})


# --- opening a dispute --------------------------------------------------------------------------


def _milestone_for_party(request, milestone_id: int) -> OrderMilestone:
    m = (
        OrderMilestone.objects.select_related("order__buyer__seller_profile", "order__seller__seller_profile")
        .filter(Q(order__buyer=request.user) | Q(order__seller=request.user), pk=milestone_id)
        .exclude(order__status__in=[Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED])
        .first()
    )
    if m is None:
        raise Http404("No such milestone.")
    return m


def _why_not(order: Order, m: OrderMilestone) -> str:
    """Why the milestone cannot be disputed now, as the service would say it ("" if it can)."""
    if m.status in OrderMilestone.DISPUTABLE and order.status == Order.Status.ACTIVE:
        return ""
    if m.status == MS.ACCEPTED and order.status in (Order.Status.ACTIVE, Order.Status.COMPLETED):
        payout = Payout.objects.filter(milestone=m).first()
        if payout is not None and payout.status == Payout.Status.PENDING_CLEARANCE and not payout.frozen:
            # A dispute's refund shrinks the payout below the price (an order dispute's too).
            refunded = payout.gross_minor < m.price_minor
            if not refunded and not Dispute.objects.filter(milestone=m, refund_amount_minor__gt=0).exists():
                return ""
            return f"Milestone {m.position + 1} was already refunded in part in a dispute."
        return f"The money of milestone {m.position + 1} has cleared: it can no longer be disputed."
    return (
        f"Milestone {m.position + 1} is {m.get_status_display().lower()}: only a milestone in progress, delivered, "
        "in revision, or accepted with its money still pending clearance can be disputed."
    )


@login_required
def dispute_open(request, milestone_id: int):
    """GET: the form to dispute a milestone of the viewer's order (or why it cannot be disputed
    now; an active dispute opens instead). POST: open it and go to the dispute page."""
    m = _milestone_for_party(request, milestone_id)
    order = m.order
    active = Dispute.objects.filter(milestone=m, status__in=Dispute.ACTIVE).first()
    if active is not None:
        messages.info(request, "A dispute about this milestone is already open.")
        return redirect("dispute-detail", pk=active.pk)
    whole = services.order_dispute_holding(m.pk)
    if whole is not None:
        messages.info(request, "The dispute about the whole order holds this milestone: write there.")
        return redirect("dispute-detail", pk=whole.pk)
    form = DisputeOpenForm(request.POST or None, request.FILES or None, milestone=m, currency=order.currency)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dispute = services.dispute_open(
                milestone_id=m.pk,
                user=request.user,
                reason=data["reason"],
                description=data["description"],
                outcome_wanted=data["outcome_wanted"],
                amount_wanted_minor=data["amount_wanted"],
                files=data["files"],
            )
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except ValidationFailed as exc:
            form.apply_service_errors(exc.errors)
        except DomainError as exc:  # not disputable now, or opened meanwhile: nothing was written
            form.add_error(None, exc.message)
        else:
            other = "seller" if request.user.pk == order.buyer_id else "buyer"
            messages.success(
                request,
                f"Dispute opened: milestone {m.position + 1} is on hold. The {other} has until "
                f"{timezone.localtime(dispute.response_due_at):%b %-d, %H:%M} to answer.",
            )
            return redirect("dispute-detail", pk=dispute.pk)
    return render(
        request,
        "disputes/dispute_open.html",
        {
            "order": order,
            "milestone": m,
            "number": m.position + 1,
            "is_buyer": request.user.pk == order.buyer_id,
            "other_party": "seller" if request.user.pk == order.buyer_id else "buyer",
            "why_not": _why_not(order, m) if request.method == "GET" else "",
            "form": form,
            "response_days": settings.MARKETPLACE["DISPUTE_RESPONSE_DAYS"],
            "whole_order_allowed": _whole_order_refusal(order) is None,
        },
    )


def _whole_order_refusal(order: Order) -> str | None:
    """Why the whole order cannot be disputed now (the service's message), or None if it can."""
    milestones = list(OrderMilestone.objects.filter(order=order).order_by("position"))
    refusal = services.order_dispute_refusal(order, milestones)
    return refusal.message if refusal is not None else None


def _order_for_party(request, order_id: int) -> Order:
    order = (
        Order.objects.select_related("buyer__seller_profile", "seller__seller_profile")
        .filter(Q(buyer=request.user) | Q(seller=request.user), pk=order_id)
        .exclude(status__in=[Order.Status.PENDING_PAYMENT, Order.Status.EXPIRED])
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    return order


@login_required
def order_dispute_open(request, order_id: int):
    """GET: the form to dispute the whole order (or why it cannot be disputed now; an active order
    dispute opens instead), with the milestones it would hold. POST: open it (the service holds
    every milestone within reach at once) and go to the dispute page."""
    order = _order_for_party(request, order_id)
    active = Dispute.objects.filter(order=order, kind=Dispute.Kind.ORDER, status__in=Dispute.ACTIVE).first()
    if active is not None:
        messages.info(request, "A dispute about this order is already open.")
        return redirect("dispute-detail", pk=active.pk)
    milestones = list(OrderMilestone.objects.filter(order=order).order_by("position"))
    refusal = services.order_dispute_refusal(order, milestones)
    within = services.order_dispute_within(milestones)
    total = sum(m.price_minor for m in within)
    form = DisputeOpenForm(request.POST or None, request.FILES or None, price_minor=total, currency=order.currency)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dispute = services.dispute_open_order(
                order_id=order.pk,
                user=request.user,
                reason=data["reason"],
                description=data["description"],
                outcome_wanted=data["outcome_wanted"],
                amount_wanted_minor=data["amount_wanted"],
                files=data["files"],
            )
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except ValidationFailed as exc:
            form.apply_service_errors(exc.errors)
        except DomainError as exc:  # not disputable now, or a dispute opened meanwhile: nothing written
            form.add_error(None, exc.message)
        else:
            other = "seller" if request.user.pk == order.buyer_id else "buyer"
            messages.success(
                request,
                f"Dispute opened: order #{order.pk} is on hold. The {other} has until "
                f"{timezone.localtime(dispute.response_due_at):%b %-d, %H:%M} to answer.",
            )
            return redirect("dispute-detail", pk=dispute.pk)
    return render(
        request,
        "disputes/order_dispute_open.html",
        {
            "order": order,
            "within": within,
            "total": total,
            "is_buyer": request.user.pk == order.buyer_id,
            "other_party": "seller" if request.user.pk == order.buyer_id else "buyer",
            "why_not": refusal.message if refusal is not None and request.method == "GET" else "",
            "form": form,
            "response_days": settings.MARKETPLACE["DISPUTE_RESPONSE_DAYS"],
        },
    )


@login_required
@require_GET
def milestone_dispute(request, milestone_id: int):
    """The order page's "View dispute": the milestone's active dispute, else its latest one."""
    m = _milestone_for_party(request, milestone_id)
    # Its own disputes, and the order disputes (and chargebacks) that held it.
    disputes = list(
        Dispute.objects.filter(Q(milestone=m) | Q(holds__milestone=m)).distinct().order_by("-created_at", "-id")
    )
    dispute = next((d for d in disputes if d.is_active), disputes[0] if disputes else None)
    if dispute is None:
        raise Http404("This milestone has no dispute.")
    return redirect("dispute-detail", pk=dispute.pk)


# --- the dispute page and its forms ---------------------------------------------------------------


@login_required
@require_GET
def dispute_detail(request, pk: int):
    """The dispute for its parties: where it stands, the statements and thread with their files,
    the settlement offers, the forms the viewer may use now, and the outcome once decided."""
    return _page(request, _dispute_or_404(request, pk))


@login_required
@require_POST
def dispute_respond(request, pk: int):
    """The other party answers within the response window, with evidence."""
    dispute = _dispute_or_404(request, pk)
    form = RespondForm(request.POST, request.FILES, auto_id="respond-%s")

    def act() -> str:
        services.dispute_respond(
            dispute_id=dispute.pk,
            user=request.user,
            statement=form.cleaned_data["statement"],
            files=form.cleaned_data["files"],
        )
        return "Your answer is posted: the platform reviews the dispute now."

    return _perform(request, dispute, "respond", form, act)


@login_required
@require_POST
def dispute_message(request, pk: int):
    """Either party (or the platform) writes to the thread, with files."""
    dispute = _dispute_or_404(request, pk)
    form = MessageForm(request.POST, request.FILES, auto_id="message-%s")

    def act() -> str:
        services.dispute_message_post(
            dispute_id=dispute.pk, user=request.user, body=form.cleaned_data["body"], files=form.cleaned_data["files"]
        )
        return "Message posted."

    return _perform(request, dispute, "message", form, act)


@login_required
@require_POST
def offer_propose(request, pk: int):
    """A party proposes an amount for the seller, the rest refunded."""
    dispute = _dispute_or_404(request, pk)
    if dispute.milestone is None and not dispute.is_order_dispute:
        raise Http404("This dispute has no milestone to settle.")
    currency = dispute.order.currency
    at_stake = services.amount_at_stake(dispute)
    form = OfferForm(
        request.POST, auto_id="offer-%s", milestone=dispute.milestone, price_minor=at_stake, currency=currency
    )

    def act() -> str:
        offer = services.settlement_propose(
            dispute_id=dispute.pk, user=request.user, seller_amount_minor=form.cleaned_data["seller_amount"]
        )
        rest = at_stake - offer.seller_amount_minor
        return (
            f"Offer sent: {format_money(offer.seller_amount_minor, currency)} to the seller, "
            f"{format_money(rest, currency)} refunded to the buyer. The other party accepts or declines it."
        )

    return _perform(request, dispute, "offer", form, act)


def _offer_of(dispute: Dispute, offer_id: int) -> SettlementOffer:
    offer = next((o for o in dispute.offers.all() if o.pk == offer_id), None)
    if offer is None:
        raise Http404("No such offer.")
    return offer


@login_required
@require_POST
def offer_answer(request, pk: int, offer_id: int):
    """The other party accepts (the dispute resolves, the money moves) or declines an open offer."""
    dispute = _dispute_or_404(request, pk)
    offer = _offer_of(dispute, offer_id)
    answer = request.POST.get("answer")
    if answer not in ("accept", "decline"):
        messages.error(request, "Choose Accept or Decline.")
        return redirect("dispute-detail", pk=dispute.pk)
    currency = dispute.order.currency
    try:
        if answer == "accept":
            done = services.settlement_accept(offer_id=offer.pk, user=request.user)
            messages.success(
                request,
                f"Settlement accepted: {format_money(done.seller_amount_minor, currency)} to the seller, "
                f"{format_money(done.refund_amount_minor, currency)} refunded to the buyer. The dispute is resolved.",
            )
        else:
            services.settlement_decline(offer_id=offer.pk, user=request.user)
            messages.success(request, "Offer declined. The dispute goes on.")
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("dispute-detail", pk=dispute.pk)


@login_required
@require_POST
def dispute_withdraw(request, pk: int):
    """The opener withdraws the dispute until it is decided: the milestone goes on."""
    dispute = _dispute_or_404(request, pk)
    form = WithdrawForm(request.POST, auto_id="withdraw-%s")

    def act() -> str:
        services.dispute_withdraw(dispute_id=dispute.pk, user=request.user, note=form.cleaned_data["note"])
        if dispute.is_order_dispute:
            return "Dispute withdrawn: the order goes on where it was."
        return "Dispute withdrawn: the milestone goes on where it was."

    return _perform(request, dispute, "withdraw", form, act)


# --- lists and files ------------------------------------------------------------------------------


@login_required
@require_GET
def my_disputes(request):
    """Disputes on the viewer's orders, as buyer or seller, newest first (a fixed number of
    queries whatever the page holds)."""
    page = Paginator(_party_disputes(request.user), DISPUTE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "dispute": d,
            "role": "buyer" if d.order.buyer_id == request.user.pk else "seller",
            "other": d.order.seller if d.order.buyer_id == request.user.pk else d.order.buyer,
            "mine": d.opened_by_id == request.user.pk,
        }
        for d in page.object_list
    ]
    return render(request, "disputes/dispute_list.html", {"page": page, "rows": rows})


@login_required
@require_GET
def evidence_file(request, pk: int, evidence_id: int):
    """An evidence file, for the dispute's parties (and staff who may see disputes) only, 404 for
    anyone else; streamed from storage as an attachment under its original name, never from a
    public media URL and never rendered inline."""
    dispute = _dispute_or_404(request, pk)
    row = next((e for e in dispute.evidence.all() if e.pk == evidence_id), None)
    if row is None:
        raise Http404("No such file.")
    try:
        handle = row.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        log.warning("Dispute evidence %s is missing from storage", row.pk)
        raise Http404("This file is not available.") from exc
    response = FileResponse(handle, as_attachment=True, filename=row.name)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
