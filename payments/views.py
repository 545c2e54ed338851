"""Checkout and order pages: checkout, the pay step (the local provider's card page or Stripe's
Payment Element), the order page with the milestone actions (deliver, accept, revise, cancel,
stop), delivery file downloads, the receipt, the buyer's and seller's order lists, and the
seller's earnings.

Every write goes through the services (payments.services, payments.lifecycle, milestones.lifecycle);
amounts are computed on the server. Someone else's order, milestone or file is a 404, never a hint
that it exists. A refused action changes nothing: a domain error comes back as a message on the
order page, an input error next to its field.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from gigs import selectors as gig_selectors
from gigs.models import Package
from marketplace.exceptions import DomainError, NotFound, ValidationFailed
from marketplace.money import format_money
from milestones import lifecycle as milestone_lifecycle
from milestones.exceptions import OrderRefused
from milestones.models import CancellationRequest, DeliveryFile, Order, OrderMilestone
from milestones.order_services import order_quote

from . import ledger, lifecycle, selectors, services
from .exceptions import PaymentRefused, ProviderUnavailable
from .fees import order_fees
from .forms import ActionForm, CancellationRequestForm, CardForm, CheckoutForm, ConfirmForm, DeliverForm, RevisionForm
from .gateways import gateway
from .models import Payment

log = logging.getLogger(__name__)

ORDER_PAGE_SIZE = 20
LOCAL = "local"
# Provider intent states meaning the money is on its way: the order activates when the inbox
# applies the provider's event.
PROVIDER_PAID = ("succeeded", "processing")


def _order_or_404(request, pk: int, *, buyer_only: bool = False, full: bool = False) -> Order:
    """The order for its parties (or its buyer only); `full` adds deliveries, requests and refunds."""
    try:
        if buyer_only:
            return selectors.order_get_for_buyer(user=request.user, pk=pk)
        if full:
            return selectors.order_get_with_lifecycle(user=request.user, pk=pk)
        return selectors.order_get_for_party(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _fee_rows(order_like) -> list[tuple[str, int]]:
    rows = [("Service fee", order_like.service_fee_minor)]
    if order_like.small_order_fee_minor:
        rows.append(("Small order fee", order_like.small_order_fee_minor))
    return rows


# --- checkout -----------------------------------------------------------------------------------


@login_required
def checkout(request, slug: str, tier: str):
    """GET: the package, its milestones, the fees and the total, and the requirement questions with
    a fresh checkout token. POST: place the order and go to the pay step. The same token twice,
    or a second tab while this package already waits for payment, gives one order (the one
    already placed, with the latest answers)."""
    try:
        gig = gig_selectors.gig_get_for_viewer(slug=slug, user=request.user)
    except NotFound as exc:
        # Someone else's draft or paused gig is a 404 like a missing one (templates/404.html
        # shows this message): the page must not tell them apart.
        raise Http404("This gig cannot be ordered: it does not exist or is not on sale right now.") from exc
    if tier not in Package.Tier.values:
        raise Http404("This gig has no such package.")
    if gig.seller_id == request.user.pk:
        messages.error(request, "You cannot order your own gig.")
        return redirect(gig.get_absolute_url())
    try:
        quote = order_quote(gig=gig, tier=tier)
    except OrderRefused as exc:
        raise Http404(exc.message) from exc
    requirements = list(gig.requirements.all())

    form = CheckoutForm(request.POST or None, requirements=requirements)
    if request.method == "POST" and form.is_valid():
        try:
            order, _ = services.checkout_place_order(
                buyer=request.user,
                gig=gig,
                tier=tier,
                checkout_token=form.cleaned_data["checkout_token"],
                answers=form.answers(),
            )
        except ValidationFailed as exc:
            form.apply_service_errors(exc)
        except DomainError as exc:  # OrderRefused, SellerCannotReceive: nothing was written
            form.add_error(None, exc.message)
        else:
            if order.checkout_token != form.cleaned_data["checkout_token"]:
                # Another tab or an earlier visit placed this package already: one order, one payment.
                answers = ", with the answers you just gave," if requirements else ""
                messages.info(
                    request,
                    f"You already have this package waiting for payment: we kept that order{answers} "
                    "instead of placing a second one.",
                )
            return redirect("order-pay", pk=order.pk)

    return render(
        request,
        "payments/checkout.html",
        {
            "gig": gig,
            "package": quote.package,
            "lines": quote.lines,
            **_checkout_totals(quote.subtotal_minor, gig.currency),
            "total_days": sum(line.delivery_days for line in quote.lines),
            # Known before the buyer fills anything in (Stripe mode, seller not onboarded yet).
            "cannot_receive": not services.seller_can_receive(gig.seller),
            "form": form,
        },
    )


def _checkout_totals(subtotal_minor: int, currency: str) -> dict:
    """What both checkout pages (a gig package, a custom offer) show under the milestones: the
    subtotal, the fees itemized with their rules, the total, and the checkout window."""
    fees = order_fees(subtotal_minor, currency)
    rules = settings.MARKETPLACE
    return {
        "subtotal_minor": subtotal_minor,
        "fee_rows": _fee_rows(fees),
        "total_minor": subtotal_minor + fees.service_fee_minor + fees.small_order_fee_minor,
        "service_fee_note": f"{rules['BUYER_SERVICE_FEE_BPS'] / 100:g}% of the subtotal",
        "small_order_threshold": format_money(rules["SMALL_ORDER_THRESHOLD_MINOR"], currency),
        "expiry_minutes": rules["CHECKOUT_EXPIRY_MINUTES"],
    }


# --- paying -------------------------------------------------------------------------------------


def _provider_status(payment: Payment) -> str:
    """The intent's status at the provider ("" when it cannot be asked). The provider knows of a
    success before the inbox has applied its event."""
    try:
        return gateway().retrieve_payment(payment.provider_payment_id).status
    except Exception:  # the page still works (and refreshes) without the provider's answer
        log.warning("Could not retrieve payment %s", payment.provider_payment_id, exc_info=True)
        return ""


def _not_payable_redirect(request, order: Order):
    if order.status == Order.Status.EXPIRED and order.offer_id is not None:
        messages.error(
            request,
            "This order expired before it was paid. While the offer is live, accept it again from the project page.",
        )
    elif order.status == Order.Status.EXPIRED:
        messages.error(request, "This order expired before it was paid. Place a new order to buy this package.")
    elif order.status == Order.Status.CANCELLED:
        messages.error(request, "This order was cancelled.")
    else:
        messages.info(request, "This order is already paid.")
    return redirect("order-detail", pk=order.pk)


@login_required
def order_pay(request, pk: int):
    """The pay step, for the order's buyer. Local provider: a simulated card form (and a
    confirmation step for cards that ask for one). Stripe: the Payment Element."""
    order = _order_or_404(request, pk, buyer_only=True)
    if not order.is_payable:
        return _not_payable_redirect(request, order)
    try:
        payment = services.payment_start(order=order)
    except PaymentRefused:
        return _not_payable_redirect(request, order)
    except ProviderUnavailable:
        log.warning("Payment provider unavailable for order %s", order.pk, exc_info=True)
        return render(
            request,
            "payments/pay.html",
            {"order": order, "fee_rows": _fee_rows(order), "unavailable": True},
            status=503,
        )
    if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.PROCESSING):
        return redirect("order-detail", pk=order.pk)

    context = {"order": order, "payment": payment, "fee_rows": _fee_rows(order)}
    if payment.provider != LOCAL:
        if request.method == "POST":
            return redirect("order-pay", pk=order.pk)
        return render(
            request,
            "payments/pay.html",
            {
                **context,
                "stripe": True,
                "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                "return_url": request.build_absolute_uri(reverse("order-detail", args=[order.pk])),
            },
        )
    return _local_card_page(request, order, payment, context)


def _local_card_page(request, order: Order, payment: Payment, context: dict):
    """The simulated card form; `card_error` is the provider's answer (a decline), form errors
    are the input's (a number too short)."""
    provider = gateway()
    form = CardForm()
    if request.method == "POST":
        action = request.POST.get("action", "pay")
        outcome = None
        if action in ("confirm", "cancel"):
            outcome = provider.confirm_action(payment.provider_payment_id, approve=action == "confirm")
        else:
            form = CardForm(request.POST)
            if form.is_valid():
                outcome = provider.submit_card(payment.provider_payment_id, form.cleaned_data["card_number"])
        if outcome is None:
            return render(request, "payments/pay.html", {**context, "form": form, "card": True})
        if outcome.status in ("succeeded", "already_paid"):
            return redirect("order-detail", pk=order.pk)
        if outcome.status == "requires_action":
            return redirect("order-pay", pk=order.pk)  # the confirmation step, safe to reload
        # Declined: the order stays payable and the card can be tried again on the same payment.
        return render(
            request, "payments/pay.html", {**context, "form": CardForm(), "card": True, "card_error": outcome.message}
        )

    intent_status = _provider_status(payment)
    if intent_status in PROVIDER_PAID:
        return redirect("order-detail", pk=order.pk)
    if intent_status == "requires_action":
        return render(request, "payments/pay.html", {**context, "confirm_step": True})
    last_error = ""
    if payment.status == Payment.Status.FAILED and payment.failure_message:
        last_error = f"Your last attempt did not go through: {payment.failure_message}"
    return render(request, "payments/pay.html", {**context, "form": form, "card": True, "card_error": last_error})


