from django.core.management.base import BaseCommand
from django.db import transaction

from gigs import demo, services
from gigs.models import Category, Gig, Package, SellerProfile, User
from milestones import builtin
from milestones.models import MilestoneTemplate
from milestones.services import plan_replace, template_milestones

# Which built-in template gives each demo category its milestone plan: the one for that category.
# The rest sell as plain packages (milestone payments off), so the demo shows both kinds.
PLAN_TEMPLATES = {slug: name for name, slug in builtin.CATEGORIES.items()}


class Command(BaseCommand):
    help = "Load demo accounts, categories and a dozen published gigs. Safe to run again."

    @transaction.atomic
    def handle(self, *args, **options):
        for i, (name, slug, description) in enumerate(demo.CATEGORIES):
            Category.objects.update_or_create(
                slug=slug, defaults={"name": name, "description": description, "position": i}
            )

        username, password = demo.ADMIN
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username=username, email=f"{username}@example.com", password=password)
        for username, display_name, *rest in demo.SELLERS + [(u, d) for u, d in demo.BUYERS]:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = services.user_signup(
                    username=username,
                    email=f"{username}@example.com",
                    password=demo.PASSWORD,
                    display_name=display_name,
                )
            SellerProfile.objects.filter(user=user).update(headline=rest[0] if rest else "")

        builtin.add_missing(MilestoneTemplate)
        # On a new database the data migration ran before these categories existed.
        builtin.link_categories(MilestoneTemplate, Category)
        created = 0
        for seller_name, category_slug, title, description, packages in demo.GIGS:
            seller = User.objects.get(username=seller_name)
            if Gig.objects.filter(seller=seller, title=title).exists():
                continue
            gig = services.gig_save(
                seller=seller,
                title=title,
                category=Category.objects.get(slug=category_slug),
                description=description,
                packages=[
                    services.PackageInput(tier, name, desc, price, days, revisions)
                    for tier, (name, desc, price, days, revisions) in zip(Package.TIER_ORDER, packages, strict=True)
                ],
                faqs=demo.FAQS,
            )
            template_name = PLAN_TEMPLATES.get(category_slug)
            if template_name:
                template = MilestoneTemplate.objects.get(owner__isnull=True, name=template_name)
                plan_replace(gig=gig, milestones=template_milestones(template), milestone_payments=True)
            else:
                plan_replace(gig=gig, milestones=[], milestone_payments=False)
            services.gig_publish(gig=gig)
            created += 1
        for gig in Gig.objects.filter(title__in=[g[2] for g in demo.GIGS], requirements__isnull=True):
            services.gig_set_requirements(gig=gig, requirements=demo.REQUIREMENTS)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new gigs, {Gig.objects.count()} in all)."))
