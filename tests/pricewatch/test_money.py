"""Money text <-> minor units, for every marketplace's number format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricewatch.markets import MARKETS, Market, get_market
from pricewatch.money import (
    Money,
    format_money,
    group_digits,
    is_price_range,
    parse_money,
    parse_price_exactly,
)

NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.mark.parametrize(
    ("text", "market", "expected"),
    [
        ("1.299,00 €", "de", Money(129900, "EUR")),
        ("$1,299.99", "us", Money(129999, "USD")),
        ("₹2,22,492.00", "in", Money(22249200, "INR")),
        ("¥1,299", "jp", Money(1299, "JPY")),
        ("￥ 1,299", "jp", Money(1299, "JPY")),
        ("R$ 169,00", "br", Money(16900, "BRL")),
        ("R$169,00", "br", Money(16900, "BRL")),
        ("AED 330.00", "ae", Money(33000, "AED")),
        ("AED29.00", "ae", Money(2900, "AED")),
        ("1 299,00 zł", "pl", Money(129900, "PLN")),
        (f"1{NNBSP}299,00{NBSP}zł", "pl", Money(129900, "PLN")),
        ("TL 55,90", "tr", Money(5590, "TRY")),
        ("55,90 TL", "tr", Money(5590, "TRY")),
        ("₺55,90", "tr", Money(5590, "TRY")),
        ("CDN$ 12.99", "ca", Money(1299, "CAD")),
        ("£7.99", "uk", Money(799, "GBP")),
        ("EUR 12,50", "de", Money(1250, "EUR")),
        (f"12,99{NBSP}€", "fr", Money(1299, "EUR")),
        (f"12,99{NNBSP}€", "fr", Money(1299, "EUR")),
        ("1.299 €", "de", Money(129900, "EUR")),
        ("15 €", "it", Money(1500, "EUR")),
        ("$5", "us", Money(500, "USD")),
        ("$5.00", "mx", Money(500, "MXN")),
        ("$5.00", "ca", Money(500, "CAD")),
        ("$5.00", "au", Money(500, "AUD")),
        ("$5.00", "de", Money(500, "USD")),
        ("EUR 5,29", "uk", Money(529, "EUR")),
        ("٣٣٠٫٠٠ ر.س", "sa", Money(33000, "SAR")),
        ("Kindle Price: $9.99", "us", Money(999, "USD")),
    ],
)
def test_literal_examples(text: str, market: str, expected: Money) -> None:
    assert parse_money(text, get_market(market)) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "Currently unavailable", "€", "$10.99 - $24.99", "R$169,00 – R$199,90"]
)
def test_no_single_amount_is_none(text: str) -> None:
    assert parse_money(text, get_market("us")) is None


def test_ranges_are_recognised() -> None:
    assert is_price_range("$10.99 - $24.99")
    assert is_price_range("12,99 € – 24,99 €")
    assert not is_price_range("$10.99")
    assert not is_price_range("₹2,22,492.00")


def test_format_money_in_market_style() -> None:
    assert format_money(129900, get_market("de")) == f"1.299,00{NBSP}€"
    assert format_money(129999, get_market("us")) == "$1,299.99"
    assert format_money(22249200, get_market("in")) == "₹2,22,492.00"
    assert format_money(1299, "JPY") == "¥1,299"
    assert format_money(999, "CHF") == f"CHF{NBSP}9.99"


def test_group_digits_indian_style() -> None:
    assert group_digits("1234567", ",", indian=True) == "12,34,567"
    assert group_digits("1234567", ".") == "1.234.567"
    assert group_digits("999", ",") == "999"


# What a market's currency looks like on its own site: prefix and suffix forms.
LOCAL_SYMBOLS = {
    "USD": ["$"],
    "CAD": ["CDN$", "$"],
    "AUD": ["$", "A$"],
    "MXN": ["$"],
    "SGD": ["S$"],
    "GBP": ["£"],
    "EUR": ["€", "EUR"],
    "JPY": ["¥", "￥"],
    "INR": ["₹"],
    "BRL": ["R$"],
    "AED": ["AED"],
    "SAR": ["SAR"],
    "EGP": ["EGP"],
    "TRY": ["TL", "₺"],
    "SEK": ["kr"],
    "PLN": ["zł"],
}


def render(
    minor: int,
    market: Market,
    grouped: bool,
    space: str,
    symbol: str,
    suffix: bool,
    show_fraction: bool,
) -> str:
    whole, frac = divmod(minor, 10**market.exponent)
    group_sep = market.group_sep
    if group_sep.isspace():
        group_sep = space or " "
    number = (
        group_digits(str(whole), group_sep, indian=market.currency == "INR")
        if grouped
        else str(whole)
    )
    if market.exponent and (show_fraction or frac):
        number += f"{market.decimal_sep}{frac:0{market.exponent}d}"
    if not symbol:
        return number
    return f"{number}{space}{symbol}" if suffix else f"{symbol}{space}{number}"


@st.composite
def market_prices(draw: st.DrawFn) -> tuple[str, Market, int]:
    market = draw(st.sampled_from(sorted(MARKETS.values(), key=lambda m: m.code)))
    minor = draw(st.integers(min_value=0, max_value=10**10))
    symbol = draw(st.sampled_from(["", *LOCAL_SYMBOLS[market.currency]]))
    text = render(
        minor,
        market,
        grouped=draw(st.booleans()),
        space=draw(st.sampled_from(["", " ", NBSP, NNBSP])),
        symbol=symbol,
        suffix=draw(st.booleans()),
        show_fraction=draw(st.booleans()),
    )
    return text, market, minor


@given(market_prices())
def test_any_amount_round_trips_in_its_market_style(case: tuple[str, Market, int]) -> None:
    text, market, minor = case
    assert parse_money(text, market) == Money(minor, market.currency), text


@given(st.sampled_from(sorted(MARKETS)), st.integers(min_value=0, max_value=10**10))
def test_format_then_parse_round_trips(code: str, minor: int) -> None:
    market = get_market(code)
    assert parse_money(format_money(minor, market), market) == Money(minor, market.currency)


@pytest.mark.parametrize(
    "text",
    [
        "-5.00",
        "$-5",
        "1e308",
        "1E3",
        "5.00abc",
        "Infinity",
        "NaN",
        "0x10",
        "£1.20/100 ml",
        "about 5",
        "5 - 6",
        "",
        "$",
    ],
)
def test_exact_parsing_refuses_what_is_not_just_a_price(text: str) -> None:
    # parse_money reads pages and so finds an amount inside words; someone's typed
    # text must be an amount and nothing else (no sign dropped, no exponent read)
    assert parse_price_exactly(text, get_market("us")) is None


@given(st.sampled_from(sorted(MARKETS)), st.integers(min_value=0, max_value=10**10))
def test_every_formatted_price_parses_exactly(code: str, minor: int) -> None:
    market = get_market(code)
    assert parse_price_exactly(format_money(minor, market), market) == Money(minor, market.currency)
