"""Payment.state_as_of (forward-only payment statuses), and at most one unpaid order per buyer,
gig and package: a partial unique index on milestones' order table, the database's guarantee
behind checkout returning the unpaid order a buyer already has (payments.services
.checkout_place_order). Raw SQL because the Order model belongs to milestones; the same
statement works on PostgreSQL and SQLite.
"""

from django.db import migrations, models

INDEX = "order_one_unpaid_per_package"


def expire_duplicate_checkouts(apps, schema_editor):
    """Unpaid duplicates placed before the index (two tabs): the newest of each package stays,
    preferring one whose payment is already processing; the others expire, as the sweep would.
    (A payment that still succeeds on one of them funds it anyway: expired -> active.)"""
    Order = apps.get_model("milestones", "Order")
    OrderEvent = apps.get_model("milestones", "OrderEvent")
    Payment = apps.get_model("payments", "Payment")
    in_flight = set(
        Payment.objects.filter(order__status="pending_payment", status__in=["processing", "succeeded"]).values_list(
            "order_id", flat=True
        )
    )
    kept = set()
    pending = Order.objects.filter(status="pending_payment").order_by("-created_at", "-pk")
    for order in sorted(pending, key=lambda o: o.pk not in in_flight):  # stable: newest first in each group
        key = (order.buyer_id, order.gig_id, order.package_tier)
        if key not in kept:
            kept.add(key)
            continue
        Order.objects.filter(pk=order.pk).update(status="expired")
        OrderEvent.objects.create(
            order_id=order.pk,
            from_status="pending_payment",
            to_status="expired",
            reason="another unpaid order of the same package was kept",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("milestones", "0005_milestone_lifecycle"),
        ("payments", "0005_refund_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="state_as_of",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(expire_duplicate_checkouts, migrations.RunPython.noop),
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX {INDEX} ON milestones_order (buyer_id, gig_id, package_tier) "
            "WHERE status = 'pending_payment'",
            f"DROP INDEX {INDEX}",
        ),
    ]
