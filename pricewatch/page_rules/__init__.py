"""Declarative extraction rules for Amazon product pages.

Two readers apply them: the crawler's parser (``crawler/parsing/``) and the
browser extension's port of it (``extension/src/parse.js``). They live here, in
the shared core, because neither app may import the other. Plain data only
(strings, lists, dicts) so that the extension can carry a literal copy: its build
bundles :func:`as_dict` (``extension/scripts/export_rules.py``).
Each list is ORDERED: the first rule that yields a value wins. Every entry says
why it exists and which layout era it serves, so that a layout change can be
met by adding a rule rather than by rewriting code. Selector rules are written
as (selector, why) pairs; both readers get them as ``{"css": ..., "why": ...}``.

Selectors are CSS that Lexbor (the crawler's engine) and
``document.querySelectorAll`` both read; a selector may end in parsel's
``::attr(name)`` to mean that attribute's value. Phrases are matched
case-insensitively on text with whitespace collapsed. Patterns are regular
expressions in the syntax Python and JavaScript share (numbered groups, no
lookbehind), matched case-insensitively.

One module per question a page answers: :mod:`.kind`, :mod:`.identity`,
:mod:`.price`, :mod:`.availability`, :mod:`.offers`, :mod:`.rank`,
:mod:`.seller`, :mod:`.reviews`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from pricewatch.page_rules import availability, identity, kind, offers, price, rank, reviews, seller
from pricewatch.page_rules.availability import (
    AVAILABILITY_SELECTORS,
    IN_STOCK_PHRASES,
    OUT_OF_STOCK_PHRASES,
    PRE_ORDER_PHRASES,
    PURCHASE_BUTTON_SELECTORS,
)
from pricewatch.page_rules.identity import (
    ASIN_IN_URL_PATTERN,
    ASIN_PATTERN,
    ASIN_SELECTORS,
    IMAGE_SELECTORS,
    IMAGE_URL_PATTERN,
    OFFER_ASIN_SELECTORS,
    TITLE_SELECTORS,
)
from pricewatch.page_rules.kind import (
    CAPTCHA_SELECTORS,
    CAPTCHA_TITLE_PHRASES,
    NOT_FOUND_PHRASES,
    NOT_FOUND_SELECTORS,
)
from pricewatch.page_rules.price import (
    CHOOSE_VARIATION_SELECTORS,
    LIST_PRICE_SELECTORS,
    PRICE_SELECTORS,
    PRICE_TEXT_PARTS,
    RANGE_SELECTORS,
    UNIT_AFTER_PATTERN,
    UNIT_PRICE_PATTERNS,
    UNIT_PRICE_SELECTORS,
    USED_BUYBOX_PRICE_SELECTORS,
)

__all__ = [
    "ASIN_IN_URL_PATTERN",
    "ASIN_PATTERN",
    "ASIN_SELECTORS",
    "AVAILABILITY_SELECTORS",
    "CAPTCHA_SELECTORS",
    "CAPTCHA_TITLE_PHRASES",
    "CHOOSE_VARIATION_SELECTORS",
    "IMAGE_SELECTORS",
    "IMAGE_URL_PATTERN",
    "IN_STOCK_PHRASES",
    "LIST_PRICE_SELECTORS",
    "NOT_FOUND_PHRASES",
    "NOT_FOUND_SELECTORS",
    "OFFER_ASIN_SELECTORS",
    "OUT_OF_STOCK_PHRASES",
    "PRE_ORDER_PHRASES",
    "PRICE_SELECTORS",
    "PRICE_TEXT_PARTS",
    "PURCHASE_BUTTON_SELECTORS",
    "RANGE_SELECTORS",
    "TITLE_SELECTORS",
    "UNIT_AFTER_PATTERN",
    "UNIT_PRICE_PATTERNS",
    "UNIT_PRICE_SELECTORS",
    "USED_BUYBOX_PRICE_SELECTORS",
    "as_dict",
]

_MODULES: tuple[ModuleType, ...] = (
    kind,
    identity,
    price,
    availability,
    offers,
    rank,
    seller,
    reviews,
)


def as_dict() -> dict[str, Any]:
    """Every rule as one JSON-ready mapping (for the browser extension)."""
    return {
        name.lower(): value
        for module in _MODULES
        for name, value in vars(module).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, (list, dict, str))
    }
