"""Ingest against real Redis and chDB: storage, changes, dead letters, crash replays."""

import time

import msgspec
import pytest

from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import INVALIDATION_SEPARATOR, OBSERVATIONS, PRICE_CHANGES
from pricewatch.models import Observation, PriceChange, decode, decode_many, encode
from pricewatch.storage.streams import PartitionedStream
from tests.observations import observation

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

NOW = int(time.time() * 1000)


def obs(asin="B07CLN88MV", at=NOW - 60_000, price=1999, **kw):
    return observation(at, price, asin=asin, **kw)


def publish(redis_client, keys, observations, partitions=2):
    PartitionedStream(keys, OBSERVATIONS, partitions).publish(
        redis_client, ((o.market, o.asin, o) for o in observations)
    )


def raw_publish(redis_client, keys, payloads, partitions=2):
    PartitionedStream(keys, OBSERVATIONS, partitions).publish(
        redis_client, (("us", "B07CLN88MV", p) for p in payloads)
    )


def changes(redis_client, keys, partitions=2):
    stream = PartitionedStream(keys, PRICE_CHANGES, partitions)
    out = []
    for key in stream.stream_keys():
        for _, fields in redis_client.xrange(key):
            out.extend(decode_many(fields[b"d"], PriceChange))
    return sorted(out, key=lambda c: (c.asin, c.observed_at))


def stored(price_store, asin="B07CLN88MV"):
    return price_store.client.query(
        f"SELECT toUnixTimestamp64Milli(observed_at), price FROM {price_store.database}.prices_raw "
        "WHERE asin = {a:String} ORDER BY observed_at",
        parameters={"a": asin},
    ).result_rows


def stored_changes(price_store):
    """The changes ingest wrote to ClickHouse (the home page's drops start there)."""
    return price_store.client.query(
        "SELECT asin, series, toUnixTimestamp64Milli(observed_at), old_price, new_price "
        f"FROM {price_store.database}.price_changes ORDER BY asin, observed_at"
    ).result_rows


def worker(redis_client, keys, price_store, consumer="c1", **kw):
    return IngestWorker(
        redis_client,
        keys,
        price_store,
        partitions=kw.pop("partitions", 2),
        consumer=consumer,
        batch_size=kw.pop("batch_size", 1000),
        batch_ms=50,
        **kw,
    )


def drain(w):
    total = None
    while True:
        batch = w.next_batch()
        if not batch:
            return total
        total = w.process_batch(batch)


def test_observations_become_history_and_changes(redis_client, keys, price_store):
    publish(
        redis_client,
        keys,
        [
            obs(at=NOW - 3000),
            obs(at=NOW - 2000),
            obs(at=NOW - 1000, price=1499),
            obs(asin="B000000001", price=None, availability="unavailable"),
        ],
    )
    w = worker(redis_client, keys, price_store)
    drain(w)
    assert stored(price_store) == [(NOW - 3000, 1999), (NOW - 2000, 1999), (NOW - 1000, 1499)]
    # a page that does not exist, for a product never seen: remembered as missing,
    # not catalogued (anyone can ask for a made-up ASIN)
    assert stored(price_store, "B000000001") == []
    assert price_store.product("us", "B000000001") is None
    assert redis_client.ttl(keys.not_found("us", "B000000001")) > 86400
    got = [(c.asin, c.old_price, c.new_price) for c in changes(redis_client, keys)]
    assert got == [("B07CLN88MV", None, 1999), ("B07CLN88MV", 1999, 1499)]
    assert stored_changes(price_store) == [
        ("B07CLN88MV", "buybox", NOW - 3000, None, 1999),
        ("B07CLN88MV", "buybox", NOW - 1000, 1999, 1499),
    ]
    product = price_store.product("us", "B07CLN88MV")
    assert product.last_price == 1499
    assert w.reader.pending_count() == 0


