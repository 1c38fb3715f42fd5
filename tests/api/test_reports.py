from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch.keys import Keys, partition_of
from pricewatch.models import Observation, Series, Source
from pricewatch.storage.streams import FIELD
from tests.api.calls import sign_up
from tests.frontiers import queued_tasks
from tests.streams import observations_in

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

ASIN = "B0REPORT01"
INSTALL = {"X-Install-Id": "install-0123456789"}


def observations(
    redis_client: redis_lib.Redis, keys: Keys, series: Series | None = Series.BUYBOX
) -> list[Observation]:
    """The reported observations of one series (all with ``None``)."""
    found = []
    for partition in range(2):
        for _, fields in redis_client.xrange(keys.observations(partition)):
            found.extend(observations_in(fields[FIELD]))
    return [obs for obs in found if series is None or obs.series is series]


def report(**overrides: Any) -> dict[str, Any]:
    body = {
        "asin": ASIN,
        "market": "de",
        "price": "1.299,00 €",
        "currency": "EUR",
        "availability": "in_stock",
        "title": "Kaffeemühle <b>Deluxe</b>",
        "url": f"https://www.amazon.de/dp/{ASIN}?th=1",
        "observedAt": time.time_ns() // 10**6 - 1000,
    }
    body.update(overrides)
    return body


