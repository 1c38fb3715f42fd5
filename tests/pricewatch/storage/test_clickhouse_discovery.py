"""The home page's bulk reads on a real embedded chDB engine."""

from __future__ import annotations

import pytest

from pricewatch.history import DAY_MS, HOUR_MS
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.clickhouse.discovery import (
    biggest_drops,
    daily_closes,
    drop_of,
    exact_drops,
    hourly_closes,
    markets_with_products,
    recently_added,
    titles_seen_since,
)
from tests.observations import seed_product

pytestmark = pytest.mark.clickhouse

NOW = 1_704_067_200_000 + 40 * DAY_MS  # 2024-02-10T00:00:00Z


def test_time_weighted_average_weighs_each_price_by_how_long_it_held(price_store: PriceStore):
    # first seen 29 days ago: 100.00 for 28 days, 50.00 for the last day; weighted 98.28
    # over the 29 days known (not the mean of the two samples, 75.00)
    seed_product(
        price_store,
        asin="B0WEIGHT01",
        prices=[(NOW - 29 * DAY_MS, 10_000), (NOW - DAY_MS, 5_000)],
        title="Weighted",
    )
    # a brief spike that the plain mean of two samples would call a 45 % drop:
    # 200.00 for one hour, then 110.00 for 29 days and 23 hours (weighted ~110.13)
    seed_product(
        price_store,
        asin="B0SPIKE001",
        prices=[(NOW - 30 * DAY_MS, 20_000), (NOW - 30 * DAY_MS + HOUR_MS, 11_000)],
        title="Spike",
    )
    drops = biggest_drops(price_store, "us", NOW)
    assert [d.asin for d in drops] == ["B0WEIGHT01"]
    (drop,) = drops
    assert drop.price == 5_000 and drop.in_stock and drop.title == "Weighted"
    assert drop.average == pytest.approx((28 * 10_000 + 5_000) / 29, rel=1e-6)


def test_the_opening_state_counts_from_the_window_start_and_gaps_count_for_nothing(
    price_store: PriceStore,
):
    # 80.00 since before the window, out of stock for 10 days, now 60.00 for 5 days
    seed_product(
        price_store,
        asin="B0OPENING1",
        prices=[
            (NOW - 33 * DAY_MS, 8_000),
            (NOW - 15 * DAY_MS, None),
            (NOW - 5 * DAY_MS, 6_000),
            (NOW - 60_000, 6_000),
        ],
    )
    (drop,) = biggest_drops(price_store, "us", NOW)
    assert drop.average == pytest.approx((15 * 8_000 + 5 * 6_000) / 20, rel=1e-6)


def test_drops_are_only_real_in_stock_and_current(price_store: PriceStore):
    # 2 % under: not a drop
    seed_product(
        price_store, asin="B0SMALL001", prices=[(NOW - 20 * DAY_MS, 10_000), (NOW - 60_000, 9_800)]
    )
    # out of stock now
    seed_product(
        price_store, asin="B0GONE0001", prices=[(NOW - 20 * DAY_MS, 10_000), (NOW - 60_000, None)]
    )
    # a real drop, but last seen three days ago
    seed_product(
        price_store,
        asin="B0STALE001",
        prices=[(NOW - 20 * DAY_MS, 10_000), (NOW - 3 * DAY_MS, 5_000)],
    )
    # another marketplace
    seed_product(
        price_store,
        asin="B0UKDROP01",
        market="uk",
        currency="GBP",
        prices=[(NOW - 20 * DAY_MS, 10_000), (NOW - DAY_MS, 5_000)],
    )
    # two real drops, deepest first
    seed_product(
        price_store, asin="B0DEEP0001", prices=[(NOW - 20 * DAY_MS, 10_000), (NOW - DAY_MS, 5_000)]
    )
    seed_product(
        price_store, asin="B0SHALLOW1", prices=[(NOW - 20 * DAY_MS, 10_000), (NOW - DAY_MS, 9_000)]
    )
    assert [d.asin for d in biggest_drops(price_store, "us", NOW)] == ["B0DEEP0001", "B0SHALLOW1"]
    assert [d.asin for d in biggest_drops(price_store, "uk", NOW)] == ["B0UKDROP01"]
    assert [d.asin for d in biggest_drops(price_store, "us", NOW, limit=1)] == ["B0DEEP0001"]
    assert markets_with_products(price_store) == {"us": 5, "uk": 1}


