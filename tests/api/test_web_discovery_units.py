"""The pure parts of discovery: what the search box holds, where a short link may lead,
and the sparkline."""

from __future__ import annotations

import pytest

from api.services.discovery import SparkPoints, spark_points
from api.services.sparkline import HEIGHT, PAD, WIDTH, describe, sparkline
from api.web.search import (
    ProductRef,
    SearchError,
    ShortLink,
    TitleWords,
    product_from_redirect,
    read_query,
)
from pricewatch.history import HOUR_MS, Bucket
from pricewatch.markets import get_market

US = get_market("us")


@pytest.mark.parametrize(
    ("text", "market", "expected"),
    [
        ("kettle", "us", TitleWords("kettle", "us")),
        ("  USB-C cable 2 m ", "de", TitleWords("USB-C cable 2 m", "de")),
        ('"kettle" OR toaster*', "us", TitleWords('"kettle" OR toaster*', "us")),
        ("3.5 mm jack", "us", TitleWords("3.5 mm jack", "us")),
        ("B0C1234567", "uk", ProductRef("uk", "B0C1234567")),
        ("https://www.amazon.de/dp/B0C1234567", "us", ProductRef("de", "B0C1234567")),
        ("https://amzn.to/3xYz12", "us", ShortLink("3xYz12")),
        ("http://amzn.to/3xYz12/", "us", ShortLink("3xYz12")),
        ("amzn.to/abc", "us", ShortLink("abc")),
        ("https://AMZN.TO/abc", "us", ShortLink("abc")),
        ("https://a.co/d/5Y3yX0c", "us", ShortLink("d/5Y3yX0c", "a.co")),
        ("amzn.eu/d/abc12/", "de", ShortLink("d/abc12", "amzn.eu")),
        ("http://amzn.asia/xyz", "us", ShortLink("xyz", "amzn.asia")),
        ("https://www.amzn.to/d/abc", "us", ShortLink("d/abc", "amzn.to")),
    ],
)
def test_the_box_holds_words_a_product_or_a_short_link(
    text: str, market: str, expected: object
) -> None:
    assert read_query(text, market) == expected


@pytest.mark.parametrize(
    ("text", "market", "reason"),
    [
        ("", "us", "Type words of a product"),
        ("kettle", "zz", "Unknown marketplace"),
        ("https://amzn.to/abc?tag=me-20", "us", "https://amzn.to/abc123"),
        ("https://amzn.to:444/abc", "us", "https://amzn.to/abc123"),
        ("https://me:pw@amzn.to/abc", "us", "https://amzn.to/abc123"),
        ("https://amzn.to/a/b", "us", "https://amzn.to/abc123"),
        ("https://amzn.to/../../etc", "us", "https://amzn.to/abc123"),
        ("https://a.co/d/abc?ref=x", "us", "That a.co link is not in the form https://a.co/"),
        ("https://amzn.eu/x/abc", "us", "https://amzn.eu/abc123"),
        ("https://amzn.asia/d/abc/def", "us", "https://amzn.asia/abc123"),
        ("https://example.com/dp/B0C1234567", "us", "not an Amazon marketplace"),
        ("k" * 5000, "us", "longer than"),
    ],
)
def test_what_the_box_cannot_take_gets_a_reason(text: str, market: str, reason: str) -> None:
    with pytest.raises(SearchError, match=reason.replace("?", r"\?")):
        read_query(text, market)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (
            "https://www.amazon.com/Some-Kettle/dp/B0C1234567/ref=cm_sw_r_cp?th=1",
            ProductRef("us", "B0C1234567"),
        ),
        ("https://www.amazon.co.jp/gp/product/B0C1234567", ProductRef("jp", "B0C1234567")),
        ("http://amazon.de/dp/B0C1234567", ProductRef("de", "B0C1234567")),
    ],
)
def test_a_redirect_to_an_amazon_product_is_taken(location: str, expected: ProductRef) -> None:
    assert product_from_redirect(location) == expected


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        (None, "does not lead anywhere"),
        ("", "does not lead anywhere"),
        ("/dp/B0C1234567", "Amazon marketplace we know"),
        ("https://www.amazon.com.evil.example/dp/B0C1234567", "Amazon marketplace we know"),
        ("https://amazon.zz/dp/B0C1234567", "Amazon marketplace we know"),
        ("http://169.254.169.254/latest/meta-data/", "Amazon marketplace we know"),
        ("http://10.0.0.1/dp/B0C1234567", "Amazon marketplace we know"),
        ("javascript:alert(1)//www.amazon.com/dp/B0C1234567", "Amazon marketplace we know"),
        ("https://user@www.amazon.com/dp/B0C1234567", "Amazon marketplace we know"),
        ("https://www.amazon.com/s?k=kettle", "not to a product page"),
        ("https://[::1/dp/B0C1234567", "not a URL"),
    ],
)
def test_a_redirect_anywhere_else_is_refused(location: str | None, reason: str) -> None:
    with pytest.raises(SearchError, match=reason):
        product_from_redirect(location)


