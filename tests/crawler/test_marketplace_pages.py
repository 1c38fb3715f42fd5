"""The local marketplace's product pages read by the real parser: every series the
crawler makes, in each demo market's language."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crawler.observations import observations_for
from crawler.parsing import PageKind, parse_page
from pricewatch.devtools.marketplace import CatalogProduct, demo_catalog, pages
from pricewatch.markets import get_market
from pricewatch.models import Availability, CrawlTask, Series
from pricewatch.money import Money

ASIN = "B0TEST0001"


def product(market: str, **fields: object) -> CatalogProduct:
    values: dict[str, object] = {
        "market": market,
        "asin": ASIN,
        "title": "Acme Kettle",
        "price": 2499,
        "list_price": 2999,
        "sold_by": f"Amazon.{get_market(market).domain[7:]}",
        "new_from": 2299,
        "new_count": 7,
        "used_from": 1650,
        "used_count": 2,
        "sales_rank": 12_345,
        "rating": Decimal("4.4"),
        "review_count": 5_136,
    }
    values.update(fields)
    return CatalogProduct(**values)  # type: ignore[arg-type]


def parsed(item: CatalogProduct):  # type: ignore[no-untyped-def]
    market = get_market(item.market)
    html = pages.render_product(market, item, origin="http://127.0.0.1:8000")
    page = parse_page(html.encode(), f"https://www.{market.domain}/dp/{item.asin}")
    assert page.page_kind is PageKind.PRODUCT
    return page


@pytest.mark.parametrize("market", ["us", "de", "uk", "fr", "jp"])
def test_the_parser_reads_every_part_of_a_product_page(market: str) -> None:
    item = product(market)
    page = parsed(item)
    currency = get_market(market).currency
    assert (page.price, page.list_price) == (Money(2499, currency), Money(2999, currency))
    assert page.sold_by == item.sold_by
    assert (page.new_offers_from, page.new_offers_count) == (Money(2299, currency), 7)
    assert page.used_from == Money(1650, currency)
    assert page.sales_rank == 12_345 and page.sales_rank_category
    assert (page.rating, page.review_count) == (Decimal("4.4"), 5_136)

    # so the crawler makes every series of the page, each with a value
    task = CrawlTask(market=market, asin=ASIN)
    values = {o.series: o.price for o in observations_for(task, page, 200, 1) or []}
    assert values == {
        Series.BUYBOX: 2499,
        Series.AMAZON: 2499,
        Series.NEW: 2299,
        Series.USED: 1650,
        Series.LIST: 2999,
        Series.CHEAPEST_NEW: 2299,
        Series.SALES_RANK: 12_345,
    }


def test_a_shop_in_the_buy_box_and_a_sold_out_product() -> None:
    shop = parsed(product("us", sold_by="Kitchen Corner", used_count=0, list_price=None))
    assert shop.sold_by == "Kitchen Corner"
    assert (shop.used_from, shop.list_price) == (None, None)
    task = CrawlTask(market="us", asin=ASIN)
    values = {o.series: o.price for o in observations_for(task, shop, 200, 1) or []}
    assert (values[Series.AMAZON], values[Series.NEW]) == (None, 2299)

    # sold out: no buy box, no seller, no new offers; used copies and the rank stay
    gone = parsed(product("us", availability=Availability.OUT_OF_STOCK))
    assert gone.availability is Availability.OUT_OF_STOCK
    assert (gone.price, gone.sold_by, gone.new_offers_from) == (None, None, None)
    assert gone.used_from == Money(1650, "USD") and gone.sales_rank == 12_345


def test_every_demo_page_reads_back_as_its_catalog_entry() -> None:
    catalog = demo_catalog(20, seed=4)
    catalog.tick(0.0)
    catalog.tick(50 * 60.0)  # let offers, ranks and reviews move first
    for item in catalog.products():
        page = parsed(item)
        currency = get_market(item.market).currency
        shown = item.shows_price
        assert page.price == (Money(item.price, currency) if shown else None), item
        assert page.sold_by == (item.sold_by if shown else None), item
        new = Money(item.new_from, currency) if item.shows_new_offers and item.new_from else None
        used = (
            Money(item.used_from, currency) if item.shows_used_offers and item.used_from else None
        )
        assert (page.new_offers_from, page.used_from) == (new, used), item
        assert (page.sales_rank, page.rating, page.review_count) == (
            item.sales_rank,
            item.rating,
            item.review_count,
        ), item
