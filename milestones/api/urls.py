from django.urls import path

from . import project_views, views

urlpatterns = [
    path("gigs/<slug:slug>/plan/", views.GigPlanApi.as_view(), name="api-gig-plan"),
    path(
        "gigs/<slug:slug>/plan/apply-template/",
        views.GigPlanApplyTemplateApi.as_view(),
        name="api-gig-plan-apply-template",
    ),
    path("milestone-templates/", views.MilestoneTemplateListApi.as_view(), name="api-milestone-templates"),
    path(
        "milestone-templates/<int:template_id>/",
        views.MilestoneTemplateDetailApi.as_view(),
        name="api-milestone-template",
    ),
    # Buyer projects and custom offers (issue 7); accepting an offer is payments' (api-offer-accept).
    path("projects/", project_views.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:pk>/", project_views.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<int:pk>/close/", project_views.ProjectCloseApi.as_view(), name="api-project-close"),
    path("projects/<int:pk>/invite/", project_views.ProjectInviteApi.as_view(), name="api-project-invite"),
    path(
        "projects/<int:pk>/attachments/",
        project_views.ProjectAttachmentsApi.as_view(),
        name="api-project-attachments",
    ),
    path("projects/<int:pk>/offers/", project_views.ProjectOffersApi.as_view(), name="api-project-offers"),
    path("offers/prefill/", project_views.OfferPrefillApi.as_view(), name="api-offer-prefill"),
    path("offers/<int:pk>/", project_views.OfferDetailApi.as_view(), name="api-offer"),
    path("offers/<int:pk>/withdraw/", project_views.OfferWithdrawApi.as_view(), name="api-offer-withdraw"),
    path("offers/<int:pk>/decline/", project_views.OfferDeclineApi.as_view(), name="api-offer-decline"),
    path("offers/<int:pk>/messages/", project_views.OfferMessagesApi.as_view(), name="api-offer-messages"),
]
