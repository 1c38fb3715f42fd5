"""The Jinja2 environment of the website: autoescaping everywhere, a few filters.

Autoescaping is switched on for every template whatever its file name, because
product titles come from Amazon pages and extension reports: a title reading
``<script>…`` must reach the page as text.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

from api.web.assets import AssetUrls
from pricewatch.markets import get_market
from pricewatch.money import format_price
from pricewatch.product_images import shown_image
from pricewatch.series_names import SERIES_LABELS, series_label

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def money(value: float | None, market: str, currency: str | None = None) -> str:
    """A price in major units as ``market`` writes money (``12.5, "de"`` ->
    ``"12,50 €"``), as the chart, the e-mails and the extension write it too."""
    if value is None:
        return "–"
    where = get_market(market)
    minor = round(value * 10**where.exponent)
    return format_price(minor, currency or where.currency, where)


def amount(value: float, exponent: int = 2) -> str:
    """A price as a form field value: ``57.0, 2`` -> ``"57.00"`` (no grouping, no currency)."""
    return f"{value:.{exponent}f}"


def rank(value: float | None) -> str:
    """A sales rank as Amazon prints it: ``1234`` -> ``"#1,234"``."""
    return "–" if value is None else f"#{int(value):,}"


def stars(rating: float | None) -> str:
    """Five stars, as many filled as the rating rounds to (4.4 -> ★★★★☆)."""
    if rating is None:
        return ""
    filled = max(0, min(5, int(rating + 0.5)))
    return "★" * filled + "☆" * (5 - filled)


def day(iso_time: str | None) -> str:
    """The date part of an ISO 8601 time (``2026-11-20T13:00:00Z`` -> ``2026-11-20``)."""
    return "" if not iso_time else iso_time[:10]


def build_environment(assets: AssetUrls, template_dir: Path = TEMPLATE_DIR) -> Environment:
    env = Environment(
        loader=FileSystemLoader(template_dir),
        autoescape=True,
        # a misspelt variable is an error in tests, not a silently empty page
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["amount"] = amount
    env.filters["day"] = day
    env.filters["rank"] = rank
    env.filters["stars"] = stars
    env.filters["series_label"] = series_label
    env.filters["shown_image"] = shown_image
    env.globals["asset"] = assets
    env.globals["series_labels"] = SERIES_LABELS
    return env


def template_config(assets: AssetUrls) -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(build_environment(assets)))
