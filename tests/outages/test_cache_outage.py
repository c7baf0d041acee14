"""The cache backend with Redis down (config/cache.py): every call a quick miss, nothing raised, and what
was written meanwhile deleted once Redis is back; sessions and the signed-in user fall back to the database."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core.cache import caches

from annotate.selectors import annotator_progress_loop, progress_count_annotation
from config import cache as docket_cache
from config.auth import CachedModelBackend, user_cache_key
from tests.factories import UserFactory
from tests.outages.redis_server import RedisServer, free_port


def make_cache(location: str) -> docket_cache.RedisCache:
    return docket_cache.RedisCache(
        location, {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0}, "KEY_PREFIX": "t"}
    )


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def outage_cache(redis, settings, monkeypatch):
    """The default cache (sessions, the user, the progress counters) on ``redis``."""
    monkeypatch.setattr(docket_cache, "RETRY_AFTER_SECONDS", 0.2)
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{redis.port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
        }
    }
    return caches["default"]


def test_nothing_listening_every_call_is_a_quick_miss():
    cache = make_cache(f"redis://127.0.0.1:{free_port()}/0")
    start = time.monotonic()
    assert cache.get("k") is None and cache.get("k", 5) == 5
    assert cache.get_many(["a", "b"]) == {}
    assert cache.set("k", 1) is None and cache.add("k", 1) is False
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.delete("k") is False and cache.delete_many(["a"]) is None
    assert cache.has_key("k") is False and cache.touch("k") is False
    with pytest.raises(ValueError, match="not found"):
        cache.incr("k")
    with pytest.raises(ValueError, match="not found"):
        docket_cache.incr_many(cache, {"a": 1, "b": 2})
    assert cache.incr_many_then_get({"a": 1}, ["b"]) == (None, {})
    assert docket_cache.unavailable(cache)
    assert time.monotonic() - start < 2  # one refused connection, then no more tries for a while


def test_keys_written_during_an_outage_are_deleted_when_redis_is_back(redis, outage_cache):
    cache = outage_cache
    cache.set("session", "old")
    cache.set("counter", 5)
    cache.set("untouched", "kept")
    # Redis "unreachable" but still holding the old values (a network partition): simulated by a dead address.
    reachable = cache._cache._servers
    cache._cache._servers = [f"redis://127.0.0.1:{free_port()}/0"]
    cache._cache._pools.clear()
    cache._cache._clients.clear()
    cache.set("session", "new")  # written to the database only; the cached "old" would be stale
    with pytest.raises(ValueError):
        cache.incr("counter")  # a bump missed: the cached 5 would lag
    assert cache.unavailable
    cache._cache._servers = reachable
    cache._cache._pools.clear()
    cache._cache._clients.clear()
    time.sleep(0.3)
    assert cache.get("untouched") == "kept"  # the first call that reaches Redis deletes the stale keys first
    assert cache.get("session") is None and cache.get("counter") is None
    assert not cache.unavailable


@pytest.mark.django_db
def test_a_signed_in_user_keeps_their_session_and_progress_with_redis_stopped(redis, outage_cache, project):
    from annotate.services.assignment import annotator_for_user

    user = UserFactory()
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "config.auth.CachedModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})  # fmt: skip
    session.create()
    assert CachedModelBackend().get_user(user.pk) == user
    annotator = annotator_for_user(user)
    assert annotator_progress_loop(project=project, annotator=annotator, cap=100).approximate is False

    redis.stop()
    again = SessionStore(session.session_key)
    assert again[SESSION_KEY] == str(user.pk)  # read from the database
    again["touched"] = 1
    again.save()  # written to the database; the cache's copy is forgotten
    assert CachedModelBackend().get_user(user.pk) == user
    progress_count_annotation(project_id=project.pk, annotator_id=annotator.pk, time_spent_ms=5)
    progress = annotator_progress_loop(project=project, annotator=annotator, cap=100)
    assert (progress.done, progress.approximate) == (0, True)

    redis.start()
    time.sleep(0.3)
    assert SessionStore(session.session_key)["touched"] == 1
    assert outage_cache.get(user_cache_key(user.pk)) is None or CachedModelBackend().get_user(user.pk) == user
    assert annotator_progress_loop(project=project, annotator=annotator, cap=100).approximate is False
