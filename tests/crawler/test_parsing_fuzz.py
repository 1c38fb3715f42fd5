"""parse_page never raises: on arbitrary bytes, on HTML-ish noise, and on
random mutations of hand-written product pages. Whatever it returns is a
well-formed ParsedPage that keeps its own invariants."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.parsing import PageKind, ParsedPage, parse_page
from pricewatch.money import Money

FIXTURES = Path(__file__).parent / "fixtures"
PAGES = [
    (FIXTURES / name).read_bytes()
    for name in ("details_offers_us.html", "core_price_de.html", "all_offers_de.html")
]
URLS = [
    "https://www.amazon.com/",
    "https://www.amazon.de/",
    "https://www.amazon.co.jp/",
    "https://www.amazon.com.tr/",
    "https://www.amazon.sa/",
    "file:///tmp/page.html",
    "",
]
# markup the rules look for, so that random pages reach the rule readers
TOKENS = [
    "<div>",
    "</div>",
    "<span>",
    "</span>",
    "<a href='/gp/offer-listing/X?condition=new'>",
    "</a>",
    "<table><tr><td>",
    "<li id='SalesRank'>",
    '<span class="a-price">',
    '<span class="a-offscreen">',
    '<span class="pricePerUnit">',
    '<span class="a-price" data-a-size="mini">',
    '<div id="olp_feature_div">',
    '<div id="olpLinkWidget_feature_div">',
    '<div id="corePriceDisplay_desktop_feature_div">',
    '<div id="averageCustomerReviews_feature_div">',
    '<span id="acrPopover" title="4.5 out of 5">',
    '<div id="merchant-info">',
    '<div id="newAccordionRow_0">',
    '<img id="landingImage" src="data:x//" data-a-dynamic-image=\'{"//i/x.jpg":[1,1]}\'>',
    '<input name="ASIN" value="B0TEST0001">',
    '<span id="productTitle">T</span>',
    "Best Sellers Rank: #1,234 in Kitchen (See Top 100) #5 in X",
    "kategorisinde 2. sırada",
    "売れ筋ランキング: - 12,345位本",
    "#١٬٤٣١ في",
    "Sold by Acme (4.7 out of 5 | 2,523 ratings).",
    "New (10) from $19.99",
    "Used - Like New (1.033) from 12,50 €",
    "/ kg",
    "per 100 g",
    "$0.31",
    "EUR 22,45 (EUR 18,71 / kg)",
    "55,90 TL",
    "￥1,280",
    "\u202f",
    "&nbsp;",
    "<!--",
    "-->",
    "<script>",
    "</script>",
    "<![CDATA[",
    "\x00",
    "\ufffd",
]


def check(page: ParsedPage) -> None:
    # a ParsedPage round-trips through its own typed schema
    assert msgspec.json.decode(msgspec.json.encode(page), type=ParsedPage) == page
    assert isinstance(page.page_kind, PageKind)
    if page.page_kind is not PageKind.PRODUCT:
        assert page.price is None and page.new_offers_from is None and page.rating is None
    if page.rating is not None:
        assert Decimal(0) < page.rating <= Decimal(5)
    if page.review_count is not None:
        assert page.review_count > 0
    if page.price is not None and page.list_price is not None:
        assert page.list_price.currency == page.price.currency
        assert page.list_price.minor > page.price.minor
    for money in (page.price, page.new_offers_from, page.used_from, page.used_and_new_from):
        assert money is None or (isinstance(money, Money) and money.minor >= 0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000), st.sampled_from(URLS))
def test_arbitrary_bytes_never_raise(body: bytes, url: str) -> None:
    check(parse_page(body, url))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=12), max_size=60), st.sampled_from(URLS))
def test_html_noise_never_raises(parts: list[str], url: str) -> None:
    check(parse_page("".join(parts).encode("utf-8", "surrogatepass"), url))


# one edit: (where, as a fraction of the length; how many bytes to drop; what to insert)
EDITS = st.tuples(
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=0, max_value=200),
    st.binary(max_size=40)
    | st.sampled_from(TOKENS).map(lambda token: token.encode("utf-8", "surrogatepass")),
)


def mutate(body: bytes, edits: list[tuple[float, int, bytes]]) -> bytes:
    for where, drop, insert in edits:
        at = int(where * len(body))
        body = body[:at] + insert + body[at + drop :]
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(PAGES))),
    st.lists(EDITS, min_size=1, max_size=8),
    st.sampled_from(URLS),
)
def test_mutated_product_pages_never_raise(
    page_index: int, edits: list[tuple[float, int, bytes]], url: str
) -> None:
    check(parse_page(mutate(PAGES[page_index], edits), url))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(range(len(PAGES))),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
)
def test_spliced_product_pages_never_raise(page_index: int, start: int, end: int, at: int) -> None:
    """A slice of the page pasted elsewhere in it: repeated ids, blocks nested in themselves."""
    body = PAGES[page_index]
    start, end = sorted((start % len(body), end % len(body)))
    at %= len(body)
    check(parse_page(body[:at] + body[start:end] + body[at:], "https://www.amazon.com/"))


def test_unmutated_fixture_reads_every_new_field() -> None:
    """The page the mutations start from, read whole: the new fields all have values."""
    page = parse_page(PAGES[0], "https://www.amazon.com/")
    check(page)
    assert page.page_kind is PageKind.PRODUCT
    assert page.asin == "B0TEST0012"
    assert page.price == Money(8999, "USD")
    assert page.list_price == Money(11999, "USD")  # the $359.96 / lb unit price is no list price
    assert page.image_url == "https://images.example.invalid/juicer._SX300_.jpg"
    assert (page.new_offers_from, page.new_offers_count) == (Money(7950, "USD"), 28)
    assert page.used_from == Money(5825, "USD")  # Like New is used; Renewed $40.00 dropped
    assert page.used_and_new_from is None
    assert (page.sales_rank, page.sales_rank_category) == (16222, "Kitchen & Dining")
    assert page.sold_by == "Juice World"
    assert (page.rating, page.review_count) == (Decimal("4.4"), 5136)
