"""The Redis cache backend, with one client object per connection pool and a one-trip ``incr``.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for
every cache call; each one copies ~170 response callbacks into a fresh dict,
which on the annotate loop (session, counters, throttles: several calls per
request) cost more CPU than the Redis round trips themselves. ``redis.Redis``
is thread-safe over its connection pool, so one per pool serves every thread.
"""

from __future__ import annotations

from django.core.cache.backends import redis as django_redis

# INCRBY only where the key exists (Django's incr raises ValueError for a missing key).
_INCR_EXISTING = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('incrby', KEYS[1], ARGV[1]) end"
# The same for several keys at once: all of them, or (one missing) none.
_INCR_ALL_EXISTING = """
for i = 1, #KEYS do if redis.call('exists', KEYS[i]) == 0 then return nil end end
local out = {}
for i = 1, #KEYS do out[i] = redis.call('incrby', KEYS[i], ARGV[i]) end
return out
"""


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def incr(self, key, delta):
        """One round trip (Django's client checks ``EXISTS`` first, then ``INCRBY``: two)."""
        client = self.get_client(key, write=True)
        # EVALSHA of the script (loaded on first use); registering is a local hash, no round trip.
        value = client.register_script(_INCR_EXISTING)(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def incr_many(self, deltas: dict):
        """Several ``incr`` in one round trip, all or none: ValueError (nothing changed) if a key is missing."""
        keys = list(deltas)
        client = self.get_client(keys[0], write=True)
        values = client.register_script(_INCR_ALL_EXISTING)(keys=keys, args=[deltas[k] for k in keys])
        if values is None:
            raise ValueError(f"One of the keys {keys} not found.")
        return dict(zip(keys, values, strict=True))

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

    def incr_many(self, deltas: dict, version=None) -> dict:
        """``{key: delta}`` -> ``{key: new value}`` in one round trip; ValueError, and nothing changed, if a key is missing."""
        if not deltas:
            return {}
        keys = {key: self.make_and_validate_key(key, version=version) for key in deltas}
        values = self._cache.incr_many({keys[key]: delta for key, delta in deltas.items()})
        return {key: values[keys[key]] for key in deltas}


def incr_many(cache, deltas: dict) -> dict:
    """``cache.incr`` for several keys: one round trip and all-or-none on ``RedisCache``, one by one elsewhere."""
    if hasattr(cache, "incr_many"):
        return cache.incr_many(deltas)
    return {key: cache.incr(key, delta) for key, delta in deltas.items()}
