"""The Redis cache backend, with one client object per connection pool, a one-trip ``incr``,
and an outage that degrades instead of failing.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for
every cache call; each one copies ~170 response callbacks into a fresh dict,
which on the annotate loop (session, counters, throttles: several calls per
request) cost more CPU than the Redis round trips themselves. ``redis.Redis``
is thread-safe over its connection pool, so one per pool serves every thread.

**Redis down.** Everything Docket keeps in this cache can be done without
(sessions are written through to the database, the user and the progress
counters are read from it again), so a cache call that cannot reach Redis
(connection refused or lost, timeout) acts as a miss: reads return nothing,
writes store nothing, ``incr`` says the key is missing; an error is logged
once per outage. For ``RETRY_AFTER_SECONDS`` after a failure the process does
not try Redis at all (no connect attempt per call), then tries again.
``unavailable(cache)`` tells a page that its figures came without the cache
(the annotate page says its progress is approximate). A key this process
could not write or delete (a session saved, a user changed, a counter
bumped) would be stale once Redis is back; it is deleted then, before the
process's first call that reaches Redis (up to ``FORGET_AT_MOST`` keys per
outage).
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends import redis as django_redis
from redis import exceptions as redis_errors

logger = logging.getLogger(__name__)

# What a Redis that is down, restarting or unreachable raises (redis-py's
# ConnectionError and TimeoutError; OSError for what escapes them).
OUTAGE_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
RETRY_AFTER_SECONDS = 1.0
FORGET_AT_MOST = 100_000


class _Health:
    """One cache location's state in this process, shared by its threads."""

    def __init__(self, location: str):
        self.location = location
        self.lock = threading.Lock()
        self.down_until = 0.0  # monotonic; Redis is not tried before
        self.in_outage = False
        self.stale: set[tuple[str, int | None]] = set()  # (key, version) to delete once Redis is back
        self.overflowed = False

    def down(self) -> bool:
        return time.monotonic() < self.down_until

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            self.down_until = time.monotonic() + RETRY_AFTER_SECONDS
            if not self.in_outage:
                self.in_outage = True
                logger.error("cache %s unreachable (%s): serving without it", self.location, exc)

    def forget(self, keys, version) -> None:
        with self.lock:
            for key in keys:
                if len(self.stale) >= FORGET_AT_MOST:
                    self.overflowed = True
                    break
                self.stale.add((key, version))

    def take_stale(self) -> set:
        with self.lock:
            stale, self.stale = self.stale, set()
            return stale


_HEALTH: dict[str, _Health] = {}
_HEALTH_LOCK = threading.Lock()


def _health(location: str) -> _Health:
    with _HEALTH_LOCK:
        return _HEALTH.setdefault(location, _Health(location))


