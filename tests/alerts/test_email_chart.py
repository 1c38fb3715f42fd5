"""Alert e-mails worth opening: the product, old -> new price, the other prices now,
working links and the last 30 days of the series as an inline PNG (multipart/related,
shown by its Content-ID), read from the real price history (chDB) and sent through a
real SMTP server; and an e-mail without chart, never a lost alert, when the history
cannot be read."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image

from alerts.charts import ChartReader, chart_of
from alerts.rendering import email_bytes
from alerts.worker import AlertsWorker
from pricewatch import alert_links
from pricewatch.chart_png import HEIGHT, WIDTH, ChartData, render_png
from pricewatch.history import DAY_MS, Bucket
from pricewatch.keys import Keys
from pricewatch.models import Series
from pricewatch.settings import Settings
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from tests.alerts.conftest import change, make_config, publish, smtp_channel, subscribe
from tests.alerts.test_rendering import notice as rendered_notice
from tests.api.conftest import api_settings, make_app  # noqa: F401 - fixtures
from tests.mail import MailRecorder, links_in, parse_email, plain_text
from tests.observations import observation, price_change, seed_product
from tests.services import eventually
from tests.sql_store import engine_on, subscribed

IMAGE = "https://m.media-amazon.com/images/I/71kettle.jpg"
TITLE = "Wasserkocher Edelstahl 1,7 l"
# the chart's colours (pricewatch.chart_png): the price line and the threshold
BLUE = (37, 99, 235)
RED = (220, 38, 38)


def related_parts(message: EmailMessage) -> tuple[str, EmailMessage]:
    """(the HTML, the PNG part) of the message's one multipart/related part."""
    [related] = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    assert isinstance(related, EmailMessage)
    parts = list(related.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/html", "image/png"]
    return str(parts[0].get_content()), parts[1]  # type: ignore[return-value]


def chart_image(png_part: EmailMessage) -> Image.Image:
    image = Image.open(io.BytesIO(png_part.get_content()))
    assert image.format == "PNG"
    return image.convert("RGB")


def colour_share(image: Image.Image, colour: tuple[int, int, int]) -> float:
    counts = dict((c, n) for n, c in image.getcolors(maxcolors=1 << 16) or [])
    return counts.get(colour, 0) / (image.width * image.height)


def assert_chart_is_referenced(message: EmailMessage) -> tuple[str, Image.Image]:
    """The HTML shows the PNG part by its Content-ID; (the HTML, the decoded chart)."""
    html, png = related_parts(message)
    cid = str(png["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in html
    assert png.get_content_disposition() == "inline"
    image = chart_image(png)
    assert image.size == (WIDTH, HEIGHT)
    assert colour_share(image, BLUE) > 0.002, "no price line drawn"
    assert colour_share(image, RED) > 0.001, "no threshold line drawn"
    return html, image


# --- the chart itself (pure) -----------------------------------------------------------


def test_the_chart_is_a_png_with_the_line_and_the_threshold() -> None:
    start = 1_700_000_000_000
    points = ((start, 129_99), (start + 10 * DAY_MS, None), (start + 12 * DAY_MS, 99_99))
    png = render_png(ChartData(points, start, start + 30 * DAY_MS, 105_00), str)
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    assert colour_share(image, BLUE) > 0.002 and colour_share(image, RED) > 0.001
    # no threshold (back in stock): no red line
    plain = render_png(ChartData(points, start, start + 30 * DAY_MS), str)
    assert plain is not None
    assert colour_share(Image.open(io.BytesIO(plain)).convert("RGB"), RED) == 0
    # nothing but "no price": nothing to draw
    assert render_png(ChartData(((start, None),), start, start + DAY_MS, 1), str) is None


def test_the_chart_takes_the_series_that_fired_and_tells_the_others() -> None:
    end = 1_700_000_000_000
    start = end - 30 * DAY_MS
    hour = 3_600_000
    series = {
        "buybox": [Bucket(start - 5 * hour, 120_00, 120_00, 120_00)]
        + [Bucket(start + h * hour, 110_00, 110_00, 110_00) for h in range(3)],
        "used": [Bucket(end - hour, 45_00, 45_00, 45_00)],
        "amazon": [Bucket(end - hour, None, None, None)],
    }
    n = rendered_notice(observed_at=end - 10, new_price=89_99, series="buybox")
    charted = chart_of(n, series, end)
    assert charted.chart is not None
    assert charted.chart.start_ms == start and charted.chart.threshold == n.threshold
    # clipped to the window, and the change that fired is its last point
    assert charted.chart.points[0] == (start, 120_00)
    assert charted.chart.points[-1] == (end - 10, 89_99)
    # other prices now: only those with a price
    assert charted.others == (("used", 45_00),)


# --- rendered e-mails ------------------------------------------------------------------


def test_an_email_with_chart_mirrors_its_facts_in_both_parts() -> None:
    start = 1_700_000_000_000
    points = ((start, 129_900), (start + 20 * DAY_MS, 89_999))
    n = rendered_notice(
        image=IMAGE,
        chart=ChartData(points, start, start + 30 * DAY_MS, threshold=100_000),
        others=(("used", 45_00), ("list", 149_900), ("sales_rank", 12)),
    )
    message = parse_email(email_bytes(n, "Pricewatch <alerts@p.test>"))
    assert message.get_content_type() == "multipart/alternative"
    html, _ = assert_chart_is_referenced(message)
    text = plain_text(message)
    assert f'<img src="{IMAGE}"' in html
    for body in (text, html):
        assert "Kaffeemaschine „Crème“ 1,5 l" in body
        assert "899,99\u00a0€" in body and "1.299,00\u00a0€" in body
        assert "Other prices now: Used: 45,00\u00a0€, List price: 1.499,00\u00a0€." in body
        assert "Price over the last 30 days: lowest 899,99\u00a0€, highest 1.299,00\u00a0€." in (
            body.replace("&nbsp;", "\u00a0")
        )
        assert "12" not in body.split("Other prices now")[1].split(".")[0]  # no sales rank
    assert "1.299,00\u00a0€</s>" in html and "&rarr;" in html
    # the same links in both parts
    plain_links = set(re.findall(r"https?://\S+", text))
    html_links = {link for link in links_in(message) if link != IMAGE}
    assert plain_links == html_links
    # no chart for a correction
    correction = dataclasses.replace(
        n,
        kind=sql.NotificationKind.CORRECTION,
        new_price=None,
        old_price=None,
        refuted_price=89_999,
        actual_price=124_900,
    )
    assert not [
        p
        for p in parse_email(email_bytes(correction, "a@p.test")).walk()
        if p.get_content_type() == "image/png"
    ]


# --- end to end: history in chDB, the worker, SMTP, the API's pages -------------------


def history_reader(store: PriceStore) -> Callable[..., Any]:
    async def read(market: str, asin: str, start: int, end: int) -> Mapping[str, Sequence[Bucket]]:
        return await asyncio.to_thread(store.histories, market, asin, start, end, "hourly")

    return read


@pytest.mark.redis
@pytest.mark.clickhouse
@pytest.mark.usefixtures("root_logging_kept")
async def test_an_alert_email_shows_the_last_30_days_and_its_links_work(
    smtp: tuple[MailRecorder, int],
    redis_client: Any,
    keys: Keys,
    price_store: PriceStore,
    sql_url: str,
    api_settings: Settings,  # noqa: F811 - the fixture
    make_app: Callable[..., Litestar],  # noqa: F811 - the fixture
) -> None:
    recorder, port = smtp
    asin = "B0CHART001"
    now = time.time_ns() // 1_000_000
    seed_product(
        price_store,
        asin=asin,
        market="de",
        currency="EUR",
        title=TITLE,
        prices=[
            (now - 40 * DAY_MS, 39_99),
            (now - 22 * DAY_MS, 34_99),
            (now - 15 * DAY_MS, None),
            (now - 13 * DAY_MS, 36_99),
            (now - 4 * DAY_MS, 31_99),
        ],
    )
    price_store.insert_observations(
        [
            observation(
                now - 2 * DAY_MS, 19_50, market="de", asin=asin, currency="EUR", series=Series.USED
            )
        ]
    )
    drop = price_change(
        24_49,
        31_99,
        event_id="ev-chart-1",
        market="de",
        asin=asin,
        currency="EUR",
        observed_at=now - 60_000,
        title=TITLE,
        image=IMAGE,
    )
    price_store.insert_observations(
        [observation(now - 60_000, 24_49, market="de", asin=asin, currency="EUR")]
    )
    async with engine_on(sql_url) as engine:
        sub = await subscribed(engine, "eva@example.com", asin, 25_00, market="de")
        charts = ChartReader(history_reader(price_store), timeout_s=5)
        email = smtp_channel(port)
        worker = AlertsWorker(
            client=redis_client,
            keys=keys,
            db=engine,
            channels={sql.NotificationType.EMAIL: email},
            config=make_config(
                public_url=api_settings.public_url, secret=alert_links.alert_secret(api_settings)
            ),
            charts=charts,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            publish(redis_client, keys, drop)
            await eventually(lambda: len(recorder.messages) == 1, timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await email.aclose()
    assert charts.reads == 1
    [message] = recorder.messages
    html, image = assert_chart_is_referenced(message)
    text = plain_text(message)
    for body in (text, html):
        assert TITLE in body
        assert "24,49\u00a0€" in body and "31,99\u00a0€" in body and "25,00\u00a0€" in body
        assert "Other prices now: Used: 19,50\u00a0€." in body
    assert f'<img src="{IMAGE}"' in html
    # the chart's steps over 30 days: 39,99 (in force when they began), 34,99, none,
    # 36,99, 31,99, then 24,49
    assert "lowest 24,49\u00a0€, highest 39,99\u00a0€" in text
    Path("/tmp/shots").mkdir(exist_ok=True)
    image.save("/tmp/shots/email-chart-e2e.png")

    # the links work against the API over the same stores
    links = links_in(message)
    product_page = next(link for link in links if "/p/de/" in link)
    stop_link = next(link for link in links if "/stop?token=" in link)
    assert stop_link == alert_links.stop_url(
        api_settings.public_url, sub.id, alert_links.alert_secret(api_settings)
    )
    async with AsyncTestClient(app=make_app()) as client:
        page = await client.get(product_page.removeprefix(api_settings.public_url))
        assert page.status_code == 200 and TITLE in page.text
        asked = await client.get(stop_link.removeprefix(api_settings.public_url))
        assert asked.status_code == 200 and "Stop this alert?" in asked.text
        stopped = await client.post(
            stop_link.removeprefix(api_settings.public_url),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert stopped.status_code == 200 and "Alert stopped" in stopped.text


@pytest.mark.redis
async def test_without_history_the_alert_goes_without_chart_and_is_read_once(
    db: Any,
    smtp: tuple[MailRecorder, int],
    start_worker: Any,
    redis_client: Any,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, port = smtp
    asked: list[str] = []

    async def broken(market: str, asin: str, start: int, end: int) -> Mapping[str, Any]:
        asked.append(asin)
        raise ConnectionError("ClickHouse is down")

    await subscribe(db, "a@example.com", 20_00)
    await subscribe(db, "b@example.com", 21_00)
    await subscribe(db, "c@example.com", 22_00)
    charts = ChartReader(broken, timeout_s=1)
    running = await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)}, charts=charts)
    with caplog.at_level(logging.WARNING, logger="alerts.charts"):
        publish(redis_client, keys, change(18_00, 25_00))
        await eventually(lambda: len(recorder.messages) == 3)
        await running.settled()
    # every alert went, each without a chart, and the history was asked once
    assert asked == [asked[0]]
    for message in recorder.messages:
        assert not [p for p in message.walk() if p.get_content_maintype() == "image"]
        assert "dropped to $18.00" in plain_text(message)
    [logged] = [r.getMessage() for r in caplog.records if "no chart" in r.getMessage()]
    assert logged.startswith(f"alerts: no chart for us:{asked[0]} (event ")
    assert logged.endswith("sending without it: ConnectionError: ClickHouse is down")


# --- how it looks ----------------------------------------------------------------------


def _product_picture() -> bytes:
    picture = Image.new("RGB", (300, 300), (245, 245, 245))
    from PIL import ImageDraw

    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle([(80, 60), (220, 250)], radius=30, fill=(120, 130, 140))
    draw.rectangle([(110, 30), (190, 60)], fill=(90, 95, 100))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.browser
def test_the_email_as_a_mail_client_shows_it() -> None:
    from tests.browser import chromium

    end = time.time_ns() // 1_000_000
    start = end - 30 * DAY_MS
    points = (
        (start, 39_99),
        (start + 8 * DAY_MS, 34_99),
        (start + 15 * DAY_MS, None),
        (start + 17 * DAY_MS, 36_99),
        (start + 26 * DAY_MS, 31_99),
        (end - 60_000, 24_49),
    )
    n = rendered_notice(
        market="de",
        currency="EUR",
        title=TITLE,
        image=IMAGE,
        threshold=25_00,
        new_price=24_49,
        old_price=31_99,
        sold_by="Küchenwelt GmbH",
        chart=ChartData(points, start, end, 25_00),
        others=(("used", 19_50), ("list", 49_99)),
    )
    message = parse_email(email_bytes(n, "Pricewatch <alerts@p.test>"))
    html, png = related_parts(message)
    cid = str(png["Content-ID"]).strip("<>")
    # what a mail client does with a cid: reference
    data = base64.b64encode(png.get_content()).decode()
    page_html = html.replace(f"cid:{cid}", f"data:image/png;base64,{data}")
    picture = _product_picture()
    Path("/tmp/shots").mkdir(exist_ok=True)
    with chromium() as browser:
        for width in (1280, 390):
            context = browser.new_context(viewport={"width": width, "height": 900})
            context.route(
                "**/*",
                lambda route: (
                    route.fulfill(body=picture, content_type="image/png")
                    if route.request.url == IMAGE
                    else route.abort()
                ),
            )
            page = context.new_page()
            page.set_content(page_html, wait_until="load")
            chart = page.locator('img[alt^="Price over the last 30 days"]')
            box = chart.bounding_box()
            assert box is not None and 0 < box["width"] <= min(width, 600) + 1
            # the chart keeps its proportions on a narrow screen
            assert abs(box["height"] / box["width"] - HEIGHT / WIDTH) < 0.02
            # nothing wider than the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=f"/tmp/shots/email-{width}.png", full_page=True)
            context.close()
