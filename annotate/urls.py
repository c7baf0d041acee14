from django.contrib.auth import views as auth_views
from django.urls import path

from annotate import views

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("p/<slug:slug>/", views.project_page, name="annotate-project"),
    path("p/<slug:slug>/annotate/", views.annotate_next, name="annotate-next"),
    path("p/<slug:slug>/annotate/<uuid:assignment_uuid>/submit/", views.annotate_submit, name="annotate-submit"),
    path("p/<slug:slug>/annotate/<uuid:assignment_uuid>/skip/", views.annotate_skip, name="annotate-skip"),
]
