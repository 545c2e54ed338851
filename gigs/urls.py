from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("gigs/", views.gig_list, name="gig-list"),
    path("gigs/<slug:slug>/", views.gig_detail, name="gig-detail"),
    path("sell/gigs/", views.my_gigs, name="my-gigs"),
    path("sell/gigs/new/", views.gig_create, name="gig-create"),
    path("sell/gigs/<int:pk>/edit/<slug:step>/", views.gig_edit, name="gig-edit"),
    path("sell/gigs/<int:pk>/publish/", views.gig_publish, name="gig-publish"),
    path("sell/gigs/<int:pk>/pause/", views.gig_pause, name="gig-pause"),
]
