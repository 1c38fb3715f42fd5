"""Pure Amazon product-page parser: ``parse_page(body, url) -> ParsedPage``.

No Scrapy, no I/O: the crawler and the verification path both call it with the
bytes they fetched. What to look for lives in :mod:`pricewatch.page_rules`;
this module only knows HOW to apply those rules. The URL serves one purpose:
naming the marketplace (number format, default currency). Nothing is read
from its path, because redirects and saved pages make it unreliable.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec

from crawler.parsing.details import read_details
from crawler.parsing.document import Document, Node, read_document, text_of, within
from crawler.parsing.offers import read_offers
from crawler.parsing.units import UNIT_CONTAINERS, is_unit_amount, without_unit_price
from pricewatch import page_rules
from pricewatch.markets import Market, market_for_url
from pricewatch.models import Availability
from pricewatch.money import Money, is_price_range, parse_money
from pricewatch.page_rules.rule import csses, phrases


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
    # the buy box offers a used copy (no new offer holds it): ``price`` is that copy's
    buybox_used: bool = False
    availability: Availability = Availability.UNKNOWN
    image_url: str | None = None
    # offer summaries: the lowest other new offer (and how many there are),
    # the lowest used copy, and "N used & new from" when the page lumps them
    new_offers_from: Money | None = None
    new_offers_count: int | None = None
    used_from: Money | None = None
    used_and_new_from: Money | None = None
    # the product's first (main) Best Sellers Rank and its category
    sales_rank: int | None = None
    sales_rank_category: str | None = None
    # the seller of the offer in the buy box
    sold_by: str | None = None
    # the average star rating in this marketplace and how many rated it
    rating: Decimal | None = None
    review_count: int | None = None


_ASIN_RE = re.compile(page_rules.ASIN_PATTERN)
_ASIN_IN_URL_RE = re.compile(page_rules.ASIN_IN_URL_PATTERN)
_IMAGE_URL_RE = re.compile(page_rules.IMAGE_URL_PATTERN, re.IGNORECASE)


_OUT_OF_STOCK = phrases(page_rules.OUT_OF_STOCK_PHRASES)
_PRE_ORDER = phrases(page_rules.PRE_ORDER_PHRASES)
_IN_STOCK = phrases(page_rules.IN_STOCK_PHRASES)


# --- page kind -------------------------------------------------------------------


def _is_captcha(doc: Document) -> bool:
    if doc.any(csses(page_rules.CAPTCHA_SELECTORS)):
        return True
    title = doc.head_title()
    return any(phrase in title for phrase in page_rules.CAPTCHA_TITLE_PHRASES)


def _is_not_found(doc: Document) -> bool:
    if doc.any(csses(page_rules.NOT_FOUND_SELECTORS)):
        return True
    title = doc.head_title()
    if any(phrase in title for phrase in page_rules.NOT_FOUND_PHRASES):
        return True
    body = doc.css("body")
    text = text_of(body[0]).lower()[:5000] if body else ""
    return any(phrase in text for phrase in page_rules.NOT_FOUND_PHRASES)


# --- identity ----------------------------------------------------------------------


def _asin(doc: Document, table: list[dict[str, str]]) -> str | None:
    for css in csses(table):
        for value in doc.values(css):
            value = value.strip()
            if _ASIN_RE.match(value):
                return value
            found = _ASIN_IN_URL_RE.search(value)
            if found:
                return found.group(1)
    return None


def _title(doc: Document) -> str | None:
    for css in csses(page_rules.TITLE_SELECTORS):
        for el in doc.css(css):
            text = text_of(el)
            if text:
                return text
    return None


def _image(doc: Document) -> str | None:
    for css in csses(page_rules.IMAGE_SELECTORS):
        for value in doc.values(css):
            found = _IMAGE_URL_RE.search(value)
            if found:
                return found.group(1)
    return None


# --- prices ------------------------------------------------------------------------


def _first_text(el: Node, css: str) -> str:
    for part in within(el, css):
        text = text_of(part)
        if text:
            return text
    return ""


def _price_text(el: Node, market: Market) -> str:
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
    return text_of(el)


def _money_at(doc: Document, table: list[dict[str, str]], market: Market) -> Money | None:
    """First element of ``table`` holding exactly one amount. A range in the
    winning element means there is no single price."""
    for css in csses(table):
        for el in doc.css(css):
            if is_unit_amount(el):
                continue
            text = without_unit_price(_price_text(el, market))
            if text is None:
                continue
            if is_price_range(text):
                return None
            money = parse_money(text, market)
            if money is not None:
                return money
    return None


# --- availability --------------------------------------------------------------------


def _availability(doc: Document) -> Availability:
    text = " ".join(
        text_of(el) for css in csses(page_rules.AVAILABILITY_SELECTORS) for el in doc.css(css)
    ).lower()
    if any(phrase in text for phrase in _OUT_OF_STOCK):
        return Availability.OUT_OF_STOCK
    if any(phrase in text for phrase in _PRE_ORDER):
        return Availability.UNKNOWN
    if any(phrase in text for phrase in _IN_STOCK):
        return Availability.IN_STOCK
    if doc.any(csses(page_rules.CHOOSE_VARIATION_SELECTORS)):
        return Availability.UNKNOWN
    if doc.any(csses(page_rules.PURCHASE_BUTTON_SELECTORS)):
        return Availability.IN_STOCK
    return Availability.UNKNOWN


# --- entry point -------------------------------------------------------------------


def _market_from_page(doc: Document) -> Market | None:
    for href in doc.values("link[rel='canonical']::attr(href)"):
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
    doc = read_document(body, drop=UNIT_CONTAINERS)
    if doc is None:
        return ParsedPage(page_kind=PageKind.OTHER, market=market.code if market else None)
    market = market or _market_from_page(doc)
    code = market.code if market else None
    if _is_captcha(doc):
        return ParsedPage(page_kind=PageKind.CAPTCHA, market=code)
    asin = _asin(doc, page_rules.ASIN_SELECTORS)
    title = _title(doc)
    if asin is None or title is None:
        kind = PageKind.NOT_FOUND if _is_not_found(doc) else PageKind.OTHER
        return ParsedPage(page_kind=kind, market=code, asin=asin, title=title)
    availability = _availability(doc)
    price = list_price = None
    buybox_used = False
    if market is not None and availability is not Availability.OUT_OF_STOCK:
        ranged = doc.any(csses(page_rules.RANGE_SELECTORS))
        if not ranged:
            price = _money_at(doc, page_rules.PRICE_SELECTORS, market)
            if price is None:
                price = _money_at(doc, page_rules.USED_BUYBOX_PRICE_SELECTORS, market)
                buybox_used = price is not None
        if price is not None:
            list_price = _money_at(doc, page_rules.LIST_PRICE_SELECTORS, market)
            # a "list price" at or below the price is another offer's price
            if list_price is not None and (
                list_price.currency != price.currency or list_price.minor <= price.minor
            ):
                list_price = None
    return ParsedPage(
        page_kind=PageKind.PRODUCT,
        market=code,
        asin=asin,
        offer_asin=_asin(doc, page_rules.OFFER_ASIN_SELECTORS) or asin,
        title=title,
        price=price,
        list_price=list_price,
        buybox_used=buybox_used,
        availability=availability,
        image_url=_image(doc),
        **_offer_fields(doc, market),
        **msgspec.structs.asdict(read_details(doc)),
    )


def _offer_fields(doc: Document, market: Market | None) -> dict[str, Any]:
    if market is None:
        return {}
    offers = read_offers(doc, market)
    return {
        "new_offers_from": offers.new_from,
        "new_offers_count": offers.new_count,
        "used_from": offers.used_from,
        "used_and_new_from": offers.used_and_new_from,
    }
