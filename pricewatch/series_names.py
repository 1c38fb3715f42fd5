"""What each price series is called where people read it, in two forms: a short label
for legends, tables and menus (the website, the extension, which bundles them at build
time), and a name written to follow "of <product>" or to stand alone in a sentence
(alert messages, the stop page: "Used price of Kettle is at $18.00").
"""

from __future__ import annotations

from pricewatch.models import Series

# in the order the website lists them
SERIES_LABELS: dict[str, str] = {
    Series.AMAZON.value: "Amazon",
    Series.NEW.value: "New, other sellers",
    Series.USED.value: "Used",
    Series.LIST.value: "List price",
    Series.BUYBOX.value: "Buy box",
    Series.CHEAPEST_NEW.value: "Cheapest new",
    Series.SALES_RANK.value: "Sales rank",
}

SERIES_NAMES: dict[str, str] = {
    # the buy box is what a shopper sees as the product's price
    Series.BUYBOX: "Price",
    Series.AMAZON: "Amazon's price",
    Series.NEW: "Third-party new price",
    Series.USED: "Used price",
    Series.LIST: "List price",
    Series.CHEAPEST_NEW: "Cheapest new price",
    Series.SALES_RANK: "Sales rank",
}


def series_name(series: str) -> str:
    """The name of ``series`` ("Used price"); "Price" for one this version does not know."""
    return SERIES_NAMES.get(series, "Price")


def series_label(series: str) -> str:
    """The short label of ``series`` ("Used"); its own name for one this version does not know."""
    return SERIES_LABELS.get(series, series)
