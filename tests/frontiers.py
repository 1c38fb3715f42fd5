"""What the frontier holds, read back for assertions across its partitions."""

from __future__ import annotations

import redis as redis_lib

from pricewatch.keys import Keys


def queued_tasks(
    redis_client: redis_lib.Redis, keys: Keys, partitions: int = 2
) -> list[tuple[bytes, float]]:
    """Task keys and priorities of the ordinary lane, every partition's (the API tests'
    apps run two partitions), highest priority first."""
    found: list[tuple[bytes, float]] = []
    for n in range(partitions):
        found += redis_client.zrange(keys.frontier(n), 0, -1, withscores=True)
    return sorted(found, key=lambda entry: -entry[1])


def inflight_entries(
    redis_client: redis_lib.Redis, keys: Keys, partitions: int
) -> dict[bytes, bytes]:
    """Task key -> in-flight entry ("owner<TAB>lane<TAB>score<TAB>payload"), every
    partition's."""
    found: dict[bytes, bytes] = {}
    for n in range(partitions):
        found.update(redis_client.hgetall(keys.frontier_inflight_tasks(n)))
    return found


def held_by(redis_client: redis_lib.Redis, keys: Keys, worker: str, partitions: int) -> set[str]:
    """The task keys ``worker`` holds, every partition's."""
    return {
        key.decode()
        for n in range(partitions)
        for key in redis_client.smembers(keys.frontier_worker(n, worker))
    }