async def test_anonymous_report_goes_on_the_stream(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    response = await client.post("/reports", json=report(), headers=INSTALL)
    assert response.status_code == 202, response.text
    reporter = response.json()["reporter"]
    assert reporter.startswith("install:install-0123456789:")
    assert "127.0.0.1" not in reporter and "testclient" not in reporter
    [obs] = observations(redis_client, keys)
    assert (obs.market, obs.asin, obs.price, obs.currency) == ("de", ASIN, 129900, "EUR")
    assert obs.source == Source.EXTENSION and obs.reporter == reporter
    assert obs.title == "Kaffeemühle <b>Deluxe</b>"
    # a report counts as a view of the product
    assert redis_client.hgetall(keys.views("de", ASIN)) == {b"report": b"1"}


async def test_signed_in_reporter_is_the_account(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    headers = await sign_up(client, "rep@example.org")
    me = (await client.get("/accounts/me", headers=headers)).json()
    response = await client.post("/reports", json=report(price=12.5), headers=headers)
    assert response.status_code == 202
    [obs] = observations(redis_client, keys)
    assert obs.reporter == f"user:{me['userID']}" and obs.price == 1250


async def test_out_of_stock_report_without_price(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    body = report(price=None, currency=None, availability="out_of_stock")
    assert (await client.post("/reports", json=body, headers=INSTALL)).status_code == 202
    [obs] = observations(redis_client, keys)
    assert obs.price is None and obs.availability == "out_of_stock"


async def test_a_report_with_the_page_speaks_for_every_series(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    page = {
        "soldBy": "Amazon.de",
        "listPrice": "1.499,00 €",
        "newOffersFrom": 1250.5,
        "usedFrom": "999,99",
        "salesRank": 321,
    }
    response = await client.post("/reports", json=report(page=page), headers=INSTALL)
    assert response.status_code == 202, response.text
    found = {obs.series: obs for obs in observations(redis_client, keys, series=None)}
    assert {series: obs.price for series, obs in found.items()} == {
        Series.BUYBOX: 129900,
        Series.AMAZON: 129900,
        Series.NEW: 125050,
        Series.USED: 99999,
        Series.LIST: 149900,
        Series.CHEAPEST_NEW: 125050,
        Series.SALES_RANK: 321,
    }
    # one entry for the whole page; only the buy box carries the (reported) title
    assert sum(redis_client.xlen(keys.observations(p)) for p in range(2)) == 1
    assert all(obs.reporter == found[Series.BUYBOX].reporter for obs in found.values())
    assert [s for s, obs in found.items() if obs.title] == [Series.BUYBOX]
    assert found[Series.SALES_RANK].currency is None


async def test_a_report_without_the_page_speaks_for_the_buy_box_only(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    assert (await client.post("/reports", json=report(), headers=INSTALL)).status_code == 202
    assert [obs.series for obs in observations(redis_client, keys, series=None)] == [Series.BUYBOX]


BAD_REPORTS: dict[str, tuple[Any, str]] = {
    "negative price": (report(price=-5), "negative"),
    "NaN as text": (report(price="NaN"), "is not a price"),
    # price text is read exactly: no sign dropped, no exponent, nothing around it
    "negative text": (report(price="-5.00"), "no sign or exponent"),
    "exponent text": (report(price="1e308"), "no sign or exponent"),
    "words around": (report(price="about $5"), "is not a price"),
    "infinite": (json.dumps(report(price=12.5)).replace("12.5", "1e309"), ""),
    "huge price": (report(price=1e20), "implausibly large"),
    "zero price": (report(price=0), "above zero"),
    "sub-cent": (report(price=12.345), "decimal places"),
    "wrong currency for market": (report(currency="USD", price=12.5), "wrong for market de"),
    "price text in another currency": (report(price="$12.50", currency=None), "USD"),
    "bad ASIN": (report(asin="B0REPORT0!"), "not a valid ASIN"),
    "ASIN with bad check digit": (report(asin="0123456788"), "not a valid ASIN"),
    "unknown market": (report(market="zz"), "unknown market"),
    "url of another market": (report(url=f"https://www.amazon.com/dp/{ASIN}"), "amazon.de"),
    "url of another site": (report(url="https://evil.example/dp/B0REPORT01"), "amazon.de"),
    "in stock without price": (report(price=None), "needs a price"),
    "future": (report(observedAt=time.time_ns() // 10**6 + 3_600_000), "future"),
    "ancient": (report(observedAt="2001-01-01T00:00:00Z"), "7 days"),
    "bad availability": (report(availability="maybe"), "availability"),
    "unknown field": (report(admin=True), "admin"),
    "price as object": (report(price={"amount": 1}), "price"),
    "page price in another currency": (report(page={"usedFrom": "$5.00"}), "page.usedFrom"),
    "page price zero": (report(page={"listPrice": 0}), "page.listPrice"),
    "page rank zero": (report(page={"salesRank": 0}), "salesRank"),
    "page unknown field": (report(page={"secret": 1}), "secret"),
}


@pytest.mark.parametrize("case", list(BAD_REPORTS))
async def test_bad_reports_are_400_and_publish_nothing(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys, case: str
) -> None:
    body, reason = BAD_REPORTS[case]
    if isinstance(body, str):  # not encodable by a JSON library: sent as raw text
        response = await client.post(
            "/reports", content=body, headers={**INSTALL, "Content-Type": "application/json"}
        )
    else:
        response = await client.post("/reports", json=body, headers=INSTALL)
    assert response.status_code == 400, response.text
    assert reason in response.text
    assert observations(redis_client, keys) == []


async def test_nan_literal_and_broken_json_are_400(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    raw = json.dumps(report()).replace('"1.299,00 \\u20ac"', "NaN")
    assert "NaN" in raw
    for content in (raw, b"{not json", b""):
        response = await client.post(
            "/reports", content=content, headers={**INSTALL, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
    assert observations(redis_client, keys) == []


async def test_anonymous_report_needs_an_install_id(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    for headers in ({}, {"X-Install-Id": "short"}, {"X-Install-Id": "bad id with spaces!"}):
        response = await client.post("/reports", json=report(), headers=headers)
        assert response.status_code == 400
        assert "X-Install-Id" in response.text
    assert observations(redis_client, keys) == []


async def test_a_bad_token_is_401_not_anonymous(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post(
        "/reports", json=report(), headers={**INSTALL, "Authorization": "Bearer forged"}
    )
    assert response.status_code == 401


async def test_oversized_body_is_413(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    body = json.dumps(report(title="x" * 900)).encode() + b" " * 20_000
    response = await client.post(
        "/reports", content=body, headers={**INSTALL, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert observations(redis_client, keys) == []


async def test_reports_are_rate_limited_per_reporter_and_per_ip(
    make_app: Callable[..., Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    app = make_app(api_report_rate_per_min=2, api_report_ip_rate_per_min=4)
    async with AsyncTestClient(app=app) as client:
        one = {"X-Install-Id": "install-aaaaaaaa"}
        two = {"X-Install-Id": "install-bbbbbbbb"}
        codes = [
            (await client.post("/reports", json=report(), headers=one)).status_code
            for _ in range(3)
        ]
        assert codes == [202, 202, 429]
        # another reporter from the same address: every attempt so far counts per IP (4)
        first = await client.post("/reports", json=report(), headers=two)
        assert first.status_code == 202
        limited = await client.post("/reports", json=report(), headers=two)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert "report-ip" in limited.json()["detail"]
    assert len(observations(redis_client, keys)) == 3


async def test_a_report_on_a_product_no_crawl_has_seen_asks_for_a_first_crawl_once(
    make_app: Callable[..., Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    # ingest will not keep the report (it never creates a product), so the page the
    # reporter is looking at is queued for a crawl, within the lookup limits
    app = make_app(
        api_lookup_crawls_per_ip_per_hour=3,
        api_lookup_crawl_budget_share=1.0,
        direct_interval_s=1.0,
    )
    async with AsyncTestClient(app=app) as client:
        for i in range(6):
            body = report(asin=f"B0UNSEEN{i:02d}", url=None)
            assert (await client.post("/reports", json=body, headers=INSTALL)).status_code == 202
        assert len(queued_tasks(redis_client, keys)) == 3
        # a product ingest tracks needs no crawl from a report
        redis_client.hset(
            keys.last_price(partition_of("de", ASIN, 2)), f"de:{ASIN}:buybox", b'[1,1,"in_stock"]'
        )
        redis_client.delete(*redis_client.scan_iter(match=keys.rate_limit("*", "*")))
        assert (await client.post("/reports", json=report(), headers=INSTALL)).status_code == 202
    assert len(queued_tasks(redis_client, keys)) == 3
