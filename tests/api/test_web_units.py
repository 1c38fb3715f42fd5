"""The website's pure parts: search input, template filters and escaping, asset URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.page_headers import CONTENT_SECURITY_POLICY
from api.web.assets import AssetUrls, MissingAssetsError, missing_bundles
from api.web.search import ProductRef, SearchError, resolve_query
from api.web.templating import amount, build_environment, day, money, rank, series_label, stars
from pricewatch.product_images import AMAZON_IMAGE_HOSTS, shown_image


@pytest.mark.parametrize(
    ("query", "market", "expected"),
    [
        ("B0C1234567", "us", ProductRef("us", "B0C1234567")),
        ("  b0c1234567 ", "de", ProductRef("de", "B0C1234567")),
        ("0306406152", "uk", ProductRef("uk", "0306406152")),
        (
            "https://www.amazon.de/Wasserkocher/dp/B0C1234567/ref=sr_1_1?th=1",
            "us",
            ProductRef("de", "B0C1234567"),
        ),
        ("amazon.co.uk/gp/product/B0C1234567", "us", ProductRef("uk", "B0C1234567")),
        ("https://smile.amazon.com/dp/B0C1234567", "jp", ProductRef("us", "B0C1234567")),
        ("https://www.amazon.co.jp/gp/aw/d/B0C1234567", "us", ProductRef("jp", "B0C1234567")),
    ],
)
def test_resolve_query_finds_market_and_asin(query: str, market: str, expected: ProductRef) -> None:
    assert resolve_query(query, market) == expected


@pytest.mark.parametrize(
    ("query", "market", "reason"),
    [
        ("", "us", "Paste an Amazon product URL"),
        ("   ", "us", "Paste an Amazon product URL"),
        ("hello kettle", "us", "No ASIN found"),
        ("https://www.amazon.com/s?k=kettle", "us", "No ASIN found"),
        ("https://example.com/dp/B0C1234567", "us", "not an Amazon marketplace"),
        ("https://www.amazon.zz/dp/B0C1234567", "us", "not an Amazon marketplace"),
        # urlsplit refuses these hosts (an unbalanced bracket)
        ("[B0C1234567", "us", "No ASIN found"),
        ("www.amazon.com[/dp/B0C1234567", "us", "not an Amazon marketplace"),
        ("https://www.amazon.de]/dp/B0C1234567", "us", "not an Amazon marketplace"),
        ("B0C1234567", "zz", "Unknown marketplace"),
        ("B" * 5000, "us", "longer than"),
    ],
)
def test_resolve_query_says_why_it_fails(query: str, market: str, reason: str) -> None:
    with pytest.raises(SearchError, match=reason):
        resolve_query(query, market)


def test_money_amount_and_day() -> None:
    # as the marketplace writes money (pricewatch.money.format_money's table)
    assert money(1234.5, "us") == "$1,234.50"
    assert money(1299.0, "jp") == "¥1,299"
    assert money(1299.5, "de") == "1.299,50\u00a0€"
    assert money(1299.5, "fr") == "1\u202f299,50\u00a0€"
    assert money(12.5, "uk", "EUR") == "12,50\u00a0€"  # a cross-border offer
    assert money(None, "de") == "–"
    assert amount(57.0, 2) == "57.00"
    assert amount(1299.0, 0) == "1299"
    assert day("2026-11-20T13:00:00Z") == "2026-11-20"
    assert day(None) == ""


def _environment(tmp_path: Path) -> object:
    for name in ("chart.js", "site.js", "site.css"):
        (tmp_path / name).write_text(f"/* {name} */")
    return build_environment(AssetUrls(tmp_path))


def test_templates_escape_every_stored_text(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    html = env.get_template("queued.html").render(
        asin='"><script>alert(1)</script>',
        domain="<b>amazon.com</b>",
        amazon_url='javascript:alert(1)" onclick="x',
    )
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>amazon.com</b>" not in html
    assert 'onclick="x' not in html


def test_a_misspelt_template_variable_is_an_error(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    with pytest.raises(Exception, match="undefined"):
        env.get_template("queued.html").render(asin="B0C1234567")


def test_asset_urls_change_with_content(tmp_path: Path) -> None:
    (tmp_path / "chart.js").write_text("one")
    first = AssetUrls(tmp_path)("chart.js")
    (tmp_path / "chart.js").write_text("two")
    second = AssetUrls(tmp_path)("chart.js")
    assert first.startswith("/static/chart.js?v=") and second.startswith("/static/chart.js?v=")
    assert first != second


def test_missing_bundles_are_named_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "site.css").write_text("")
    assert missing_bundles(tmp_path) == ["chart.js", "site.js", "docs.js", "docs.css"]
    with pytest.raises(MissingAssetsError, match="chart.js is missing.*npm run build"):
        AssetUrls(tmp_path)("chart.js")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://m.media-amazon.com/images/I/71abc+def._AC_SL1500_.jpg", True),
        ("https://images-na.ssl-images-amazon.com/images/I/41x.jpg", True),
        ("https://images-eu.ssl-images-amazon.com/images/I/41x.jpg", True),
        ("https://images-fe.ssl-images-amazon.com/images/I/41x.jpg", True),
        # the demo marketplace's pictures, on its local origin
        ("http://127.0.0.1:8001/images/I/B0TEST0001.jpg", False),
        ("http://m.media-amazon.com/images/I/71abc.jpg", False),
        ("https://m.media-amazon.com.example.org/images/I/71abc.jpg", False),
        ("https://example.org@m.media-amazon.com/images/I/71abc.jpg", False),
        ("https://m.media-amazon.com:8443/images/I/71abc.jpg", False),
        ("https://media-amazon.com/images/I/71abc.jpg", False),
        ("//m.media-amazon.com/images/I/71abc.jpg", False),
        ("https://m.media-amazon.com/images/I/71 abc.jpg", False),
        ("javascript:alert(1)", False),
        ("data:image/png;base64,AAAA", False),
        ("", False),
        (None, False),
    ],
)
def test_only_pictures_on_amazons_image_hosts_are_shown(url: str | None, shown: bool) -> None:
    assert shown_image(url) == (url if shown else None)


def test_the_csp_allows_exactly_the_image_hosts_pages_show() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    sources = directives["img-src"].split()
    assert sources == ["'self'", "data:", *(f"https://{host}" for host in AMAZON_IMAGE_HOSTS)]
    for host in AMAZON_IMAGE_HOSTS:
        assert shown_image(f"https://{host}/images/I/x.jpg")


def test_series_filters() -> None:
    assert rank(1234) == "#1,234" and rank(None) == "–"
    assert stars(4.4) == "★★★★☆" and stars(4.5) == "★★★★★" and stars(0.2) == "☆☆☆☆☆"
    assert series_label("sales_rank") == "Sales rank" and series_label("other") == "other"
