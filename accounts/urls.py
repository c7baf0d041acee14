from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("account/tokens/", views.tokens, name="account-tokens"),
    path("account/tokens/revoke-all/", views.tokens_revoke_all, name="account-tokens-revoke-all"),
    path("account/tokens/<uuid:token_id>/revoke/", views.token_revoke_view, name="account-token-revoke"),
    path("invite/<str:secret>/", views.invite, name="invite"),
    path("join/<str:token>/", views.crowd_join_view, name="crowd-join"),
    path("join/<str:token>/done/", views.crowd_done, name="crowd-done"),
    path("join/<str:token>/qualify/", views.crowd_qualify, name="crowd-qualify"),
    # A one-time password reset link made by a project owner (curation.people); Django's own views.
    path(
        "account/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(post_reset_login=False),
        name="password_reset_confirm",
    ),
    path(
        "account/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
