"""Unit prices ("57,14 € / kg", "($0.31 / Count)") are never a price, a list
price or an offer price (the unit-price part of pricewatch.page_rules.price)."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.parsing.units import is_unit_amount, without_unit_price
from pricewatch.money import Money
from tests.crawler.product_pages import parse


def a_price(text: str, classes: str = "", attrs: str = "") -> str:
    return f'<span class="a-price {classes}"{attrs}><span class="a-offscreen">{text}</span></span>'


# id, marketplace, markup, price, list price
PAGE_CASES = [
    (
        "pricePerUnit-block-2021",
        "amazon.de",
        '<div id="corePriceDisplay_desktop_feature_div">'
        '<span class="a-price priceToPay"><span class="a-offscreen">8,00\u00a0€</span></span>'
        '<span class="aok-relative"><span class="a-size-mini aok-offscreen"> 57,14 € pro kg </span>'
        '<span aria-hidden="true" class="a-size-mini a-color-base pricePerUnit">('
        '<span class="a-price a-text-price" data-a-size="mini">'
        '<span class="a-offscreen">57,14\u00a0€</span></span> / kg)</span></span></div>',
        Money(800, "EUR"),
        None,  # the mini unit a-price is an .a-text-price above the price
    ),
    (
        "pricePerUnit-block-before-strike-list-price",
        "amazon.com",
        '<div id="corePriceDisplay_desktop_feature_div">'
        '<span class="a-price priceToPay"><span class="a-offscreen">$13.99</span></span>'
        '<span class="a-size-mini a-color-base pricePerUnit">('
        '<span class="a-price a-text-price" data-a-size="mini">'
        '<span class="a-offscreen">$45.00</span></span> / Count)</span>'
        '<span class="a-size-small">Was: </span>'
        '<span class="a-price a-text-price" data-a-size="s" data-a-strike="true">'
        '<span class="a-offscreen">$19.99</span></span></div>',
        Money(1399, "USD"),
        Money(1999, "USD"),
    ),
    (
        "apex-table-unit-after-price",
        "amazon.com",
        '<div id="corePrice_desktop"><table class="a-lineitem"><tr>'
        '<td class="a-color-secondary">Price:</td><td>'
        f"{a_price('$4.99', 'apexPriceToPay')}"
        '<span class="a-size-small a-color-price">( '
        '<span class="a-price a-text-price" data-a-size="b">'
        '<span class="a-offscreen">$19.96</span></span> / lb)</span></td></tr></table></div>',
        Money(499, "USD"),
        None,
    ),
    (
        "apex-table-count",
        "amazon.com",
        '<div id="corePrice_desktop"><table class="a-lineitem">'
        '<tr><td>List Price:</td><td><span class="a-price a-text-price" data-a-size="s">'
        '<span class="a-offscreen">$24.99</span></span></td></tr>'
        '<tr><td>Price:</td><td><span class="a-price a-text-price apexPriceToPay">'
        '<span class="a-offscreen">$14.99</span></span> '
        '<span class="a-size-small a-color-price">( '
        '<span class="a-price a-text-price" data-a-size="b">'
        '<span class="a-offscreen">$0.31</span></span> / Count)</span></td></tr></table></div>',
        Money(1499, "USD"),
        Money(2499, "USD"),
    ),
    (
        "unit-inside-price-span",
        "amazon.de",
        '<table id="price"><tr id="priceblock_ourprice_row"><td>Preis:</td><td>'
        '<span id="priceblock_ourprice" class="a-size-medium a-color-price">'
        "EUR 22,45 (EUR 18,71 / kg)</span></td></tr></table>",
        Money(2245, "EUR"),
        None,
    ),
    (
        "slash-quantity-unit-in-buy-box-copy",
        "amazon.co.uk",
        '<div id="price_inside_buybox">£3.60 (£1.20/100 ml)</div>',
        Money(360, "GBP"),
        None,
    ),
    (
        "only-a-unit-price-is-no-price",
        "amazon.co.uk",
        '<span id="priceblock_ourprice">£1.20/100 ml</span>',
        None,
        None,
    ),
    (
        "per-word-after-amount",
        "amazon.de",
        '<div id="corePrice_feature_div">'
        + a_price("4,10 €", attrs=' data-a-size="s"')
        + " pro kg "
        + a_price("12,30 €")
        + "</div>",
        Money(1230, "EUR"),
        None,
    ),
    (
        "por-unidad-in-parentheses",
        "amazon.es",
        '<div id="price_inside_buybox">6,50 € (0,65 € por unidad)</div>',
        Money(650, "EUR"),
        None,
    ),
    (
        "Grundpreis-refused-next-rule-read",
        "amazon.de",
        '<span id="priceblock_ourprice">Grundpreis: 15,96 €</span>'
        '<div id="price_inside_buybox">7,98 €</div>',
        Money(798, "EUR"),
        None,
    ),
    (
        "atari-japanese",
        "amazon.co.jp",
        '<div id="price_inside_buybox">￥1,280 (￥128 / 100 gあたり)</div>',
        Money(1280, "JPY"),
        None,
    ),
    (
        "atari-after-amount",
        "amazon.co.jp",
        f'<div id="corePrice_feature_div">{a_price("￥64")}あたり {a_price("￥1,280")}</div>',
        Money(1280, "JPY"),
        None,
    ),
    (
        "ordinary-price-stays",
        "amazon.com.br",
        '<div id="corePrice_feature_div">'
        f"{a_price('R$ 1.299,00')} <span>em até 10x sem juros</span></div>",
        Money(129900, "BRL"),
        None,
    ),
    (
        "struck-mini-list-price-is-not-a-unit",
        "amazon.ae",
        '<div id="corePriceDisplay_desktop_feature_div">'
        f"{a_price('AED 199.00', 'priceToPay')}"
        '<span class="a-price a-text-price" data-a-size="mini" data-a-strike="true">'
        '<span class="a-offscreen">AED 219.00</span></span></div>',
        Money(19900, "AED"),
        Money(21900, "AED"),
    ),
]


@pytest.mark.parametrize(
    ("marketplace", "markup", "price", "list_price"),
    [c[1:] for c in PAGE_CASES],
    ids=[c[0] for c in PAGE_CASES],
)
def test_unit_prices_are_no_prices(
    marketplace: str, markup: str, price: Money | None, list_price: Money | None
) -> None:
    page = parse(markup, marketplace)
    assert (page.price, page.list_price) == (price, list_price)


# text -> without_unit_price(text)
TEXTS = {
    # unit prices: refused, or emptied when the whole text is a parenthesised unit
    "57,14 € / kg": None,
    "€2.99 / 100 g": None,
    "£1.20/100 ml": None,
    "12,50 zł/kg": None,
    "3,99 € / Stück": None,
    "1,20 € / unité": None,
    "45,90 kr/kg": None,
    "12,50 TL / adet": None,
    "4,10 € per kg": None,
    "2,00 € pro Liter": None,
    "0,65 € por unidad": None,
    "Grundpreis: 3,99 €": None,
    "Prix au kilo : 12,40 €": None,
    "￥128 100gあたり": None,
    "($0.35 / Count)": "",
    "(EUR 18,71 /  kg)": "",
    "(R$ 4,99 / unidade)": "",
    "(₹649.50/count)": "",
    "(￥64 / 個)": "",
    # a price with its unit in parentheses keeps the price
    "EUR 22,45 (EUR 18,71 / kg)": "EUR 22,45",
    "$12.99 ($0.54/Count)": "$12.99",
    "6,50 € (0,65 € por unidad)": "6,50 €",
    # ordinary prices stay as they are (whitespace collapsed)
    "$29.99": "$29.99",
    "EUR  21,95": "EUR 21,95",
    "R$ 1.299,00": "R$ 1.299,00",
    "₹ 1,299.00": "₹ 1,299.00",
    "AED 330.00": "AED 330.00",
    "5,90 TL": "5,90 TL",
    "$10.99 - $24.99": "$10.99 - $24.99",
    "￥1,280 (税込)": "￥1,280 (税込)",
    "List Price: $19.99": "List Price: $19.99",
    "Save $5.00 (20%)": "Save $5.00 (20%)",
    "$4.00 (1/2)": "$4.00 (1/2)",
    "Save 1/2: $4.00": "Save 1/2: $4.00",
    "Persil 4 kg: 19,99 €": "Persil 4 kg: 19,99 €",
}


@pytest.mark.parametrize(("text", "expected"), TEXTS.items(), ids=list(TEXTS))
def test_without_unit_price(text: str, expected: str | None) -> None:
    assert without_unit_price(text) == expected


UNIT_AMOUNT_HTML = (
    "<div>"
    '<span id="slash" class="a-price"><span class="a-offscreen">$0.31</span></span> / Count'
    '<span id="per" class="a-price"><span class="a-offscreen">4,10 €</span></span>\n  per kg'
    '<span id="atari"><span class="a-price"><span class="a-offscreen">￥64</span></span>'
    "あたり</span>"
    '<span id="wrapped"><span class="a-price"><span class="a-offscreen">£1.20</span></span>'
    "<span>/100 ml</span></span>"
    '<span id="bare">€2.99</span> / 100 g'
    '<span id="price" class="a-price"><span class="a-offscreen">$14.99</span></span> ('
    '<span id="ratio" class="a-price"><span class="a-offscreen">$5.00</span></span> 1/2 off'
    '<span id="last" class="a-price"><span class="a-offscreen">$9.99</span></span>'
    "</div>"
)


@pytest.mark.parametrize(
    ("element_id", "expected"),
    [
        ("slash", True),
        ("per", True),
        ("atari", True),
        ("wrapped", True),
        ("bare", True),
        ("price", False),
        ("ratio", False),
        ("last", False),
    ],
)
def test_is_unit_amount(element_id: str, expected: bool) -> None:
    """Judged on the amount's .a-offscreen (its closest .a-price decides), or on
    the element itself when no .a-price holds it."""
    tree = LexborHTMLParser(UNIT_AMOUNT_HTML)
    (holder,) = tree.css(f"#{element_id}")
    offscreen = holder.css_first(".a-offscreen")
    assert is_unit_amount(offscreen if offscreen is not None else holder) is expected
