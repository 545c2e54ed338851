"""Project-wide fixtures. Tests run against the PostgreSQL and Redis that scripts/test starts."""

import pytest

pytest_plugins = ["marketplace.testing.browser"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
