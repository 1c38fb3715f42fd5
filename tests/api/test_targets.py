"""Targets through the JSON API: added and confirmed by their receiver before any alert
goes to them, within limits that keep confirmations from being a relay."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch.account_messages import MessageKind
from pricewatch.keys import Keys, partition_of
from pricewatch.storage.clickhouse import PriceStore
from tests.api.calls import link_token, post_subscription, post_target, queued_messages, sign_up
from tests.api.conftest import DAY, use_dns
from tests.observations import seed_product
from tests.streams import rechecks_on_stream

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

NOW = 1_800_000_000_000


async def confirmations(app: Litestar, recipient: str) -> list[str]:
    """Links (or, for webhooks, challenges) of the confirmations queued for ``recipient``."""
    return [
        m.link or m.challenge or ""
        for m in await queued_messages(app)
        if m.recipient == recipient and m.kind == MessageKind.CONFIRM_TARGET
    ]


async def test_a_new_target_gets_a_confirmation_and_only_its_owner_sees_it(
    client: AsyncTestClient[Litestar],
) -> None:
    ann = await sign_up(client, "ann@example.org")
    bob = await sign_up(client, "bob@example.org")
    added = await post_target(client, ann, "EMAIL", "  Friend@Example.org ")
    assert added.status_code == 201, added.text
    target = added.json()
    assert (target["address"], target["confirmed"]) == ("friend@example.org", False)
    assert target["lastSentAt"] is not None
    [link] = await confirmations(client.app, "friend@example.org")
    assert link.startswith("http://127.0.0.1:8000/confirm?token=")

    # the same address again is the same target, and no second message
    again = await post_target(client, ann, "EMAIL", "friend@example.org")
    assert again.json()["targetID"] == target["targetID"]
    assert len(await confirmations(client.app, "friend@example.org")) == 1

    assert (await client.get("/targets", headers=bob)).json() == []
    path = f"/targets/{target['targetID']}"
    assert (await client.delete(path, headers=bob)).status_code == 404
    assert (await client.post(f"{path}/resend", headers=bob)).status_code == 404
    assert [t["targetID"] for t in (await client.get("/targets", headers=ann)).json()] == [
        target["targetID"]
    ]
    assert (await client.delete(path, headers=ann)).status_code == 204
    assert (await client.get("/targets", headers=ann)).json() == []


async def test_what_cannot_be_a_destination_is_refused_with_a_reason(
    client: AsyncTestClient[Litestar],
) -> None:
    headers = await sign_up(client, "odd@example.org")
    for kind, address, reason in (
        ("EMAIL", "not an address", "not an e-mail address"),
        ("EMAIL", "odd@example.org", "your account's own e-mail address"),
        ("SMS", "555-0100", "international form"),
        ("WEBHOOK", "http://127.0.0.1:9/hook", "loopback"),
        ("WEBHOOK", "https://nowhere.example.org/", "does not resolve"),
        ("WEBHOOK", "file:///etc/passwd", "only http"),
    ):
        response = await post_target(client, headers, kind, address)
        assert response.status_code == 400, (address, response.text)
        assert reason in response.json()["detail"], (address, response.json())
    assert await queued_messages(client.app) == [
        m for m in await queued_messages(client.app) if m.kind == MessageKind.VERIFY_EMAIL
    ]


async def test_opening_a_confirmation_link_confirms_nothing_pressing_the_button_does(
    client: AsyncTestClient[Litestar],
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    seed_product(price_store, asin="B0TARGET01", prices=[(NOW - DAY, 1500)])
    headers = await sign_up(client, "owner@example.org")
    created = await post_subscription(
        client, headers, "B0TARGET01", 20, target="Friend@Example.org"
    )
    assert created.status_code == 201 and created.json()["status"] == "unconfirmed"
    sub_id = created.json()["subscriptionID"]
    [link] = await confirmations(client.app, "friend@example.org")
    token = link_token(link)
    stream = keys.price_changes(partition_of("us", "B0TARGET01", 2))
    redis_client.delete(stream)

    page = await client.get(f"/confirm?token={token}")
    assert page.status_code == 200 and "Yes, send price alerts here" in page.text
    [target] = (await client.get("/targets", headers=headers)).json()
    assert target["confirmed"] is False
    got = await client.get(f"/subscriptions/{sub_id}", headers=headers)
    assert got.json()["status"] == "unconfirmed"

    done = await client.post("/targets/confirm", json={"token": token})
    assert done.status_code == 200, done.text
    [target] = (await client.get("/targets", headers=headers)).json()
    assert target["confirmed"] is True
    got = await client.get(f"/subscriptions/{sub_id}", headers=headers)
    assert got.json()["status"] == "active"
    [event] = rechecks_on_stream(redis_client, keys, "B0TARGET01")
    assert (event.event_id.startswith(f"recheck:{sub_id}:"), event.price) == (True, 1500)
    assert (await client.post("/targets/confirm", json={"token": token})).status_code == 400
    assert (await client.get(f"/confirm?token={token}")).status_code == 400


async def test_resending_waits_ten_minutes_and_new_targets_are_few_per_hour(
    make_app: Callable[..., Litestar],
) -> None:
    async with AsyncTestClient(app=make_app(clock=lambda: NOW)) as client:
        use_dns(client.app)
        headers = await sign_up(client, "busy@example.org")
        first = (await post_target(client, headers, "SMS", "+15555550100")).json()
        resend = await client.post(f"/targets/{first['targetID']}/resend", headers=headers)
        assert resend.status_code == 429
        assert int(resend.headers["retry-after"]) == 600
        assert len(await confirmations(client.app, "+15555550100")) == 1

        codes = [
            (await post_target(client, headers, "SMS", f"+1555555020{i}")).status_code
            for i in range(5)
        ]
        assert codes == [201, 201, 201, 201, 429]
        assert len((await client.get("/targets", headers=headers)).json()) == 5


async def test_a_resend_goes_out_once_the_gap_has_passed(make_app: Callable[..., Litestar]) -> None:
    now = [NOW]
    async with AsyncTestClient(app=make_app(clock=lambda: now[0])) as client:
        headers = await sign_up(client, "patient@example.org")
        target = (await post_target(client, headers, "EMAIL", "slow@example.org")).json()
        now[0] += 10 * 60 * 1000
        resend = await client.post(f"/targets/{target['targetID']}/resend", headers=headers)
        assert resend.status_code == 202, resend.text
        links = await confirmations(client.app, "slow@example.org")
        assert len(links) == 2 and links[0] != links[1]
        # either link confirms it
        assert (
            await client.post("/targets/confirm", json={"token": link_token(links[0])})
        ).status_code == 200
        confirmed = await client.post(f"/targets/{target['targetID']}/resend", headers=headers)
        assert confirmed.status_code == 409


async def test_one_address_gets_few_confirmations_whoever_asks(
    make_app: Callable[..., Litestar],
) -> None:
    async with AsyncTestClient(
        app=make_app(clock=lambda: NOW, api_register_rate_per_hour=100)
    ) as client:
        codes = []
        for i in range(6):
            headers = await sign_up(client, f"spammer{i}@example.org")
            codes.append(
                (await post_target(client, headers, "EMAIL", "victim@example.org")).status_code
            )
        assert codes == [201] * 5 + [429]
        assert len(await confirmations(client.app, "victim@example.org")) == 5


async def test_webhooks_confirm_by_challenge_unless_the_operator_allowed_the_host(
    make_app: Callable[..., Litestar],
) -> None:
    async with AsyncTestClient(app=make_app()) as client:
        use_dns(
            client.app,
            {"nas.lan": ["192.168.1.20"], "hooks.lan": ["192.168.1.21"]},
            allow=("nas.lan", "192.168.1.0/24"),
        )
        headers = await sign_up(client, "hooks@example.org")
        allowed = await post_target(client, headers, "WEBHOOK", "http://NAS.lan:8080/pricewatch")
        assert allowed.status_code == 201
        assert (allowed.json()["address"], allowed.json()["confirmed"]) == (
            "http://nas.lan:8080/pricewatch",
            True,
        )
        assert await confirmations(client.app, "http://nas.lan:8080/pricewatch") == []

        # reachable (its address is in an allowed range) but not itself allowed: challenged
        challenged = await post_target(client, headers, "WEBHOOK", "http://hooks.lan/in")
        assert challenged.status_code == 201 and challenged.json()["confirmed"] is False
        [challenge] = await confirmations(client.app, "http://hooks.lan/in")
        assert len(challenge) >= 24

        hook = {"notificationType": "WEBHOOK", "target": "https://hooks.example.org/x"}
        public = await post_subscription(client, headers, "B0HOOKS001", **hook)
        assert public.status_code == 201 and public.json()["status"] == "unconfirmed"
        assert len(await confirmations(client.app, "https://hooks.example.org/x")) == 1


async def test_changing_a_subscriptions_target_starts_its_confirmation(
    client: AsyncTestClient[Litestar],
) -> None:
    headers = await sign_up(client, "mover@example.org")
    created = await post_subscription(client, headers, "B0MOVE0001")
    assert created.json()["status"] == "active"
    path = f"/subscriptions/{created.json()['subscriptionID']}"

    moved = await client.patch(
        path, headers=headers, json={"notificationType": "SMS", "target": "+44 7700 900123"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["target"], moved.json()["status"]) == ("+447700900123", "unconfirmed")
    [link] = await confirmations(client.app, "+447700900123")

    paused = await client.patch(path, headers=headers, json={"status": "paused"})
    assert paused.json()["status"] == "paused"
    assert (
        await client.post("/targets/confirm", json={"token": link_token(link)})
    ).status_code == 200
    # confirming wakes only what was waiting; the pause was asked for
    assert (await client.get(path, headers=headers)).json()["status"] == "paused"
    resumed = await client.patch(path, headers=headers, json={"status": "active"})
    assert resumed.json()["status"] == "active"

    back = await client.patch(
        path, headers=headers, json={"notificationType": "EMAIL", "target": "MOVER@example.org"}
    )
    assert (back.json()["target"], back.json()["status"]) == (None, "active")
    bad = await client.patch(path, headers=headers, json={"notificationType": "SMS"})
    assert bad.status_code == 400 and "phone number" in bad.json()["detail"]
