"""Reports cannot rewrite the catalogue: through the real gate and IngestWorker, a
report never creates a product, never renames one, and a price jump waits for a crawl."""

from __future__ import annotations

import msgspec
import pytest

from pricewatch.models import Availability, TaskKind
from pricewatch.trust import Reason
from tests.observations import observation
from tests.trust.conftest import ASIN, PARTITION, Env

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

HOUR = 3_600_000


def crawled(env: Env, price: int = 10_000, title: str = "Real name") -> None:
    env.ingest(
        msgspec.structs.replace(
            env.obs(price, source="crawler", at=env.clock.ms - HOUR), title=title
        )
    )


def test_reports_on_products_nobody_crawled_create_nothing(make_env):
    env = make_env()
    asins = [f"B0FLOOD{i:03d}" for i in range(60)]
    reports = [
        msgspec.structs.replace(
            env.obs(999, asin=asin, reporter=f"install:flooder{i:02d}:ip{i}"), title="flood"
        )
        for i, asin in enumerate(asins)
    ]
    assert env.ingest(*reports) == 0
    assert all(env.store.product("us", asin) is None for asin in asins)
    assert all(env.stored(asin) == [] for asin in asins)
    assert env.changes() == []
    # nor do they take the verification lane: a made-up ASIN is not worth a crawl
    assert env.frontier.size() == 0


def test_a_report_never_renames_a_product_nor_the_alerts_that_quote_it(make_env):
    env = make_env()
    crawled(env, title="Real name")
    spiked = msgspec.structs.replace(env.obs(9_900), title="Spiked")
    env.ingest(spiked)
    product = env.store.product("us", ASIN)
    assert product is not None
    assert (product.title, product.last_price) == ("Real name", 9_900)
    last = env.changes()[-1]
    assert (last.new_price, last.title) == (9_900, None)
    # a crawl still renames it: the page is the authority on its own name
    env.ingest(msgspec.structs.replace(env.obs(9_900, source="crawler"), title="New name"))
    assert env.store.product("us", ASIN).title == "New name"


def test_a_tenfold_price_waits_for_a_crawl(make_env):
    env = make_env()
    crawled(env, 10_000)
    jump = env.obs(100_000)
    assert env.ingest(jump) == 1
    assert env.store.product("us", ASIN).last_price == 10_000
    assert [c.new_price for c in env.changes()] == [10_000]
    held = env.client.hgetall(env.keys.trust_held(PARTITION, f"us:{ASIN}:buybox"))
    assert len(held) == 1 and Reason.LARGE_RISE.value.encode() in next(iter(held.values()))
    [task] = env.frontier.pop("w1")
    assert task.kind is TaskKind.VERIFY


def test_a_crawl_of_a_page_that_does_not_exist_is_forgotten(make_env):
    env = make_env()
    gone = observation(
        env.clock.ms,
        None,
        asin="B0NOTREAL1",
        source="crawler",
        availability=Availability.UNAVAILABLE,
    )
    env.ingest(gone)
    assert env.store.product("us", "B0NOTREAL1") is None
    assert env.client.exists(env.keys.not_found("us", "B0NOTREAL1"))
    # a product that had a page and lost it is a different story: it is recorded
    crawled(env, 10_000)
    env.ingest(
        observation(
            env.clock.ms, None, asin=ASIN, source="crawler", availability=Availability.UNAVAILABLE
        )
    )
    assert env.store.product("us", ASIN).availability == Availability.UNAVAILABLE
    assert not env.client.exists(env.keys.not_found("us", ASIN))
