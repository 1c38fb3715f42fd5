"""Offer summaries of a product page (rules: :mod:`pricewatch.page_rules.offers`).

Each summary link found in a container of this product is read as one unit:
the link itself when its own text carries the price ("19 Used from CDN$ 22.46",
"New (10) from AED330.00"), else its parent ("<a>28 new</a> from <span>£6.99</span>").
A unit gives a price, a count and a kind; the used sections of the buy box
add used prices. Each field is the lowest price of its kind.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from crawler.parsing.document import Document, Node, text_of, within
from crawler.parsing.units import is_unit_amount, without_unit_price
from pricewatch.markets import Market
from pricewatch.money import Money, currency_in_text, parse_money
from pricewatch.page_rules import offers as rules
from pricewatch.page_rules.rule import csses, phrases

Kind = Literal["new", "used", "all"]


class Offers(msgspec.Struct, frozen=True):
    new_from: Money | None = None
    new_count: int | None = None
    used_from: Money | None = None
    used_and_new_from: Money | None = None


_CONDITION_RE = re.compile(rules.LINK_CONDITION_PATTERN, re.I)
_NUMBER_RE = re.compile(rules.NUMBER_PATTERN)
_CENTS_RE = re.compile(rules.CENTS_PATTERN)
# what may not touch a Latin-script condition word for it to be a whole word
_LATIN_RE = re.compile(r"[a-zà-ɏ0-9]", re.I)
_DIGIT_RE = re.compile(r"\d")
_GROUP_SEP_RE = re.compile(r"[., ]")
_LINK_KINDS: dict[str, Kind] = {"new": "new", "used": "used", "all": "all"}


_GRADES = phrases(rules.CONDITION_GRADE_PHRASES)
_WORDS = {kind: phrases(table) for kind, table in rules.OFFER_CONDITION_PHRASES.items()}
_LINK_CSS = csses(rules.OFFER_LINK_SELECTORS)
_USED_CSS = csses(rules.USED_SECTION_SELECTORS)
_PRICE_CSS = csses(rules.OFFER_PRICE_SELECTORS)


def _has_word(text: str, phrases: list[str]) -> bool:
    """A phrase occurs in ``text`` as a whole word ("new" but not "renewed");
    in scripts without spaces between words it may occur anywhere."""
    for phrase in phrases:
        latin = bool(_LATIN_RE.match(phrase[0]) and _LATIN_RE.match(phrase[-1]))
        start = text.find(phrase)
        while start >= 0:
            end = start + len(phrase)
            before = text[start - 1] if start else " "
            after = text[end] if end < len(text) else " "
            if not latin or not (_LATIN_RE.match(before) or _LATIN_RE.match(after)):
                return True
            start = text.find(phrase, start + 1)
    return False


def _kind(text: str, href: str) -> Kind | None:
    """Condition words in the text win; when it names none, the link's
    ``condition=`` decides. Renewed and collectible offers are no kind."""
    low = text.lower()
    for grade in _GRADES:
        low = low.replace(grade, " ")
    if _has_word(low, _WORDS["other"]):
        return None
    new, used = _has_word(low, _WORDS["new"]), _has_word(low, _WORDS["used"])
    if new and used:
        return "all"
    if new or used:
        return "new" if new else "used"
    found = _CONDITION_RE.search(href)
    return _LINK_KINDS.get(found.group(1).lower()) if found else None


def _price(node: Node, market: Market) -> tuple[Money | None, str]:
    """The first price element's amount, and the node's text without it."""
    text = text_of(node)
    for css in _PRICE_CSS:
        for element in within(node, css):
            if is_unit_amount(element):
                continue
            money = parse_money(without_unit_price(text_of(element)), market)
            if money is None:
                continue
            # the whole a-price goes: its hidden copy and the visible split one
            parent = element.parent
            classes = (parent.attributes.get("class") or "") if parent is not None else ""
            holder = parent if parent is not None and "a-price" in classes else element
            return money, text.replace(text_of(holder), " ").replace(text_of(element), " ")
    return None, text


def _count(text: str, market: Market) -> tuple[int | None, str]:
    """The first whole number that is not an amount ("(10)", "28 new",
    "outras 2 ofertas", "1.033" on amazon.com.br), and the text without it."""
    for found in _NUMBER_RE.finditer(text):
        number = found.group(0)
        groups = _GROUP_SEP_RE.split(number)
        if len(groups) > 1 and (
            market.decimal_sep in number or any(len(group) != 3 for group in groups[1:])
        ):
            continue  # "79.99", "107,46": an amount
        before, after = text[max(0, found.start() - 4) : found.start()], text[found.end() :][:4]
        around = f"{before} {after}"
        if currency_in_text(around, market):
            continue  # "￥1,280", "300 TL": an amount without cents
        return int("".join(groups)), f"{text[: found.start()]} {text[found.end() :]}"
    return None, text


def _read(node: Node, market: Market) -> tuple[Money | None, int | None, bool]:
    """(price, count, whether the text holds digits besides the count)."""
    money, rest = _price(node, market)
    count, rest = _count(rest, market)
    if money is None and (currency_in_text(rest, market) or _CENTS_RE.search(rest)):
        money = parse_money(rest, market)  # a bare "19 Used from CDN$ 22.46"
    return money, count, money is not None or bool(_DIGIT_RE.search(rest))


def _unit(link: Node, market: Market) -> Node:
    """The link when its text holds the price, else its parent, unless the
    parent holds another summary link too (then the link alone, priceless:
    better no value than a used price read as new)."""
    parent = link.parent
    if parent is None or _read(link, market)[2]:
        return link
    hrefs = {a.attributes.get("href") for a in within(parent, "a[href*='offer-listing']")}
    return parent if len(hrefs) <= 1 else link


class _Lowest:
    """The lowest price seen of each kind, with the count shown beside it."""

    def __init__(self) -> None:
        self.best: dict[Kind, tuple[Money, int | None]] = {}

    def see(self, kind: Kind | None, money: Money | None, count: int | None) -> None:
        if kind is None or money is None:
            return
        held = self.best.get(kind)
        if held is None or money.minor < held[0].minor:
            self.best[kind] = (money, count)
        elif money.minor == held[0].minor and held[1] is None:
            self.best[kind] = (money, count)  # the same price, now with its count

    def money(self, kind: Kind) -> Money | None:
        held = self.best.get(kind)
        return held[0] if held else None


def read_offers(doc: Document, market: Market) -> Offers:
    lowest = _Lowest()
    for css in _LINK_CSS:
        for link in doc.css(css):
            unit = _unit(link, market)
            money, count, _ = _read(unit, market)
            lowest.see(_kind(text_of(unit), link.attributes.get("href") or ""), money, count)
    for css in _USED_CSS:
        for section in doc.css(css):
            lowest.see("used", _price(section, market)[0], None)
    new = lowest.best.get("new")
    return Offers(
        new_from=new[0] if new else None,
        new_count=new[1] if new else None,
        used_from=lowest.money("used"),
        used_and_new_from=lowest.money("all"),
    )
