"""Demo data for `manage.py seed_demo`: accounts (passwords in README.md), categories, gigs."""

CATEGORIES = [
    ("Graphics & Design", "graphics-design", "Logos, brand identity, illustration."),
    ("Programming & Tech", "programming-tech", "Websites, apps, scripts and fixes."),
    ("Video & Animation", "video-animation", "Editing, explainers, motion graphics."),
    ("Writing & Translation", "writing-translation", "Articles, copy, translation."),
    ("Digital Marketing", "digital-marketing", "SEO, social media, ads."),
    ("Music & Audio", "music-audio", "Mixing, voice-over, jingles."),
]

PASSWORD = "demo-pass-2026"
SELLERS = [
    ("alice", "Alice Moreau", "Brand designer, 9 years of logos"),
    ("bob", "Bob Okafor", "Full-stack developer (Django, React)"),
    ("carol", "Carol Nguyen", "Video editor and motion designer"),
]
BUYERS = [("dave", "Dave Miller"), ("erin", "Erin Park")]
ADMIN = ("admin", "admin-pass-2026")

# (seller, category slug, title, description, [(name, desc, price_minor, days, revisions) x3])
GIGS = [
    (
        "alice",
        "graphics-design",
        "I will design a minimalist logo for your brand",
        "A clean, timeless logo delivered in milestones: concepts first, then refinement, then the final "
        "files in every format you need (SVG, PNG, PDF) with a one-page brand sheet.",
        [
            ("Starter", "2 concepts, PNG files", 4500, 3, 1),
            ("Brand", "3 concepts, vector files", 9000, 5, 3),
            ("Identity", "5 concepts, brand sheet, social kit", 18000, 7, 5),
        ],
    ),
    (
        "alice",
        "graphics-design",
        "I will illustrate a custom book cover",
        "Hand-drawn digital illustration for e-books and print. Sketch, colour study, then the final "
        "cover with typography and print-ready spine and back.",
        [
            ("E-book", "Front cover only", 12000, 5, 1),
            ("Print", "Front, spine and back", 20000, 8, 2),
            ("Series", "Print cover plus 3D mock-ups", 32000, 12, 3),
        ],
    ),
    (
        "alice",
        "digital-marketing",
        "I will create a social media kit for your launch",
        "Twenty templates for Instagram, LinkedIn and X that match your brand, with editable source "
        "files so your team can keep posting after launch.",
        [
            ("Basic", "10 templates", 6000, 3, 1),
            ("Standard", "20 templates", 11000, 5, 2),
            ("Premium", "30 templates and story covers", 16000, 7, 3),
        ],
    ),
    (
        "bob",
        "programming-tech",
        "I will build a Django website with a custom admin",
        "A production-ready Django site: data model, admin, pages and deployment. Milestones for design "
        "review, development and launch so you see progress every week.",
        [
            ("Landing", "One page with a contact form", 30000, 7, 2),
            ("Business", "Up to 6 pages with an admin", 90000, 21, 3),
            ("Platform", "Custom app with accounts and API", 250000, 45, 5),
        ],
    ),
    (
        "bob",
        "programming-tech",
        "I will fix bugs in your Python or JavaScript code",
        "Send the error and the repository; I find the cause, fix it with a test that proves it, and "
        "explain what went wrong so it does not come back.",
        [
            ("Quick fix", "One bug, up to 1 hour", 3000, 1, 0),
            ("Deep fix", "Up to 3 bugs with tests", 8000, 3, 1),
            ("Hardening", "Bug hunt and test suite", 20000, 7, 2),
        ],
    ),
    (
        "bob",
        "programming-tech",
        "I will set up CI and automated tests for your project",
        "Continuous integration that runs on every push: linting, unit tests and a database, with a "
        "short guide for your team on keeping it green.",
        [
            ("Basic", "Lint and unit tests", 10000, 3, 1),
            ("Standard", "Tests with a real database", 18000, 5, 2),
            ("Premium", "Browser tests and deploy pipeline", 35000, 10, 3),
        ],
    ),
    (
        "carol",
        "video-animation",
        "I will edit your YouTube video with captions",
        "Cuts, pacing, colour, sound clean-up and burned-in captions. Rough cut first for your notes, "
        "then the final cut exported for YouTube and Shorts.",
        [
            ("Short", "Up to 5 minutes of footage", 5000, 2, 1),
            ("Episode", "Up to 20 minutes", 12000, 4, 2),
            ("Series", "Four episodes a month", 40000, 30, 4),
        ],
    ),
    (
        "carol",
        "video-animation",
        "I will animate a 60 second explainer video",
        "Script, storyboard and a smooth 2D animation with voice-over that explains your product in "
        "a minute. You approve each stage before the next begins.",
        [
            ("Basic", "30 seconds, music only", 25000, 7, 1),
            ("Standard", "60 seconds with voice-over", 45000, 12, 2),
            ("Premium", "90 seconds, custom characters", 80000, 20, 3),
        ],
    ),
    (
        "carol",
        "music-audio",
        "I will mix and master your song",
        "Balanced, loud and clear: a professional mix and master for streaming platforms, with a "
        "revision round after you hear the first mix.",
        [
            ("Master", "Mastering only", 4000, 2, 1),
            ("Mix", "Mix and master up to 24 tracks", 15000, 5, 2),
            ("Album", "Up to 5 songs", 60000, 14, 3),
        ],
    ),
    (
        "alice",
        "writing-translation",
        "I will write the copy for your landing page",
        "Headline, benefits, social proof and a call to action written for your audience, with two "
        "variants to test. Research and outline first, then the full draft.",
        [
            ("Basic", "Hero and 3 sections", 7000, 3, 1),
            ("Standard", "Full page and 2 variants", 14000, 5, 2),
            ("Premium", "Page, emails and ads copy", 26000, 8, 3),
        ],
    ),
    (
        "bob",
        "digital-marketing",
        "I will audit your site's technical SEO",
        "A crawl of your site with a prioritised list of fixes: speed, indexing, structured data and "
        "content gaps, with a call to walk you through it.",
        [
            ("Basic", "Up to 50 pages", 8000, 3, 0),
            ("Standard", "Up to 500 pages", 16000, 5, 1),
            ("Premium", "Audit and implementation", 45000, 14, 2),
        ],
    ),
    (
        "carol",
        "writing-translation",
        "I will translate your app from English to French",
        "Natural, native French for your app or website strings, with a glossary so your product "
        "speaks with one voice, reviewed in context on screenshots.",
        [
            ("Basic", "Up to 1,000 words", 5000, 2, 1),
            ("Standard", "Up to 5,000 words", 20000, 5, 2),
            ("Premium", "Up to 15,000 words with review", 55000, 12, 3),
        ],
    ),
]

FAQS = [
    ("How do milestones work?", "You pay once into escrow. Each milestone's money goes to me only when you accept it."),
    ("What do you need to start?", "A short brief: your goal, examples you like, and any files you already have."),
]

# Questions every demo gig asks at checkout: (question, required).
REQUIREMENTS = [
    ("What is the project about, and who is it for?", True),
    ("Links to examples you like (optional)", False),
]
