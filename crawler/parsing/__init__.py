"""Pure Amazon page parsing: ``parse_page(body, url) -> ParsedPage``."""

from crawler.parsing.page import PageKind, ParsedPage, parse_page

__all__ = ["PageKind", "ParsedPage", "parse_page"]
