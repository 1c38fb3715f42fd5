"""What the roles published on the streams, read back for assertions."""

from __future__ import annotations

import redis as redis_lib

from pricewatch.keys import PRICE_CHANGES, RECHECK, Keys
from pricewatch.models import Observation, Recheck, decode, decode_many
from pricewatch.storage.streams import FIELD, KIND, PartitionedStream


def rechecks_on_stream(
    redis_client: redis_lib.Redis, keys: Keys, asin: str, market: str = "us", partitions: int = 2
) -> list[Recheck]:
    """The re-checks on the product's price-changes partition; every entry there must be
    one (the callers publish no price change)."""
    stream = PartitionedStream(keys, PRICE_CHANGES, partitions).key_for(market, asin)
    entries = [fields for _, fields in redis_client.xrange(stream)]
    assert all(fields.get(KIND) == RECHECK.encode() for fields in entries), entries
    return [decode(fields[FIELD], Recheck) for fields in entries]


def observations_in(payload: bytes) -> list[Observation]:
    """The observations of one ``observations`` entry: one, or an array of them (a
    crawled page or a report, a series each)."""
    return decode_many(payload, Observation)