def test_candidates_read_a_page_at_a_time_give_the_same_drops(price_store: PriceStore):
    # Each product's highest price in the window bounds its drop; the spikes' bounds
    # are the deepest but their real drops are shallow (an hour at 200.00), so the
    # exact averages must be read past them.
    for i, (peak_hours, peak, before, now_price) in enumerate(
        [
            (1, 30_000, 10_000, 9_000),  # bound 70 %, real ~10 %
            (1, 25_000, 10_000, 8_500),  # bound 66 %, real ~15 %
            (0, 0, 10_000, 5_000),  # 50 %
            (0, 0, 10_000, 6_000),  # 40 %
            (1, 40_000, 10_000, 9_600),  # bound 76 %, real ~4 %
            (0, 0, 10_000, 7_000),  # 30 %
            (0, 0, 10_000, 9_900),  # 1 %: no drop at all
        ]
    ):
        prices = [(NOW - 25 * DAY_MS, before)]
        if peak_hours:
            prices = [(NOW - 25 * DAY_MS, peak), (NOW - 25 * DAY_MS + HOUR_MS, before)]
        # the drop two days ago, seen again a minute ago
        now_prices = [(NOW - 2 * DAY_MS, now_price), (NOW - 60_000, now_price)]
        seed_product(price_store, asin=f"B0PAGED00{i}", prices=[*prices, *now_prices])
    # a drop from before the window: nothing changed within it, so nothing is under
    # its average
    seed_product(
        price_store,
        asin="B0OLDDROP1",
        prices=[(NOW - 50 * DAY_MS, 10_000), (NOW - 40 * DAY_MS, 5_000), (NOW - 60_000, 5_000)],
    )
    expected = ["B0PAGED002", "B0PAGED003", "B0PAGED005", "B0PAGED001", "B0PAGED000"]
    whole = biggest_drops(price_store, "us", NOW)
    assert [d.asin for d in whole] == expected + ["B0PAGED004"]
    # the same as a scan of the marketplace's whole history finds
    scanned = exact_drops(price_store, "us", NOW, 30 * DAY_MS, 0.03, DAY_MS, None)
    assert sorted(scanned, key=lambda d: (-drop_of(d), d.asin)) == whole
    for page in (1, 2, 3, 200):
        found = biggest_drops(price_store, "us", NOW, limit=5, page=page)
        assert [d.asin for d in found] == expected, page
        assert [d.average for d in found] == [d.average for d in whole[:5]]


def test_recently_added_lists_the_newest_first_sightings(price_store: PriceStore):
    for day, asin in enumerate(["B0OLDEST01", "B0MIDDLE01", "B0NEWEST01"]):
        seed_product(price_store, asin=asin, prices=[(NOW - (10 - day) * DAY_MS, 1_000)])
    # seen again today: still first seen when it was
    seed_product(price_store, asin="B0OLDEST01", prices=[(NOW - 60_000, 1_000)])
    found = recently_added(price_store, "us", limit=2)
    assert [p.asin for p in found] == ["B0NEWEST01", "B0MIDDLE01"]
    assert found[0].first_seen == NOW - 8 * DAY_MS
    assert recently_added(price_store, "de") == []


def test_daily_closes_are_one_bulk_read_with_step_semantics(price_store: PriceStore):
    seed_product(
        price_store,
        asin="B0SPARK001",
        prices=[(NOW - 3 * DAY_MS + HOUR_MS, 1_000), (NOW - DAY_MS + HOUR_MS, 800)],
    )
    seed_product(price_store, asin="B0SPARK002", prices=[(NOW - 40 * DAY_MS, 500)])
    found = daily_closes(price_store, "us", ["B0SPARK001", "B0SPARK002", "B0UNKNOWN1"], NOW)
    # the product seen 40 days ago has no row in the window: nothing to draw
    assert set(found) == {"B0SPARK001"}
    # three days with a price, the middle one carried over; today's too
    assert [b.close for b in found["B0SPARK001"]] == [1_000, 1_000, 800, 800]


def test_hourly_closes_draw_a_young_product_in_one_bulk_read(price_store: PriceStore):
    # first seen five and a half hours ago, 20.00 then 18.00 from two and a half hours ago
    seed_product(
        price_store,
        asin="B0YOUNG001",
        prices=[
            (NOW - 5 * HOUR_MS - HOUR_MS // 2, 2_000),
            (NOW - 2 * HOUR_MS - HOUR_MS // 2, 1_800),
        ],
    )
    seed_product(price_store, asin="B0YOUNG002", prices=[(NOW - 60_000, 700)])
    seed_product(price_store, asin="B0OLDONE01", prices=[(NOW - 3 * DAY_MS, 500)])
    found = hourly_closes(price_store, "us", ["B0YOUNG001", "B0YOUNG002", "B0OLDONE01"], NOW)
    # nothing within the last 48 hours: nothing to draw
    assert set(found) == {"B0YOUNG001", "B0YOUNG002"}
    young = found["B0YOUNG001"]
    # from its first hour to this one, the price carried through hours without a sighting
    assert [b.start_ms for b in young] == [NOW - h * HOUR_MS for h in range(6, -1, -1)]
    assert [b.close for b in young] == [2_000, 2_000, 2_000, 1_800, 1_800, 1_800, 1_800]
    # seen a minute before this hour began: that hour and this one
    assert [b.close for b in found["B0YOUNG002"]] == [700, 700]
    assert hourly_closes(price_store, "us", [], NOW) == {}


def test_titles_seen_since_pages_through_the_catalogue(price_store: PriceStore):
    seed_product(price_store, asin="B0TITLE001", prices=[(NOW - 2_000, 1)], title="First")
    seed_product(price_store, asin="B0TITLE002", prices=[(NOW - 1_000, 1)], title="Second")
    seed_product(price_store, asin="B0NOTITLE1", prices=[(NOW, 1)], title=None)
    rows = titles_seen_since(price_store, 0)
    assert [(r.asin, r.title, r.last_seen) for r in rows] == [
        ("B0TITLE001", "First", NOW - 2_000),
        ("B0TITLE002", "Second", NOW - 1_000),
    ]
    assert [r.asin for r in titles_seen_since(price_store, NOW - 2_000)] == ["B0TITLE002"]
    assert [r.asin for r in titles_seen_since(price_store, 0, limit=1)] == ["B0TITLE001"]
