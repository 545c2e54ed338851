"""Checkout and order pages: checkout, the pay step (the local provider's card page or Stripe's
Payment Element), the order page, the receipt, and the buyer's and seller's order lists.

Every write goes through payments.services (which calls milestones.order_services); amounts are
computed on the server. Someone else's order is a 404, never a hint that it exists.
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from gigs import selectors as gig_selectors
from gigs.models import Package
from marketplace.exceptions import DomainError, NotFound, ValidationFailed
from marketplace.money import format_money
from milestones.exceptions import OrderRefused
from milestones.models import Order
from milestones.order_services import order_quote

from . import ledger, selectors, services
from .exceptions import PaymentRefused, ProviderUnavailable
from .fees import order_fees
from .forms import CardForm, CheckoutForm
from .gateways import gateway
from .models import Payment

log = logging.getLogger(__name__)

ORDER_PAGE_SIZE = 20
LOCAL = "local"
# Provider intent states meaning the money is on its way: the order activates when the inbox
# applies the provider's event.
PROVIDER_PAID = ("succeeded", "processing")


def _order_or_404(request, pk: int, *, buyer_only: bool = False) -> Order:
    try:
        if buyer_only:
            return selectors.order_get_for_buyer(user=request.user, pk=pk)
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
    a fresh checkout token. POST: place the order (the same token twice gives one order) and go
    to the pay step."""
    try:
        gig = gig_selectors.gig_get_for_viewer(slug=slug, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if tier not in Package.Tier.values:
        raise Http404("No such package.")
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
            return redirect("order-pay", pk=order.pk)

    fees = order_fees(quote.subtotal_minor, gig.currency)
    rules = settings.MARKETPLACE
    return render(
        request,
        "payments/checkout.html",
        {
            "gig": gig,
            "package": quote.package,
            "lines": quote.lines,
            "subtotal_minor": quote.subtotal_minor,
            "fee_rows": _fee_rows(fees),
            "total_minor": quote.subtotal_minor + fees.service_fee_minor + fees.small_order_fee_minor,
            "total_days": sum(line.delivery_days for line in quote.lines),
            "service_fee_note": f"{rules['BUYER_SERVICE_FEE_BPS'] / 100:g}% of the subtotal",
            "small_order_threshold": format_money(rules["SMALL_ORDER_THRESHOLD_MINOR"], gig.currency),
            "expiry_minutes": rules["CHECKOUT_EXPIRY_MINUTES"],
            # Known before the buyer fills anything in (Stripe mode, seller not onboarded yet).
            "cannot_receive": not services.seller_can_receive(gig.seller),
            "form": form,
        },
    )


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
    if order.status == Order.Status.EXPIRED:
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
    """The order for its buyer or its seller: milestones and where their money stands, the
    payment, the answers, and the fees (the buyer's) or the amounts after commission (the
    seller's). Refreshes itself while a payment is being processed."""
    order = _order_or_404(request, pk)
    is_buyer = order.buyer_id == request.user.pk
    payment = selectors.order_payment(order)
    processing = False
    if order.status == Order.Status.PENDING_PAYMENT and payment is not None and is_buyer:
        # Paid at the provider, but the inbox has not applied the event yet (or the provider
        # is still processing): the page reloads until the order becomes active.
        processing = payment.status in PROVIDER_PAID or _provider_status(payment) in PROVIDER_PAID
    milestones = list(order.milestones.all())
    seller_lines = selectors.seller_lines(order) if not is_buyer else []
    return render(
        request,
        "payments/order_detail.html",
        {
            "order": order,
            "is_buyer": is_buyer,
            "payment": payment,
            "receipt": selectors.order_receipt(order),
            "processing": processing,
            "rows": [
                {
                    "milestone": m,
                    "escrow": selectors.milestone_escrow_state(order, m),
                    "line": seller_lines[i] if seller_lines else None,
                }
                for i, m in enumerate(milestones)
            ],
            "escrow_state": selectors.escrow_state(order),
            "escrow_minor": ledger.escrow_balance(order),
            "fee_rows": _fee_rows(order),
            "commission_minor": sum(line.commission_minor for line in seller_lines),
            "seller_net_minor": sum(line.net_minor for line in seller_lines),
            "commission_percent": order.commission_bps / 100,
        },
    )


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
