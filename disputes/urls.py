from django.urls import path

from . import views

urlpatterns = [
    path("", views.my_disputes, name="my-disputes"),
    path("open/<int:milestone_id>/", views.dispute_open, name="dispute-open"),
    path("open/order/<int:order_id>/", views.order_dispute_open, name="order-dispute-open"),
    path("milestone/<int:milestone_id>/", views.milestone_dispute, name="milestone-dispute"),
    path("<int:pk>/", views.dispute_detail, name="dispute-detail"),
    path("<int:pk>/respond/", views.dispute_respond, name="dispute-respond"),
    path("<int:pk>/messages/", views.dispute_message, name="dispute-message"),
    path("<int:pk>/offers/", views.offer_propose, name="dispute-offer"),
    path("<int:pk>/offers/<int:offer_id>/answer/", views.offer_answer, name="dispute-offer-answer"),
    path("<int:pk>/withdraw/", views.dispute_withdraw, name="dispute-withdraw"),
    path("<int:pk>/evidence/<int:evidence_id>/", views.evidence_file, name="dispute-evidence"),
]