# --- the order and its receipt --------------------------------------------------------------------


@login_required
def order_detail(request, pk: int):
    """The order for its buyer or its seller: milestones and where their money stands, what the
    viewer may do on each now, deliveries and requests, the payment, the answers, and the fees
    (the buyer's) or the amounts after commission (the seller's). Refreshes itself while a
    payment is being processed."""
    order = _order_or_404(request, pk, full=True)
    return _order_page(request, order)


def _stop_label(offer: selectors.StopOffer, currency: str) -> str:
    amount = format_money(offer.refund_minor, currency)
    word = "Milestone" if len(offer.milestones) == 1 else "Milestones"
    return (
        f"I understand: {word.lower()} {offer.positions} {'is' if len(offer.milestones) == 1 else 'are'} "
        f"cancelled and {amount} is refunded to me. This cannot be undone."
    )


def _late_label(order: Order, milestone: OrderMilestone) -> str:
    rest = [m for m in order.milestones.all() if m.status == OrderMilestone.Status.LOCKED]
    amount = format_money(milestone.price_minor + sum(m.price_minor for m in rest), order.currency)
    what = "this milestone and the ones after it are" if rest else "this milestone is"
    return f"I understand: {what} cancelled and {amount} is refunded to me."


# Where an open cancellation request is still shown with its answer buttons (a milestone
# delivered meanwhile can only be declined).
ANSWERABLE = OrderMilestone.WORKING | {OrderMilestone.Status.DELIVERED}


