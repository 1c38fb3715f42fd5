"""Alerts reach only destinations their owner confirmed, end to end: the API (real
Redis, chDB, SQLite) queues the confirmation messages, the alerts role's account-message
sender mails them to a real SMTP server, the test opens the links it finds in those
e-mails, and the real alerts worker sends price alerts over the same SMTP server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from alerts.worker import AlertsWorker
from pricewatch.keys import PRICE_CHANGES, Keys
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.streams import PartitionedStream
from tests.alerts.conftest import account_mailer, make_config, publish, smtp_channel
from tests.api.calls import link_token, post_subscription, sign_up
from tests.api.conftest import DAY
from tests.egress import safe_client
from tests.mail import MailRecorder, link_in, smtp_server
from tests.observations import price_change, seed_product
from tests.services import eventually

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

ASIN = "B0VERIFY01"
NOW = 1_800_000_000_000
ACCOUNT_MESSAGE = "X-Pricewatch-Account-Message"


class Roles:
    """The alerts role's two loops, running in this test's event loop."""

    def __init__(
        self, recorder: MailRecorder, worker: AlertsWorker, redis_client: Any, keys: Keys
    ) -> None:
        self.recorder = recorder
        self.worker = worker
        self.redis = redis_client
        self.keys = keys

    async def settled(self) -> None:
        """Every price change read and acked, then two sweeps with nothing to send:
        an alert that could still go out would have gone out by then."""
        await drained(self.redis, self.keys)
        start = self.worker.sweeps
        await eventually(lambda: self.worker.sweeps >= start + 2 and self.worker.idle())

    def alerts(self) -> list[EmailMessage]:
        return [m for m in self.recorder.messages if m[ACCOUNT_MESSAGE] is None]

    def account_mail(self, to: str) -> list[EmailMessage]:
        return [
            m for m in self.recorder.messages if m[ACCOUNT_MESSAGE] is not None and m["To"] == to
        ]


@pytest.fixture
async def roles(
    redis_client: redis_lib.Redis, keys: Keys, sql_url: str, price_store: PriceStore
) -> AsyncIterator[Roles]:
    recorder = MailRecorder()
    with smtp_server(recorder) as port:
        engine = sql.create_engine(sql_url)
        worker_email, mailer_email = smtp_channel(port), smtp_channel(port)
        http = safe_client(
            connect_timeout_s=1, read_timeout_s=1, host_concurrency=1, breaker_cooldown_s=1
        )

        async def prices(wanted: list[Any]) -> Any:
            return await asyncio.to_thread(price_store.last_accepted, wanted)

        worker = AlertsWorker(
            client=redis_client,
            keys=keys,
            db=engine,
            channels={sql.NotificationType.EMAIL: worker_email},
            config=make_config(),
        )
        mailer = account_mailer(
            redis_client,
            keys,
            engine,
            mailer_email,
            http,
            prices=prices,
            retry_ms=2_000,
            send_timeout_s=1.0,
            block_ms=50,
        )
        stop = asyncio.Event()
        tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(mailer.run(stop))]
        try:
            yield Roles(recorder, worker, redis_client, keys)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 15)
            for closing in (
                worker_email.aclose(),
                mailer_email.aclose(),
                http.aclose(),
                engine.dispose(),
            ):
                with contextlib.suppress(Exception):
                    await closing


def the_drop(redis_client: redis_lib.Redis, keys: Keys) -> None:
    """What ingest publishes when the price falls from 30.00 to 20.00."""
    drop = price_change(2000, 3000, event_id="drop-1", asin=ASIN, observed_at=NOW, title="Kettle")
    publish(redis_client, keys, drop)


async def drained(redis_client: redis_lib.Redis, keys: Keys) -> None:
    """Wait until the alerts consumer has read and acked every price change."""
    stream = PartitionedStream(keys, PRICE_CHANGES, 2)

    def done() -> bool:
        groups = [redis_client.xinfo_groups(k) for k in stream.stream_keys()]
        return all(g and g[0]["pending"] == 0 and g[0]["lag"] == 0 for g in groups)

    await eventually(done, timeout=15)


async def open_link(client: AsyncTestClient[Litestar], link: str) -> str:
    """Open the link as a browser would (a GET of its page); its token."""
    page = await client.get(link.removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200, page.text
    return link_token(link)


async def subscribe(
    client: AsyncTestClient[Litestar], headers: dict[str, str], target: str | None
) -> int:
    created = await post_subscription(client, headers, ASIN, 25, target=target)
    assert created.status_code == 201, created.text
    sub_id: int = created.json()["subscriptionID"]
    return sub_id


async def test_alerts_wait_for_confirmation_then_reach_each_confirmed_address_once(
    client: AsyncTestClient[Litestar],
    roles: Roles,
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(NOW - 2 * DAY, 3000), (NOW - DAY, 2000)])
    headers = await sign_up(client, "owner@example.org", verify=False)
    await subscribe(client, headers, None)
    await subscribe(client, headers, "friend@example.org")
    the_drop(redis_client, keys)
    await drained(redis_client, keys)

    # the messages asking for confirmation arrived; no alert went anywhere
    [verify] = await eventually(lambda: roles.account_mail("owner@example.org"))
    [confirm] = await eventually(lambda: roles.account_mail("friend@example.org"))
    await roles.settled()
    assert roles.alerts() == []

    # opening the link (a mail scanner would) changes nothing
    token = await open_link(client, link_in(verify))
    await roles.settled()
    assert roles.alerts() == []
    assert (await client.post("/accounts/verify-email", json={"token": token})).status_code == 200
    [alert] = await eventually(lambda: roles.alerts())
    assert alert["To"] == "owner@example.org"
    assert str(alert["Subject"]).startswith("Price of ")

    token = await open_link(client, link_in(confirm))
    await roles.settled()
    assert len(roles.alerts()) == 1
    assert (await client.post("/targets/confirm", json={"token": token})).status_code == 200
    await eventually(lambda: len(roles.alerts()) == 2)
    await roles.settled()
    assert sorted(str(m["To"]) for m in roles.alerts()) == [
        "friend@example.org",
        "owner@example.org",
    ]


async def test_a_private_instance_sends_alerts_without_confirmation(
    make_app: Callable[..., Litestar],
    roles: Roles,
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(NOW - 2 * DAY, 3000)])
    async with AsyncTestClient(app=make_app(verify_targets=False)) as client:
        headers = await sign_up(client, "trusted@example.org", verify=False)
        await subscribe(client, headers, "colleague@example.org")
        the_drop(redis_client, keys)
        [alert] = await eventually(lambda: roles.alerts())
    assert alert["To"] == "colleague@example.org"
    assert roles.account_mail("colleague@example.org") == []
