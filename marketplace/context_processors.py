from django.conf import settings


def site(request):
    return {"site_name": settings.MARKETPLACE["SITE_NAME"]}
