"""Buyer projects and custom offers (issue 7), under /projects/ (marketplace/urls.py). The offer
checkout lives in payments (payments/urls.py: /orders/offer/<offer_id>/checkout/)."""

from django.urls import path

from . import project_views as views

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("new/", views.project_create, name="project-create"),
    path("mine/", views.project_mine, name="project-mine"),
    path("offers/", views.offer_mine, name="my-offers"),
    path("<int:pk>/", views.project_detail, name="project-detail"),
    path("<int:pk>/edit/", views.project_edit, name="project-edit"),
    path("<int:pk>/close/", views.project_close, name="project-close"),
    path("<int:pk>/invite/", views.project_invite, name="project-invite"),
    path("<int:pk>/files/", views.project_attach, name="project-attach"),
    path("<int:pk>/files/<int:attachment_id>/", views.project_attachment, name="project-attachment"),
    path("<int:pk>/offers/new/", views.offer_new, name="project-offer-new"),
    path("<int:pk>/offers/<int:offer_id>/", views.offer_thread, name="project-offer"),
    path("<int:pk>/offers/<int:offer_id>/edit/", views.offer_revise, name="project-offer-revise"),
    path("<int:pk>/offers/<int:offer_id>/withdraw/", views.offer_withdraw, name="project-offer-withdraw"),
    path("<int:pk>/offers/<int:offer_id>/decline/", views.offer_decline, name="project-offer-decline"),
]
