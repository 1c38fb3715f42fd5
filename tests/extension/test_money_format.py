"""The browser's money formatter (api/shared-js/money.js, used by the website's chart
and "my alerts" and by the extension's panel) against pricewatch.money.format_money,
digit for digit, for every marketplace across many amounts, fed the rules both
builds hand it: the website's page data (api.web.controllers.MARKET_FORMATS) and the
extension's exported tables (extension/scripts/export_rules.py). Like the money
reader's comparison in test_parser_corpus.py, but for writing money; run by Node.js
(the builds' own runtime), the module loaded as it is, without a bundler.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from api.web.controllers import MARKET_FORMATS
from pricewatch.markets import MARKETS
from pricewatch.money import format_money

SHARED_MONEY = Path(__file__).resolve().parents[2] / "api" / "shared-js" / "money.js"

# edges of grouping and of the minor unit, then many amounts of every size
EDGES = [0, 1, 5, 9, 10, 99, 100, 101, 999, 1_000, 1_001, 9_999, 10_000, 99_999, 100_000]
EDGES += [123_456, 1_000_000, 1_234_567, 12_345_678, 99_999_999, 100_000_000, 2_533]
EDGES += [129_900, 22_249_200, 123_456_789_012]


def _amounts() -> list[int]:
    rng = random.Random(20261201)
    found = list(EDGES)
    for digits in range(1, 13):
        found += [rng.randrange(10 ** (digits - 1), 10**digits) for _ in range(12)]
    return found + [-a for a in found if a][:40]


def _run_node(script: str, payload: Any) -> Any:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is missing: `make web` installs it (Debian's nodejs)")
    module = base64.b64encode(SHARED_MONEY.read_bytes()).decode()
    program = (
        f'const m = await import("data:text/javascript;base64,{module}");\n'
        "const input = JSON.parse(require_stdin());\n"
        f"{script}\n"
    )
    # stdin read synchronously: the payload is large for an argument
    prelude = (
        "import { readFileSync } from 'node:fs';\n"
        "const require_stdin = () => readFileSync(0, 'utf8');\n"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", prelude + program],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _extension_formats() -> dict[str, dict[str, Any]]:
    from extension.scripts.export_rules import export  # type: ignore[import-not-found]

    return {m["code"]: m["format"] for m in export()["markets"]}


def test_the_website_and_the_extension_hand_over_the_same_rules() -> None:
    extension = _extension_formats()
    website = {
        code: {k: v for k, v in rules.items() if k != "domain"}
        for code, rules in MARKET_FORMATS.items()
    }
    # JSON both ways: the affixes are a tuple in Python, an array in the page
    assert json.loads(json.dumps(extension)) == json.loads(json.dumps(website))
    assert set(extension) == set(MARKETS)


@pytest.mark.parametrize("source", ["website", "extension"])
def test_js_formatter_writes_money_like_format_money(source: str) -> None:
    rules = (
        _extension_formats()
        if source == "extension"
        else {code: dict(r) for code, r in MARKET_FORMATS.items()}
    )
    amounts = _amounts()
    cases = [(code, minor) for code in MARKETS for minor in amounts]
    got = _run_node(
        """
const out = input.cases.map(([code, minor]) => {
  const rules = input.rules[code];
  const major = minor / 10 ** rules.exponent;
  return [m.formatMinor(minor, rules), m.formatMoney(major, rules.currency, rules)];
});
console.log(JSON.stringify(out));
""",
        {"cases": cases, "rules": rules},
    )
    expected = [format_money(minor, MARKETS[code]) for code, minor in cases]
    wrong = [
        (code, minor, want, js)
        for (code, minor), want, js in zip(cases, expected, got, strict=True)
        if js != [want, want]
    ]
    assert wrong == [], wrong[:10]
    assert len(cases) >= 21 * 150
    # the examples people read
    by_case = dict(zip(cases, expected, strict=True))
    assert by_case[("de", 129_900)] == "1.299,00\u00a0€"
    assert by_case[("in", 22_249_200)] == "₹2,22,492.00"


def test_js_formatter_without_rules_or_value() -> None:
    got = _run_node(
        """
const de = {currency: "EUR", exponent: 2, decimal: ",", group: ".", affixes: ["", "\\u00a0€"]};
console.log(JSON.stringify([
  m.formatMoney(null, "EUR", de), m.formatMoney(25.33, "USD", de),
  m.formatMoney(25.33, "EUR", null), m.formatMoney(25.33, "EUR", de),
  m.formatMoney(-0.001, "EUR", de), m.plainAmount(12.825, 2), m.plainAmount(1299, 0),
]));
""",
        {},
    )
    assert got == ["–", "25.33 USD", "25.33 EUR", "25,33\u00a0€", "0,00\u00a0€", "12.82", "1299"]
