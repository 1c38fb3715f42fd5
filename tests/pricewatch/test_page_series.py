"""What one product page says about each price series."""

from __future__ import annotations

import pytest

from pricewatch.models import Availability, Series
from pricewatch.page_series import PageFacts, is_amazon, series_availability, series_values

IN = Availability.IN_STOCK


@pytest.mark.parametrize(
    "seller",
    ["Amazon", "Amazon.com", "amazon.com.br", "Amazon EU S.à r.l.", "Amazon US", "Amazon.co.uk"],
)
def test_amazon_itself(seller: str) -> None:
    assert is_amazon(seller)


@pytest.mark.parametrize(
    "seller", [None, "", "Amazon Warehouse", "Amazonas Books", "Best Amazon Deals", "Amazon Resale"]
)
def test_not_amazon_itself(seller: str | None) -> None:
    assert not is_amazon(seller)


def test_amazon_in_the_buy_box_with_cheaper_third_party_offers() -> None:
    facts = PageFacts(
        availability=IN,
        price=2000,
        sold_by="Amazon.de",
        list_price=2500,
        new_offers_from=1800,
        used_from=1200,
        sales_rank=42,
    )
    assert series_values(facts) == {
        Series.BUYBOX: 2000,
        Series.AMAZON: 2000,
        Series.NEW: 1800,
        Series.USED: 1200,
        Series.LIST: 2500,
        Series.CHEAPEST_NEW: 1800,
        Series.SALES_RANK: 42,
    }


def test_a_third_party_buy_box_is_a_new_offer_and_amazon_sells_nothing() -> None:
    values = series_values(
        PageFacts(availability=IN, price=1500, sold_by="Gadgets_Guru", new_offers_from=1600)
    )
    assert values[Series.AMAZON] is None
    assert values[Series.NEW] == 1500
    assert values[Series.CHEAPEST_NEW] == 1500
    assert values[Series.USED] is None


def test_a_used_only_buy_box_is_a_used_offer() -> None:
    values = series_values(
        PageFacts(
            availability=IN, price=543, buybox_used=True, sold_by="Some Library", used_from=600
        )
    )
    assert values[Series.BUYBOX] == 543
    assert values[Series.USED] == 543
    assert values[Series.AMAZON] is None
    assert values[Series.NEW] is None
    assert values[Series.CHEAPEST_NEW] is None


def test_an_unnamed_seller_leaves_amazon_unknown() -> None:
    values = series_values(PageFacts(availability=IN, price=999, new_offers_from=1099))
    assert Series.AMAZON not in values
    # the unnamed buy box still counts as the cheapest new price, not as a third party's
    assert values[Series.NEW] == 1099
    assert values[Series.CHEAPEST_NEW] == 999


def test_no_buy_box_but_other_sellers() -> None:
    values = series_values(PageFacts(availability=IN, new_offers_from=17900))
    assert values[Series.BUYBOX] is None
    assert values[Series.AMAZON] is None
    assert values[Series.NEW] == 17900
    assert values[Series.CHEAPEST_NEW] == 17900


def test_a_gone_page_has_nothing_in_any_series() -> None:
    values = series_values(
        PageFacts(availability=Availability.UNAVAILABLE, price=None, sales_rank=5)
    )
    assert values == {series: None for series in Series}


def test_a_used_copy_of_a_sold_out_product_can_be_bought() -> None:
    out = Availability.OUT_OF_STOCK
    assert series_availability(Series.USED, 500, out) is IN
    assert series_availability(Series.USED, None, out) is out
    assert series_availability(Series.BUYBOX, None, out) is out
    # a rank is no offer
    assert series_availability(Series.SALES_RANK, 7, out) is out
    assert series_availability(Series.NEW, 900, Availability.UNKNOWN) is Availability.UNKNOWN
