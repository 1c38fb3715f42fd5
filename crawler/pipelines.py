"""Item pipeline: a page's Observations onto the partitioned ``observations`` stream.

The crawler never writes prices anywhere else; ingest consumes the stream.
Publishing is at-least-once: the spider acks the frontier task only after the
item has gone through here (``item_scraped``), so a worker dying in between
crawls the product again and ingest drops the duplicate.
"""

from __future__ import annotations

import msgspec
import redis
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.items import ObservationItem
from crawler.redis_support import keys_from_settings, redis_from_settings
from pricewatch.keys import OBSERVATIONS, Keys
from pricewatch.models import Observation, decode, encode
from pricewatch.storage.streams import PartitionedStream


class ObservationPipeline:
    def __init__(self, client: redis.Redis, keys: Keys, partitions: int, maxlen: int) -> None:
        self.client = client
        self.keys = keys
        self.stream = PartitionedStream(keys, OBSERVATIONS, partitions, maxlen)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ObservationPipeline:
        s = crawler.settings
        return cls(
            redis_from_settings(s),
            keys_from_settings(s),
            s.getint("PRICEWATCH_STREAM_PARTITIONS", 4),
            s.getint("PRICEWATCH_STREAM_MAXLEN", 1_000_000),
        )

    def process_item(self, item: object) -> object:
        if not isinstance(item, ObservationItem):
            return item
        observations = list(item.observations)
        if not observations:
            raise DropItem(f"no observation for {item.task_key}")
        # one entry for the page (an array): its series are stored together or not at all
        payload = encode(observations)
        try:
            # Structs do not validate on construction; ingest would reject the message
            decode(payload, list[Observation])
        except msgspec.ValidationError as exc:
            raise DropItem(f"invalid observations for {item.task_key}: {exc}") from None
        first = observations[0]
        pipe = self.client.pipeline(transaction=False)
        self.stream.add(pipe, first.market, first.asin, payload)
        # a product observed is a product known: discovery will not enqueue it again
        pipe.sadd(self.keys.known_products(first.market), first.asin)
        pipe.execute()
        return item