def _history(milestone: OrderMilestone) -> list[dict]:
    """Deliveries and revision requests in the order they happened, deliveries numbered."""
    items = [{"kind": "delivery", "obj": d, "n": i} for i, d in enumerate(milestone.deliveries.all(), 1)]
    items += [{"kind": "revision", "obj": r} for r in milestone.revision_requests.all()]
    return sorted(items, key=lambda item: (item["obj"].created_at, item["kind"] == "revision"))


def _order_page(request, order: Order, *, bound: dict | None = None):
    """Render the order page; `bound` holds a form that came back with errors, keyed by (action,
    milestone id), shown in place of the empty one. A form the page no longer offers (the state
    changed meanwhile) has its errors shown as messages instead."""
    bound = bound or {}
    shown: set = set()
    user = request.user
    is_buyer = order.buyer_id == user.pk
    payment = selectors.order_payment(order)
    processing = False
    if order.status == Order.Status.PENDING_PAYMENT and payment is not None and is_buyer:
        # Paid at the provider, but the inbox has not applied the event yet (or the provider
        # is still processing): the page reloads until the order becomes active.
        processing = payment.status in PROVIDER_PAID or _provider_status(payment) in PROVIDER_PAID
    milestones = list(order.milestones.all())
    seller_lines = selectors.seller_lines(order) if not is_buyer else []
    now = timezone.now()

    def form(action: str, m: OrderMilestone, cls, **kwargs):
        shown.add((action, m.pk))
        return bound.get((action, m.pk)) or cls(auto_id=f"{action}-{m.pk}-%s", **kwargs)

    rows = []
    for i, m in enumerate(milestones):
        actions = selectors.milestone_actions(order, m, user=user, now=now)
        request_open = selectors.open_cancellation_request(m)
        if request_open is not None and (order.status != Order.Status.ACTIVE or m.status not in ANSWERABLE):
            # Left open on a milestone that ended another way; the expiry sweep withdraws it.
            request_open = None
        rows.append(
            {
                "milestone": m,
                "number": m.position + 1,
                "escrow": selectors.milestone_escrow_state(order, m),
                "payout": selectors.milestone_payout(m),
                "refund": selectors.milestone_refund(order, m),
                "line": seller_lines[i] if seller_lines else None,
                "actions": actions,
                "open_request": request_open,
                "request_mine": request_open is not None and request_open.requested_by_id == user.pk,
                "past_requests": [
                    r for r in m.cancellation_requests.all() if r.status != CancellationRequest.Status.OPEN
                ],
                "late_after": selectors.late_after(m),
                "history": _history(m),
                "starts_next": any(o.status == OrderMilestone.Status.LOCKED for o in milestones[i + 1 :]),
                "deliver_form": form(selectors.DELIVER, m, DeliverForm) if selectors.DELIVER in actions else None,
                "revise_form": form(selectors.REVISE, m, RevisionForm) if selectors.REVISE in actions else None,
                "cancel_form": (
                    form(selectors.ASK_CANCEL, m, CancellationRequestForm) if selectors.ASK_CANCEL in actions else None
                ),
                "late_form": (
                    form(selectors.CANCEL_LATE, m, ConfirmForm, label=_late_label(order, m))
                    if selectors.CANCEL_LATE in actions
                    else None
                ),
            }
        )
    stop = selectors.order_stop_offer(order, user=user)
    stop_form = None
    if stop is not None:
        shown.add(("stop", order.pk))
        stop_form = bound.get(("stop", order.pk)) or ConfirmForm(
            auto_id="stop-%s", label=_stop_label(stop, order.currency)
        )
    hidden = [f for key, f in bound.items() if key not in shown]
    if hidden:
        for f in hidden:
            for errors in f.errors.values():
                for error in errors:
                    messages.error(request, error)
        return _back(order)
    return render(
        request,
        "payments/order_detail.html",
        {
            "order": order,
            "is_buyer": is_buyer,
            "payment": payment,
            "receipt": selectors.order_receipt(order),
            "processing": processing,
            "rows": rows,
            "stop": stop,
            "stop_form": stop_form,
            "summary": selectors.order_money_summary(order),
            "escrow_state": selectors.escrow_state(order),
            "escrow_minor": ledger.escrow_balance(order),
            "fee_rows": _fee_rows(order),
            "commission_minor": sum(line.commission_minor for line in seller_lines),
            "seller_net_minor": sum(line.net_minor for line in seller_lines),
            "commission_percent": order.commission_bps / 100,
            "review_days": settings.MARKETPLACE["REVIEW_DAYS"],
            "late_hours": settings.MARKETPLACE["LATE_CANCEL_HOURS"],
            "answer_hours": settings.MARKETPLACE["CANCELLATION_ANSWER_HOURS"],
        },
    )


