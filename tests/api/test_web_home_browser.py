"""The home page's lists and the title search in a real browser (Debian's Chromium)
against the real app, at a desktop's and a phone's width. Screenshots go to
/tmp/shots/home-*.png for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.services.discovery import SEARCHES_PER_IP_PER_MINUTE
from pricewatch.history import DAY_MS, HOUR_MS
from tests.apps import ServedApp, site_fixture, store_price_rows
from tests.browser import collect_errors, own_origin_page
from tests.observations import price_row
from tests.sql_store import subscribed

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

SHOTS = Path("/tmp/shots")
WIDTHS = (1280, 390)
DROP_ASIN = "B0HOMEDROP"
KETTLE_TITLE = "Stainless Steel Electric Kettle with a rather long name, 1.7 litres, 3000 W"


def _history(asin: str, now_ms: int, prices: list[int]) -> list[list[Any]]:
    """One price a day for ``len(prices)`` days up to an hour ago."""
    start = now_ms - len(prices) * DAY_MS
    rows = [price_row(asin, start + i * DAY_MS, p) for i, p in enumerate(prices)]
    rows.append(price_row(asin, now_ms - HOUR_MS, prices[-1]))
    return rows


def _load(store: Any, now_ms: int) -> None:
    # a month around 80.00 with a dip to 52.00 over the last two days
    wavy = [8_000 + (i * 37 % 7) * 100 for i in range(28)] + [5_200, 5_200]
    store_price_rows(store, KETTLE_TITLE, _history(DROP_ASIN, now_ms, wavy))
    store_price_rows(store, "Cast Iron Dutch Oven", _history("B0HOMEOVEN", now_ms, [4_999] * 12))
    store_price_rows(store, "Coffee Grinder", _history("B0HOMEGRND", now_ms, [2_999, 2_899]))


site = site_fixture("home", _load)


@pytest.fixture(scope="module")
def watched(site: ServedApp) -> ServedApp:
    async def subscribe(engine: Any) -> None:
        for i in range(3):
            await subscribed(engine, f"home{i}@example.com", "B0HOMEOVEN", 4_000)

    site.on_database(subscribe)
    return site


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def page(request: pytest.FixtureRequest, browser: Any, watched: ServedApp) -> Iterator[Any]:
    width = request.param
    with own_origin_page(browser, watched.url, viewport={"width": width, "height": 900}) as tab:
        tab.width = width
        yield tab


def _boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def _fits_the_width(page: Any) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the window"


def test_home_shows_each_list_with_cards_and_sparklines(page: Any) -> None:
    errors = collect_errors(page)
    page.goto("/")
    drops = page.locator("#drops .product-card")
    assert drops.count() == 1
    card = drops.first
    assert card.get_by_role("link").inner_text().startswith("Stainless Steel Electric Kettle")
    assert card.locator(".price").inner_text() == "$52.00"
    assert card.locator(".drop").inner_text().startswith("−3")
    spark = card.get_by_role("img")
    assert spark.get_attribute("aria-label").startswith("Price over the last 30 days: from $")
    assert spark.is_visible()
    tracked = page.locator("#tracked .product-card")
    assert tracked.count() == 1
    assert "3 watching" in tracked.first.inner_text()
    assert page.locator("#recent .product-card").count() == 3

    # the box, its marketplace menu and the button side by side or stacked, never on
    # top of each other; every control named by its label
    box = page.get_by_label("Product name, URL or ASIN")
    menu = page.get_by_label("Marketplace")
    button = page.get_by_role("button", name="Search")
    boxes = [c.bounding_box() for c in (box, menu, button)]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not _boxes_overlap(a, b), (a, b)
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('main input, main select, main textarea')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.outerHTML)"""
    )
    assert unnamed == []
    _fits_the_width(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"home-{page.width}.png"), full_page=True)
    assert errors == []


def test_words_in_the_box_find_products_and_lead_to_them(page: Any) -> None:
    page.goto("/")
    page.get_by_label("Product name, URL or ASIN").fill("kettle steel")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search?**")
    results = page.locator("#results .product-card")
    assert results.count() == 1
    assert results.first.locator(".price").inner_text() == "$52.00"
    _fits_the_width(page)
    page.screenshot(path=str(SHOTS / f"home-results-{page.width}.png"), full_page=True)
    results.first.get_by_role("link").click()
    page.wait_for_url(f"**/p/us/{DROP_ASIN}")

    page.goto("/")
    page.get_by_label("Product name, URL or ASIN").fill('zebra "umbrella')
    page.get_by_role("button", name="Search").click()
    assert "No product on amazon.com has" in page.locator("#results-summary").inner_text()
    # what was typed is still there to fix
    assert page.get_by_label("Product name, URL or ASIN").input_value() == 'zebra "umbrella'
    page.screenshot(path=str(SHOTS / f"home-no-results-{page.width}.png"), full_page=True)


def test_too_many_searches_say_so_and_keep_the_words(page: Any) -> None:
    # last in this module: the searches of this minute are spent for everyone here
    form_said_so = False
    for _ in range(2):  # a minute may turn between the last search and the form's
        for _ in range(SEARCHES_PER_IP_PER_MINUTE + 1):
            if page.request.get("/search?q=kettle").status == 429:
                break
        page.goto("/")
        page.get_by_label("Product name, URL or ASIN").fill("kettle steel")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**/search?**")
        if "Too many searches from here" in page.content():
            form_said_so = True
            break
    assert form_said_so
    # the words typed are there to search again in a minute
    assert page.get_by_label("Product name, URL or ASIN").input_value() == "kettle steel"
    _fits_the_width(page)
    page.screenshot(path=str(SHOTS / f"home-too-many-searches-{page.width}.png"), full_page=True)
