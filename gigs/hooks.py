"""Extension points for later apps. They import gigs and register here (in AppConfig.ready);
gigs never imports them, so the dependency keeps pointing one way.

- `detail_context`: callables `(gig, request) -> dict` merged into the gig page's context.
- `detail_api_fields`: callables `(gig) -> dict` merged into the gig detail API representation.
"""

from collections.abc import Callable
from typing import Any

detail_context: list[Callable[[Any, Any], dict]] = []
detail_api_fields: list[Callable[[Any], dict]] = []


def gig_detail_context(gig, request) -> dict:
    extra: dict = {}
    for provider in detail_context:
        extra.update(provider(gig, request))
    return extra


def gig_detail_api_fields(gig) -> dict:
    extra: dict = {}
    for provider in detail_api_fields:
        extra.update(provider(gig))
    return extra
