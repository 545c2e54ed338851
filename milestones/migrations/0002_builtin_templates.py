"""Built-in milestone templates. Admins manage them afterwards; this only adds missing ones."""

from django.db import migrations

from milestones.builtin import BUILTIN, add_missing


def add_builtins(apps, schema_editor):
    add_missing(apps.get_model("milestones", "MilestoneTemplate"))


def remove_builtins(apps, schema_editor):
    MilestoneTemplate = apps.get_model("milestones", "MilestoneTemplate")
    MilestoneTemplate.objects.filter(owner__isnull=True, name__in=[b[0] for b in BUILTIN]).delete()


class Migration(migrations.Migration):
    dependencies = [("milestones", "0001_initial")]

    operations = [migrations.RunPython(add_builtins, remove_builtins)]
