"""What a product page says about the product besides its prices: its main
sales rank, the buy-box seller, its star rating and review count.

Rules: :mod:`pricewatch.page_rules.rank`, :mod:`.seller`, :mod:`.reviews`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import msgspec

from crawler.parsing.document import Document, Node, collapse, text_of, within
from pricewatch.page_rules import rank, reviews, seller
from pricewatch.page_rules.rule import csses, phrases

# Patterns are matched case-insensitively by both readers; rows are collapsed
# text, so "." needs no DOTALL.
_FLAGS = re.IGNORECASE
T = TypeVar("T")
_ATTR_RE = re.compile(r"::attr\(([\w-]+)\)\s*$")
_NOT_DIGIT_RE = re.compile(r"\D")
# Arabic-Indic digits as ASCII ones (amazon.sa, amazon.eg)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


class Details(msgspec.Struct, frozen=True):
    sales_rank: int | None = None
    sales_rank_category: str | None = None
    sold_by: str | None = None
    rating: Decimal | None = None
    review_count: int | None = None


# the labels as one pattern: lower-casing "İ" would shift indices, a match does not
_RANK_LABEL_RE = re.compile(
    "|".join(re.escape(label) for label in phrases(rank.SALES_RANK_LABELS)), _FLAGS
)
_RANK_PATTERNS = [
    (re.compile(rule["re"], _FLAGS), rule["rank"], rule["category"])
    for rule in rank.SALES_RANK_PATTERNS
]
_SELLER_LABELS = set(phrases(seller.SOLD_BY_LABELS))
_SELLER_PATTERNS = [re.compile(pattern, _FLAGS) for pattern in phrases(seller.SOLD_BY_PATTERNS)]
_RATING_PATTERNS = [re.compile(pattern) for pattern in reviews.RATING_PATTERNS]
_COUNT_RE = re.compile(reviews.REVIEW_COUNT_PATTERN)


def _clean(value: str | None) -> str | None:
    value = collapse(value or "").rstrip(".").strip()
    return value or None


def _values(scope: Node, css: str) -> list[str]:
    """Non-empty texts (or attribute values, for ``::attr(name)``) within ``scope``."""
    attr = _ATTR_RE.search(css)
    if attr is None:
        return [text for node in within(scope, css) if (text := text_of(node))]
    found = (node.attributes.get(attr.group(1)) for node in within(scope, css[: attr.start()]))
    return [value for value in found if value]


# --- sales rank ----------------------------------------------------------------------


def _sales_rank(doc: Document) -> tuple[int | None, str | None]:
    for css in csses(rank.SALES_RANK_ROWS):
        for row in doc.css(css):
            text = text_of(row)
            label = _RANK_LABEL_RE.search(text)
            if label is None:
                continue
            rest = text[label.end() :]
            for pattern, rank_group, category_group in _RANK_PATTERNS:
                found = pattern.search(rest)
                if found:
                    digits = _NOT_DIGIT_RE.sub("", found.group(rank_group).translate(_DIGITS))
                    return int(digits), _clean(found.group(category_group))
    return None, None


# --- seller ----------------------------------------------------------------------------


def _seller_scope(doc: Document) -> Callable[[str], list[Node]]:
    """How to find elements in the offer shown: within its accordion row if
    the buy box has one, else anywhere on the page."""
    for css in csses(seller.SOLD_BY_SCOPES):
        rows = doc.css(css)
        if rows:
            return lambda css: within(rows[0], css)
    return doc.css


def _sold_by(doc: Document) -> str | None:
    find = _seller_scope(doc)
    for css in csses(seller.SOLD_BY_NAMES):
        for node in find(css):
            if name := _clean(text_of(node)):
                return name
    for rule in seller.SOLD_BY_LABELLED:
        for node in find(rule["css"]):
            label = collapse(node.attributes.get(rule["label_attr"]) or "").lower()
            if label in _SELLER_LABELS and (name := _clean(text_of(node))):
                return name
    for css in csses(seller.SOLD_BY_SENTENCES):
        for node in find(css):
            text = text_of(node)
            for pattern in _SELLER_PATTERNS:
                found = pattern.search(text)
                if found and (name := _clean(found.group(1))):
                    return name
    return None


# --- rating and review count -----------------------------------------------------------


def _rating(text: str) -> Decimal | None:
    for pattern in _RATING_PATTERNS:
        found = pattern.search(text)
        if found:
            value = Decimal(".".join(found.groups()))
            return value if 0 < value <= 5 else None
    return None


def _count(text: str) -> int | None:
    found = _COUNT_RE.search(text)
    return (int(_NOT_DIGIT_RE.sub("", found.group(1))) or None) if found else None


def _first(block: Node, table: list[dict[str, str]], read: Callable[[str], T | None]) -> T | None:
    """The first value any selector of ``table`` yields in ``block`` that ``read`` accepts."""
    for css in csses(table):
        for value in _values(block, css):
            found = read(value)
            if found is not None:
                return found
    return None


def _rating_and_count(doc: Document) -> tuple[Decimal | None, int | None]:
    for css in csses(reviews.RATING_BLOCKS):
        for block in doc.css(css):
            rating = _first(block, reviews.RATING_VALUE_SELECTORS, _rating)
            if rating is not None:
                return rating, _first(block, reviews.REVIEW_COUNT_SELECTORS, _count)
    return None, None


def read_details(doc: Document) -> Details:
    sales_rank, category = _sales_rank(doc)
    rating, review_count = _rating_and_count(doc)
    return Details(
        sales_rank=sales_rank,
        sales_rank_category=category,
        sold_by=_sold_by(doc),
        rating=rating,
        review_count=review_count,
    )
