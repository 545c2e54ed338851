"""seed_demo_projects: a demo project with two offers to compare, through the real services, once."""

import io

import pytest
from django.core.management import CommandError, call_command

from milestones.project_models import Offer, Project
from milestones.project_selectors import offer_list_for_project

pytestmark = pytest.mark.django_db


def test_a_project_with_two_offers_one_over_budget_and_late():
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo_projects", stdout=io.StringIO())
    project = Project.objects.get(buyer__username="dave")
    assert project.status == Project.Status.OPEN
    assert (project.budget_min_minor, project.budget_max_minor) == (30000, 50000)
    assert project.milestones.count() == 2
    offers = {o.seller.username: o for o in offer_list_for_project(user=project.buyer, project=project)}
    assert set(offers) == {"alice", "bob"}
    assert all(o.status == Offer.Status.LIVE for o in offers.values())
    assert (offers["alice"].total_minor, offers["alice"].over_budget, offers["alice"].late) == (37000, False, False)
    assert (offers["bob"].total_minor, offers["bob"].over_budget, offers["bob"].late) == (55000, True, True)

    call_command("seed_demo_projects", stdout=io.StringIO())  # again: nothing new
    assert Project.objects.count() == 1 and Offer.objects.count() == 2


def test_needs_the_demo_accounts():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("seed_demo_projects", stdout=io.StringIO())
    assert not Project.objects.exists()
