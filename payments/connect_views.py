"""The seller's payments settings: onboarding with Stripe Connect in Stripe mode, a short note
in local mode (sellers are paid without onboarding there). Writes go through payments.connect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from .connect import connect_account_refresh, connect_onboarding_start
from .exceptions import ProviderUnavailable
from .gateways import gateway
from .models import ConnectedAccount

UNREACHABLE = "Stripe could not be reached. Try again in a minute."

STATES = {
    "not_started": "Not started",
    "pending": "Details pending",
    "ready": "Ready to receive payments",
}


def _state(account: ConnectedAccount | None) -> str:
    if account is None:
        return "not_started"
    return "ready" if account.transfers_active else "pending"


def _to_onboarding(request: HttpRequest) -> HttpResponse:
    """Redirect to a fresh Stripe onboarding link (creating the account the first time)."""
    try:
        url = connect_onboarding_start(
            user=request.user,
            refresh_url=request.build_absolute_uri(reverse("seller-payments-refresh")),
            return_url=request.build_absolute_uri(reverse("seller-payments-return")),
        )
    except ProviderUnavailable:
        messages.error(request, UNREACHABLE)
        return redirect("seller-payments")
    return redirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def payments_settings(request: HttpRequest) -> HttpResponse:
    """GET: where the seller stands. POST (Stripe mode): go to Stripe's onboarding."""
    onboarding = gateway().requires_onboarding
    if request.method == "POST":
        if not onboarding:
            messages.info(request, "There is nothing to set up: you can receive payments already.")
            return redirect("seller-payments")
        return _to_onboarding(request)
    account = ConnectedAccount.objects.filter(user=request.user).first() if onboarding else None
    state = _state(account)
    return render(
        request,
        "payments/settings.html",
        {"onboarding": onboarding, "account": account, "state": state, "state_label": STATES[state]},
    )


@login_required
@require_GET
def payments_onboarding_return(request: HttpRequest) -> HttpResponse:
    """Stripe sends the seller back here (finished or not): read the account now rather than
    wait for account.updated, then show the settings page with what changed."""
    if not gateway().requires_onboarding:
        return redirect("seller-payments")
    try:
        account = connect_account_refresh(user=request.user)
    except ProviderUnavailable:
        messages.warning(request, "We could not check your Stripe account yet; this page updates once Stripe tells us.")
        return redirect("seller-payments")
    if account is not None and account.transfers_active:
        messages.success(request, "Your Stripe account is ready: you can receive payments.")
    elif account is not None:
        messages.warning(request, "Stripe still needs some details before you can receive payments.")
    return redirect("seller-payments")


@login_required
@require_GET
def payments_onboarding_refresh(request: HttpRequest) -> HttpResponse:
    """Stripe sends the seller here when a link expired or was used: hand out a new one. A GET,
    because Stripe redirects the browser; it never creates the account (only the POST does)."""
    if not gateway().requires_onboarding or not ConnectedAccount.objects.filter(user=request.user).exists():
        return redirect("seller-payments")
    return _to_onboarding(request)
