from django.urls import path

from . import views

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
]
