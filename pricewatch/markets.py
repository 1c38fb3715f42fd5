"""Amazon marketplaces: domain, currency, minor-unit exponent, number format.

A market code (``us``, ``de``...) is what travels everywhere inside; domains
and home URLs are derived here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

# Best sellers and new releases: the listings that surface products nobody tracks yet.
LISTING_PATHS = ("gp/bestsellers/", "gp/new-releases/")


@dataclasses.dataclass(frozen=True)
class Market:
    code: str
    domain: str
    currency: str
    # Minor units per major unit are 10**exponent (JPY has none, most have cents).
    exponent: int
    decimal_sep: str
    group_sep: str
    language: str

    @property
    def home_url(self) -> str:
        return f"https://www.{self.domain}/"

    def product_url(self, asin: str) -> str:
        return f"https://www.{self.domain}/dp/{asin}"

    @property
    def listing_urls(self) -> tuple[str, ...]:
        """Where the marketplace lists products worth discovering (first pages;
        the crawler follows the next ones)."""
        return tuple(self.home_url + path for path in LISTING_PATHS)

    def to_minor(self, major: str) -> int:
        """Decimal string in major units ("12.34") -> integer minor units."""
        from decimal import Decimal

        return int((Decimal(major) * (10**self.exponent)).to_integral_value())

    def to_major(self, minor: int) -> str:
        """Integer minor units -> canonical decimal string ("12.34")."""
        if self.exponent == 0:
            return str(minor)
        sign = "-" if minor < 0 else ""
        whole, frac = divmod(abs(minor), 10**self.exponent)
        return f"{sign}{whole}.{frac:0{self.exponent}d}"


# French and Polish group with a (narrow) no-break space; the parser accepts
# any space there, the value below is what the site prints.
_MARKETS = [
    Market("us", "amazon.com", "USD", 2, ".", ",", "en"),
    Market("uk", "amazon.co.uk", "GBP", 2, ".", ",", "en"),
    Market("de", "amazon.de", "EUR", 2, ",", ".", "de"),
    Market("fr", "amazon.fr", "EUR", 2, ",", "\u202f", "fr"),
    Market("it", "amazon.it", "EUR", 2, ",", ".", "it"),
    Market("es", "amazon.es", "EUR", 2, ",", ".", "es"),
    Market("nl", "amazon.nl", "EUR", 2, ",", ".", "nl"),
    Market("be", "amazon.com.be", "EUR", 2, ",", ".", "fr"),
    Market("ca", "amazon.ca", "CAD", 2, ".", ",", "en"),
    Market("mx", "amazon.com.mx", "MXN", 2, ".", ",", "es"),
    Market("br", "amazon.com.br", "BRL", 2, ",", ".", "pt"),
    Market("jp", "amazon.co.jp", "JPY", 0, ".", ",", "ja"),
    Market("in", "amazon.in", "INR", 2, ".", ",", "en"),
    Market("au", "amazon.com.au", "AUD", 2, ".", ",", "en"),
    Market("ae", "amazon.ae", "AED", 2, ".", ",", "en"),
    Market("sa", "amazon.sa", "SAR", 2, ".", ",", "ar"),
    Market("tr", "amazon.com.tr", "TRY", 2, ",", ".", "tr"),
    Market("se", "amazon.se", "SEK", 2, ",", "\u00a0", "sv"),
    Market("pl", "amazon.pl", "PLN", 2, ",", "\u00a0", "pl"),
    Market("sg", "amazon.sg", "SGD", 2, ".", ",", "en"),
    Market("eg", "amazon.eg", "EGP", 2, ".", ",", "ar"),
]

MARKETS: dict[str, Market] = {m.code: m for m in _MARKETS}
_BY_DOMAIN: dict[str, Market] = {m.domain: m for m in _MARKETS}


class UnknownMarket(ValueError):
    pass


def get_market(code: str) -> Market:
    try:
        return MARKETS[code]
    except KeyError:
        raise UnknownMarket(f"unknown market {code!r}; known: {', '.join(MARKETS)}") from None


def market_for_host(host: str) -> Market | None:
    """``www.amazon.de`` / ``smile.amazon.com`` / ``amazon.co.uk`` -> Market."""
    host = host.lower().rstrip(".")
    if ":" in host:
        host = host.split(":", 1)[0]
    parts = host.split(".")
    # the registrable Amazon domain is the suffix starting at the "amazon" label
    for i, label in enumerate(parts):
        if label == "amazon":
            return _BY_DOMAIN.get(".".join(parts[i:]))
    return None


def market_for_url(url: str) -> Market | None:
    """The marketplace whose site ``url`` is on; None for any other, and for text that
    is no URL (a page or a visitor may give anything: ``urlsplit`` refuses a host
    with an unbalanced bracket, for one)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return market_for_host(host or "")
