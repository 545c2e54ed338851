"""Extension points of payments for later apps. They import payments and register here (in
AppConfig.ready); payments never imports them, so the dependency keeps pointing one way
(gigs <- milestones <- payments <- disputes), as in gigs/hooks.py.

- `dispute_event_handlers`: callables `(event_type, obj, *, created, event_id) -> bool` given the
  provider's dispute events (`DISPUTE_EVENTS`, Stripe's `charge.dispute.*`; the local provider
  emits the same). payments.services.webhook_event_process calls them inside its transaction,
  with the inbox row locked, so each event is applied at most once and a handler's writes commit
  or roll back with the row's status. A handler returns True when it applied the event (the row
  is marked processed), False when the event concerns nothing it knows (no order for the charge:
  the row is "stored for later"). It raises `EventRefused` to mark the event failed with the
  reason (an admin must look; the inbox sweep does not retry it); any other exception rolls
  back, and the inbox sweep queues the event again.
"""

from collections.abc import Callable
from typing import Any

DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    }
)

dispute_event_handlers: list[Callable[..., bool]] = []


class EventRefused(Exception):
    """A provider event that cannot be applied as it stands (e.g. in an unexpected currency):
    nothing it would change is written; the event is marked failed with this message."""


def dispute_event(event_type: str, obj: dict[str, Any], *, created: int, event_id: str) -> bool:
    """Hand a provider dispute event to the registered handlers. True when one applied it."""
    applied = False
    for handler in dispute_event_handlers:
        applied = bool(handler(event_type, obj, created=created, event_id=event_id)) or applied
    return applied
