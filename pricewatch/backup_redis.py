"""What of Redis a backup keeps, and how: the state nothing else can rebuild.

Every key family of :class:`pricewatch.keys.Keys` is in one of three groups:

- ``SAVED``: state that exists nowhere else. Streams hold observations, price
  changes and account messages not yet consumed (with their consumer groups and
  pending entries), the trust store holds reports awaiting verification and
  decisions not yet written to SQL, the alerts role keeps the events its pending
  notifications render, and view counts wait for their flush to ClickHouse.
- ``DERIVED``: caches of what ClickHouse and SQL hold (last accepted prices, chart
  histories, home lists, the scheduler's watermarks and push marks, the title
  index's watermark). Not saved, and dropped on restore so that nothing stale
  outlives the stores they were computed from.
- ``REBUILT``: the crawl frontier (the scheduler refills it from ClickHouse's
  crawl_schedule), politeness slots, rate limits, lookup and not-found marks (short
  TTLs), health, the known-products sets, the scheduler's lease and fencing counter.
  Neither saved nor touched.

Keys are saved with DUMP (Redis's own serialisation: a stream keeps its groups,
their last-delivered ids and pending lists) and come back with RESTORE, under the
target's prefix. DUMP payloads load into the same or a newer Redis only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import redis

from pricewatch.keys import OBSERVATIONS, PRICE_CHANGES, PRICE_CORRECTIONS, Keys

# stands for a key's variable part while a pattern is spelled
_PART = "\x00"
# the same, where a key takes a partition number
_PARTITION = cast(int, _PART)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _pattern(spelled: str) -> str:
    """A SCAN pattern from a key spelled with ``_PART`` for its variable parts."""
    return _glob_escape(spelled).replace(_PART, "*")


def _stream(name: str) -> Callable[[Keys], str]:
    # Keys.stream takes a partition number; the pattern stands for any
    return lambda k: k.stream(name, _PARTITION)


# family name -> the key (or a pattern of keys) of a Keys
Family = dict[str, Callable[[Keys], str]]

SAVED: Family = {
    "observations": _stream(OBSERVATIONS),
    "price-changes": _stream(PRICE_CHANGES),
    "price-corrections": _stream(PRICE_CORRECTIONS),
    "dead-letter": lambda k: k.dead_letter,
    "account-messages": lambda k: k.account_messages,
    "alert-events": lambda k: k.alert_event(_PART, _PART),
    "trust-held": lambda k: k.trust_held(_PARTITION, _PART),
    "trust-recent": lambda k: k.trust_recent(_PARTITION, _PART),
    "trust-accepted": lambda k: k.trust_accepted(_PARTITION, _PART),
    "trust-deadlines": lambda k: k.trust_deadlines(_PARTITION),
    "trust-confirmed": lambda k: k.trust_confirmed(_PARTITION, _PART),
    "trust-outbox": lambda k: k.trust_outbox(_PARTITION),
    "views": lambda k: k.views(_PART, _PART),
    "views-dirty": lambda k: k.views_dirty,
}

DERIVED: Family = {
    "last-price": lambda k: k.last_price(cast(int, _PART)),
    "history-cache": lambda k: k.history_cache(_PART, _PART),
    "home-sections": lambda k: k.home_sections(_PART),
    "scheduler-state": lambda k: k.scheduler_state,
    "scheduler-pushed": lambda k: k.scheduler_pushed,
    "title-index-watermark": lambda k: k.title_index_watermark,
}

REBUILT: Family = {
    "frontier": lambda k: k.frontier(_PARTITION),
    "frontier-tasks": lambda k: k.frontier_tasks(_PARTITION),
    "frontier-verify": lambda k: k.frontier_verify(_PARTITION),
    "frontier-inflight": lambda k: k.frontier_inflight(_PARTITION),
    "frontier-inflight-tasks": lambda k: k.frontier_inflight_tasks(_PARTITION),
    "frontier-deferred": lambda k: k.frontier_deferred(_PARTITION),
    "frontier-worker": lambda k: k.frontier_worker(_PARTITION, _PART),
    # raised again by the scheduler's next push (its token is newer than any before)
    "frontier-fence": lambda k: k.frontier_fence(_PARTITION),
    "politeness": lambda k: k.proxy_next_slot(_PART),
    "known-products": lambda k: k.known_products(_PART),
    "rate-limits": lambda k: k.rate_limit(_PART, _PART),
    "lookup-crawl": lambda k: k.lookup_crawl(_PART, _PART),
    "not-found": lambda k: k.not_found(_PART, _PART),
    "health": lambda k: k.health(_PART),
    "title-index-guard": lambda k: k.title_index_guard,
    # the scheduler's lease is taken again; its fencing counter is left as the target
    # has it, so that it never goes back under a token a running scheduler holds
    "scheduler-leader": lambda k: k.scheduler_leader,
    "scheduler-fence": lambda k: k.scheduler_fence,
}


def spelled(family: Family, keys: Keys) -> dict[str, str]:
    """A group's families under ``keys``' prefix, variable parts as ``_PART``."""
    return {name: spell(keys) for name, spell in family.items()}


def _scan(client: redis.Redis, key: str) -> Iterator[bytes]:
    if _PART not in key:
        # a single key: no need to walk the keyspace for it
        if client.exists(key):
            yield key.encode()
        return
    yield from client.scan_iter(match=_pattern(key), count=1000)


def saved_keys(client: redis.Redis, keys: Keys) -> Iterator[tuple[str, bytes]]:
    """(family, key) of every key a backup keeps."""
    for family, key in spelled(SAVED, keys).items():
        for found in _scan(client, key):
            yield family, found


def dump_state(client: redis.Redis, keys: Keys, out: IO[str]) -> dict[str, int]:
    """Write the saved keys to ``out``, one JSON line per key (its name without the
    prefix, its TTL in ms or -1, its DUMP in base64); returns the count per family."""
    counts: dict[str, int] = {name: 0 for name in SAVED}
    prefix = keys.prefix.encode()
    for family, key in saved_keys(client, keys):
        pipe = client.pipeline(transaction=False)
        pipe.dump(key)
        pipe.pttl(key)
        payload, ttl = pipe.execute()
        if payload is None:
            continue  # gone since the scan (expired, consumed)
        line = {
            "family": family,
            "key": base64.b64encode(key[len(prefix) :]).decode(),
            "ttl_ms": int(ttl) if int(ttl) > 0 else -1,
            "dump": base64.b64encode(cast(bytes, payload)).decode(),
        }
        out.write(json.dumps(line) + "\n")
        counts[family] += 1
    return counts


def present(client: redis.Redis, keys: Keys) -> list[str]:
    """The families of saved state that the Redis at ``keys``' prefix holds."""
    found = []
    for family, key in spelled(SAVED, keys).items():
        if next(_scan(client, key), None) is not None:
            found.append(family)
    return found


def _delete(client: redis.Redis, family: Family, keys: Keys) -> int:
    deleted = 0
    for key in spelled(family, keys).values():
        batch = list(_scan(client, key))
        for start in range(0, len(batch), 500):
            deleted += int(cast(Any, client.delete(*batch[start : start + 500])))
    return deleted


def restore_state(client: redis.Redis, keys: Keys, source: Path) -> int:
    """Put the keys of a ``dump_state`` file back under ``keys``' prefix, replacing
    the saved families' and the derived caches' keys that were there; returns how
    many keys were restored."""
    _delete(client, SAVED, keys)
    _delete(client, DERIVED, keys)
    restored = 0
    prefix = keys.prefix.encode()
    with source.open(encoding="utf-8") as lines:
        pipe = client.pipeline(transaction=False)
        for line in lines:
            entry = json.loads(line)
            key = prefix + base64.b64decode(entry["key"])
            ttl = int(entry["ttl_ms"])
            pipe.restore(key, max(ttl, 0), base64.b64decode(entry["dump"]), replace=True)
            restored += 1
            if len(pipe) >= 500:
                pipe.execute()
        pipe.execute()
    return restored
