"""Mounted at /sell/payments/: the seller's payments settings and Stripe onboarding returns."""

from django.urls import path

from . import connect_views

urlpatterns = [
    path("", connect_views.payments_settings, name="seller-payments"),
    path("return/", connect_views.payments_onboarding_return, name="seller-payments-return"),
    path("refresh/", connect_views.payments_onboarding_refresh, name="seller-payments-refresh"),
]
