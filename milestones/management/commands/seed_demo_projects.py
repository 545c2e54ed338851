"""A demo project with two offers, through the real services: dave asks for a launch campaign
(budget $300-$500, two sketched milestones) and alice and bob, who both sell in Digital
Marketing, answer with their own milestone plans, so the project page has offers to compare.
Runs once: skipped when dave already has a project. Needs seed_demo's accounts and gigs."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from gigs.models import Category, User

from ...project_models import Project
from ...project_selectors import OfferMilestoneInput
from ...project_services import ProjectMilestoneInput, offer_send, project_create

TITLE = "Launch campaign for a coffee roastery"


class Command(BaseCommand):
    help = "Load a demo project (dave's) with offers from alice and bob. Safe to run again."

    def handle(self, *args, **options):
        try:
            dave, alice, bob = (User.objects.get(username=u) for u in ("dave", "alice", "bob"))
            category = Category.objects.get(slug="digital-marketing")
        except (User.DoesNotExist, Category.DoesNotExist) as exc:
            raise CommandError("Run `manage.py seed_demo` first.") from exc
        if Project.objects.filter(buyer=dave).exists():
            self.stdout.write("Demo project already there.")
            return
        today = timezone.localdate()
        project = project_create(
            buyer=dave,
            title=TITLE,
            description=(
                "We open our second café in March and want a launch campaign: social posts for the four "
                "weeks around the opening, and a landing page that ranks for 'coffee roastery Lyon'."
            ),
            category_id=category.pk,
            budget_min_minor=30000,
            budget_max_minor=50000,
            start_date=today + timedelta(days=3),
            deadline=today + timedelta(days=30),
            milestones=[
                ProjectMilestoneInput("Campaign plan and visuals", 4000, today + timedelta(days=12)),
                ProjectMilestoneInput("Posts and landing page live", 6000, today + timedelta(days=30)),
            ],
        )
        offer_send(
            seller=alice,
            project_id=project.pk,
            message="I designed launches for three cafés: concepts first, then the full kit.",
            milestones=[
                OfferMilestoneInput("Concepts and campaign plan", "Moodboard, 3 post concepts.", 15000, 7, 2),
                OfferMilestoneInput("Full social kit", "20 templates, 4 weeks scheduled.", 22000, 10, 2, True),
            ],
        )
        offer_send(
            seller=bob,
            project_id=project.pk,
            message="I would start with the landing page and its SEO, then the posts.",
            milestones=[
                OfferMilestoneInput("SEO audit and landing page", "Keyword research, page built.", 30000, 14, 1),
                OfferMilestoneInput("Posts", "12 posts written and scheduled.", 25000, 21, 1),
            ],
        )
        self.stdout.write(self.style.SUCCESS(f"Demo project ready: #{project.pk} (dave) with 2 offers."))
