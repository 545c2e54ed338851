import pytest
from rest_framework.test import APIClient
from gigs.tests.factories import GigFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_probe():
    c = APIClient()
    r = c.get("/api/schema/")
    print(r.status_code, r["Content-Type"], r.content[:80])
    r = c.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    print(r.status_code, r["Content-Type"], r.content[:80])
    r = c.get("/api/docs/")
    print(r.status_code, r["Content-Type"])
    g = GigFactory(priced=True)
    c.force_authenticate(g.seller)
    r = c.patch(f"/api/gigs/{g.slug}/", {"packages": {"basic": {"price_minor": 100}}}, format="json")
    print(r.status_code, r.content[:300])
    r = c.post("/api/gigs/", {}, format="json")
    print(r.status_code, r.content[:300])