def _points(line: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in line.split()]  # type: ignore[misc]


def test_a_sparkline_spans_the_box_with_today_at_the_right() -> None:
    spark = sparkline([1_000, 1_200, 800], US, days=30)
    assert spark is not None
    (line,) = spark.lines
    points = _points(line)
    assert len(points) == 3
    # today at the right edge, earlier days to its left, one slot a day
    assert points[-1][0] == pytest.approx(WIDTH - PAD)
    assert points[0][0] < points[1][0] < points[2][0]
    # the high at the top, the low at the bottom (SVG's y grows downwards)
    assert points[1][1] == pytest.approx(PAD)
    assert points[2][1] == pytest.approx(HEIGHT - PAD)
    assert spark.text == "Price over the last 3 days: from $10.00 to $8.00, low $8.00, high $12.00."


def test_days_without_a_price_break_the_line() -> None:
    spark = sparkline([1_000, 1_100, None, None, 900], US)
    assert spark is not None
    assert [len(_points(line)) for line in spark.lines] == [2, 2]  # the lone day doubled


def test_a_steady_price_is_a_flat_line_in_the_middle_and_says_so() -> None:
    spark = sparkline([500, 500, 500], US)
    assert spark is not None
    assert {y for _, y in _points(spark.lines[0])} == {HEIGHT / 2}
    assert spark.text == "Price over the last 3 days: steady at $5.00."


def test_no_price_no_sparkline() -> None:
    assert sparkline([None, None], US) is None
    assert sparkline([None, 700], US) is None  # a product seen today only
    assert sparkline([], US) is None
    assert describe([None], US) == "No price in the last 30 days."


def test_a_sparkline_keeps_the_last_thirty_days_in_the_marketplace_money() -> None:
    spark = sparkline(list(range(100, 140)), get_market("de"), days=30)
    assert spark is not None
    assert len(_points(spark.lines[0])) == 30
    assert spark.text.startswith("Price over the last 30 days: from 1,10\xa0€ to 1,39\xa0€")


def test_a_young_products_hours_fill_the_width_and_say_hours() -> None:
    spark = sparkline([2_000, 2_000, 1_800, None, 1_800, 1_800], US, unit="hour")
    assert spark is not None
    first, second = (_points(line) for line in spark.lines)
    # its life so far spans the box: the first hour at the left, this one at the right
    assert first[0][0] == pytest.approx(PAD)
    assert second[-1][0] == pytest.approx(WIDTH - PAD)
    assert spark.text == (
        "Price over the last 6 hours: from $20.00 to $18.00, low $18.00, high $20.00."
    )
    assert sparkline([None, 700], US, unit="hour") is None  # one priced hour: no line


def test_a_card_takes_its_hours_only_when_its_days_are_too_few() -> None:
    def buckets(*closes: int | None) -> list[Bucket]:
        return [Bucket(i * HOUR_MS, c, c, c) for i, c in enumerate(closes)]

    daily = {"B0OLDER001": buckets(1_000, 900), "B0YOUNG001": buckets(900)}
    hourly = {"B0OLDER001": buckets(1_000, 900, 800), "B0YOUNG001": buckets(1_000, 950, 900)}
    assert spark_points(daily, hourly, "B0OLDER001") == SparkPoints([1_000, 900])
    assert spark_points(daily, hourly, "B0YOUNG001") == SparkPoints([1_000, 950, 900], "hour")
    assert spark_points(daily, {}, "B0YOUNG001") == SparkPoints([900])
    assert spark_points({}, {}, "B0UNKNOWN1") == SparkPoints([])
