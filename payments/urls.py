from django.urls import path

from . import views

urlpatterns = [
    path("orders/", views.my_orders, name="my-orders"),
    path("orders/checkout/<slug:slug>/<slug:tier>/", views.checkout, name="order-checkout"),
    path("orders/offer/<int:offer_id>/checkout/", views.offer_checkout, name="offer-checkout"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("orders/<int:pk>/pay/", views.order_pay, name="order-pay"),
    path("orders/<int:pk>/receipt/", views.order_receipt, name="order-receipt"),
    path("orders/<int:pk>/stop/", views.order_stop, name="order-stop"),
    path("orders/<int:pk>/files/<int:file_id>/", views.delivery_file, name="order-file"),
    path("orders/<int:pk>/milestones/<int:milestone_id>/deliver/", views.milestone_deliver, name="milestone-deliver"),
    path("orders/<int:pk>/milestones/<int:milestone_id>/accept/", views.milestone_accept, name="milestone-accept"),
    path(
        "orders/<int:pk>/milestones/<int:milestone_id>/request-revision/",
        views.milestone_request_revision,
        name="milestone-request-revision",
    ),
    path(
        "orders/<int:pk>/milestones/<int:milestone_id>/cancel-request/",
        views.milestone_cancel_request,
        name="milestone-cancel-request",
    ),
    path(
        "orders/<int:pk>/milestones/<int:milestone_id>/cancel-late/",
        views.milestone_cancel_late,
        name="milestone-cancel-late",
    ),
    path(
        "orders/<int:pk>/cancellation-requests/<int:request_id>/answer/",
        views.cancellation_answer,
        name="cancellation-answer",
    ),
    path("sell/orders/", views.orders_received, name="orders-received"),
    path("sell/earnings/", views.earnings, name="seller-earnings"),
]