def unavailable(cache) -> bool:
    """Whether ``cache`` is (or was, within ``RETRY_AFTER_SECONDS``) out of reach: figures came without it."""
    return bool(getattr(cache, "unavailable", False))


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
        self._health = _health(server if isinstance(server, str) else ",".join(server))

    @property
    def unavailable(self) -> bool:
        return self._health.down()

    def _guard(self, call, fallback, *, stale=(), version=None):
        """``call()``, or ``fallback`` when Redis is out of reach; ``stale``: keys to delete once it is back."""
        health = self._health
        if health.down():
            health.forget(stale, version)
            return fallback
        try:
            if health.stale or health.in_outage:
                self._recovered(health)
            return call()
        except OUTAGE_ERRORS as exc:
            health.failed(exc)
            health.forget(stale, version)
            return fallback

    def _recovered(self, health: _Health) -> None:
        """Back after an outage: delete what this process could not write (raises while Redis is still down)."""
        stale = health.take_stale()
        try:
            by_version: dict = {}
            for key, version in stale:
                by_version.setdefault(version, []).append(key)
            for version, keys in by_version.items():
                for start in range(0, len(keys), 1000):
                    super().delete_many(keys[start : start + 1000], version=version)
        except BaseException:
            with health.lock:
                health.stale |= stale
            raise
        with health.lock:
            if health.in_outage and not health.stale:
                overflowed, health.overflowed, health.in_outage = health.overflowed, False, False
                logger.warning(
                    "cache %s reachable again; %d key(s) written during the outage deleted%s",
                    health.location,
                    len(stale),
                    " (more were written than remembered: some may be stale for their timeout)" if overflowed else "",
                )

    # Django's cache API, each call guarded.

    def get(self, key, default=None, version=None):
        return self._guard(lambda: super(RedisCache, self).get(key, default, version), default)

    def get_many(self, keys, version=None):
        return self._guard(lambda: super(RedisCache, self).get_many(keys, version), {})

    def has_key(self, key, version=None):
        return self._guard(lambda: super(RedisCache, self).has_key(key, version), False)

    def set(self, key, value, timeout=django_redis.DEFAULT_TIMEOUT, version=None):
        return self._guard(
            lambda: super(RedisCache, self).set(key, value, timeout, version), None, stale=[key], version=version
        )

    def set_many(self, data, timeout=django_redis.DEFAULT_TIMEOUT, version=None):
        return self._guard(
            lambda: super(RedisCache, self).set_many(data, timeout, version), list(data), stale=list(data),
            version=version,
        )  # fmt: skip

    def add(self, key, value, timeout=django_redis.DEFAULT_TIMEOUT, version=None):
        # Not added: nothing to forget (a key another process adds meanwhile is its own).
        return self._guard(lambda: super(RedisCache, self).add(key, value, timeout, version), False)

    def touch(self, key, timeout=django_redis.DEFAULT_TIMEOUT, version=None):
        return self._guard(lambda: super(RedisCache, self).touch(key, timeout, version), False)

    def delete(self, key, version=None):
        return self._guard(lambda: super(RedisCache, self).delete(key, version), False, stale=[key], version=version)

    def delete_many(self, keys, version=None):
        keys = list(keys)
        return self._guard(
            lambda: super(RedisCache, self).delete_many(keys, version), None, stale=keys, version=version
        )

    def clear(self):
        return self._guard(lambda: super(RedisCache, self).clear(), False)

    def incr(self, key, delta=1, version=None):
        missing = object()

        def call():
            try:
                return super(RedisCache, self).incr(key, delta, version)
            except ValueError:
                return missing

        value = self._guard(call, missing, stale=[key], version=version)
        if value is missing:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def redis_client(self):
        """The ``redis.Redis`` client of the write pool, for what the cache API lacks (lists, pipelines).

        Keys given to it are raw: build them with ``make_and_validate_key``.
        """
        return self._cache.get_client(None, write=True)

    def incr_many(self, deltas: dict, version=None) -> dict:
        """``{key: delta}`` -> ``{key: new value}`` in one round trip; ValueError, and nothing changed, if a key is missing."""
        bumped, _read = self.incr_many_then_get(deltas, [], version=version)
        if bumped is None:
            raise ValueError(f"One of the keys {list(deltas)} not found.")
        return bumped

    def incr_many_then_get(self, deltas: dict, keys, version=None) -> tuple[dict | None, dict]:
        """Bump ``deltas`` (all, or ``None`` and nothing changed if one is missing), then read ``keys``: one round trip.

        Redis out of reach: ``(None, {})``, as if every key were missing.
        """
        keys = list(keys)
        if not deltas and not keys:
            return {}, {}

        def call():
            made = {key: self.make_and_validate_key(key, version=version) for key in [*deltas, *keys]}
            bumped, got = self._cache.incr_many_then_get(
                {made[k]: d for k, d in deltas.items()}, [made[k] for k in keys]
            )
            back = {v: k for k, v in made.items()}
            return (None if bumped is None else {back[k]: v for k, v in bumped.items()}), {
                back[k]: v for k, v in got.items()
            }

        return self._guard(call, (None, {}), stale=list(deltas), version=version)


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
