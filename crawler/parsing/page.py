"""Pure Amazon product-page parser: ``parse_page(body, url) -> ParsedPage``.

No Scrapy, no I/O: the crawler and the verification path both call it with the
bytes they fetched. What to look for lives in :mod:`pricewatch.page_rules`;
this module only knows HOW to apply those rules. The URL serves one purpose:
naming the marketplace (number format, default currency). Nothing is read
from its path, because redirects and saved pages make it unreliable.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import msgspec
from lxml import etree
from parsel import Selector
from parsel.csstranslator import HTMLTranslator
from w3lib.encoding import html_to_unicode

from pricewatch import page_rules
from pricewatch.markets import Market, market_for_url
from pricewatch.models import Availability
from pricewatch.money import Money, is_price_range, parse_money


class PageKind(StrEnum):
    PRODUCT = "product"
    CAPTCHA = "captcha"
    NOT_FOUND = "not_found"
    OTHER = "other"


class ParsedPage(msgspec.Struct, frozen=True, kw_only=True):
    """What a shopper reading the page sees. ``price`` is the buy-box price
    payable now: ``None`` for ranges, "see all buying options" boxes and
    out-of-stock pages."""

    page_kind: PageKind
    market: str | None = None
    asin: str | None = None
    # The ASIN whose offer the buy box shows. It differs from ``asin`` on some
    # variation pages, where the page names the family and the buy box holds
    # a pre-selected child: prices belong to this one.
    offer_asin: str | None = None
    title: str | None = None
    price: Money | None = None
    list_price: Money | None = None
    availability: Availability = Availability.UNKNOWN
    image: str | None = None


_ASIN_RE = re.compile(page_rules.ASIN_PATTERN)
_ASIN_IN_URL_RE = re.compile(page_rules.ASIN_IN_URL_PATTERN)
_SPACE_RE = re.compile(r"\s+")
# image attributes hold a URL or, for data-a-dynamic-image, JSON keyed by URLs
_URL_RE = re.compile(r"(?:https?:)?//[^\s\"']+")
# control characters lxml refuses (NUL in binary bodies, form feeds...)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_VISIBLE_TEXT = ".//text()[not(ancestor::script) and not(ancestor::style)]"


def _collapse(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def _visible_text(sel: Selector) -> str:
    return _collapse(" ".join(sel.xpath(_VISIBLE_TEXT).getall()))


def _phrases(table: dict[str, list[str]]) -> list[str]:
    return [phrase for phrases in table.values() for phrase in phrases]


_OUT_OF_STOCK = _phrases(page_rules.OUT_OF_STOCK_PHRASES)
_PRE_ORDER = _phrases(page_rules.PRE_ORDER_PHRASES)
_IN_STOCK = _phrases(page_rules.IN_STOCK_PHRASES)


def _csses(table: list[dict[str, str]]) -> Iterable[str]:
    return (rule["css"] for rule in table)


_ID_LED_RE = re.compile(r"^#([\w-]+)(.*)$", re.S)
_TRANSLATOR = HTMLTranslator()


@functools.lru_cache(maxsize=512)
def _rest_xpath(rest: str) -> str:
    """XPath for what follows ``#id`` in a selector, relative to that element:
    descendants after a space, the element itself for a compound (``:not()``,
    ``::attr()``)."""
    if rest[:1].isspace():
        return _TRANSLATOR.css_to_xpath(rest.strip(), prefix="descendant::")
    return _TRANSLATOR.css_to_xpath("*" + rest, prefix="self::")


class _Page:
    """A parsed document plus an index of its ``id`` attributes.

    Amazon pages are ~1 MB; every ``#id`` selector would otherwise scan the
    whole tree. Selectors that start with an id are answered from the index
    (all elements carrying it: Amazon repeats ids); the rest go to parsel.
    """

    def __init__(self, root: Selector) -> None:
        self.root = root
        self._ids: dict[str, list[Any]] = {}
        for element in root.root.xpath("//*[@id]"):
            self._ids.setdefault(element.get("id"), []).append(element)

    def css(self, css: str) -> list[Selector]:
        match = _ID_LED_RE.match(css)
        if match is None or "," in css:
            return list(self.root.css(css))
        elements = [Selector(root=el, type="html") for el in self._ids.get(match.group(1), [])]
        rest = match.group(2)
        if not rest:
            return elements
        xpath = _rest_xpath(rest)
        return [found for element in elements for found in element.xpath(xpath)]

    def values(self, css: str) -> list[str]:
        return [str(found.get()) for found in self.css(css)]


def _any(page: _Page, table: list[dict[str, str]]) -> bool:
    return any(page.css(css) for css in _csses(table))


def _decode(body: bytes) -> Selector | None:
    if not body or not body.strip():
        return None
    try:
        _, text = html_to_unicode(None, body)
        if _CONTROL_RE.search(text):
            text = _CONTROL_RE.sub("", text)
        if "<" not in text:
            return None
        root = Selector(text=text)
    except (ValueError, TypeError, LookupError, etree.LxmlError):
        return None
    return root if root.root is not None else None


# --- page kind -------------------------------------------------------------------


def _is_captcha(root: _Page) -> bool:
    if _any(root, page_rules.CAPTCHA_SELECTORS):
        return True
    title = _collapse(" ".join(root.values("title::text"))).lower()
    return any(phrase in title for phrase in page_rules.CAPTCHA_TITLE_PHRASES)


def _is_not_found(root: _Page) -> bool:
    if _any(root, page_rules.NOT_FOUND_SELECTORS):
        return True
    title = _collapse(" ".join(root.values("title::text"))).lower()
    if any(phrase in title for phrase in page_rules.NOT_FOUND_PHRASES):
        return True
    body = root.css("body")
    text = _visible_text(body[0]).lower()[:5000] if body else ""
    return any(phrase in text for phrase in page_rules.NOT_FOUND_PHRASES)


# --- identity ----------------------------------------------------------------------


def _asin(root: _Page, table: list[dict[str, str]]) -> str | None:
    for css in _csses(table):
        for value in root.values(css):
            value = value.strip()
            if _ASIN_RE.match(value):
                return value
            found = _ASIN_IN_URL_RE.search(value)
            if found:
                return found.group(1)
    return None


def _title(root: _Page) -> str | None:
    for css in _csses(page_rules.TITLE_SELECTORS):
        for el in root.css(css):
            text = _visible_text(el)
            if text:
                return text
    return None


def _image(root: _Page) -> str | None:
    for css in _csses(page_rules.IMAGE_SELECTORS):
        for value in root.values(css):
            found = _URL_RE.search(value)
            if found:
                return found.group(0)
    return None


# --- prices ------------------------------------------------------------------------


def _first_text(el: Selector, css: str) -> str:
    for part in el.css(css):
        text = _visible_text(part)
        if text:
            return text
    return ""


def _price_text(el: Selector, market: Market) -> str:
    """The text of one price element, however the layout splits it."""
    parts = page_rules.PRICE_TEXT_PARTS
    for css in parts["offscreen"]:
        text = _first_text(el, css)
        if text:
            return text
    for split in parts["split"]:
        whole = re.sub(r"\D", "", _first_text(el, split["whole"]))
        fraction = re.sub(r"\D", "", _first_text(el, split["fraction"]))
        if whole:
            symbol = _first_text(el, split["symbol"])
            number = f"{whole}{market.decimal_sep}{fraction}" if fraction else whole
            return f"{symbol} {number}"
    return _visible_text(el)


def _money_at(root: _Page, table: list[dict[str, str]], market: Market) -> Money | None:
    """First element of ``table`` holding exactly one amount. A range in the
    winning element means there is no single price."""
    for css in _csses(table):
        for el in root.css(css):
            text = _price_text(el, market)
            if is_price_range(text):
                return None
            money = parse_money(text, market)
            if money is not None:
                return money
    return None


# --- availability --------------------------------------------------------------------


def _availability(root: _Page) -> Availability:
    text = " ".join(
        _visible_text(el)
        for css in _csses(page_rules.AVAILABILITY_SELECTORS)
        for el in root.css(css)
    ).lower()
    if any(phrase in text for phrase in _OUT_OF_STOCK):
        return Availability.OUT_OF_STOCK
    if any(phrase in text for phrase in _PRE_ORDER):
        return Availability.UNKNOWN
    if any(phrase in text for phrase in _IN_STOCK):
        return Availability.IN_STOCK
    if _any(root, page_rules.CHOOSE_VARIATION_SELECTORS):
        return Availability.UNKNOWN
    if _any(root, page_rules.PURCHASE_BUTTON_SELECTORS):
        return Availability.IN_STOCK
    return Availability.UNKNOWN


# --- entry point -------------------------------------------------------------------


def _market_from_page(root: _Page) -> Market | None:
    for href in root.values("link[rel='canonical']::attr(href)"):
        market = market_for_url(href.strip())
        if market is not None:
            return market
    return None


def parse_page(body: bytes, url: str) -> ParsedPage:
    """Parse one fetched page. Never raises: unreadable input is ``other``.

    ``url`` only names the marketplace (its home URL is enough); when it is
    not an Amazon URL the page's canonical link is tried instead.
    """
    market = market_for_url(url)
    decoded = _decode(body)
    if decoded is None:
        return ParsedPage(page_kind=PageKind.OTHER, market=market.code if market else None)
    root = _Page(decoded)
    market = market or _market_from_page(root)
    code = market.code if market else None
    if _is_captcha(root):
        return ParsedPage(page_kind=PageKind.CAPTCHA, market=code)
    asin = _asin(root, page_rules.ASIN_SELECTORS)
    title = _title(root)
    if asin is None or title is None:
        kind = PageKind.NOT_FOUND if _is_not_found(root) else PageKind.OTHER
        return ParsedPage(page_kind=kind, market=code, asin=asin, title=title)
    availability = _availability(root)
    price = list_price = None
    if market is not None and availability is not Availability.OUT_OF_STOCK:
        ranged = _any(root, page_rules.RANGE_SELECTORS)
        if not ranged:
            price = _money_at(root, page_rules.PRICE_SELECTORS, market)
        if price is not None:
            list_price = _money_at(root, page_rules.LIST_PRICE_SELECTORS, market)
            # a "list price" at or below the price is another offer's price
            if list_price is not None and (
                list_price.currency != price.currency or list_price.minor <= price.minor
            ):
                list_price = None
    return ParsedPage(
        page_kind=PageKind.PRODUCT,
        market=code,
        asin=asin,
        offer_asin=_asin(root, page_rules.OFFER_ASIN_SELECTORS) or asin,
        title=title,
        price=price,
        list_price=list_price,
        availability=availability,
        image=_image(root),
    )
