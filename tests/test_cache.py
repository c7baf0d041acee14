"""The Redis cache backend (config.cache): one client per pool, a one-trip ``incr`` with Django's semantics."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from config.cache import RedisCache

pytestmark = pytest.mark.skipif(
    not (settings.CACHE_URL or settings.REDIS_URL), reason="needs Redis (REDIS_URL / DOCKET_CACHE_URL); CI sets it"
)


@pytest.fixture
def redis_cache():
    backend = RedisCache(settings.CACHE_URL or settings.REDIS_URL, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    yield backend
    backend.clear()


def test_one_client_object_per_pool(redis_cache):
    client = redis_cache._cache.get_client("k", write=True)
    assert redis_cache._cache.get_client("other", write=True) is client


def test_incr_counts_existing_keys_and_refuses_missing_ones_like_django(redis_cache):
    redis_cache.set("done", 5)
    assert redis_cache.incr("done") == 6
    assert redis_cache.incr("done", 10) == 16
    assert redis_cache.get("done") == 16
    with pytest.raises(ValueError, match="not found"):
        redis_cache.incr("missing")
    assert redis_cache.get("missing") is None  # nothing created
    assert redis_cache.decr("done", 6) == 10


def test_settings_use_it_when_redis_is_configured():
    assert settings.CACHES["default"]["BACKEND"] == "config.cache.RedisCache"


def test_incr_many_is_one_script_call_all_or_none(redis_cache):
    redis_cache.set_many({"done": 5, "time": 100})
    assert redis_cache.incr_many({"done": 1, "time": 2500}) == {"done": 6, "time": 2600}
    with pytest.raises(ValueError, match="not found"):
        redis_cache.incr_many({"done": 1, "gone": 7})
    assert redis_cache.get_many(["done", "gone"]) == {"done": 6}  # neither was changed nor created
    assert redis_cache.incr_many({}) == {}


def test_incr_many_falls_back_to_incr_on_other_caches():
    from django.core.cache.backends.locmem import LocMemCache

    from config.cache import incr_many

    local = LocMemCache(f"test-{uuid.uuid4().hex}", {})
    local.set_many({"a": 1, "b": 2})
    assert incr_many(local, {"a": 1, "b": 3}) == {"a": 2, "b": 5}
    with pytest.raises(ValueError):
        incr_many(local, {"missing": 1})


def _counting_commands(monkeypatch) -> list:
    """Every command the redis client sends (a spy: each still runs)."""
    import redis

    sent = []
    real = redis.Redis.execute_command

    def execute_command(self, *args, **options):
        sent.append(args[0])
        return real(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", execute_command)
    return sent


def test_incr_many_then_get_bumps_all_or_none_and_reads_after_in_one_call(redis_cache, monkeypatch):
    redis_cache.set_many({"done": 5, "time": 100, "flag": 1, "note": {"a": [1, 2]}})
    sent = _counting_commands(monkeypatch)
    bumped, got = redis_cache.incr_many_then_get({"done": 1, "time": 2500}, ["done", "time", "flag", "note", "gone"])
    assert bumped == {"done": 6, "time": 2600}
    assert got == {"done": 6, "time": 2600, "flag": 1, "note": {"a": [1, 2]}}  # read after the bump; "gone" absent
    assert sent == ["EVALSHA"]  # one round trip
    bumped, got = redis_cache.incr_many_then_get({"done": 1, "gone": 7}, ["done", "gone"])
    assert bumped is None and got == {"done": 6}  # nothing bumped, nothing created
    assert redis_cache.get_many(["done", "time", "gone"]) == {"done": 6, "time": 2600}
    assert redis_cache.incr_many_then_get({}, []) == ({}, {})
    assert redis_cache.incr_many_then_get({}, ["flag"]) == ({}, {"flag": 1})


def test_incr_many_then_get_falls_back_on_other_caches():
    from django.core.cache.backends.locmem import LocMemCache

    from config.cache import incr_many_then_get

    local = LocMemCache(f"test-{uuid.uuid4().hex}", {})
    local.set_many({"a": 1, "b": 2})
    assert incr_many_then_get(local, {"a": 1}, ["a", "b", "c"]) == ({"a": 2}, {"a": 2, "b": 2})
    assert incr_many_then_get(local, {"c": 1}, ["a"]) == (None, {"a": 2})
