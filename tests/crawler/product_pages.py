"""Minimal hand-written product pages for the parser's rule-family tests.

A page is an identity (hidden ASIN field and title, so the parser treats it
as a product) plus the markup under test; nothing else is on it.
"""

from __future__ import annotations

from crawler.parsing import PageKind, ParsedPage, parse_page

ASIN = "B0TEST0100"


def product_page(body: str, *, lang: str = "en") -> bytes:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>Test product</title></head><body>"
        f'<div id="dp"><input type="hidden" name="ASIN" value="{ASIN}">'
        f'<div id="centerCol"><span id="productTitle">Test product</span></div>'
        f"{body}</div></body></html>"
    ).encode()


def parse(body: str, domain: str, *, lang: str = "en") -> ParsedPage:
    """``body`` on a product page of the marketplace at ``domain`` ("amazon.de")."""
    page = parse_page(product_page(body, lang=lang), f"https://www.{domain}/")
    assert page.page_kind is PageKind.PRODUCT
    assert page.asin == ASIN
    return page
