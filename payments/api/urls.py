from django.urls import path

from . import views

urlpatterns = [
    path("orders/", views.OrderListApi.as_view(), name="api-orders"),
    path("orders/<int:pk>/", views.OrderDetailApi.as_view(), name="api-order"),
    path("orders/<int:pk>/payment/", views.OrderPaymentApi.as_view(), name="api-order-payment"),
]
