import re

from django.db import migrations

# As disputes.models.CHARGEBACK_REASONS when this was written (a migration keeps its own copy).
REASONS = {
    "bank_cannot_process": "The bank could not process the payment",
    "check_returned": "Check returned",
    "credit_not_processed": "Refund not processed",
    "customer_initiated": "Disputed by the customer",
    "debit_not_authorized": "Debit not authorized",
    "duplicate": "Duplicate payment",
    "fraudulent": "Fraudulent payment (not made by the cardholder)",
    "general": "General dispute",
    "incorrect_account_details": "Incorrect account details",
    "insufficient_funds": "Insufficient funds",
    "product_not_received": "Product or service not received",
    "product_unacceptable": "Product or service unacceptable",
    "subscription_canceled": "Subscription canceled",
    "unrecognized": "Payment not recognized",
}
RAW = re.compile(r" \(reason: (?P<code>[A-Za-z0-9_\-]+)\)\.$")


def reword(apps, schema_editor):
    """Chargebacks opened before: their description named Stripe's raw reason code."""
    Dispute = apps.get_model("disputes", "Dispute")
    for d in Dispute.objects.filter(kind="chargeback", description__contains="(reason: "):
        match = RAW.search(d.description)
        if match is None:
            continue
        code = match["code"]
        label = REASONS.get(code) or code.replace("_", " ").replace("-", " ").capitalize()
        d.description = d.description[: match.start()] + f". The bank's reason: {label}."
        d.save(update_fields=["description"])


class Migration(migrations.Migration):
    dependencies = [("disputes", "0008_settlement_offer_expired")]

    operations = [migrations.RunPython(reword, migrations.RunPython.noop)]
