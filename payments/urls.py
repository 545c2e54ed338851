from django.urls import path

from . import views

urlpatterns = [
    path("orders/", views.my_orders, name="my-orders"),
    path("orders/checkout/<slug:slug>/<slug:tier>/", views.checkout, name="order-checkout"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("orders/<int:pk>/pay/", views.order_pay, name="order-pay"),
    path("orders/<int:pk>/receipt/", views.order_receipt, name="order-receipt"),
    path("sell/orders/", views.orders_received, name="orders-received"),
]
