"""seed_demo: the README's demo data, safe to run again, and able to restore built-in templates."""

import io

import pytest
from django.core.management import call_command

from gigs.models import Gig
from milestones.builtin import BUILTIN
from milestones.models import GigMilestone, MilestoneTemplate

pytestmark = pytest.mark.django_db

BOOK_COVER = "I will illustrate a custom book cover"  # Graphics & Design: the "Logo design" plan
SOCIAL_KIT = "I will create a social media kit for your launch"  # Digital Marketing: plain packages


@pytest.fixture(autouse=True)
def _eager(settings, monkeypatch):
    from marketplace.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


def seed():
    call_command("seed_demo", stdout=io.StringIO())


def test_builtin_templates_come_from_the_data_migration():
    names = set(MilestoneTemplate.objects.filter(owner__isnull=True).values_list("name", flat=True))
    assert names == {b[0] for b in BUILTIN}


def test_seed_is_idempotent_and_gives_some_gigs_a_plan():
    seed()
    seed()
    assert Gig.objects.filter(status=Gig.Status.PUBLISHED).count() == 12
    assert GigMilestone.objects.filter(gig__title=BOOK_COVER).count() == 3
    assert not GigMilestone.objects.filter(gig__title=SOCIAL_KIT).exists()
    assert Gig.objects.get(title=BOOK_COVER).milestone_payments is True
    assert Gig.objects.get(title=SOCIAL_KIT).milestone_payments is False
    assert MilestoneTemplate.objects.filter(owner__isnull=True).count() == len(BUILTIN)


def test_seed_restores_a_deleted_builtin_template_but_keeps_admin_edits():
    MilestoneTemplate.objects.filter(owner__isnull=True, name="Logo design").delete()
    MilestoneTemplate.objects.filter(owner__isnull=True, name="Video").update(description="Edited by an admin")
    seed()
    assert MilestoneTemplate.objects.filter(owner__isnull=True, name="Logo design").count() == 1
    assert MilestoneTemplate.objects.get(owner__isnull=True, name="Video").description == "Edited by an admin"
    assert GigMilestone.objects.filter(gig__title=BOOK_COVER).count() == 3