# --- milestone actions: small POST forms of the order page ----------------------------------------


def _milestone_or_404(request, pk: int, milestone_id: int) -> tuple[Order, OrderMilestone]:
    """The order (for its parties only) and one of its milestones; 404 otherwise."""
    order = _order_or_404(request, pk, full=True)
    milestone = next((m for m in order.milestones.all() if m.pk == milestone_id), None)
    if milestone is None:
        raise Http404("No such milestone.")
    return order, milestone


def _back(order: Order, milestone: OrderMilestone | None = None):
    anchor = f"#milestone-{milestone.position + 1}" if milestone is not None else ""
    return redirect(reverse("order-detail", args=[order.pk]) + anchor)


def _perform(request, order: Order, key: tuple, form, action: Callable[[], str], *, milestone=None):
    """Run a service for a valid form: its message on success; NotFound is a 404 (not the
    viewer's to act on); input errors go back to the form; any other refusal is a message. The
    services write nothing when they refuse."""
    if form.is_valid():
        try:
            done = action()
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except ValidationFailed as exc:
            form.apply_service_errors(exc.errors)
        except DomainError as exc:
            messages.error(request, exc.message)
            return _back(order, milestone)
        else:
            messages.success(request, done)
            return _back(order, milestone)
    # Show the form with its errors on a fresh read of the order (nothing was written).
    order = _order_or_404(request, order.pk, full=True)
    return _order_page(request, order, bound={key: form})


