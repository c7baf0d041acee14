"""API token services: create, revoke one, revoke all of a user's.

The tokens page (``accounts.views``), the REST API (``api.views``) and the
password-change hook (``accounts.signals``) all go through these. A token is
shown in plain text once, by whoever called :func:`token_create`; only its
SHA-512 digest is stored (django-rest-knox).
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts.models import NAME_MAX_LENGTH, ApiToken

TOKEN_MIN_TTL = timedelta(hours=1)
TOKEN_MAX_TTL = timedelta(days=90)
# How stale ``last_used_at`` may get before a request writes it again (one
# write per token per interval, not one per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_name_clean(name: str) -> str:
    """The stripped name; ``ValidationError`` (field ``name``) for a blank, overlong or control-character one."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "give the token a name, e.g. the machine or script that uses it"})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"at most {NAME_MAX_LENGTH} characters, got {len(name)}"})
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValidationError({"name": "no control characters"})
    return name


def token_create(*, user, name: str, ttl: timedelta) -> tuple[ApiToken, str]:
    """A new token for ``user`` expiring after ``ttl`` (1 hour to 90 days).

    Returns the stored row and the plain token, which is never stored and
    cannot be shown again. ``ValidationError`` names the field (``name``, ``ttl``).
    """
    name = token_name_clean(name)
    if not TOKEN_MIN_TTL <= ttl <= TOKEN_MAX_TTL:
        raise ValidationError({"ttl": f"a token lasts from 1 hour to {TOKEN_MAX_TTL.days} days"})
    if not user.is_active:
        raise ValidationError("inactive users get no tokens")
    return ApiToken.objects.create(user=user, expiry=ttl, name=name)


def token_revoke(*, user, token_id) -> ApiToken:
    """Delete one of ``user``'s tokens by its public id; 404 for anyone else's or an unknown id."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user, uuid=token_id).first()
        if token is None:
            raise Http404("No such token")
        token.delete()
    return token


def tokens_revoke_for_user(*, user) -> int:
    """Delete every API token of ``user`` (password changed, member deactivated); returns how many."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


def token_touch(*, token: ApiToken, now=None) -> None:
    """Record that ``token`` was used, at most once per ``LAST_USED_RESOLUTION``."""
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
