"""Several ingest processes sharing the stream partitions, each partition to one of them
(``PRICEWATCH_INGEST_PARTITIONS``), against real Redis and chDB."""

import time

import pytest

from pricewatch.ingest.worker import IngestWorker, ingest_consumer_name
from pricewatch.keys import OBSERVATIONS, partition_of
from pricewatch.settings import load_settings
from pricewatch.storage.streams import PartitionedStream
from tests.observations import observation

PARTITIONS = 4
NOW = int(time.time() * 1000)


def test_a_partition_set_is_numbers_and_ranges() -> None:
    def read(text: str) -> tuple[int, ...]:
        return load_settings({"PRICEWATCH_INGEST_PARTITIONS": text}).ingest_partitions

    assert read("0-2, 5") == (0, 1, 2, 5)
    assert read("3,1 1") == (1, 3)
    assert load_settings({}).ingest_partitions == ()
    for bad in ("a", "3-1", "-1", "1-x"):
        with pytest.raises(ValueError, match="PRICEWATCH_INGEST_PARTITIONS"):
            read(bad)


def test_consumer_names_differ_by_partition_set_and_hold_across_restarts() -> None:
    assert ingest_consumer_name("h") == "ingest-h"
    assert ingest_consumer_name("h", (3, 2)) == ingest_consumer_name("h", (2, 3)) == "ingest-h-p2.3"
    assert ingest_consumer_name("h", (0, 1)) != ingest_consumer_name("h", (2, 3))


def _worker(redis_client, keys, price_store, owned) -> IngestWorker:
    return IngestWorker(
        redis_client,
        keys,
        price_store,
        partitions=PARTITIONS,
        owned=owned,
        consumer=ingest_consumer_name("test", owned),
        batch_size=1000,
        batch_ms=20,
    )


@pytest.mark.redis
@pytest.mark.clickhouse
def test_a_partition_beyond_the_streams_is_refused(redis_client, keys, price_store) -> None:
    with pytest.raises(ValueError, match=r"partitions \[4\] asked of observations, which has 4"):
        _worker(redis_client, keys, price_store, (4,))


@pytest.mark.redis
@pytest.mark.clickhouse
def test_two_processes_split_the_partitions_and_together_ingest_everything(
    redis_client, keys, price_store
) -> None:
    asins = [f"B0SPLIT{n:03d}" for n in range(60)]
    PartitionedStream(keys, OBSERVATIONS, PARTITIONS).publish(
        redis_client,
        (("us", a, observation(NOW - 60_000, 1000 + n, asin=a)) for n, a in enumerate(asins)),
    )
    low = _worker(redis_client, keys, price_store, (0, 1))
    high = _worker(redis_client, keys, price_store, (2, 3))
    read: dict[str, set[int]] = {"low": set(), "high": set()}
    for name, w in (("low", low), ("high", high)):
        while batch := w.next_batch():
            read[name] |= {int(m.stream.rsplit("{p", 1)[1].rstrip("}")) for m in batch}
            w.process_batch(batch)
    # each read only its own partitions, and every partition had entries
    assert read == {"low": {0, 1}, "high": {2, 3}}
    rows = price_store.client.query(
        f"SELECT asin FROM {price_store.database}.prices_raw WHERE asin LIKE 'B0SPLIT%'"
    ).result_rows
    assert sorted(r[0] for r in rows) == sorted(asins)
    assert {partition_of("us", a, PARTITIONS) for a in asins} == {0, 1, 2, 3}
    assert low.reader.pending_count() == high.reader.pending_count() == 0
