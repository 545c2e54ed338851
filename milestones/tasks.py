"""Thin tasks: take an id, call a service."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from .models import Notification


@shared_task(acks_late=True, autoretry_for=(ConnectionError, OSError), retry_backoff=30, max_retries=5)
def notification_email_task(notification_id: int) -> None:
    """Email one notification, once: the row is claimed (emailed_at set) before sending, so a
    redelivered task sends nothing more."""
    claimed = Notification.objects.filter(Q(pk=notification_id), Q(emailed_at__isnull=True)).update(
        emailed_at=timezone.now()
    )
    if not claimed:
        return
    row = Notification.objects.select_related("user").get(pk=notification_id)
    if not row.user.email:
        return
    site = settings.MARKETPLACE
    try:
        send_mail(
            subject=f"{site['SITE_NAME']}: {row.text}",
            message=f"Hi {row.user.username},\n\n{row.text}\n\n{site['SITE_URL']}{row.url}\n\n{site['SITE_NAME']}",
            from_email=None,
            recipient_list=[row.user.email],
        )
    except Exception:
        Notification.objects.filter(pk=notification_id).update(emailed_at=None)  # let the retry send it
        raise


@shared_task(acks_late=True, ignore_result=True)
def notifications_email_batch_task(dedupe_keys: list[str]) -> int:
    """Email the notifications a sweep recorded in bulk, each once (same claim as above)."""
    ids = list(
        Notification.objects.filter(dedupe_key__in=dedupe_keys, emailed_at__isnull=True).values_list("pk", flat=True)
    )
    for pk in ids:
        notification_email_task(pk)
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def review_reminders_sweep_task() -> int:
    from .lifecycle import review_reminders_sweep

    return review_reminders_sweep()


@shared_task(acks_late=True, ignore_result=True)
def offers_expire_sweep_task() -> int:
    from .project_services import offers_expire_sweep

    return offers_expire_sweep()
