from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"

    def ready(self) -> None:
        # Provider disputes (Stripe's charge.dispute.*) reach us through payments' hook: payments
        # never imports disputes.
        from payments import hooks

        from .chargebacks import chargeback_event_apply

        if chargeback_event_apply not in hooks.dispute_event_handlers:
            hooks.dispute_event_handlers.append(chargeback_event_apply)
