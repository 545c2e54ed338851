from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("profile/api-token/", views.api_token_rotate, name="api-token-rotate"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    # login, logout (POST only), password change and the password-reset flow
    path("", include("django.contrib.auth.urls")),
]
