"""What every page carries from templates/base.html."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders


@pytest.mark.django_db
def test_every_page_links_a_favicon_that_exists(client):
    page = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in page
    assert Path(finders.find("img/favicon.svg")).read_text(encoding="utf-8").startswith("<svg ")
