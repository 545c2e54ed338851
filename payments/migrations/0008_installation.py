"""This installation's id at the payment provider (payments.keys): one row with a random key,
made here so that every process of the installation reads the same one from the start."""

import secrets

from django.db import migrations, models


def create_installation(apps, schema_editor):
    Installation = apps.get_model("payments", "Installation")
    # As payments.keys.new_installation_key (a migration does not import app code).
    Installation.objects.get_or_create(pk=1, defaults={"key": secrets.token_urlsafe(9)})


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0007_ledger_check_once"),
    ]

    operations = [
        migrations.CreateModel(
            name="Installation",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("key", models.CharField(max_length=40, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "constraints": [models.CheckConstraint(condition=models.Q(("id", 1)), name="installation_singleton")],
            },
        ),
        migrations.RunPython(create_installation, migrations.RunPython.noop),
    ]
