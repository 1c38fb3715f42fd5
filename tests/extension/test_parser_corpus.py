"""The extension's page parser (extension/src/parse.js) against the labelled corpus,
in Chromium, compared field by field with truth.json exactly as the crawler's Python
parser is scored (crawler.parsing.evaluate), new fields included (offers, sales rank,
image, seller, rating and review count). Both must read every page the same way: the
JS parser's result must equal the Python parser's on every field of every page, and
score at least what the Python one does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import msgspec
import pytest
from w3lib.encoding import html_to_unicode

from crawler.parsing import evaluate
from crawler.parsing.page import ParsedPage, parse_page
from pricewatch.money import Money, to_major
from tests.browser import chromium
from tests.extension.conftest import GENERATED_RULES, PARSER_BUNDLE

pytestmark = [pytest.mark.browser, pytest.mark.corpus, pytest.mark.slow]


@pytest.fixture(scope="module")
def parser_page(built_extension: Path) -> Iterator[Any]:
    with chromium() as browser:
        page = browser.new_page()
        # nothing to fetch: the parser reads strings handed to it
        page.route("**/*", lambda route: route.abort())
        page.set_content("<!doctype html><title>parser</title>")
        page.add_script_tag(path=str(PARSER_BUNDLE))
        yield page


def _js_parse(page: Any, body: bytes, url: str) -> dict[str, Any]:
    # decoded as the crawler decodes (BOM, HTTP-less meta charset sniffing)
    _, text = html_to_unicode(None, body)
    return page.evaluate("([html, url]) => PricewatchParser.parseHtml(html, url)", [text, url])


def _major(money: dict[str, Any] | None) -> Decimal | None:
    if money is None:
        return None
    return to_major(Money(money["minor"], money["currency"]))


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


def _extra(got: dict[str, Any], field: str) -> Any:
    """A judged-when-present field of the JS result as evaluate compares it."""
    value = got[_camel(field)]
    if isinstance(value, dict):
        return _major(value)
    if field == "rating" and value is not None:
        return Decimal(value)
    return value


def _compare(entry: dict[str, Any], got: dict[str, Any]) -> Iterator[tuple[str, Any, Any, bool]]:
    def norm(value: Any) -> Any:
        return evaluate._norm_title(value)

    def number(value: Any) -> Decimal | None:
        return evaluate._number(value)

    yield (
        "page_kind",
        entry.get("page_kind"),
        got["pageKind"],
        entry.get("page_kind") == got["pageKind"],
    )
    yield "asin", entry.get("asin"), got["asin"], entry.get("asin") == got["asin"]
    title = norm(entry.get("title"))
    yield "title", title, norm(got["title"]), title == norm(got["title"])
    price = number(entry.get("price"))
    yield "price", entry.get("price"), _major(got["price"]), price == _major(got["price"])
    if price is not None:
        currency = got["price"]["currency"] if got["price"] else None
        yield "currency", entry.get("currency"), currency, entry.get("currency") == currency
    yield (
        "availability",
        entry.get("availability"),
        got["availability"],
        entry.get("availability") == got["availability"],
    )
    listed = number(entry.get("list_price"))
    yield (
        "list_price",
        entry.get("list_price"),
        _major(got["listPrice"]),
        listed == _major(got["listPrice"]),
    )
    for field in evaluate._EXTRA_FIELDS:
        if field in entry:
            expected, value = entry[field], _extra(got, field)
            yield field, expected, value, evaluate._same(expected, value)


def _as_js(page: ParsedPage) -> dict[str, Any]:
    """Every field of the Python parser's reading, named and shaped as parse.js returns it."""

    def shape(value: Any) -> Any:
        if isinstance(value, Money):
            return {"minor": value.minor, "currency": value.currency}
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, StrEnum):
            return str(value)
        return value

    return {
        _camel(field.name): shape(getattr(page, field.name))
        for field in msgspec.structs.fields(page)
    }


def test_generated_rules_are_the_crawlers_rules(built_extension: Path) -> None:
    """The bundled tables are exactly what Python holds now (a stale build fails here)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "export_rules", built_extension.parent / "scripts" / "export_rules.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = json.loads(GENERATED_RULES.read_text(encoding="utf-8"))
    from pricewatch import page_rules

    assert generated["rules"] == json.loads(json.dumps(page_rules.as_dict()))
    assert generated == json.loads(json.dumps(module.export()))


def test_js_parser_reads_the_corpus_like_the_python_parser(
    parser_page: Any, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scored against truth.json like the Python parser, and equal to the Python
    parser's reading on every field of every page (truth or not)."""
    entries = evaluate.load_truth(corpus_dir)
    python_score = evaluate.evaluate(corpus_dir)
    pages_correct = fields_correct = fields = 0
    pages_agreeing = values_agreeing = values = 0
    mismatches: list[str] = []
    disagreements: list[str] = []
    for entry in entries:
        body = (corpus_dir / entry["file"]).read_bytes()
        url = f"https://www.{entry['marketplace']}/"
        got = _js_parse(parser_page, body, url)
        page_ok = True
        for field, expected, value, ok in _compare(entry, got):
            fields += 1
            fields_correct += ok
            if not ok:
                page_ok = False
                mismatches.append(f"{entry['file']}\t{field}\texpected={expected!r}\tgot={value!r}")
        pages_correct += page_ok
        python = _as_js(parse_page(body, url))
        page_agrees = True
        for name in sorted(set(python) | set(got)):
            values += 1
            if name in got and name in python and got[name] == python[name]:
                values_agreeing += 1
            else:
                page_agrees = False
                disagreements.append(
                    f"{entry['file']}\t{name}\tpython={python.get(name, '<none>')!r}"
                    f"\tjs={got.get(name, '<none>')!r}"
                )
        pages_agreeing += page_agrees
    with capsys.disabled():
        print(
            f"\nextension parser: pages_correct={pages_correct}/{len(entries)} "
            f"fields_correct={fields_correct}/{fields} "
            f"(python parser: {python_score.summary()}); "
            f"same as python: pages={pages_agreeing}/{len(entries)} "
            f"values={values_agreeing}/{values}"
        )
    assert not disagreements, "\n".join(disagreements)
    assert pages_correct >= python_score.pages_correct, "\n".join(mismatches)
    assert fields_correct >= python_score.fields_correct, "\n".join(mismatches)


