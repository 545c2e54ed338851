from django.urls import path

from . import offer_views, views

MILESTONE = "orders/<int:pk>/milestones/<int:milestone_id>/"

urlpatterns = [
    path("orders/", views.OrderListApi.as_view(), name="api-orders"),
    path("orders/<int:pk>/", views.OrderDetailApi.as_view(), name="api-order"),
    path("orders/<int:pk>/payment/", views.OrderPaymentApi.as_view(), name="api-order-payment"),
    path("orders/<int:pk>/stop/", views.OrderStopApi.as_view(), name="api-order-stop"),
    path(f"{MILESTONE}deliver/", views.MilestoneDeliverApi.as_view(), name="api-milestone-deliver"),
    path(f"{MILESTONE}accept/", views.MilestoneAcceptApi.as_view(), name="api-milestone-accept"),
    path(
        f"{MILESTONE}request-revision/",
        views.MilestoneRequestRevisionApi.as_view(),
        name="api-milestone-request-revision",
    ),
    path(f"{MILESTONE}cancel-request/", views.MilestoneCancelRequestApi.as_view(), name="api-milestone-cancel-request"),
    path(f"{MILESTONE}cancel-late/", views.MilestoneCancelLateApi.as_view(), name="api-milestone-cancel-late"),
    path(
        "cancellation-requests/<int:request_id>/answer/",
        views.CancellationAnswerApi.as_view(),
        name="api-cancellation-answer",
    ),
    path("me/earnings/", views.MyEarningsApi.as_view(), name="api-my-earnings"),
    # Accepting a custom offer (issue 7) places its order: payments' checkout.
    path("offers/<int:pk>/accept/", offer_views.OfferAcceptApi.as_view(), name="api-offer-accept"),
]
