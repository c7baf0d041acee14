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
# The same for several counters at once (KEYS[1..#ARGV], by ARGV): all of them,
# or (one missing) none; then the values of the remaining KEYS, read after the bump.
# Reply: {1 if bumped else 0, each counter's new value (0 if not bumped), each read value or nil}.
_INCR_ALL_EXISTING_THEN_GET = """
local n = #ARGV
local out = {1}
for i = 1, n do if redis.call('exists', KEYS[i]) == 0 then out[1] = 0 end end
for i = 1, n do
  if out[1] == 1 then out[i + 1] = redis.call('incrby', KEYS[i], ARGV[i]) else out[i + 1] = 0 end
end
for i = n + 1, #KEYS do out[i + 1] = redis.call('get', KEYS[i]) end
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

    def incr_many_then_get(self, deltas: dict, keys: list) -> tuple[dict | None, dict]:
        """Bump ``deltas`` (all, or ``None`` if one is missing), then ``get_many(keys)``: one script call."""
        counters = list(deltas)
        client = self.get_client((counters or keys)[0], write=True)
        reply = client.register_script(_INCR_ALL_EXISTING_THEN_GET)(
            keys=counters + keys, args=[deltas[k] for k in counters]
        )
        values, got = reply[1 : 1 + len(counters)], reply[1 + len(counters) :]
        bumped = dict(zip(counters, values, strict=True)) if reply[0] == 1 else None
        return bumped, {k: self._serializer.loads(v) for k, v in zip(keys, got, strict=True) if v is not None}

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
        bumped, _read = self.incr_many_then_get(deltas, [], version=version)
        if bumped is None:
            raise ValueError(f"One of the keys {list(deltas)} not found.")
        return bumped

    def incr_many_then_get(self, deltas: dict, keys, version=None) -> tuple[dict | None, dict]:
        """Bump ``deltas`` (all, or ``None`` and nothing changed if one is missing), then read ``keys``: one round trip."""
        keys = list(keys)
        if not deltas and not keys:
            return {}, {}
        made = {key: self.make_and_validate_key(key, version=version) for key in [*deltas, *keys]}
        bumped, got = self._cache.incr_many_then_get({made[k]: d for k, d in deltas.items()}, [made[k] for k in keys])
        back = {v: k for k, v in made.items()}
        return (None if bumped is None else {back[k]: v for k, v in bumped.items()}), {
            back[k]: v for k, v in got.items()
        }


def incr_many(cache, deltas: dict) -> dict:
    """``cache.incr`` for several keys: one round trip and all-or-none on ``RedisCache``, one by one elsewhere."""
    if hasattr(cache, "incr_many"):
        return cache.incr_many(deltas)
    return {key: cache.incr(key, delta) for key, delta in deltas.items()}


def incr_many_then_get(cache, deltas: dict, keys) -> tuple[dict | None, dict]:
    """Bump the counters ``deltas`` and read ``keys`` afterwards: ``(new values or None, {key: value})``.

    ``None`` when a counter is missing (on ``RedisCache`` nothing was changed
    then). One round trip on ``RedisCache``, several elsewhere.
    """
    if hasattr(cache, "incr_many_then_get"):
        return cache.incr_many_then_get(deltas, keys)
    try:
        bumped = incr_many(cache, deltas)
    except ValueError:
        bumped = None
    return bumped, cache.get_many(list(keys))