def test_bad_messages_go_to_dead_letters_and_never_stop_the_worker(redis_client, keys, price_store):
    raw_publish(redis_client, keys, [b"{oops", encode(obs(currency="EUR")), encode(obs())])
    w = worker(redis_client, keys, price_store)
    drain(w)
    dead = redis_client.xrange(keys.dead_letter)
    reasons = sorted(fields[b"reason"].decode() for _, fields in dead)
    assert len(reasons) == 2 and any("currency EUR" in r for r in reasons)
    assert all(fields[b"d"] for _, fields in dead)  # the payload is kept, not lost
    assert {fields[b"role"] for _, fields in dead} == {b"ingest"}
    assert stored(price_store) == [(NOW - 60_000, 1999)]


class Crash(Exception):
    pass


class CrashBeforeCommit(IngestWorker):
    """Dies after writing ClickHouse, before the Redis transaction."""

    def commit(self, messages, outcome):
        raise Crash()


def test_replay_after_crash_stores_nothing_twice_and_emits_once(redis_client, keys, price_store):
    publish(
        redis_client,
        keys,
        [obs(at=NOW - 3000), obs(at=NOW - 2000, price=1499), obs(asin="B000000002", price=500)],
    )
    crashing = CrashBeforeCommit(
        redis_client, keys, price_store, partitions=2, consumer="c1", batch_size=1000, batch_ms=50
    )
    batch = crashing.next_batch()
    with pytest.raises(Crash):
        crashing.process_batch(batch)
    assert len(stored(price_store)) == 2  # written, but not acknowledged
    assert changes(redis_client, keys) == []
    assert len(stored_changes(price_store)) == 3  # the changes too, not yet published
    # the same consumer comes back and replays exactly its pending messages
    drain(worker(redis_client, keys, price_store, consumer="c1"))
    assert stored(price_store) == [(NOW - 3000, 1999), (NOW - 2000, 1499)]
    assert [(c.asin, c.new_price) for c in changes(redis_client, keys)] == [
        ("B000000002", 500),
        ("B07CLN88MV", 1999),
        ("B07CLN88MV", 1499),
    ]
    # and replaying everything once more (a second crash after commit) adds nothing
    publish(redis_client, keys, [obs(at=NOW - 3000), obs(at=NOW - 2000, price=1499)])
    drain(worker(redis_client, keys, price_store, consumer="c1"))
    assert len(stored(price_store)) == 2
    assert len(changes(redis_client, keys)) == 3
    # the replayed batch's changes were not stored twice
    assert [(a, new) for a, _, _, _, new in stored_changes(price_store)] == [
        ("B000000002", 500),
        ("B07CLN88MV", 1999),
        ("B07CLN88MV", 1499),
    ]


def test_a_batch_taken_over_in_smaller_rounds_stores_nothing_twice(redis_client, keys, price_store):
    other = "B000000002"
    publish(
        redis_client,
        keys,
        [obs(at=NOW - 5000), obs(at=NOW - 4000, price=1499), obs(asin=other, price=500)],
    )
    crashing = CrashBeforeCommit(
        redis_client, keys, price_store, partitions=2, consumer="dead", batch_size=1000, batch_ms=50
    )
    with pytest.raises(Crash):  # the batch reaches ClickHouse, not its commit
        crashing.process_batch(crashing.next_batch())

    # another consumer takes its entries over a few at a time: other batch tokens
    alive = worker(
        redis_client, keys, price_store, consumer="alive", claim_idle_ms=10, batch_size=1
    )
    time.sleep(0.05)
    drain(alive)
    assert stored(price_store) == [(NOW - 5000, 1999), (NOW - 4000, 1499)]
    assert stored(price_store, other) == [(NOW - 60_000, 500)]
    samples = price_store.client.query(
        f"SELECT asin, sum(samples) FROM {price_store.database}.prices_hourly GROUP BY asin "
        "ORDER BY asin"
    ).result_rows
    assert samples == [(other, 1), ("B07CLN88MV", 2)]
    assert [(c.asin, c.new_price) for c in changes(redis_client, keys)] == [
        (other, 500),
        ("B07CLN88MV", 1999),
        ("B07CLN88MV", 1499),
    ]
    assert alive.reader.pending_count() == 0


