"""Layouts met on real pages outside the labelled corpus, each as a small
hand-written page: the 2018-2019 single-offer books buy box, the Kindle
digital list price row, Dutch and older Turkish sales ranks, open-box offers."""

from __future__ import annotations

import pytest

from pricewatch.money import Money
from tests.crawler.product_pages import parse

OLP = "/gp/offer-listing/B0TEST0100/ref=dp_olp?ie=UTF8&amp;condition="


def test_single_offer_books_buy_box_with_its_offers_line() -> None:
    page = parse(
        '<div id="addToCart"><div id="mediaNoAccordion" class="a-section">'
        '<span class="a-size-medium a-color-price header-price"> $50.39 </span>'
        '<span class="a-color-secondary">List Price:</span> '
        '<span class="a-color-secondary a-text-strike">$71.95</span>'
        f'<div><span><a href="{OLP}new">40 New</a> from '
        "<span class='a-color-price'>$47.75</span></span> "
        f'<span><a href="{OLP}used">28 Used</a> from '
        "<span class='a-color-price'>$43.76</span></span></div></div></div>"
        f'<div id="mediaOlp"><div id="singleLineOlp"><span><a href="{OLP}all">68 used &amp; new'
        "</a> from <span class='a-color-price'>$43.76</span></span></div></div>",
        "amazon.com",
    )
    assert (page.price, page.list_price) == (Money(5039, "USD"), Money(7195, "USD"))
    assert (page.new_offers_from, page.new_offers_count) == (Money(4775, "USD"), 40)
    assert (page.used_from, page.used_and_new_from) == (Money(4376, "USD"), Money(4376, "USD"))


def test_kindle_digital_list_price_row() -> None:
    page = parse(
        '<table class="a-lineitem"><tr class="digital-list-price"><td>Catalogusprijs digitale'
        ' editie:</td><td class="a-color-secondary a-text-strike"> EUR 19,36 </td></tr>'
        '<tr class="kindle-price"><td>Kindle-prijs:</td><td class="a-color-price">'
        " EUR 8,99 </td></tr></table>",
        "amazon.nl",
    )
    assert (page.price, page.list_price) == (Money(899, "EUR"), Money(1936, "EUR"))


@pytest.mark.parametrize(
    ("domain", "row", "expected"),
    [
        (
            "amazon.nl",
            "<b>Plaats op Amazon-bestsellerlijst:</b> #1.046 Betaald in Kindle Store "
            "(Top 100 Betaald in Kindle Store)",
            (1046, "Kindle Store"),
        ),
        (
            "amazon.com.tr",
            "<b>Amazon Çok Satanlar Sıralaması</b> Sıralama: 5 - Kategori: "
            "<a>Elektrikli Diş Fırçaları ve Aksesuarları</a>",
            (5, "Elektrikli Diş Fırçaları ve Aksesuarları"),
        ),
    ],
)
def test_sales_rank_wordings(domain: str, row: str, expected: tuple) -> None:
    page = parse(f'<ul><li id="SalesRank">{row}</li></ul>', domain)
    assert (page.sales_rank, page.sales_rank_category) == expected


def test_open_box_offers_are_used_ones() -> None:
    page = parse(
        '<div id="olp_feature_div"><div>'
        f'<span><a href="{OLP}new">7 new</a> from <span class="a-color-price">£64.99</span></span>'
        f'<span><a href="{OLP}all">8 open box &amp; new</a> from '
        '<span class="a-color-price">£63.69</span></span></div></div>',
        "amazon.co.uk",
    )
    assert (page.new_offers_from, page.new_offers_count) == (Money(6499, "GBP"), 7)
    assert page.used_and_new_from == Money(6369, "GBP")
    assert page.used_from is None
