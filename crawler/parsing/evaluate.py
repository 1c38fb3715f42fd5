"""Score the parser against labelled pages: ``python -m crawler.parsing.evaluate DIR``.

DIR holds ``truth.json`` (a list of entries with ``file``, ``marketplace``,
``asin``, ``title``, ``price``, ``currency``, ``availability``, ``list_price``,
``page_kind``, and, judged when present, ``new_offers_from``,
``new_offers_count``, ``used_from``, ``used_and_new_from``, ``sales_rank``,
``sales_rank_category``, ``image_url``, ``sold_by``, ``rating``,
``review_count``) and the files it names. The parser gets only the marketplace's
home URL, as the crawler would know nothing more about a saved page. One line
per wrong field, then ``pages_correct=P/Q fields_correct=K/N``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from crawler.parsing.page import ParsedPage, parse_page
from pricewatch.markets import market_for_host
from pricewatch.money import Money, to_major


class TruthError(ValueError):
    """The truth directory cannot be evaluated (missing, unreadable, malformed)."""


@dataclass(frozen=True)
class Mismatch:
    file: str
    field: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return f"{self.file}\t{self.field}\texpected={self.expected!r}\tgot={self.got!r}"


@dataclass(frozen=True)
class Score:
    pages_correct: int
    pages: int
    fields_correct: int
    fields: int
    mismatches: list[Mismatch]

    def summary(self) -> str:
        return (
            f"pages_correct={self.pages_correct}/{self.pages} "
            f"fields_correct={self.fields_correct}/{self.fields}"
        )


def load_truth(directory: Path) -> list[dict[str, Any]]:
    truth_path = directory / "truth.json"
    if not directory.is_dir():
        raise TruthError(f"{directory} is not a directory")
    if not truth_path.is_file():
        raise TruthError(f"{truth_path} not found")
    try:
        entries = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TruthError(f"{truth_path}: cannot read JSON ({exc})") from exc
    if not isinstance(entries, list):
        raise TruthError(f"{truth_path}: expected a JSON list of entries")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "file" not in entry or "marketplace" not in entry:
            raise TruthError(f"{truth_path}: entry {index} lacks 'file' or 'marketplace'")
        if market_for_host(str(entry["marketplace"])) is None:
            raise TruthError(f"{truth_path}: entry {index}: unknown marketplace")
        if not (directory / entry["file"]).is_file():
            raise TruthError(f"{truth_path}: entry {index}: file {entry['file']} not found")
    return entries


def _number(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _major(money: Money | None) -> Decimal | None:
    return None if money is None else to_major(money)


def _norm_title(value: Any) -> str | None:
    return None if value is None else re.sub(r"\s+", " ", str(value)).strip()


def compare(entry: dict[str, Any], page: ParsedPage) -> Iterator[tuple[str, Any, Any, bool]]:
    """(field, expected, got, ok) for every field the entry judges."""
    yield (
        "page_kind",
        entry.get("page_kind"),
        str(page.page_kind),
        (entry.get("page_kind") == page.page_kind),
    )
    yield "asin", entry.get("asin"), page.asin, entry.get("asin") == page.asin
    title, got_title = _norm_title(entry.get("title")), _norm_title(page.title)
    yield "title", title, got_title, title == got_title
    price, got_price = _number(entry.get("price")), _major(page.price)
    yield "price", entry.get("price"), got_price, price == got_price
    if price is not None:
        currency = page.price.currency if page.price else None
        yield "currency", entry.get("currency"), currency, entry.get("currency") == currency
    availability = str(page.availability)
    yield (
        "availability",
        entry.get("availability"),
        availability,
        (entry.get("availability") == availability),
    )
    listed, got_listed = _number(entry.get("list_price")), _major(page.list_price)
    yield "list_price", entry.get("list_price"), got_listed, listed == got_listed
    for field in _EXTRA_FIELDS:
        if field in entry:
            expected, got = entry[field], _comparable(getattr(page, field))
            yield field, expected, got, _same(expected, got)


# Judged only when truth.json has them: money and decimals as decimal strings,
# counts as integers, names as text.
_EXTRA_FIELDS = (
    "new_offers_from",
    "new_offers_count",
    "used_from",
    "used_and_new_from",
    "sales_rank",
    "sales_rank_category",
    "image_url",
    "sold_by",
    "rating",
    "review_count",
)


def _comparable(value: Any) -> Any:
    return to_major(value) if isinstance(value, Money) else value


def _same(expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(got, Decimal):
        return _number(expected) == got
    if isinstance(got, str):
        return _norm_title(expected) == _norm_title(got)
    return bool(expected == got)


def evaluate(directory: Path) -> Score:
    entries = load_truth(directory)
    mismatches: list[Mismatch] = []
    pages_correct = fields_correct = fields = 0
    for entry in entries:
        body = (directory / entry["file"]).read_bytes()
        page = parse_page(body, f"https://www.{entry['marketplace']}/")
        page_ok = True
        for field, expected, got, ok in compare(entry, page):
            fields += 1
            if ok:
                fields_correct += 1
            else:
                page_ok = False
                mismatches.append(Mismatch(entry["file"], field, expected, got))
        pages_correct += page_ok
    return Score(pages_correct, len(entries), fields_correct, fields, mismatches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.parsing.evaluate", description=__doc__)
    parser.add_argument("directory", type=Path, help="directory holding truth.json and pages")
    args = parser.parse_args(argv)
    try:
        score = evaluate(args.directory)
    except TruthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for mismatch in score.mismatches:
        print(mismatch)
    print(score.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
