"""The cached user lookup (``config.auth.CachedModelBackend``): cheaper, never staler than a save."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.auth import CachedModelBackend, user_cache_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BACKEND = "config.auth.CachedModelBackend"
PASSWORD = "a-long-test-passphrase-1"  # noqa: S105


def _user_queries(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if '"auth_user"' in (q["sql"] or "")]


def test_the_user_is_read_once_then_from_the_cache():
    user = UserFactory()
    backend = CachedModelBackend()
    with CaptureQueriesContext(connection) as first:
        assert backend.get_user(user.pk) == user
    with CaptureQueriesContext(connection) as second:
        again = backend.get_user(user.pk)
    assert len(_user_queries(first)) == 1 and _user_queries(second) == []
    assert again == user and again.password == user.password
    assert backend.get_user(10**9) is None  # no such user: nothing cached, no error


def _logged_in(client, user):
    client.force_login(user, backend=BACKEND)
    assert client.get(reverse("home")).status_code == 200
    assert cache.get(user_cache_key(user.pk)) is not None  # the request cached them


def test_a_password_change_logs_the_old_sessions_out_at_once(client):
    user = UserFactory()
    _logged_in(client, user)
    user.set_password(PASSWORD)
    user.save()
    response = client.get(reverse("home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_deactivated_user_is_out_on_the_next_request(client):
    user = UserFactory()
    _logged_in(client, user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(reverse("home")).status_code == 302


def test_a_deleted_user_is_out_on_the_next_request(client):
    user = UserFactory()
    _logged_in(client, user)
    user.delete()
    assert cache.get(user_cache_key(user.pk)) is None
    assert client.get(reverse("home")).status_code == 302


def test_an_inactive_user_in_the_cache_is_still_refused():
    """``is_active`` is checked on every request, also for a cached copy."""
    user = UserFactory()
    stale = get_user_model().objects.get(pk=user.pk)
    stale.is_active = False
    cache.set(user_cache_key(user.pk), stale)
    assert CachedModelBackend().get_user(user.pk) is None
