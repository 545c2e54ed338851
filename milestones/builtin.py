"""The built-in milestone templates, one per kind of work. The data migration adds them to a new
database and `seed_demo` adds any an admin has deleted; afterwards admins manage them in Django
admin (existing ones are never overwritten). Each kind of work belongs to a gig category, by slug
(`CATEGORIES`); `link_categories` sets it on built-ins that have none, where that category exists."""


def t(basic, standard, premium):
    """(price_minor, days, revisions) per tier; None = not in that package."""
    out = {}
    for tier, terms in (("basic", basic), ("standard", standard), ("premium", premium)):
        if terms:
            out[tier] = {"price_minor": terms[0], "delivery_days": terms[1], "revisions": terms[2]}
    return out


# One row per milestone: name, description, video call, terms per package. Kept one line each.
# fmt: off
BUILTIN = [
    ("Logo design", "Concepts, refinement, final files.", [
        ("Concepts", "Initial logo concepts based on your brief.", False, t((2000, 2, 1), (3000, 3, 2), (6000, 4, 3))),
        ("Refinement", "The chosen concept refined in colour and type.", True, t((1500, 2, 1), (3500, 2, 2), (7000, 3, 3))),
        ("Final files", "Vector, PNG and PDF files with a brand sheet.", False, t((1000, 1, 0), (2500, 1, 1), (5000, 2, 2))),
    ]),
    ("Website", "Design, development, launch.", [
        ("Design", "Page designs for your approval.", True, t((10000, 5, 1), (20000, 7, 2), (40000, 10, 3))),
        ("Development", "The site built and running on a staging address.", False, t((15000, 7, 1), (40000, 14, 2), (90000, 21, 3))),
        ("Launch", "Deployment to your domain and a handover call.", True, t((5000, 2, 0), (10000, 3, 1), (20000, 5, 2))),
    ]),
    ("Video", "Script, rough cut, final cut.", [
        ("Script", "The script and shot list for your approval.", True, t((3000, 2, 1), (5000, 3, 2), (8000, 4, 3))),
        ("Rough cut", "A first edit to review.", False, t((4000, 3, 1), (8000, 4, 2), (15000, 6, 3))),
        ("Final cut", "Colour, sound and captions, exported for every platform.", False, t((3000, 2, 1), (7000, 3, 2), (12000, 4, 3))),
    ]),
    ("Writing", "Outline, draft, final edit.", [
        ("Outline", "Structure and key points agreed before writing.", False, t((1000, 1, 1), (2000, 2, 1), (3000, 2, 2))),
        ("Draft", "The full first draft.", False, t((2000, 3, 1), (4000, 4, 2), (7000, 5, 3))),
        ("Final edit", "Edited, proofread and formatted.", False, t((1000, 1, 1), (2000, 2, 2), (3000, 2, 3))),
    ]),
    ("Two stages", "A first delivery, then the final one.", [
        ("First delivery", "The first version of the work.", True, t((1000, 2, 1), (2000, 3, 2), (4000, 4, 3))),
        ("Final delivery", "The finished work with every file you need.", False, t((1000, 2, 1), (2000, 3, 2), (4000, 4, 3))),
    ]),
]
# fmt: on


# Built-in template name -> the slug of the category it is for (seed_demo's categories); the rest
# ("Two stages") fit any kind of work.
CATEGORIES = {
    "Logo design": "graphics-design",
    "Website": "programming-tech",
    "Video": "video-animation",
    "Writing": "writing-translation",
}


def add_missing(template_model) -> int:
    """Create the built-in templates that do not exist (by name, without owner); returns how many.
    Takes the model so the data migration can pass its historical one."""
    created = 0
    for name, description, items in BUILTIN:
        if template_model.objects.filter(owner__isnull=True, name=name).exists():
            continue
        template_model.objects.create(
            owner=None,
            name=name,
            description=description,
            milestones=[
                {"name": n, "description": d, "video_call": v, "packages": packages} for n, d, v, packages in items
            ],
        )
        created += 1
    return created


def link_categories(template_model, category_model) -> int:
    """Give each built-in template that has no category the one `CATEGORIES` names, when a
    category with that slug exists; returns how many were linked. A category an admin chose is
    kept. Takes the models so the data migration can pass its historical ones."""
    by_slug = {c.slug: c for c in category_model.objects.filter(slug__in=set(CATEGORIES.values()))}
    linked = 0
    for name, slug in CATEGORIES.items():
        if slug in by_slug:
            linked += template_model.objects.filter(owner__isnull=True, name=name, category__isnull=True).update(
                category=by_slug[slug]
            )
    return linked
