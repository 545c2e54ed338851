"""The "Dispute agents" group: exactly what resolving disputes in admin needs. View the disputes
models and the order, milestone, ledger, payout and refund rows the dispute page shows; change
on Dispute (the decision buttons) and approve_decision (a second admin's approval). No add or
delete anywhere. Applying it again resets the group to this set."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Dispute agents"
PERMISSIONS = [
    ("disputes", "dispute", "view_dispute"),
    ("disputes", "dispute", "change_dispute"),
    ("disputes", "dispute", "approve_decision"),
    ("disputes", "disputeevent", "view_disputeevent"),
    ("disputes", "disputemessage", "view_disputemessage"),
    ("disputes", "disputeevidence", "view_disputeevidence"),
    ("disputes", "settlementoffer", "view_settlementoffer"),
    ("milestones", "order", "view_order"),
    ("milestones", "ordermilestone", "view_ordermilestone"),
    ("payments", "ledgertransaction", "view_ledgertransaction"),
    ("payments", "ledgerentry", "view_ledgerentry"),
    ("payments", "payout", "view_payout"),
    ("payments", "refund", "view_refund"),
]


def add_group(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate): make them now.
    for label in ("disputes", "milestones", "payments"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    perms = [
        Permission.objects.get(content_type__app_label=app, content_type__model=model, codename=codename)
        for app, model, codename in PERMISSIONS
    ]
    group.permissions.set(perms)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("disputes", "0002_dispute_approval"),
        ("milestones", "0006_milestonetemplate_category"),
        ("payments", "0008_installation"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_group, remove_group)]
