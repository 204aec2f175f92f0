"""The online store at scale: Redis. The only module of tether that imports ``redis`` (and
only when a :class:`RedisOnlineStore` is made, so ``import tether.features`` never pays for it).

Keys, under ``<prefix>:<namespace>:`` (a namespace is a view's name and version):

* ``e:<entity>``: a sorted set of rows, every version of every event the entity was ever key
  of, scored by the event's latest event time; a request reads the recent ones with one
  ``ZRANGE ... BYSCORE`` (one pipeline for many entities);
* ``v:<event id>``: a set of the event's versions; ``k:<event id>``: a set of its entities;
* ``t``: a sorted set of event ids scored by their latest event time (for compaction);
* ``w``: the materialization watermark.

Writes run as one Lua script per batch, so a batch lands atomically and two writers cannot
interleave between adding an event's new entity and copying its versions there. The scripts
compute key names, which a single Redis (or a cluster with one hash slot per prefix) allows.
Connection failures become :class:`~tether.errors.StoreUnavailableError` naming the URL
(without its password), which the server maps to 503.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from tether._uris import mask_uri
from tether.errors import FeatureError, StoreUnavailableError
from tether.features._online_rows import StoredVersion
from tether.features._online_store import OnlineStore

if TYPE_CHECKING:
    import redis

__all__ = ["RedisOnlineStore"]

_T = TypeVar("_T")
_BATCH = 1_000
"""Versions per write script (four arguments each)."""
_COMPACT_BATCH = 1_000
"""Events deleted per compaction script."""
_PREFIX = re.compile(r"[A-Za-z0-9_.-]+")

_WRITE = """
local prefix = ARGV[1]
local touched = {}
local added = 0
for i = 2, #ARGV, 4 do
  local event, entity = ARGV[i], ARGV[i + 1]
  added = added + redis.call('SADD', prefix .. 'v:' .. event, ARGV[i + 3])
  redis.call('SADD', prefix .. 'k:' .. event, entity)
  redis.call('ZADD', prefix .. 't', 'GT', ARGV[i + 2], event)
  touched[event] = true