def _when(value) -> str:
    return f"{timezone.localtime(value):%b %-d, %H:%M}"


@login_required
@require_POST
def milestone_deliver(request, pk: int, milestone_id: int):
    """The seller delivers a milestone in progress (or after a revision request)."""
    order, m = _milestone_or_404(request, pk, milestone_id)
    form = DeliverForm(request.POST, request.FILES, auto_id=f"deliver-{m.pk}-%s")

    def act() -> str:
        milestone_lifecycle.milestone_deliver(
            milestone_id=m.pk,
            seller=request.user,
            message=form.cleaned_data["message"],
            files=form.cleaned_data["files"],
        )
        m.refresh_from_db(fields=["review_deadline"])
        return (
            f"Milestone {m.position + 1} delivered. The buyer has until {_when(m.review_deadline)} to review it; "
            "then it is accepted automatically."
        )

    return _perform(request, order, (selectors.DELIVER, m.pk), form, act, milestone=m)


@login_required
@require_POST
def milestone_accept(request, pk: int, milestone_id: int):
    """The buyer accepts a delivered milestone: its money is released to the seller."""
    order, m = _milestone_or_404(request, pk, milestone_id)
    form = ActionForm({})

    def act() -> str:
        lifecycle.milestone_accept(milestone_id=m.pk, buyer=request.user)
        return f"Milestone {m.position + 1} accepted: its money is released to the seller."

    return _perform(request, order, (selectors.ACCEPT, m.pk), form, act, milestone=m)


@login_required
@require_POST
def milestone_request_revision(request, pk: int, milestone_id: int):
    """The buyer asks for changes to a delivered milestone (one of its revisions)."""
    order, m = _milestone_or_404(request, pk, milestone_id)
    form = RevisionForm(request.POST, auto_id=f"revise-{m.pk}-%s")

    def act() -> str:
        milestone_lifecycle.milestone_request_revision(
            milestone_id=m.pk, buyer=request.user, reason=form.cleaned_data["reason"]
        )
        return f"Revision requested for milestone {m.position + 1}. The seller will deliver it again."

    return _perform(request, order, (selectors.REVISE, m.pk), form, act, milestone=m)


@login_required
@require_POST
def milestone_cancel_request(request, pk: int, milestone_id: int):
    """Either party asks to cancel a milestone in progress (or a delivery with no revisions left);
    the other answers."""
    order, m = _milestone_or_404(request, pk, milestone_id)
    form = CancellationRequestForm(request.POST, auto_id=f"ask_cancel-{m.pk}-%s")

    def act() -> str:
        auto = lifecycle.cancellation_auto_accepts(m)  # before the request: m is as the user saw it
        req = lifecycle.cancellation_request(milestone_id=m.pk, user=request.user, reason=form.cleaned_data["reason"])
        other = "seller" if request.user.pk == order.buyer_id else "buyer"
        if auto:
            return (
                f"Cancellation of milestone {m.position + 1} requested. If the {other} does not answer by "
                f"{_when(req.expires_at)}, it is accepted."
            )
        return (
            f"Cancellation of milestone {m.position + 1} requested. The {other} has until {_when(req.expires_at)} "
            "(the review deadline) to answer; without an answer the milestone is accepted automatically."
        )

    return _perform(request, order, (selectors.ASK_CANCEL, m.pk), form, act, milestone=m)


