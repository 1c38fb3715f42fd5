"""The parser on small hand-written pages, one per layout rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.parsing import PageKind, ParsedPage, parse_page
from pricewatch import page_rules
from pricewatch.models import Availability
from pricewatch.money import Money

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def parse_fixture(name: str, market: str) -> ParsedPage:
    return parse_page((FIXTURES / name).read_bytes(), f"https://www.{market}/")


# file, marketplace, expected fields (fields not named must be None/unknown)
CASES = [
    (
        "core_price_de.html",
        "amazon.de",
        dict(
            asin="B0TEST0001",
            title="Teekanne aus Glas & Edelstahl, 1,5 Liter",
            price=Money(129995, "EUR"),
            list_price=Money(149900, "EUR"),
            availability=Availability.IN_STOCK,
            image_url="https://images.example.invalid/teekanne.jpg",
        ),
    ),
    (
        "legacy_deal_us.html",
        "amazon.com",
        dict(
            asin="B0TEST0002",
            title="LED Desk Lamp with USB Port",
            price=Money(123450, "USD"),
            list_price=None,  # $49.99 is below the deal price: not a list price
            availability=Availability.IN_STOCK,
        ),
    ),
    (
        "kindle_es.html",
        "amazon.es",
        dict(
            asin="B0TEST0003",
            title="Una novela corta (Edición Kindle)",
            price=Money(299, "EUR"),
            list_price=Money(1799, "EUR"),
            availability=Availability.IN_STOCK,
        ),
    ),
    (
        "range_parent_br.html",
        "amazon.com.br",
        dict(asin="B0TEST0004", title="Camiseta básica de algodão", price=None),
    ),
    (
        "out_of_stock_fr.html",
        "amazon.fr",
        dict(
            asin="B0TEST0005", title="Montre à quartz rétro", availability=Availability.OUT_OF_STOCK
        ),
    ),
    (
        "used_only_uk.html",
        "amazon.co.uk",
        dict(
            asin="0TEST00007",
            title="A Long Novel",
            price=Money(543, "GBP"),
            availability=Availability.IN_STOCK,
        ),
    ),
    (
        "preorder_uk.html",
        "amazon.co.uk",
        dict(asin="B0TEST0008", title="Racing Game (PS4)", price=Money(3499, "GBP")),
    ),
    (
        "all_offers_de.html",
        "amazon.de",
        dict(
            asin="B0TEST0009", title="Kaffee-Kapseln, 5er Pack", availability=Availability.IN_STOCK
        ),
    ),
    (
        "variation_family_us.html",
        "amazon.com",
        dict(
            asin="B0TESTPRNT",
            offer_asin="B0TESTCHLD",
            title="Printed Sleeveless Top (XL)",
            price=Money(1250, "USD"),
            availability=Availability.IN_STOCK,
        ),
    ),
    (
        "latin1_de.html",
        "amazon.de",
        dict(
            asin="B0TEST0011",
            title="Café crème müsli",
            price=Money(450, "EUR"),
            availability=Availability.IN_STOCK,
        ),
    ),
]


@pytest.mark.parametrize(("name", "marketplace", "expected"), CASES, ids=[c[0] for c in CASES])
def test_product_layouts(name: str, marketplace: str, expected: dict) -> None:
    page = parse_fixture(name, marketplace)
    assert page.page_kind is PageKind.PRODUCT
    defaults = dict(price=None, list_price=None, availability=Availability.UNKNOWN)
    for field, value in {**defaults, **expected}.items():
        assert getattr(page, field) == value, field
    if "offer_asin" not in expected:
        assert page.offer_asin == page.asin


def test_captcha_page_has_no_identity() -> None:
    page = parse_fixture("captcha.html", "amazon.com")
    assert page == ParsedPage(page_kind=PageKind.CAPTCHA, market="us")


def test_not_found_dog_page() -> None:
    page = parse_fixture("not_found.html", "amazon.de")
    assert page.page_kind is PageKind.NOT_FOUND
    assert page.asin is None and page.price is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n\t ",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        b"%PDF-1.7 \x00\x01\x02 binary",
        b'{"json": "not html"}',
        "<html><body><p>caf\u00e9".encode("utf-16"),
        b"\xff\xfe\xfa<html><body>\x00\x01<div id='productTitle'",
        b"<html><head><title>Amazon.de</title></head><body><p>Hallo</p></body></html>",
    ],
)
def test_broken_input_is_other_never_an_exception(body: bytes) -> None:
    page = parse_page(body, "https://www.amazon.de/")
    assert page.page_kind is PageKind.OTHER
    assert page.market == "de"
    assert page.price is None


@pytest.mark.parametrize("cut", [200, 600, 1000])
def test_truncated_product_page_never_raises(cut: int) -> None:
    body = (FIXTURES / "core_price_de.html").read_bytes()[:cut]
    page = parse_page(body, "https://www.amazon.de/")
    assert page.page_kind in (PageKind.OTHER, PageKind.PRODUCT)


def test_market_from_canonical_when_url_is_not_amazon() -> None:
    page = parse_page((FIXTURES / "core_price_de.html").read_bytes(), "file:///tmp/page.html")
    assert page.market == "de"
    assert page.price == Money(129995, "EUR")


def test_rules_are_plain_json_data() -> None:
    data = json.loads(json.dumps(page_rules.as_dict()))
    assert data["price_selectors"][0]["css"].startswith("#corePriceDisplay")
    assert all(rule["why"] for rule in data["price_selectors"])
    assert "en" in data["out_of_stock_phrases"]


def _truth_entry(file: str, marketplace: str, **fields: object) -> dict:
    """A truth.json entry: a product page of which nothing is known but what ``fields`` say."""
    unknown = dict.fromkeys(("asin", "title", "price", "currency", "list_price"))
    base = {"file": file, "marketplace": marketplace, "availability": "unknown", **unknown}
    return {**base, "page_kind": "product", **fields}


def test_evaluate_command_on_fixture_truth(tmp_path: Path) -> None:
    for name in ("core_price_de.html", "captcha.html", "legacy_deal_us.html"):
        (tmp_path / name).write_bytes((FIXTURES / name).read_bytes())
    truth = [
        _truth_entry(
            "core_price_de.html",
            "amazon.de",
            asin="B0TEST0001",
            title="Teekanne  aus Glas & Edelstahl, 1,5 Liter",
            price="1299.95",
            currency="EUR",
            availability="in_stock",
            list_price="1499",
        ),
        _truth_entry("captcha.html", "amazon.com", page_kind="captcha"),
        # deliberately wrong price and availability: two wrong fields, one wrong page
        _truth_entry(
            "legacy_deal_us.html",
            "amazon.com",
            asin="B0TEST0002",
            title="LED Desk Lamp with USB Port",
            price="1.00",
            currency="USD",
            availability="out_of_stock",
        ),
    ]
    (tmp_path / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "crawler.parsing.evaluate", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "pages_correct=2/3 fields_correct=18/20"
    wrong = sorted(line.split("\t")[1] for line in lines[:-1])
    assert wrong == ["availability", "price"]


def test_evaluate_command_rejects_invalid_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crawler.parsing.evaluate", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2
    assert "not a directory" in result.stderr