end
for event in pairs(touched) do
  local latest = redis.call('ZSCORE', prefix .. 't', event)
  local scored = {}
  for _, row in ipairs(redis.call('SMEMBERS', prefix .. 'v:' .. event)) do
    scored[#scored + 1] = latest
    scored[#scored + 1] = row
  end
  for _, entity in ipairs(redis.call('SMEMBERS', prefix .. 'k:' .. event)) do
    redis.call('ZADD', prefix .. 'e:' .. entity, unpack(scored))
  end
end
return added
"""
_COMPACT = """
local prefix = ARGV[1]
local events = redis.call(
  'ZRANGE', prefix .. 't', '-inf', '(' .. ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, event in ipairs(events) do
  local versions = redis.call('SMEMBERS', prefix .. 'v:' .. event)
  for _, entity in ipairs(redis.call('SMEMBERS', prefix .. 'k:' .. event)) do
    redis.call('ZREM', prefix .. 'e:' .. entity, unpack(versions))
  end
  redis.call('DEL', prefix .. 'v:' .. event, prefix .. 'k:' .. event)
  redis.call('ZREM', prefix .. 't', event)
end
return #events
"""
_WATERMARK = """
local current = redis.call('GET', KEYS[1])
if not current or tonumber(current) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""


class RedisOnlineStore(OnlineStore):
    """An online store in Redis, shared by every server replica.

    ``prefix`` starts every key, so several projects (or tests) can share one Redis.

    >>> store = RedisOnlineStore("redis://127.0.0.1:6379/0", prefix="fraud")  # doctest: +SKIP
    """

    def __init__(self, url: str, *, prefix: str = "tether", timeout: float = 2.0) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise FeatureError(
                f"Redis key prefix is {prefix!r}: expected letters, digits, '_', '-' or '.'"
            )
        # Imported here, so that ``import tether.features`` never pays for redis-py.
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = mask_uri(url)
        self.prefix = prefix
        self._unreachable = (redis.ConnectionError, redis.TimeoutError)
        self._refused = redis.RedisError
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise FeatureError(f"Redis URL {self.url!r} is invalid: {exc}") from exc
        self._write = self._client.register_script(_WRITE)
        self._compact = self._client.register_script(_COMPACT)
        self._watermark = self._client.register_script(_WATERMARK)

    def _keys(self, namespace: str) -> str:
        return f"{self.prefix}:{namespace}:"

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._unreachable as exc:
            raise StoreUnavailableError(
                f"the Redis online store at {self.url} cannot be reached while {what}: {exc}"
            ) from exc
        except self._refused as exc:
            raise FeatureError(f"Redis at {self.url} refused {what}: {exc}") from exc

    def _call(self, what: str, call: Callable[[], _T]) -> _T:
        with self._translated(what):
            return call()

    def write(self, namespace: str, versions: Sequence[StoredVersion]) -> int:
        """Add ``versions``, one atomic script per batch of a thousand; return the new ones.

        A version is new when ``SADD`` adds it to its event's set of versions.
        """
        prefix = self._keys(namespace)
        added = 0
        with self._translated("writing event versions"):
            for start in range(0, len(versions), _BATCH):
                arguments: list[str | int] = [prefix]
                for version in versions[start : start + _BATCH]:
                    arguments += [version.event_id, version.entity, version.event_us, version.row]
                added += int(self._write(args=arguments))
        return added

    def read(
        self, namespace: str, entities: Sequence[str], since_us: int
    ) -> list[list[str] | None]:
        """Return the recent rows of each entity: one round trip, two if some have none."""
        keys = [f"{self._keys(namespace)}e:{entity}" for entity in entities]
        with self._translated("reading feature rows"):
            found = self._each(keys, lambda p, key: p.zrange(key, since_us, "+inf", byscore=True))
            # Only an entity with nothing recent needs telling apart from an unknown one.
            idle = [i for i, rows in enumerate(found) if not rows]
            exists = self._each([keys[i] for i in idle], lambda p, key: p.exists(key))
        unknown = {i for i, count in zip(idle, exists, strict=True) if not count}
        return [None if i in unknown else list(rows) for i, rows in enumerate(found)]

    def _each(self, keys: Sequence[str], command: Callable[[Any, str], Any]) -> list[Any]:
        """Run ``command`` on each key: directly for one, in one pipeline for more."""
        if len(keys) <= 1:
            return [command(self._client, key) for key in keys]
        pipeline = self._client.pipeline(transaction=False)
        for key in keys:
            command(pipeline, key)
        return list(pipeline.execute())

    def watermark(self, namespace: str) -> int | None:
        """The created time up to which ``namespace`` is materialized, if it ever was."""
        value = self._call("reading the watermark", lambda: self._client.get(self._w(namespace)))
        return None if value is None else int(value)

    def _w(self, namespace: str) -> str:
        return f"{self._keys(namespace)}w"

    def set_watermark(self, namespace: str, created_us: int) -> None:
        """Move the watermark of ``namespace`` forward to ``created_us`` (never back)."""
        key = self._w(namespace)
        self._call("writing the watermark", lambda: self._watermark(keys=[key], args=[created_us]))

    def compact(self, namespace: str, before_us: int) -> int:
        """Delete the events whose latest event time is before ``before_us``.

        In scripts of at most :data:`_COMPACT_BATCH` events each, so that Redis, which runs
        one script at a time, keeps answering requests in between: one script over a million
        events blocked it for about a minute.
        """
        arguments: list[str | int] = [self._keys(namespace), before_us, _COMPACT_BATCH]
        deleted = 0
        while True:
            batch = int(self._call("compacting", lambda: self._compact(args=arguments)))
            deleted += batch
            if batch < _COMPACT_BATCH:
                return deleted

    def clear(self) -> None:
        """Delete every key under this store's prefix."""
        with self._translated("clearing the store"):
            batch: list[str] = []
            for key in self._client.scan_iter(match=f"{self.prefix}:*", count=1_000):
                batch.append(key)
                if len(batch) >= 1_000:
                    self._client.unlink(*batch)
                    batch.clear()
            if batch:
                self._client.unlink(*batch)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