@login_required
@require_POST
def milestone_cancel_late(request, pk: int, milestone_id: int):
    """The buyer cancels a milestone whose seller is LATE_CANCEL_HOURS past the due date."""
    order, m = _milestone_or_404(request, pk, milestone_id)
    form = ConfirmForm(request.POST, auto_id=f"cancel_late-{m.pk}-%s", label=_late_label(order, m))

    def act() -> str:
        refund = lifecycle.milestone_cancel_late(milestone_id=m.pk, buyer=request.user)
        return (
            f"Milestone {m.position + 1} cancelled: {format_money(refund.amount_minor, refund.currency)} "
            "is refunded to you."
        )

    return _perform(request, order, (selectors.CANCEL_LATE, m.pk), form, act, milestone=m)


@login_required
@require_POST
def cancellation_answer(request, pk: int, request_id: int):
    """The other party accepts (the milestone and those after it are cancelled and refunded) or
    declines a cancellation request."""
    order = _order_or_404(request, pk, full=True)
    req = CancellationRequest.objects.filter(pk=request_id, milestone__order=order).first()
    if req is None:
        raise Http404("No such request.")
    milestone = next(m for m in order.milestones.all() if m.pk == req.milestone_id)
    answer = request.POST.get("answer")
    if answer not in ("accept", "decline"):
        messages.error(request, "Choose Accept or Decline.")
        return _back(order, milestone)
    form = ActionForm({})

    def act() -> str:
        lifecycle.cancellation_answer(request_id=req.pk, user=request.user, accept=answer == "accept")
        if answer == "accept":
            return f"Cancellation accepted: milestone {milestone.position + 1} is cancelled and refunded."
        return f"Cancellation declined: milestone {milestone.position + 1} goes on."

    return _perform(request, order, ("answer", req.pk), form, act, milestone=milestone)


@login_required
@require_POST
def order_stop(request, pk: int):
    """The buyer stops the order after an accepted milestone: milestones not started are
    cancelled and refunded."""
    order = _order_or_404(request, pk, full=True)
    if order.buyer_id != request.user.pk:
        raise Http404("No such order.")  # the buyer's decision; the seller asks to cancel instead
    offer = selectors.order_stop_offer(order, user=request.user)
    label = _stop_label(offer, order.currency) if offer else ""
    form = ConfirmForm(request.POST, auto_id="stop-%s", label=label)

    def act() -> str:
        refund = lifecycle.order_stop(order_id=order.pk, buyer=request.user)
        return f"Order stopped: {format_money(refund.amount_minor, refund.currency)} is refunded to you."

    return _perform(request, order, ("stop", order.pk), form, act)


@login_required
@require_GET
def delivery_file(request, pk: int, file_id: int):
    """A delivered file, for the order's buyer and seller only (404 for anyone else), streamed
    from storage as an attachment: never a public media URL, never rendered inline."""
    order = _order_or_404(request, pk)
    row = DeliveryFile.objects.filter(pk=file_id, delivery__milestone__order=order).first()
    if row is None:
        raise Http404("No such file.")
    try:
        handle = row.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        log.warning("Delivery file %s is missing from storage", row.pk)
        raise Http404("This file is not available.") from exc
    response = FileResponse(handle, as_attachment=True, filename=row.name)
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def order_receipt(request, pk: int):
    """The printable receipt of a paid order, for its buyer and its seller; 404 until paid."""
    order = _order_or_404(request, pk)
    receipt = selectors.order_receipt(order)
    if receipt is None:
        raise Http404("This order has no receipt yet.")
    return render(
        request,
        "payments/receipt.html",
        {
            "order": order,
            "receipt": receipt,
            "payment": selectors.order_payment(order),
            "milestones": list(order.milestones.all()),
            "fee_rows": _fee_rows(order),
        },
    )


# --- lists --------------------------------------------------------------------------------------


