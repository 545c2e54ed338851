"""The notifications page (newest first, unread marked, "Mark all read" up to what the page
showed), the nav's unread badge (one bounded query, logged-in users only), and their query
counts. Notifications are written by the services (milestones.notifications.notify)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from gigs.tests.factories import UserFactory
from milestones import notification_views
from milestones.models import Notification
from milestones.notifications import notify
from milestones.templatetags.notifications import BADGE_MAX

pytestmark = pytest.mark.django_db

LIST = "/notifications/"


def body(response) -> str:
    return response.content.decode()


def tell(user, n: int = 1, start: int = 0, url: str = "/orders/1/") -> list[Notification]:
    return [
        notify(user=user, kind="test", text=f"Event {i}", dedupe_key=f"test-{user.pk}-{i}", url=url)
        for i in range(start, start + n)
    ]


def items(response) -> list[tuple[bool, str]]:
    """(unread, text) of each notification on the page, in order."""
    html = body(response)
    found = re.findall(r'<li class="notification( unread)?" data-testid="notification">(.*?)</li>', html, re.S)
    return [(bool(unread), re.search(r"Event \d+", inner).group(0)) for unread, inner in found]


def badge(response) -> str | None:
    found = re.search(r'data-testid="unread-count">([^<]+)<', body(response))
    return found.group(1) if found else None


@pytest.fixture
def user(client):
    user = UserFactory()
    client.force_login(user)
    return user


def test_urls():
    assert reverse("notifications") == LIST and reverse("notifications-read") == "/notifications/read/"


def test_newest_first_unread_marked_and_only_yours(client, user):
    first, _, third = tell(user, 3)
    Notification.objects.filter(pk=first.pk).update(read_at=first.created_at)
    tell(UserFactory(), 2, start=10)
    response = client.get(LIST)
    assert items(response) == [(True, "Event 2"), (True, "Event 1"), (False, "Event 0")]
    html = body(response)
    assert html.count('<span class="visually-hidden">Unread: </span>') == 2
    assert '<a href="/orders/1/">Event 2</a>' in html
    assert badge(response) == "2"
    assert "Mark all read" in html and f'name="up_to" value="{third.pk}"' in html


def test_links_are_only_site_paths(client, user):
    notify(user=user, kind="x", text="Event 1", dedupe_key="x1", url="javascript:alert(1)")
    notify(user=user, kind="x", text="Event 2", dedupe_key="x2", url="//evil.example/")
    html = body(client.get(LIST))
    assert "javascript:" not in html and "evil.example" not in html


def test_mark_all_read_stops_at_what_the_page_showed(client, user):
    shown = tell(user, 2)
    newer = tell(user, 1, start=5)[0]  # arrived after the page was rendered
    response = client.post(reverse("notifications-read"), {"up_to": shown[-1].pk})
    assert response.status_code == 302 and response["Location"] == LIST
    page = client.get(LIST)
    assert "2 notifications marked read." in body(page)
    assert items(page) == [(True, "Event 5"), (False, "Event 1"), (False, "Event 0")]
    assert Notification.objects.get(pk=newer.pk).read_at is None
    # Without up_to (e.g. from another page): everything there is. Again: nothing more changes.
    client.post(reverse("notifications-read"))
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
    client.post(reverse("notifications-read"))
    page = client.get(LIST)
    assert badge(page) is None and "Mark all read" not in body(page)


def test_mark_read_touches_only_your_own(client, user):
    theirs = tell(UserFactory(), 1, start=3)[0]
    client.post(reverse("notifications-read"), {"up_to": theirs.pk + 10})
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_login_required_and_post_only(client):
    assert client.get(LIST)["Location"].startswith(reverse("login"))
    assert client.post(reverse("notifications-read"))["Location"].startswith(reverse("login"))
    client.force_login(UserFactory())
    assert client.get(reverse("notifications-read")).status_code == 405


def test_badge_in_the_nav(client, user):
    assert badge(client.get("/")) is None
    assert 'data-testid="nav-notifications"' in body(client.get("/"))
    tell(user, 3)
    home = client.get("/")
    assert badge(home) == "3"
    assert re.search(
        r'Notifications <span class="badge"[^>]*>3</span><span class="visually-hidden"> unread</span>', body(home)
    )
    tell(user, BADGE_MAX, start=10)
    assert badge(client.get("/")) == "99+"
    client.logout()
    assert 'data-testid="nav-notifications"' not in body(client.get("/"))


def test_anonymous_pages_run_no_notification_query(client):
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("gig-list"))
    assert not any("milestones_notification" in q["sql"] for q in queries.captured_queries)


def test_list_queries_do_not_grow(client, user, django_assert_num_queries, monkeypatch):
    tell(user, 1)
    # session, user, count, the page, the unread count (once for the nav and the page)
    with django_assert_num_queries(5):
        assert len(client.get(LIST).context["notifications"]) == 1
    tell(user, 40, start=1)
    monkeypatch.setattr(notification_views, "PAGE_SIZE", 25)
    with django_assert_num_queries(5):
        response = client.get(LIST)
    assert len(response.context["notifications"]) == 25 and "Page 1 of 2" in body(response)
    second = client.get(LIST, {"page": 2})
    assert items(second)[0] == (True, "Event 15")
    assert 'name="up_to"' not in body(second)  # from page 2, "Mark all read" marks everything there is
