"""Reads of API tokens."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiToken


def tokens_for_user(*, user) -> QuerySet[ApiToken]:
    """The user's tokens, newest first (expired ones too, until they are cleaned up)."""
    return ApiToken.objects.filter(user=user).order_by("-created")  # apitoken_user_created_idx
