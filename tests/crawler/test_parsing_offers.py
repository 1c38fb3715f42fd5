"""Offer summaries (pricewatch.page_rules.offers) on small hand-written pages.

Every case states all four offer fields: the ones it does not name must be
None, so a summary read as the wrong kind fails the test.
"""

from __future__ import annotations

import pytest

from crawler.parsing import parse_page
from pricewatch.money import Money
from tests.crawler.product_pages import parse, product_page

OLP = "/gp/offer-listing/B0TEST0100/ref=olp_link?ie=UTF8"


def olp(condition: str | None = None) -> str:
    return f"{OLP}&amp;condition={condition}" if condition else OLP


def a_price(text: str, size: str = "") -> str:
    """A 2020+ a-price: its screen-reader copy and the visible one."""
    sized = f' data-a-size="{size}"' if size else ""
    return (
        f'<span class="a-price"{sized}><span class="a-offscreen">{text}</span>'
        f'<span aria-hidden="true">{text}</span></span>'
    )


def widget(*links: str) -> str:
    """The 2020+ 'Other sellers on Amazon' box."""
    rows = "".join(f'<div class="a-section daodi-content">{link}</div>' for link in links)
    return f'<div id="olpLinkWidget_feature_div"><div class="a-box">{rows}</div></div>'


def widget_link(href: str, label: str, price: str) -> str:
    return f'<a class="a-link-normal" href="{href}"><span>{label}</span>{a_price(price)}</a>'


def olp_feature(*rows: str) -> str:
    """The 2015-2020 centre-column summary: one span per link, price outside the link."""
    spans = "".join(f'<span class="olp-padding-right">{row}</span> ' for row in rows)
    return f'<div id="olp_feature_div"><div class="a-section">{spans}</div></div>'


def outside(condition: str, label: str, between: str, price: str) -> str:
    """'<a>28 new</a> from <span>£6.99</span>'."""
    return (
        f'<a href="{olp(condition)}">{label}</a>{between}<span class="a-color-price">{price}</span>'
    )


