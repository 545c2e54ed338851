"""The order workspace, its message files, the seller's team and dashboard (mounted at "")."""

from django.urls import path

from . import workspace_views as views

urlpatterns = [
    path("orders/<int:pk>/workspace/", views.workspace, name="order-workspace"),
    path("orders/<int:pk>/workspace/milestones/<int:milestone_id>/tasks/", views.task_add, name="workspace-task-add"),
    path("orders/<int:pk>/workspace/tasks/<int:task_id>/done/", views.task_done, name="workspace-task-done"),
    path("orders/<int:pk>/workspace/tasks/<int:task_id>/assign/", views.task_assign, name="workspace-task-assign"),
    path("orders/<int:pk>/workspace/tasks/<int:task_id>/delete/", views.task_delete, name="workspace-task-delete"),
    path("orders/<int:pk>/workspace/milestones/<int:milestone_id>/notes/", views.note_add, name="workspace-note-add"),
    path("orders/<int:pk>/workspace/notes/<int:note_id>/delete/", views.note_delete, name="workspace-note-delete"),
    path("orders/<int:pk>/messages/", views.message_post, name="order-message-post"),
    path(
        "orders/<int:pk>/messages/files/<int:attachment_id>/",
        views.attachment_download,
        name="order-message-file",
    ),
    path("sell/team/", views.team, name="team"),
    path("sell/team/<int:team_member_id>/remove/", views.team_remove, name="team-remove"),
    path("sell/team/invitations/<int:team_member_id>/accept/", views.team_accept, name="team-accept"),
    path("sell/team/invitations/<int:team_member_id>/leave/", views.team_leave, name="team-leave"),
    path("sell/dashboard/", views.dashboard, name="seller-dashboard"),
]
