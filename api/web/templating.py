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
from pricewatch.product_images import shown_image
from pricewatch.series_names import SERIES_LABELS, series_label

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def money(value: float | None, currency: str, exponent: int = 2) -> str:
    """``12.5, "USD", 2`` -> ``"12.50 USD"``: exact digits, no locale guessing on the server
    (the chart formats with the browser's locale)."""
    if value is None:
        return "–"
    return f"{value:,.{exponent}f} {currency}"


def amount(value: float, exponent: int = 2) -> str:
    """A price as a form field value: ``57.0, 2`` -> ``"57.00"`` (no grouping, no currency)."""
    return f"{value:.{exponent}f}"


def number(value: float | None, exponent: int = 2) -> str:
    """A price without its currency, for a table that names it once: ``1234.5, 2`` ->
    ``"1,234.50"``."""
    return "–" if value is None else f"{value:,.{exponent}f}"


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
    env.filters["number"] = number
    env.filters["rank"] = rank
    env.filters["stars"] = stars
    env.filters["series_label"] = series_label
    env.filters["shown_image"] = shown_image
    env.globals["asset"] = assets
    env.globals["series_labels"] = SERIES_LABELS
    return env


def template_config(assets: AssetUrls) -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(build_environment(assets)))