# id, marketplace, markup, expected (fields not named are None)
CASES = [
    # --- each container ----------------------------------------------------------------
    (
        "olpLinkWidget-2020",
        "amazon.ae",
        widget(widget_link(olp("NEW"), "New (10) from", "AED330.00")),
        dict(new_offers_from=Money(33000, "AED"), new_offers_count=10),
    ),
    (
        "olpLinkWidget-aod-link-without-condition",
        "amazon.com",
        widget(widget_link("/dp/B0TEST0100?aod=1", "New &amp; Used (7) from", "$19.49")),
        dict(used_and_new_from=Money(1949, "USD")),
    ),
    (
        "olp_feature_div-price-outside-link",
        "amazon.co.uk",
        olp_feature(
            outside("new", "28 new", " from ", "£6.99"),
            outside("used", "1 used", " from ", "£8.53"),
        ),
        dict(new_offers_from=Money(699, "GBP"), new_offers_count=28, used_from=Money(853, "GBP")),
    ),
    (
        "mbc-more-buying-choices",
        "amazon.it",
        '<div id="mbc"><div class="a-box"><span class="a-size-small">Nuovi: '
        f'<a href="{olp("new")}">2 venditori</a> da '
        '<span class="a-color-price">EUR 15,90</span></span></div></div>',
        dict(new_offers_from=Money(1590, "EUR"), new_offers_count=2),
    ),
    (
        "unqualifiedBuyBox-used-and-new",
        "amazon.ca",
        '<div id="unqualifiedBuyBox"><div class="a-box"><span class="a-color-base">'
        f'<a href="{olp("all")}">39 used &amp; new</a> from '
        '<span class="a-color-price">CDN$ 22.46</span></span>'
        f'<a class="a-button-text" href="{olp()}">See All Buying Options</a></div></div>',
        dict(used_and_new_from=Money(2246, "CAD")),
    ),
    (
        "tmmSwatches-selected-only",
        "amazon.com",
        '<div id="tmmSwatches"><ul>'
        '<li class="swatchElement unselected"><a href="/dp/B0OTHER001">Paperback $3.99</a>'
        '<span class="olp-new olp-link">'
        '<a href="/gp/offer-listing/B0OTHER001?condition=new">5 New from $3.00</a></span>'
        '<span class="olp-used olp-link">'
        '<a href="/gp/offer-listing/B0OTHER001?condition=used">9 Used from $1.00</a></span></li>'
        '<li class="swatchElement selected"><a href="/dp/B0TEST0100">Hardcover $79.00</a>'
        f'<span class="olp-new olp-link"><a href="{olp("new")}">20 New from $74.54</a></span>'
        f'<span class="olp-used olp-link"><a href="{olp("used")}">3 Used from $50.00</a></span>'
        "</li></ul></div>",
        dict(new_offers_from=Money(7454, "USD"), new_offers_count=20, used_from=Money(5000, "USD")),
    ),
    (
        "twister-selected-row",
        "amazon.com",
        '<div id="twister"><table>'
        '<tr class="unselected-row"><td>DVD</td>'
        '<td><a href="/gp/offer-listing/B0OTHER002?condition=new">$1.00</a></td>'
        '<td><a href="/gp/offer-listing/B0OTHER002?condition=used">$0.50</a></td></tr>'
        '<tr class="selected-row"><td>Blu-ray</td>'
        f'<td><a href="{olp("new")}">$12.99</a></td>'
        f'<td><a href="{olp("used")}">$8.50</a></td></tr>'
        "</table></div>",
        dict(new_offers_from=Money(1299, "USD"), used_from=Money(850, "USD")),
    ),
    (
        "usedBuySection",
        "amazon.ca",
        '<div id="buybox"><div id="usedBuySection"><div class="a-row">'
        '<span class="a-text-bold">Buy Used</span>'
        '<span class="a-color-price offer-price">CDN$ 28.00</span></div></div></div>',
        dict(used_from=Money(2800, "CAD")),
    ),
    (
        "usedAccordionRow-below-used-link",
        "amazon.com",
        widget(widget_link(olp("USED"), "Used (4) from", "$3.10"))
        + '<div id="buyBoxAccordion"><div id="usedAccordionRow"><span>Save with Used - Good</span>'
        f"{a_price('$2.66')}</div></div>",
        dict(used_from=Money(266, "USD")),
    ),
    # --- the kind of a summary --------------------------------------------------------
    (
        "condition-word-beats-link-condition",
        "amazon.com",
        widget(widget_link(olp("NEW"), "Used (3) from", "$5.00")),
        dict(used_from=Money(500, "USD")),
    ),
    (
        "link-condition-decides-5-offers",
        "amazon.com",
        widget(widget_link(olp("NEW"), "5 offers from", "$9.99")),
        dict(new_offers_from=Money(999, "USD"), new_offers_count=5),
    ),
    (
        "link-condition-decides-10-Angebote",
        "amazon.de",
        olp_feature(outside("used", "10 Angebote", " ab ", "EUR 21,95")),
        dict(used_from=Money(2195, "EUR")),
    ),
    (
        "no-condition-anywhere-is-no-kind",
        "amazon.de",
        olp_feature(outside("", "10 Angebote", " ab ", "EUR 21,95")),
        dict(),
    ),
    (
        "renewed-and-collectible-dropped",
        "amazon.com",
        olp_feature(
            outside("new", "Renewed (13)", " from ", "$142.90"),
            outside("collectible", "2 collectible", " from ", "$30.00"),
            outside("used", "Refurbished (2)", " from ", "$99.00"),
            outside("new", "4 new", " from ", "$150.00"),
        ),
        dict(new_offers_from=Money(15000, "USD"), new_offers_count=4),
    ),
    (
        "like-new-is-used",
        "amazon.com",
        widget(widget_link("/dp/B0TEST0100?aod=1", "Used - Like New (3) from", "$5.00")),
        dict(used_from=Money(500, "USD")),
    ),
    (
        "wie-neu-alone-uses-the-link",
        "amazon.de",
        widget(widget_link(olp("used"), "Wie neu (2) ab", "12,00 €")),
        dict(used_from=Money(1200, "EUR")),
    ),
    # --- the lowest price wins, with its count ----------------------------------------
    (
        "lowest-new-wins-with-its-count",
        "amazon.com",
        widget(widget_link(olp("NEW"), "New (10) from", "$20.00"))
        + '<div id="tmmSwatches"><div class="swatchElement selected">'
        f'<a href="{olp("new")}">3 New from $15.00</a></div></div>',
        dict(new_offers_from=Money(1500, "USD"), new_offers_count=3),
    ),
    (
        "lower-first-keeps-its-count",
        "amazon.com",
        widget(widget_link(olp("NEW"), "New (10) from", "$15.00"))
        + '<div id="tmmSwatches"><div class="swatchElement selected">'
        f'<a href="{olp("new")}">3 New from $20.00</a></div></div>',
        dict(new_offers_from=Money(1500, "USD"), new_offers_count=10),
    ),
    (
        "same-price-later-count-fills-in",
        "amazon.com",
        '<div id="twister"><table><tr class="selected-row">'
        f'<td><a href="{olp("new")}">$15.00</a></td></tr></table></div>'
        + '<div id="tmmSwatches"><div class="swatchElement selected">'
        f'<a href="{olp("new")}">6 New from $15.00</a></div></div>',
        dict(new_offers_from=Money(1500, "USD"), new_offers_count=6),
    ),
    (
        "lowest-used-across-link-and-buy-box",
        "amazon.co.uk",
        olp_feature(outside("used", "2 used", " from ", "£4.00"))
        + '<div id="usedBuySection"><span class="offer-price">£5.50</span></div>',
        dict(used_from=Money(400, "GBP")),
    ),
    # --- languages ---------------------------------------------------------------------
    (
        "de",
        "amazon.de",
        olp_feature(
            outside("new", "11 neu", " ab ", "EUR 21,95"),
            outside("used", "3 gebraucht", " ab ", "EUR 1.234,50"),
        ),
        dict(
            new_offers_from=Money(2195, "EUR"), new_offers_count=11, used_from=Money(123450, "EUR")
        ),
    ),
    (
        "fr",
        "amazon.fr",
        olp_feature(
            outside("new", "3 neufs", " à partir de ", "EUR 1\u202f234,50"),
            outside("used", "2 d'occasion", " à partir de ", "EUR 9,99"),
        ),
        dict(new_offers_from=Money(123450, "EUR"), new_offers_count=3, used_from=Money(999, "EUR")),
    ),
    (
        "es",
        "amazon.es",
        widget(
            widget_link(olp("NEW"), "Nuevo (4) desde", "12,99 €"),
            widget_link(olp("USED"), "De 2ª mano (2) desde", "8,50 €"),
        ),
        dict(new_offers_from=Money(1299, "EUR"), new_offers_count=4, used_from=Money(850, "EUR")),
    ),
    (
        "it",
        "amazon.it",
        widget(
            widget_link(olp("NEW"), "Nuovo (6) da", "24,00 €"),
            widget_link(olp("USED"), "Usato (2) da", "19,00 €"),
        ),
        dict(new_offers_from=Money(2400, "EUR"), new_offers_count=6, used_from=Money(1900, "EUR")),
    ),
    (
        "pt-BR-grouped-count",
        "amazon.com.br",
        widget(widget_link(olp("NEW"), "Novo (1.033) a partir de", "R$ 1.299,00")),
        dict(new_offers_from=Money(129900, "BRL"), new_offers_count=1033),
    ),
    (
        "pt-BR-outras-ofertas",
        "amazon.com.br",
        '<div id="dynamic-aod-ingress-box"><a href="/dp/B0TEST0100?aod=1&amp;condition=new">'
        f"Comparar outras 2 ofertas</a> a partir de {a_price('R$ 49,90')}</div>",
        dict(new_offers_from=Money(4990, "BRL"), new_offers_count=2),
    ),
    (
        "tr-price-first-element",
        "amazon.com.tr",
        widget(
            f'<a href="{olp()}">{a_price("55,90 TL")}'
            "<span> başlangıç fiyatıyla 2 adet yeni ürün</span></a>"
        ),
        dict(new_offers_from=Money(5590, "TRY"), new_offers_count=2),
    ),
    (
        "tr-price-first-text",
        "amazon.com.tr",
        widget(f'<a href="{olp()}">300 TL başlangıç fiyatıyla 4 adet ikinci el ürün</a>'),
        dict(used_from=Money(30000, "TRY")),
    ),
    (
        "ja",
        "amazon.co.jp",
        olp_feature(
            outside("new", "新品の出品：5", "", "￥ 1,280"),
            outside("used", "中古品の出品：3", "", "￥ 980"),
        ),
        dict(new_offers_from=Money(1280, "JPY"), new_offers_count=5, used_from=Money(980, "JPY")),
    ),
    (
        "ar",
        "amazon.ae",
        widget(widget_link(olp("NEW"), "(35) جديد من", "AED 12.50")),
        dict(new_offers_from=Money(1250, "AED"), new_offers_count=35),
    ),
    (
        "nl-new-and-used",
        "amazon.nl",
        widget(
            widget_link("/dp/B0TEST0100?aod=1", "Nieuw en tweedehands (4) vanaf", "€ 12,95"),
            widget_link(olp("NEW"), "Nieuw (3) vanaf", "€ 13,95"),
        ),
        dict(
            new_offers_from=Money(1395, "EUR"),
            new_offers_count=3,
            used_and_new_from=Money(1295, "EUR"),
        ),
    ),
    (
        "pl",
        "amazon.pl",
        widget(
            widget_link(olp("NEW"), "Nowy (2) od", "49,99\u00a0zł"),
            widget_link(olp("USED"), "Używany (1) od", "39,99\u00a0zł"),
        ),
        dict(new_offers_from=Money(4999, "PLN"), new_offers_count=2, used_from=Money(3999, "PLN")),
    ),
    (
        "sv",
        "amazon.se",
        widget(
            widget_link(olp("NEW"), "Ny (2) från", "149,00\u00a0kr"),
            widget_link(olp("USED"), "Begagnad (5) från", "99,00\u00a0kr"),
        ),
        dict(new_offers_from=Money(14900, "SEK"), new_offers_count=2, used_from=Money(9900, "SEK")),
    ),
    # --- one parent, two links ----------------------------------------------------------
    (
        "parent-with-new-and-used-links-reads-neither",
        "amazon.fr",
        '<div id="olp_feature_div"><div class="a-section">'
        f'<a href="{olp("new")}">3 neufs</a> à partir de '
        '<span class="a-color-price">EUR 14,50</span> '
        f'<a href="{olp("used")}">2 d\'occasion</a> à partir de '
        '<span class="a-color-price">EUR 9,99</span></div></div>',
        dict(),
    ),
    (
        "parent-with-two-links-each-with-its-price",
        "amazon.fr",
        '<div id="olp_feature_div"><div class="a-section">'
        f'<a href="{olp("new")}">3 neufs à partir de EUR 14,50</a> '
        f'<a href="{olp("used")}">2 d\'occasion à partir de EUR 9,99</a></div></div>',
        dict(new_offers_from=Money(1450, "EUR"), new_offers_count=3, used_from=Money(999, "EUR")),
    ),
    # --- unit prices are never offer prices ---------------------------------------------
    (
        "unit-price-inside-summary-link",
        "amazon.com",
        widget(
            f'<a href="{olp("NEW")}"><span>New (3) from</span>{a_price("$12.99")}'
            '<span class="a-size-mini pricePerUnit">('
            f"{a_price('$0.54', size='mini')}/Count)</span></a>"
        ),
        dict(new_offers_from=Money(1299, "USD"), new_offers_count=3),
    ),
    (
        "unit-amount-in-used-row",
        "amazon.com",
        '<div id="usedAccordionRow"><span class="header-price">$9.50</span> '
        f"<span>({a_price('$0.20')} / Count)</span></div>",
        dict(used_from=Money(950, "USD")),
    ),
]

