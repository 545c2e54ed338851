"""The "Dispute agents" group also views DisputeHold and DisputeEvidenceSubmission (models added
after the group was made, 0004 and 0005): an order dispute's and a chargeback's admin page lists
its holds and the evidence sent to the provider in inlines, which Django hides from staff without
the view permission. Still view only; no add or delete."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Dispute agents"
ADDED = [
    ("disputes", "disputehold", "view_disputehold"),
    ("disputes", "disputeevidencesubmission", "view_disputeevidencesubmission"),
]


def _perms(apps):
    config = apps.get_app_config("disputes")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app, content_type__model=model, codename=codename)
        for app, model, codename in ADDED
    ]


def add(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.add(*_perms(apps))


def remove(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(*_perms(apps))


class Migration(migrations.Migration):
    dependencies = [("disputes", "0005_order_disputes_and_evidence_posts")]

    operations = [migrations.RunPython(add, remove)]
