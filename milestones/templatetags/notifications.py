"""The unread-notification count of the nav: one bounded COUNT, for logged-in users only."""

from django import template

from milestones.models import Notification

register = template.Library()

# Past this the badge says "99+": the count stops there instead of counting a long backlog.
BADGE_MAX = 99


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    """{% unread_notifications as n %}: the viewer's unread notifications, at most BADGE_MAX + 1.
    Memoised on the request, so the nav and a page may both ask for one query."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    cached = getattr(request, "_unread_notifications", None)
    if cached is None:
        cached = Notification.objects.filter(user=user, read_at__isnull=True)[: BADGE_MAX + 1].count()
        request._unread_notifications = cached
    return cached
