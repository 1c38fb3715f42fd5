"""Unit prices are never prices (rules: the unit-price part of
:mod:`pricewatch.page_rules.price`).

Their containers are removed from the tree before anything is read (see
:func:`crawler.parsing.document.read_document`); what is left is judged here:
an amount followed at once by "/ kg" or "per 100 g", and price texts that
still name a unit.
"""

from __future__ import annotations

import re

from crawler.parsing.document import Node, collapse
from pricewatch.page_rules import price as rules
from pricewatch.page_rules.rule import csses

UNIT_CONTAINERS = ", ".join(csses(rules.UNIT_PRICE_SELECTORS))

_AFTER_RE = re.compile(rules.UNIT_AFTER_PATTERN, re.IGNORECASE)
_UNIT_RES = [re.compile(pattern, re.IGNORECASE) for pattern in rules.UNIT_PRICE_PATTERNS]
_PARENTHESISED_RE = re.compile(r"\([^()]*\)")


def _names_unit(text: str) -> bool:
    return any(pattern.search(text) for pattern in _UNIT_RES)


def without_unit_price(text: str) -> str | None:
    """``text`` with its parenthesised unit price dropped ("EUR 22,45 (EUR
    18,71 / kg)" -> "EUR 22,45"); ``None`` when what is left still names a unit."""
    text = _PARENTHESISED_RE.sub(
        lambda part: " " if _names_unit(part.group(0)) else part.group(0), text
    )
    text = collapse(text)
    return None if _names_unit(text) else text


def _classes(node: Node) -> list[str]:
    return (node.attributes.get("class") or "").split()


def is_unit_amount(element: Node) -> bool:
    """The element is the amount of a unit price: the text right after it
    (after its closest ``.a-price``) starts with a slash or a "per" word."""
    amount: Node | None = element
    node: Node | None = element
    while node is not None and node.tag != "html":
        if "a-price" in _classes(node):
            amount = node
            break
        node = node.parent
    after = amount.next if amount is not None else None
    while after is not None and after.is_text_node and not (after.text() or "").strip():
        after = after.next
    return after is not None and bool(_AFTER_RE.search(after.text(deep=True) or ""))
