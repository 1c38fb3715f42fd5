"""Print, as JSON, everything the extension must know to read a page like the crawler.

The extension carries no hand-copied table: the build (build.mjs) runs this module
and bundles its output, so a rule added to ``crawler.parsing.rules``, a marketplace
added to ``pricewatch.markets`` or a currency symbol added to ``pricewatch.money``
reaches the extension on the next build. Run from the repository root:
``python extension/scripts/export_rules.py > extension/src/generated/rules.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from crawler.parsing import rules  # noqa: E402
from pricewatch import money  # noqa: E402
from pricewatch.markets import MARKETS  # noqa: E402


def export() -> dict[str, Any]:
    """Rules, marketplaces and money tables, JSON-ready."""
    return {
        "rules": rules.as_dict(),
        "markets": [
            {
                "code": m.code,
                "domain": m.domain,
                "currency": m.currency,
                "exponent": m.exponent,
                "decimalSep": m.decimal_sep,
                "groupSep": m.group_sep,
            }
            for m in MARKETS.values()
        ],
        # The money module keeps these tables private; reading them here keeps the
        # port exact (the symbol order matters: longest first).
        "money": {
            "symbols": [list(pair) for pair in money._SYMBOLS],
            "wordSymbols": money._WORD_SYMBOLS,
            "isoCodes": sorted(money._ISO_CODES),
            "dollarCurrencies": sorted(money._DOLLAR_CURRENCIES),
        },
    }


if __name__ == "__main__":
    json.dump(export(), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
