"""Built-in milestone templates belong to a gig category: the column, then the links.

The built-ins are linked to their categories by slug (milestones.builtin.CATEGORIES) where those
categories exist. On a new database they usually do not exist yet (seed_demo or an admin creates
them): seed_demo links them then, with the same function. Reversing drops the column.
"""

import django.db.models.deletion
from django.db import migrations, models

from milestones.builtin import link_categories


def link(apps, schema_editor):
    link_categories(apps.get_model("milestones", "MilestoneTemplate"), apps.get_model("gigs", "Category"))


class Migration(migrations.Migration):
    dependencies = [
        ("gigs", "0002_gigrequirement"),
        ("milestones", "0005_milestone_lifecycle"),
    ]

    operations = [
        migrations.AddField(
            model_name="milestonetemplate",
            name="category",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="milestone_templates",
                to="gigs.category",
            ),
        ),
        migrations.RunPython(link, migrations.RunPython.noop),
    ]