def test_dead_consumers_messages_are_claimed(redis_client, keys, price_store):
    publish(redis_client, keys, [obs(asin=f"B00000000{i}", price=100 + i) for i in range(5)])
    dead = worker(redis_client, keys, price_store, consumer="dead")
    assert len(dead.next_batch()) == 5  # read, then the process "dies"
    alive = worker(redis_client, keys, price_store, consumer="alive", claim_idle_ms=10)
    time.sleep(0.05)
    drain(alive)
    assert len(changes(redis_client, keys)) == 5
    assert alive.reader.pending_count() == 0


def test_cold_state_is_read_back_from_clickhouse(redis_client, keys, price_store):
    publish(redis_client, keys, [obs(at=NOW - 3000)])
    drain(worker(redis_client, keys, price_store))
    redis_client.delete(*[keys.last_price(p) for p in range(2)])  # Redis lost its cache
    publish(redis_client, keys, [obs(at=NOW - 2000)])  # same price: no news
    drain(worker(redis_client, keys, price_store, consumer="c2"))
    assert len(changes(redis_client, keys)) == 1
    assert len(stored(price_store)) == 2


def test_price_change_drops_cached_histories(redis_client, keys, price_store):
    moved = ["B07CLN88MV", "B000000001", "B000000002"]
    for asin in [*moved, "B000000003"]:
        redis_client.hset(keys.history_cache("us", asin), "30d:daily", b"[]")
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(keys.history_invalidations)
    listener.get_message(timeout=1)  # the subscription is confirmed
    publish(redis_client, keys, [obs(asin=asin) for asin in moved])
    drain(worker(redis_client, keys, price_store))
    assert not any(redis_client.exists(keys.history_cache("us", asin)) for asin in moved)
    assert redis_client.exists(keys.history_cache("us", "B000000003"))
    # and the API processes' in-memory copies are told, in one message for the batch
    message = listener.get_message(timeout=2)
    listener.close()
    assert message is not None
    told = message["data"].decode().split(INVALIDATION_SEPARATOR)
    assert sorted(told) == sorted(keys.history_cache("us", asin) for asin in moved)


def test_a_batchs_changes_travel_in_entries_of_a_hundred_in_their_order(
    redis_client, keys, price_store
):
    # 130 products' first sightings, then a new price for each: on one partition
    stream = PartitionedStream(keys, PRICE_CHANGES, 1)
    asins = [f"B{i:09d}" for i in range(130)]
    first = [obs(asin=a, at=NOW - 90_000 + i, price=1000 + i) for i, a in enumerate(asins)]
    moved = [obs(asin=a, at=NOW - 30_000 + i, price=900 + i) for i, a in enumerate(asins)]
    publish(redis_client, keys, first + moved, partitions=1)
    drain(worker(redis_client, keys, price_store, partitions=1))
    entries = [
        decode_many(f[b"d"], PriceChange)
        for _, f in redis_client.xrange(stream.key_for("us", asins[0]))
    ]
    assert [len(e) for e in entries] == [100, 100, 60]
    published = [c for entry in entries for c in entry]
    assert [(c.asin, c.new_price, c.observed_at) for c in published] == [
        (o.asin, o.price, o.observed_at) for o in first + moved
    ]


def test_observation_wire_format_is_stable():
    # roles written later decode what older ones wrote: field names are the contract
    raw = msgspec.json.encode(
        {
            "market": "us",
            "asin": "B07CLN88MV",
            "observed_at": 1,
            "availability": "in_stock",
            "source": "extension",
            "price": 5,
            "currency": "USD",
            "reporter": "user:1",
        }
    )
    assert decode(raw, Observation).reporter == "user:1"


def test_late_news_is_stored_but_a_resent_copy_is_not(redis_client, keys, price_store):
    publish(redis_client, keys, [obs(at=NOW - 1000, price=1500)])
    drain(worker(redis_client, keys, price_store))
    # an extension report that arrives after a newer crawl: real history, not news
    late = obs(at=NOW - 5000, price=1700, source="extension", reporter="user:1")
    publish(redis_client, keys, [late])
    drain(worker(redis_client, keys, price_store))
    publish(redis_client, keys, [late])  # the same report sent again
    drain(worker(redis_client, keys, price_store))
    assert stored(price_store) == [(NOW - 5000, 1700), (NOW - 1000, 1500)]
    assert [c.new_price for c in changes(redis_client, keys)] == [1500]
