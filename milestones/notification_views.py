"""The logged-in user's notifications: the list (newest first, unread marked) and "Mark all
read". Services write notifications (milestones.notifications.notify); this page only reads them
and marks them read."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from gigs.models import User

from .models import Notification

PAGE_SIZE = 30


def notification_list_for_user(*, user: User) -> QuerySet[Notification]:
    """The user's notifications, newest first (the notification_user_recent index)."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def notifications_mark_read(*, user: User, up_to_id: int) -> int:
    """Mark the user's unread notifications read, up to the newest one the page showed: one that
    arrived after the page was rendered stays unread. Idempotent. Returns how many changed."""
    return Notification.objects.filter(user=user, read_at__isnull=True, pk__lte=up_to_id).update(read_at=timezone.now())


@login_required
@require_GET
def notification_list(request):
    page = Paginator(notification_list_for_user(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    return render(
        request,
        "milestones/notifications.html",
        {
            "page": page,
            "notifications": rows,
            "any_unread": any(n.read_at is None for n in rows),
            # The newest notification there is (page 1 shows it first): "Mark all read" stops there.
            "newest_id": rows[0].pk if rows and page.number == 1 else None,
        },
    )


@login_required
@require_POST
def notification_mark_all_read(request):
    try:
        up_to = int(request.POST.get("up_to", ""))
    except ValueError:
        up_to = Notification.objects.filter(user=request.user).order_by("-id").values_list("pk", flat=True).first()
    changed = notifications_mark_read(user=request.user, up_to_id=up_to or 0)
    if changed:
        messages.success(request, f"{changed} notification{'s' if changed != 1 else ''} marked read.")
    return redirect("notifications")
