"""Mounted at /payments/webhooks/: the URLs to register in Stripe's dashboard."""

from django.urls import path

from . import webhooks

urlpatterns = [
    path("stripe/", webhooks.stripe_webhook, name="stripe-webhook"),
    path("connect/", webhooks.stripe_connect_webhook, name="stripe-connect-webhook"),
]