OFFER_FIELDS = ("new_offers_from", "new_offers_count", "used_from", "used_and_new_from")


@pytest.mark.parametrize(
    ("marketplace", "markup", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_offer_summaries(marketplace: str, markup: str, expected: dict) -> None:
    page = parse(markup, marketplace)
    got = {field: getattr(page, field) for field in OFFER_FIELDS}
    assert got == {**dict.fromkeys(OFFER_FIELDS), **expected}


def test_other_products_offers_are_not_read() -> None:
    """Offer-listing links outside this product's containers (a carousel) count for nothing."""
    page = parse(
        '<div id="sims-fbt"><a href="/gp/offer-listing/B0OTHER003?condition=new">'
        "8 new from $1.00</a></div>"
        '<div id="olp_feature_div"><a href="/gp/offer-listing/B0OTHER003?condition=new">'
        "</a></div>",
        "amazon.com",
    )
    assert [getattr(page, field) for field in OFFER_FIELDS] == [None] * 4


def test_offers_need_a_market() -> None:
    """Without a marketplace there is no number format: no offer is read."""
    body = widget(widget_link(olp("NEW"), "New (10) from", "$330.00"))
    page = parse_page(product_page(body), "file:///tmp/page.html")
    assert page.market is None
    assert page.new_offers_from is None and page.new_offers_count is None


@pytest.mark.parametrize(
    ("marketplace", "label", "price"),
    [
        ("amazon.fr", "Neuf (1\u202f033) à partir de", "12,00\u00a0€"),
        ("amazon.pl", "Nowy (1\u00a0033) od", "12,00\u00a0zł"),
        ("amazon.se", "Ny (1\u00a0033) från", "12,00\u00a0kr"),
    ],
    ids=["fr", "pl", "sv"],
)
def test_count_grouped_with_a_space(marketplace: str, label: str, price: str) -> None:
    page = parse(widget(widget_link(olp("NEW"), label, price)), marketplace)
    assert (page.new_offers_from.minor if page.new_offers_from else None) == 1200
    assert page.new_offers_count == 1033
