"""Money as it is printed on marketplace pages <-> integer minor units.

Inside the project a price is ``(minor units, ISO currency)``; text exists only
at the edges. Reading relies on ``price_parser`` for locating the amount, with
the marketplace's decimal separator as the hint, because "1.299" means one
thousand two hundred and ninety-nine on amazon.de but not on amazon.com.
The currency comes from the symbol when it names exactly one currency and
from the marketplace otherwise ("$" on amazon.com.mx is pesos).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from price_parser import Price

from pricewatch.markets import MARKETS, Market

__all__ = [
    "CURRENCY_SYMBOLS",
    "DOLLAR_CURRENCIES",
    "ISO_CURRENCY_CODES",
    "WORD_CURRENCY_SYMBOLS",
    "Money",
    "currency_affixes",
    "exponent_of",
    "format_money",
    "format_price",
    "is_price_range",
    "parse_money",
    "parse_price_exactly",
    "to_major",
]


@dataclass(frozen=True)
class Money:
    minor: int
    currency: str


# Minor-unit exponents for every currency a marketplace uses (JPY has none).
_EXPONENTS: dict[str, int] = {m.currency: m.exponent for m in MARKETS.values()}
# The home marketplace of each currency: how a foreign price is written
# ("EUR 5,29" on amazon.co.uk keeps the euro decimal comma).
_MARKET_BY_CURRENCY: dict[str, Market] = {}
for _m in MARKETS.values():
    _MARKET_BY_CURRENCY.setdefault(_m.currency, _m)

# The four currency tables below are public: the browser extension's build exports
# them (extension/scripts/export_rules.py), so both readers of a price agree.

# Currencies whose own marketplace prints a bare "$"; anywhere else "$" is USD.
DOLLAR_CURRENCIES = frozenset({"USD", "CAD", "AUD", "MXN", "SGD"})

# Symbols that name exactly one currency, longest first so that "CDN$" wins
# over "$" and "R$" over "$".
CURRENCY_SYMBOLS: list[tuple[str, str]] = sorted(
    [
        ("CDN$", "CAD"),
        ("CA$", "CAD"),
        ("C$", "CAD"),
        ("AU$", "AUD"),
        ("A$", "AUD"),
        ("MX$", "MXN"),
        ("SG$", "SGD"),
        ("S$", "SGD"),
        ("US$", "USD"),
        ("R$", "BRL"),
        ("€", "EUR"),
        ("£", "GBP"),
        ("₹", "INR"),
        ("Rs.", "INR"),
        ("¥", "JPY"),
        ("￥", "JPY"),
        ("円", "JPY"),
        ("₺", "TRY"),
        ("zł", "PLN"),
        ("د.إ", "AED"),
        ("ر.س", "SAR"),
        ("ج.م", "EGP"),
        ("E£", "EGP"),
    ],
    key=lambda pair: -len(pair[0]),
)
# Word-like symbols, matched case-insensitively as whole words only.
WORD_CURRENCY_SYMBOLS: dict[str, str] = {"TL": "TRY", "KR": "SEK", "YTL": "TRY"}
# ISO codes printed as text ("EUR 12,50", "AED 330.00"): every marketplace
# currency plus a few that show up in cross-border offers.
ISO_CURRENCY_CODES = frozenset(_EXPONENTS) | {"CHF", "CNY", "DKK", "NOK", "CZK", "HUF"}
_WORD_RE = re.compile(r"(?<![A-Za-z])([A-Za-z]{2,3})(?![A-Za-z])")

# Arabic-Indic digits and separators as printed on amazon.sa / .eg / .ae.
_ARABIC = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬", "01234567890123456789.,")
# Two amounts joined by a dash (Amazon prints ranges as "$10.99 - $24.99" in
# every language): a variation parent's span, not a price.
_RANGE_RE = re.compile(r"\d\s?[^\d\s]{0,5}\s?[-\u2010-\u2015]\s?[^\d\s]{0,5}\s?\d")


def exponent_of(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (JPY 0, the others 2)."""
    return _EXPONENTS.get(currency, 2)


def to_major(money: Money) -> Decimal:
    """``Money(1299, "EUR")`` -> ``Decimal("12.99")``."""
    return Decimal(money.minor).scaleb(-exponent_of(money.currency))


def currency_in_text(text: str, market: Market | None = None) -> str | None:
    """The currency a price text names, or ``None`` when it names none."""
    for symbol, code in CURRENCY_SYMBOLS:
        if symbol in text:
            return code
    for match in _WORD_RE.finditer(text):
        word = match.group(1).upper()
        if word in ISO_CURRENCY_CODES and match.group(1).isupper():
            return word
        if word in WORD_CURRENCY_SYMBOLS:
            return WORD_CURRENCY_SYMBOLS[word]
    if "$" in text:
        if market is not None and market.currency in DOLLAR_CURRENCIES:
            return market.currency
        return "USD"
    return None


def is_price_range(text: str) -> bool:
    """True for "$10.99 - $24.99": a variation parent's span, not one price."""
    return bool(_RANGE_RE.search(_normalise(text)))


def _normalise(text: str) -> str:
    # every flavour of space (NBSP, narrow NBSP, thin space) becomes a plain one
    return re.sub(r"\s+", " ", text.translate(_ARABIC)).strip()


