from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from marketplace.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("gigs.accounts_urls")),
    path("api/", include("payments.api.urls")),
    path("api/", include("milestones.api.urls")),
    path("api/", include("gigs.api.urls")),
    path("api/", include("disputes.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("healthz/", healthz, name="healthz"),
    path("payments/webhooks/", include("payments.webhook_urls")),
    path("sell/payments/", include("payments.connect_urls")),
    path("notifications/", include("milestones.notification_urls")),
    path("disputes/", include("disputes.urls")),
    path("projects/", include("milestones.project_urls")),
    path("", include("payments.urls")),
    path("", include("milestones.workspace_urls")),
    path("", include("milestones.urls")),  # before gigs: it serves the editor's Description & FAQ step
    path("", include("gigs.urls")),
]
# Uploaded files (deliveries, message attachments) are private to an order's parties: they are
# served only through views that check the viewer, never from a public /media/ URL, even in DEBUG.
