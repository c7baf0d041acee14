from django.urls import path

from accounts import views

urlpatterns = [
    path("account/tokens/", views.tokens, name="account-tokens"),
    path("account/tokens/revoke-all/", views.tokens_revoke_all, name="account-tokens-revoke-all"),
    path("account/tokens/<uuid:token_id>/revoke/", views.token_revoke_view, name="account-token-revoke"),
]