def _order_list(request, role: str):
    page = Paginator(selectors.order_list_for(user=request.user, role=role), ORDER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    orders = list(page.object_list)
    held = selectors.escrow_held(orders)
    rows = [
        {
            "order": o,
            "amount_minor": selectors.seller_net_minor(o) if role == selectors.SELLER else o.total_minor,
            "escrow_minor": held.get(o.pk, 0),
            "escrow_state": selectors.escrow_state(o),
        }
        for o in orders
    ]
    return render(
        request,
        "payments/order_list.html",
        {"page": page, "rows": rows, "role": role, "is_seller": role == selectors.SELLER},
    )


@login_required
def my_orders(request):
    return _order_list(request, selectors.BUYER)


@login_required
def orders_received(request):
    return _order_list(request, selectors.SELLER)


# --- seller earnings --------------------------------------------------------------------------------

EARNINGS_PAGE_SIZE = 25
# Stripe's sign-in page for Express accounts: the seller signs in there with their own account.
# (A one-off login link would need a gateway call; this page works for every Express account.)
STRIPE_EXPRESS_LOGIN_URL = "https://connect.stripe.com/express_login"


@login_required
@require_GET
def earnings(request):
    """The seller's money: totals in escrow, pending clearance, available and transferred, the
    commission taken, and each released milestone (paginated). A fixed number of queries."""
    page = Paginator(selectors.payout_list_for_seller(seller=request.user), EARNINGS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "payments/earnings.html",
        {
            "totals": selectors.earnings_totals_for_seller(seller=request.user),
            "page": page,
            "payouts": list(page.object_list),
            "stripe": gateway().requires_onboarding,
            "stripe_login_url": STRIPE_EXPRESS_LOGIN_URL,
            "clearance_days": settings.MARKETPLACE["CLEARANCE_DAYS"],
        },
    )


# --- accepting a custom offer (issue 7) --------------------------------------------------------------


@login_required
def offer_checkout(request, offer_id: int):
    """The project's buyer accepts a seller's offer: GET shows its milestones, the fees and the
    total with a fresh checkout token; POST places the order (services.checkout_accept_offer:
    the same token twice, or an offer already accepted, gives back its one order) and opens the
    pay page. Anyone but the project's buyer gets a 404; a refusal (offer withdrawn, expired,
    another one accepted, project closed) is a form error and changes nothing."""
    from milestones import project_selectors

    try:
        offer = project_selectors.offer_get_for_user(user=request.user, offer_id=offer_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    project = offer.project
    if project.buyer_id != request.user.pk:
        raise Http404("No such offer.")

    form = CheckoutForm(request.POST or None, requirements=())
    if request.method == "POST" and form.is_valid():
        # The version this page showed (a hidden field): a revision since then is refused.
        seen = request.POST.get("revision", "")
        try:
            order, _ = services.checkout_accept_offer(
                buyer=request.user,
                offer_id=offer.pk,
                checkout_token=form.cleaned_data["checkout_token"],
                revision=int(seen) if seen.isdigit() else None,
            )
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except DomainError as exc:  # not live, expired, revised, project not open, seller cannot receive
            form.add_error(None, exc.message)
        else:
            if order.checkout_token != form.cleaned_data["checkout_token"]:
                messages.info(request, "You already accepted this offer: here is its order.")
            if order.is_payable:
                return redirect("order-pay", pk=order.pk)
            return redirect("order-detail", pk=order.pk)
    elif request.method != "POST" and offer.status == offer.Status.ACCEPTED:
        current = project_selectors.offer_current_order(offer=offer)
        if current is not None and current.buyer_id == request.user.pk:
            messages.info(request, "You already accepted this offer: here is its order.")
            return redirect("order-pay" if current.is_payable else "order-detail", pk=current.pk)

    acceptable = offer.is_live and not offer.is_past_expiry() and project.is_open
    return render(
        request,
        "payments/offer_checkout.html",
        {
            "offer": offer,
            "project": project,
            "lines": list(offer.milestones.all()),
            **_checkout_totals(offer.total_minor, offer.currency),
            "total_days": offer.total_days,
            "cannot_receive": not services.seller_can_receive(offer.seller),
            "acceptable": acceptable,
            "form": form,
        },
    )
