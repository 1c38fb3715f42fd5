"""crawler.parsing.evaluate on the new fields: judged only when truth.json
names them, each wrong one reported as one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from crawler.parsing.evaluate import evaluate, main

FIXTURES = Path(__file__).parent / "fixtures"
PAGE = "details_offers_us.html"

# what the parser reads on PAGE (see test_parsing_fuzz.test_unmutated_fixture_reads_every_new_field)
BASE: dict[str, Any] = {
    "file": PAGE,
    "marketplace": "amazon.com",
    "page_kind": "product",
    "asin": "B0TEST0012",
    "title": "Cold Press Juicer, 250 W",
    "price": "89.99",
    "currency": "USD",
    "availability": "in_stock",
    "list_price": "119.99",
}
NEW_FIELDS: dict[str, Any] = {
    "new_offers_from": "79.50",
    "new_offers_count": 28,
    "used_from": "58.25",
    "used_and_new_from": None,
    "sales_rank": 16222,
    "sales_rank_category": "Kitchen  &  Dining",  # compared with whitespace collapsed
    "image_url": "https://images.example.invalid/juicer._SX300_.jpg",
    "sold_by": "Juice World",
    "rating": "4.40",  # compared as a decimal
    "review_count": 5136,
}


def write_truth(directory: Path, *entries: dict[str, Any]) -> Path:
    shutil.copy(FIXTURES / PAGE, directory / PAGE)
    (directory / "truth.json").write_text(json.dumps(list(entries)), encoding="utf-8")
    return directory


def test_without_new_keys_they_are_not_scored(tmp_path: Path) -> None:
    score = evaluate(write_truth(tmp_path, BASE))
    # page_kind, asin, title, price, currency, availability, list_price
    assert (score.pages_correct, score.pages, score.fields_correct, score.fields) == (1, 1, 7, 7)
    assert score.mismatches == []


def test_new_keys_are_scored_when_present(tmp_path: Path) -> None:
    score = evaluate(write_truth(tmp_path, {**BASE, **NEW_FIELDS}))
    assert score.mismatches == []
    assert (score.pages_correct, score.fields_correct, score.fields) == (1, 17, 17)


def test_only_the_keys_present_are_scored(tmp_path: Path) -> None:
    score = evaluate(write_truth(tmp_path, {**BASE, "sales_rank": 16222, "rating": "4.4"}))
    assert (score.fields_correct, score.fields) == (9, 9)


@pytest.mark.parametrize(
    ("field", "expected", "got"),
    [
        ("new_offers_from", "79.00", "Decimal('79.50')"),
        ("new_offers_count", 27, "28"),
        ("used_from", None, "Decimal('58.25')"),
        ("used_and_new_from", "10.00", "None"),
        ("sales_rank", 1, "16222"),
        ("sales_rank_category", "Kitchen", "'Kitchen & Dining'"),
        (
            "image_url",
            "https://images.example.invalid/juicer._SX679_.jpg",
            "'https://images.example.invalid/juicer._SX300_.jpg'",
        ),
        ("sold_by", "Amazon.com", "'Juice World'"),
        ("rating", "4.5", "Decimal('4.4')"),
        ("review_count", 5135, "5136"),
    ],
)
def test_a_wrong_value_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, expected: Any, got: str
) -> None:
    write_truth(tmp_path, {**BASE, **NEW_FIELDS, field: expected})
    assert main([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "pages_correct=0/1 fields_correct=16/17"
    assert len(lines) == 2
    assert lines[0].split("\t") == [PAGE, field, f"expected={expected!r}", f"got={got}"]


def test_two_pages_one_with_new_keys(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "core_price_de.html", tmp_path / "core_price_de.html")
    other = {
        "file": "core_price_de.html",
        "marketplace": "amazon.de",
        "page_kind": "product",
        "asin": "B0TEST0001",
        "title": "Teekanne aus Glas & Edelstahl, 1,5 Liter",
        "price": "1299.95",
        "currency": "EUR",
        "availability": "in_stock",
        "list_price": "1499.00",
    }
    score = evaluate(write_truth(tmp_path, {**BASE, **NEW_FIELDS, "sold_by": "Nobody"}, other))
    assert (score.pages_correct, score.pages, score.fields_correct, score.fields) == (1, 2, 23, 24)
    assert [(m.file, m.field, m.expected, m.got) for m in score.mismatches] == [
        (PAGE, "sold_by", "Nobody", "Juice World")
    ]