def test_js_parser_never_changes_the_page_it_reads(parser_page: Any, corpus_dir: Path) -> None:
    """parseDocument (the content script's entry) reads a copy: the page is left as it
    was, and the reading is parseHtml's (which may change its own document)."""
    entries = evaluate.load_truth(corpus_dir)
    for entry in entries[:: max(1, len(entries) // 8)]:
        _, html = html_to_unicode(None, (corpus_dir / entry["file"]).read_bytes())
        unchanged, same = parser_page.evaluate(
            """([html, url]) => {
                const doc = new DOMParser().parseFromString(html, "text/html");
                const before = doc.documentElement.outerHTML;
                const live = PricewatchParser.parseDocument(doc, url);
                const saved = PricewatchParser.parseHtml(html, url);
                return [doc.documentElement.outerHTML === before,
                        JSON.stringify(live) === JSON.stringify(saved)];
            }""",
            [html, f"https://www.{entry['marketplace']}/"],
        )
        assert unchanged, entry["file"]
        assert same, entry["file"]


# (pattern, case-insensitive, text): where JS's own regex reading differs from Python's
PATTERN_CASES = [
    (r"\s+", False, "a\ufeffb\x85\x1cc"),
    (r"a.b", False, "a\rb"),
    (r"a.b", False, "a\nb"),
    (r"ab$", False, "ab\n"),
    (r"(\d+)", False, "x١٢٣y"),
    (r"[^\s\d.,;:()/\-]", False, "٣ ·x"),
    (r"\w+", False, "-héllo_١x-"),
    (r"x{,2}", False, "xxx"),
    (r"a{b}", False, "a{b}"),
    (r"sırada", True, "2. SIRADA"),
    (r"kategorisinde", True, "KATEGORİSİNDE"),
    (r"i", True, "İ"),
    (r"satıcı\s*:?\s+(.+?)(?=\s*\.(?:\s|$)|$)", True, "SATICI: İstanbul Dükkân."),
    (r"(\d)[.,](\d)", False, "٤٫٥ / ٥"),
    (r"stück", True, "STÜCK"),
]


def test_js_patterns_match_like_python(parser_page: Any) -> None:
    import re

    def python(pattern: str, ignore_case: bool, text: str) -> list[Any] | None:
        found = re.compile(pattern, re.IGNORECASE if ignore_case else 0).search(text)
        return None if found is None else [found.group(0), list(found.groups())]

    got = parser_page.evaluate(
        """cases => cases.map(([pattern, ignoreCase, text]) => {
            const found = new PricewatchParser.PyRegex(pattern, { ignoreCase }).search(text);
            return found === null ? null : [found.group(0), found.groups()];
        })""",
        PATTERN_CASES,
    )
    assert got == [python(*case) for case in PATTERN_CASES]
    digits = "١٬٤٣١ ۵ ５ ߉ 12"
    assert parser_page.evaluate("t => PricewatchParser.asciiDigits(t)", digits) == "".join(
        str(int(ch)) if ch.isdecimal() else ch for ch in digits
    )


# Texts as marketplaces print them, with the market that reads them.
MONEY_CASES = [
    ("$1,299.99", "us"),
    ("1.299,00 €", "de"),
    ("1\u202f299,00\u00a0€", "fr"),
    ("¥1,299", "jp"),
    ("￥ 12,800", "jp"),
    ("CDN$ 24.99", "ca"),
    ("R$ 1.234,56", "br"),
    ("AED 330.00", "ae"),
    ("٣٣٠٫٠٠ ر.س", "sa"),
    ("12,50 TL", "tr"),
    ("149,00 kr", "se"),
    ("1 234,56 zł", "pl"),
    ("₹1,23,456.00", "in"),
    ("EUR 5,29", "uk"),
    ("$10.99 - $24.99", "us"),
    ("Free", "us"),
    ("", "us"),
    ("see all buying options", "us"),
    ("1.299", "de"),
    ("1,299 €", "de"),
    ("$.75", "us"),
    ("35€99", "it"),
    ("£34.99", "uk"),
    ("S$ 12.90", "sg"),
    ("MX$1,299.00", "mx"),
]


def test_js_money_parser_agrees_with_python(parser_page: Any) -> None:
    from pricewatch.markets import get_market
    from pricewatch.money import parse_money

    got = parser_page.evaluate(
        "cases => cases.map(([text, code]) => PricewatchParser.parseMoney(text,"
        " PricewatchParser.MARKETS.find(m => m.code === code)))",
        MONEY_CASES,
    )
    expected = [parse_money(text, get_market(code)) for text, code in MONEY_CASES]
    assert [
        None if e is None else {"minor": e.minor, "currency": e.currency} for e in expected
    ] == got
    assert sum(e is not None for e in expected) >= 20
