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
