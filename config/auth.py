"""Django's model backend with the per-request user lookup served from the cache.

``AuthenticationMiddleware`` loads ``request.user`` on every request with a
query by primary key; on the annotate loop (one request per item) that query
and the ORM work around it were about a tenth of a request's CPU. The user is
kept in the cache (the same Redis as sessions) for ``USER_CACHE_SECONDS`` and
dropped whenever the row is saved or deleted, so a password change, a
deactivation or a new ``last_login`` is seen on the very next request: the
session's hash check compares against the stored password hash, and
``is_active`` is checked on every request as before. Only writes that bypass
``save()`` (``QuerySet.update()``, raw SQL) can leave a stale user for up to
``USER_CACHE_SECONDS``; deactivate people with ``save()`` (the admin does).
With the in-process cache of the Redis-less quick start, the dropping only
reaches the process that saved: run production with Redis.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

USER_CACHE_SECONDS = 300


def user_cache_key(user_id) -> str:
    return f"docket:user:{user_id}"


class CachedModelBackend(ModelBackend):
    """``ModelBackend`` whose ``get_user`` reads the cache first."""

    def get_user(self, user_id):
        key = user_cache_key(user_id)
        user = cache.get(key)
        if user is None:
            user = super().get_user(user_id)  # None for a missing or inactive user: not cached
            if user is not None:
                cache.set(key, user, USER_CACHE_SECONDS)
            return user
        return user if self.user_can_authenticate(user) else None


def _forget_user(sender, instance, **kwargs):
    cache.delete(user_cache_key(instance.pk))


def connect_signals() -> None:
    """Drop a user from the cache whenever their row changes (called from an app's ``ready``)."""
    user_model = get_user_model()
    post_save.connect(_forget_user, sender=user_model, dispatch_uid="docket-forget-cached-user-save")
    post_delete.connect(_forget_user, sender=user_model, dispatch_uid="docket-forget-cached-user-delete")
