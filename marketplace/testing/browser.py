"""Fixtures for browser journeys: real Chromium (Debian's `chromium`, or CHROMIUM_PATH) driven by
Playwright against pytest-django's live server. Loaded for every test by the root conftest.

- `browser`: one Chromium for the whole run.
- `new_page(java_script_enabled=True)`: a page in a fresh context (own cookies); all closed after
  the test. `page`: one such page.
- `shot(page, "step")`: a full-page screenshot in test-artifacts/screenshots/<test>-NN-step.png.
- `demo_data`: the README's demo data, loaded by `seed_demo` itself.
"""

import io
import os

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import expect, sync_playwright

SCREENSHOTS = settings.BASE_DIR / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an asyncio loop in this thread, and Django refuses ORM calls
    # from a thread with a running loop. The test code (seeding, assertions, the flush after
    # each test) is plain synchronous code, so allow it while the browser is up.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def new_page(browser, live_server):
    contexts = []

    def make(java_script_enabled: bool = True):
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": 1280, "height": 900},
            java_script_enabled=java_script_enabled,
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def shot(request):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    def take(page, step: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{request.node.name}-{next(counter):02d}-{step}.png", full_page=True)

    return take


@pytest.fixture
def demo_data(monkeypatch):
    """seed_demo publishes its gigs, which queues emails on commit: run those tasks in-process
    (the locmem backend keeps the mail) instead of needing a worker. Transactional tests flush
    the built-in milestone templates the data migration added; seed_demo adds them back."""
    from marketplace.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    call_command("seed_demo", stdout=io.StringIO())
