from django.urls import path

from . import views

urlpatterns = [
    path("sell/gigs/<int:pk>/edit/description/", views.edit_description, name="gig-edit-description"),
    path("sell/templates/", views.template_list, name="milestone-templates"),
    path("sell/templates/<int:template_id>/rename/", views.template_rename, name="milestone-template-rename"),
    path("sell/templates/<int:template_id>/delete/", views.template_delete, name="milestone-template-delete"),
]
