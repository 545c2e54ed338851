from django.urls import path

from . import views

urlpatterns = [
    path("disputes/", views.DisputeListApi.as_view(), name="api-disputes"),
    path("disputes/<int:pk>/", views.DisputeDetailApi.as_view(), name="api-dispute"),
    path("disputes/<int:pk>/respond/", views.DisputeRespondApi.as_view(), name="api-dispute-respond"),
    path("disputes/<int:pk>/messages/", views.DisputeMessageApi.as_view(), name="api-dispute-messages"),
    path("disputes/<int:pk>/offers/", views.OfferProposeApi.as_view(), name="api-dispute-offers"),
    path(
        "disputes/<int:pk>/offers/<int:offer_id>/accept/",
        views.OfferAcceptApi.as_view(),
        name="api-dispute-offer-accept",
    ),
    path(
        "disputes/<int:pk>/offers/<int:offer_id>/decline/",
        views.OfferDeclineApi.as_view(),
        name="api-dispute-offer-decline",
    ),
    path("disputes/<int:pk>/withdraw/", views.DisputeWithdrawApi.as_view(), name="api-dispute-withdraw"),
]