def _amount(text: str, decimal_sep: str) -> Decimal | None:
    amount = Price.fromstring(text, decimal_separator=decimal_sep).amount
    return amount if isinstance(amount, Decimal) else None


def parse_money(text: str | None, market: Market) -> Money | None:
    """Read one price in ``market``'s format; ``None`` when ``text`` holds no
    single amount (empty, no digits, or a range such as "$10.99 - $24.99")."""
    if not text:
        return None
    clean = _normalise(text)
    if not any(ch.isdigit() for ch in clean) or _RANGE_RE.search(clean):
        return None
    currency = currency_in_text(clean, market) or market.currency
    exponent = _EXPONENTS.get(currency, 2)
    if currency != market.currency:
        market = _MARKET_BY_CURRENCY.get(currency, market)
    amount = _amount(clean, market.decimal_sep)
    if amount is None:
        return None
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        # More fraction digits than the currency has ("¥1.299", "1,299 €"
        # without cents): the separator was grouping thousands after all.
        other = "," if market.decimal_sep == "." else "."
        retry = _amount(clean, other)
        if retry is None:
            return None
        scaled = retry.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            return None
    try:
        minor = int(scaled)
    except (InvalidOperation, ValueError, OverflowError):
        return None
    if minor < 0:
        return None
    return Money(minor, currency)


# What may surround the amount of a price typed or copied by someone: currency
# symbols and codes, longest first, so that "CDN$" is taken whole.
_CURRENCY_TOKENS = sorted(
    {sym for sym, _ in CURRENCY_SYMBOLS}
    | set(WORD_CURRENCY_SYMBOLS)
    | ISO_CURRENCY_CODES
    | {"$", "kr", "TL"},
    key=len,
    reverse=True,
)
# The amount itself: digits and the separators marketplaces print between them.
_PLAIN_AMOUNT = re.compile(r"\d[\d.,' \u2019]*")


def _strip_currency(text: str) -> str:
    text = text.strip()
    changed = True
    while changed and text:
        changed = False
        for token in _CURRENCY_TOKENS:
            if text.startswith(token):
                text, changed = text[len(token) :].strip(), True
            if text.endswith(token):
                text, changed = text[: -len(token)].strip(), True
    return text


def parse_price_exactly(text: str, market: Market) -> Money | None:
    """Like :func:`parse_money`, for text someone typed or sent rather than a page.

    Pages surround prices with words, so :func:`parse_money` looks for the amount
    inside; that same leniency would read "-5.00" as 5.00 and "1e308" as 1.00. Here
    the text must be an amount, with at most a currency before or after it: no sign,
    no exponent, no other words. None when it is not exactly a price.
    """
    if not text:
        return None
    clean = _normalise(text)
    if not _PLAIN_AMOUNT.fullmatch(_strip_currency(clean)):
        return None
    return parse_money(clean, market)


# How each currency is written in e-mails and on the website: the symbol the
# marketplace prints, made unambiguous where several share "$".
_FORMATS: dict[str, tuple[str, str]] = {
    "USD": ("$", ""),
    "CAD": ("CDN$\u00a0", ""),
    "AUD": ("A$", ""),
    "MXN": ("MX$", ""),
    "SGD": ("S$", ""),
    "GBP": ("£", ""),
    "EUR": ("", "\u00a0€"),
    "JPY": ("¥", ""),
    "INR": ("₹", ""),
    "BRL": ("R$\u00a0", ""),
    "AED": ("AED\u00a0", ""),
    "SAR": ("SAR\u00a0", ""),
    "EGP": ("EGP\u00a0", ""),
    "TRY": ("", "\u00a0TL"),
    "SEK": ("", "\u00a0kr"),
    "PLN": ("", "\u00a0zł"),
}


def group_digits(whole: str, group_sep: str, indian: bool = False) -> str:
    """Insert ``group_sep`` every three digits (2-2-3 for Indian lakh/crore)."""
    if len(whole) <= 3:
        return whole
    head, tail = whole[:-3], whole[-3:]
    size = 2 if indian else 3
    groups: list[str] = []
    while head:
        groups.insert(0, head[-size:])
        head = head[:-size]
    return group_sep.join([*groups, tail])


def currency_affixes(currency: str) -> tuple[str, str]:
    """What :func:`format_money` writes before and after the number of ``currency``
    (the website's scripts format money with it too)."""
    return _FORMATS.get(currency, (f"{currency}\u00a0", ""))


def format_money(minor: int, currency_or_market: str | Market) -> str:
    """Minor units -> display text, e.g. ``format_money(129900, get_market("de"))``
    gives "1.299,00 €" (with a no-break space before the symbol)."""
    if isinstance(currency_or_market, Market):
        market = currency_or_market
        currency = market.currency
    else:
        currency = currency_or_market.upper()
        market = _MARKET_BY_CURRENCY.get(currency, MARKETS["us"])
    exponent = _EXPONENTS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    number = group_digits(str(whole), market.group_sep, indian=currency == "INR")
    if exponent:
        number += f"{market.decimal_sep}{frac:0{exponent}d}"
    prefix, suffix = currency_affixes(currency)
    return f"{sign}{prefix}{number}{suffix}"


def format_price(minor: int, currency: str, market: Market) -> str:
    """A price seen on ``market``, written the way that marketplace writes money; a
    price in another currency (a cross-border offer) the way that currency's home
    marketplace does."""
    return format_money(minor, market if currency.upper() == market.currency else currency)
