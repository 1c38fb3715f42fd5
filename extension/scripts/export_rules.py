"""Print, as JSON, everything the extension must know to read a page like the crawler.

The extension carries no hand-copied table: the build (build.mjs) runs this module
and bundles its output, so a rule added to ``pricewatch.page_rules``, a marketplace
added to ``pricewatch.markets`` or a currency symbol added to ``pricewatch.money``
reaches the extension on the next build. Everything read here is a public name of
the shared core, the same tables the crawler's parser uses. Run from the repository root:
``python extension/scripts/export_rules.py > extension/src/generated/rules.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pricewatch import money, page_rules  # noqa: E402
from pricewatch.markets import MARKETS  # noqa: E402
from pricewatch.series_names import SERIES_LABELS  # noqa: E402


def export() -> dict[str, Any]:
    """Rules, marketplaces and money tables, JSON-ready."""
    return {
        "rules": page_rules.as_dict(),
        "markets": [
            {
                "code": m.code,
                "domain": m.domain,
                "currency": m.currency,
                "exponent": m.exponent,
                "decimalSep": m.decimal_sep,
                "groupSep": m.group_sep,
                # how format_money writes its money (api/shared-js/money.js reads it)
                "format": {
                    "currency": m.currency,
                    "exponent": m.exponent,
                    "decimal": m.decimal_sep,
                    "group": m.group_sep,
                    "affixes": money.currency_affixes(m.currency),
                },
            }
            for m in MARKETS.values()
        ],
        # what each price series is called, as the website and the e-mails call it
        "seriesLabels": SERIES_LABELS,
        # the symbol order matters (longest first): the port tries them in this order
        "money": {
            "symbols": [list(pair) for pair in money.CURRENCY_SYMBOLS],
            "wordSymbols": money.WORD_CURRENCY_SYMBOLS,
            "isoCodes": sorted(money.ISO_CURRENCY_CODES),
            "dollarCurrencies": sorted(money.DOLLAR_CURRENCIES),
        },
    }


if __name__ == "__main__":
    json.dump(export(), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
