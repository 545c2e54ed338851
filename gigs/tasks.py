from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from .models import Gig


@shared_task(acks_late=True, autoretry_for=(ConnectionError, OSError), retry_backoff=30, max_retries=5)
def gig_published_email_task(gig_id: int) -> None:
    """Tell the seller their gig is live. Takes an id; a deleted gig is simply skipped."""
    gig = Gig.objects.select_related("seller").filter(pk=gig_id).first()
    if gig is None or not gig.seller.email:
        return
    send_mail(
        subject=f"Your gig is live: {' '.join(gig.title.split())}",
        message=(
            f'Hi {gig.seller.username},\n\nYour gig "{gig.title}" is now published and buyers '
            f"can find it at {settings.MARKETPLACE['SITE_URL']}{gig.get_absolute_url()}.\n\n"
            f"{settings.MARKETPLACE['SITE_NAME']}"
        ),
        from_email=None,
        recipient_list=[gig.seller.email],
    )
