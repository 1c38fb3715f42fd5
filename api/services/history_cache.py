"""Computed chart histories in Redis: one hash per product, one field per variant.

Ingest DELetes a product's hash in the transaction that publishes its price change
(``Keys.history_cache``). That alone leaves a race: a request reads ClickHouse just
before a new price lands, ingest deletes the hash, and the request then stores what it
read, stale until the TTL. So a fill is fenced: the lookup that misses also makes sure
the hash holds a generation token (``@gen``, created with the hash's TTL) and returns
it; the request stores its result only if the token is still the same. A DEL in
between removes the token, and the stale result is dropped.

A value is the body's ETag (32 hex characters) followed by the JSON body, so a hit is
served as-is: one HGET, no decoding, no hashing.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets

import redis.asyncio

from api.services.near_cache import NearCache

GEN_FIELD = "@gen"
ETAG_LEN = 32

# KEYS[1] hash; ARGV: field, new token, ttl seconds. {value} when the field is cached;
# else {false, the token in force}, the token created (with the hash's TTL) if absent:
# a miss learns what it needs to store its result in the same round trip.
_LOOKUP = f"""
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then
  return {{value}}
end
if redis.call('HSETNX', KEYS[1], '{GEN_FIELD}', ARGV[2]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return {{false, redis.call('HGET', KEYS[1], '{GEN_FIELD}')}}
"""

# KEYS[1] hash; ARGV: token, field, value. 1 if stored.
_STORE = f"""
if redis.call('HGET', KEYS[1], '{GEN_FIELD}') == ARGV[1] then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  return 1
end
return 0
"""


def etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=ETAG_LEN // 2).hexdigest()


def pack(body: bytes) -> tuple[str, bytes]:
    """(etag, cached value) for a response body."""
    etag = etag_of(body)
    return etag, etag.encode() + body


def unpack(value: bytes) -> tuple[str, bytes]:
    """(etag, body) from a cached value."""
    return value[:ETAG_LEN].decode(), value[ETAG_LEN:]


class HistoryCache:
    def __init__(
        self, client: redis.asyncio.Redis, ttl_s: int, near: NearCache | None = None
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"cache TTL must be positive, got {ttl_s}")
        self.ttl_s = ttl_s
        # this process's copies in front of Redis (None: every lookup asks Redis)
        self.near = near
        # fills in progress in this process, by (key, field); see products.history
        self.inflight: dict[tuple[str, str], asyncio.Future[bytes]] = {}
        self._lookup = client.register_script(_LOOKUP)
        self._store = client.register_script(_STORE)
        # Tokens only need to differ from every other fill's: this process's random
        # prefix and a count. (A random token per lookup is a getrandom system call,
        # which showed in profiles of the API under load.)
        self._token_prefix = secrets.token_hex(8)
        self._tokens = itertools.count()

    def recall(self, key: str, field: str) -> tuple[bytes | None, int]:
        """This process's copy of a value (None if it has none), and the
        invalidation epoch to hand to ``keep`` with a value read afterwards."""
        if self.near is None:
            return None, 0
        return self.near.get(key, field), self.near.epoch

    def keep(self, key: str, field: str, value: bytes, epoch: int) -> None:
        """Keep a copy in this process (see NearCache.put)."""
        if self.near is not None:
            self.near.put(key, field, value, epoch)

    async def lookup(self, key: str, field: str) -> tuple[bytes | None, bytes]:
        """(the cached value, None on a miss), and the generation token to hand to
        ``store`` with a value computed after a miss (empty after a hit)."""
        token = f"{self._token_prefix}.{next(self._tokens)}"
        found = await self._lookup([key], [field, token, self.ttl_s])
        if found[0] is not None:
            return bytes(found[0]), b""
        return None, bytes(found[1])

    async def store(self, key: str, token: bytes, field: str, value: bytes) -> bool:
        """Store unless the hash was invalidated since the ``lookup`` that gave
        ``token``; True if stored."""
        return bool(await self._store([key], [token, field, value]))
