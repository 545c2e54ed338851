from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from . import views

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("categories/", views.CategoryListApi.as_view(), name="api-categories"),
    path("gigs/", views.GigListApi.as_view(), name="api-gig-list"),
    path("me/gigs/", views.MyGigListApi.as_view(), name="api-my-gigs"),
    path("gigs/<slug:slug>/", views.GigDetailApi.as_view(), name="api-gig-detail"),
    path("gigs/<slug:slug>/publish/", views.GigPublishApi.as_view(), name="api-gig-publish"),
    path("gigs/<slug:slug>/pause/", views.GigPauseApi.as_view(), name="api-gig-pause"),
]
