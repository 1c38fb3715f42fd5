"""The account from registration to deletion, through the JSON API over real Redis,
chDB and SQLite: verification and reset links (single use, expiring, never acted on by
opening them), password rules and changes, signing out everywhere, limits, export and
deletion."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch.account_messages import MessageKind
from pricewatch.keys import Keys, partition_of
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from tests.api.calls import (
    link_token,
    post_subscription,
    post_target,
    queued_messages,
    sign_up,
    verify_email,
)
from tests.api.conftest import DAY, use_dns
from tests.clock import ManualClock
from tests.observations import seed_product
from tests.sql_store import engine_on
from tests.streams import rechecks_on_stream

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

PASSWORD = "correct horse battery"
NOW = 1_800_000_000_000


async def messages_to(app: Litestar, recipient: str, kind: MessageKind) -> list[str]:
    """The links of the messages of ``kind`` queued for ``recipient``."""
    return [
        m.link or ""
        for m in await queued_messages(app)
        if m.recipient == recipient and m.kind == kind
    ]


async def me(client: AsyncTestClient[Litestar], headers: dict[str, str]) -> dict[str, object]:
    response = await client.get("/accounts/me", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_registering_sends_a_verification_link_that_works_once(
    client: AsyncTestClient[Litestar],
) -> None:
    headers = await sign_up(client, "New@Example.org", verify=False)
    assert (await me(client, headers))["emailVerified"] is False
    [link] = await messages_to(client.app, "new@example.org", MessageKind.VERIFY_EMAIL)
    assert link.startswith("http://127.0.0.1:8000/verify-email?token=")
    token = link_token(link)

    # opening the link shows a page with a button and confirms nothing
    page = await client.get(f"/verify-email?token={token}")
    assert page.status_code == 200 and "Confirm my e-mail address" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert (await me(client, headers))["emailVerified"] is False

    done = await client.post("/accounts/verify-email", json={"token": token})
    assert done.status_code == 200 and "verified" in done.json()["detail"]
    assert (await me(client, headers))["emailVerified"] is True
    again = await client.post("/accounts/verify-email", json={"token": token})
    assert again.status_code == 400 and "not valid" in again.json()["detail"]
    assert (await client.get(f"/verify-email?token={token}")).status_code == 400
    assert (
        await client.post("/accounts/me/verification-email", headers=headers)
    ).status_code == 409


async def test_a_verification_link_expires(make_app: Callable[..., Litestar]) -> None:
    clock = ManualClock(NOW)
    async with AsyncTestClient(app=make_app(clock=clock, confirm_link_ttl_s=3600)) as client:
        await sign_up(client, "late@example.org", verify=False)
        [link] = await messages_to(client.app, "late@example.org", MessageKind.VERIFY_EMAIL)
        clock.ms += 3600 * 1000
        assert (await client.get(link.removeprefix("http://127.0.0.1:8000"))).status_code == 400
        late = await client.post("/accounts/verify-email", json={"token": link_token(link)})
        assert late.status_code == 400


async def test_the_verification_email_is_resent_at_most_every_ten_minutes(
    client: AsyncTestClient[Litestar],
) -> None:
    headers = await sign_up(client, "again@example.org", verify=False)
    # the registration's own e-mail counts
    refused = await client.post("/accounts/me/verification-email", headers=headers)
    assert refused.status_code == 429
    assert 590 <= int(refused.headers["retry-after"]) <= 600
    assert len(await messages_to(client.app, "again@example.org", MessageKind.VERIFY_EMAIL)) == 1


async def test_the_password_rule_says_what_is_wrong_in_a_sentence(
    client: AsyncTestClient[Litestar],
) -> None:
    for password in (" " * 8, "\t \n \t \n ", "short"):
        response = await client.post(
            "/accounts", json={"email": "p@example.org", "password": password}
        )
        assert response.status_code == 400, password
        detail = response.json()["detail"]
        assert detail == ("Choose a password of at least 8 characters, not all of them spaces."), (
            detail
        )
    ok = await client.post("/accounts", json={"email": "p@example.org", "password": " a " * 3})
    assert ok.status_code == 201


async def test_a_reset_request_answers_the_same_whoever_asks(
    client: AsyncTestClient[Litestar],
) -> None:
    await sign_up(client, "known@example.org")
    answers = []
    for email in ("known@example.org", "nobody@example.org", "KNOWN@example.org"):
        response = await client.post("/accounts/password-reset", json={"email": email})
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202
    assert len(await messages_to(client.app, "known@example.org", MessageKind.RESET_PASSWORD)) == 2
    assert await messages_to(client.app, "nobody@example.org", MessageKind.RESET_PASSWORD) == []

    # beyond its share an address gets nothing more, and the answer does not tell
    for _ in range(3):
        response = await client.post(
            "/accounts/password-reset", json={"email": "known@example.org"}
        )
        assert (response.status_code, response.json()) == answers[0]
    assert len(await messages_to(client.app, "known@example.org", MessageKind.RESET_PASSWORD)) == 3


async def test_reset_requests_are_limited_per_client_ip(make_app: Callable[..., Litestar]) -> None:
    # a pinned clock: the fixed window cannot roll over between the requests
    async with AsyncTestClient(
        app=make_app(api_auth_rate_per_min=2, clock=ManualClock(NOW))
    ) as client:
        codes = [
            (
                await client.post("/accounts/password-reset", json={"email": f"x{i}@example.org"})
            ).status_code
            for i in range(3)
        ]
        assert codes == [202, 202, 429]


async def test_a_reset_sets_the_password_ends_every_session_and_verifies_the_email(
    client: AsyncTestClient[Litestar],
) -> None:
    first = await sign_up(client, "forgetful@example.org", verify=False)
    await client.post("/accounts/password-reset", json={"email": "forgetful@example.org"})
    [link] = await messages_to(client.app, "forgetful@example.org", MessageKind.RESET_PASSWORD)
    assert link.startswith("http://127.0.0.1:8000/reset-password?token=")
    token = link_token(link)
    page = await client.get(f"/reset-password?token={token}")
    assert page.status_code == 200 and "Choose a new password" in page.text

    weak = await client.post(
        "/accounts/password-reset/complete", json={"token": token, "password": "        "}
    )
    assert weak.status_code == 400 and "at least 8 characters" in weak.json()["detail"]
    done = await client.post(
        "/accounts/password-reset/complete", json={"token": token, "password": "a brand new secret"}
    )
    assert done.status_code == 200, done.text
    assert (await client.get("/accounts/me", headers=first)).status_code == 401
    old = await client.post(
        "/auth/token", json={"email": "forgetful@example.org", "password": PASSWORD}
    )
    assert old.status_code == 401
    new = await client.post(
        "/auth/token", json={"email": "forgetful@example.org", "password": "a brand new secret"}
    )
    assert new.status_code == 200
    headers = {"Authorization": f"Bearer {new.json()['token']}"}
    assert (await me(client, headers))["emailVerified"] is True
    # single use
    replay = await client.post(
        "/accounts/password-reset/complete", json={"token": token, "password": "yet another secret"}
    )
    assert replay.status_code == 400


async def test_a_reset_link_expires(make_app: Callable[..., Litestar]) -> None:
    clock = ManualClock(NOW)
    async with AsyncTestClient(app=make_app(clock=clock, password_reset_ttl_s=600)) as client:
        await sign_up(client, "slow@example.org")
        await client.post("/accounts/password-reset", json={"email": "slow@example.org"})
        [link] = await messages_to(client.app, "slow@example.org", MessageKind.RESET_PASSWORD)
        clock.ms += 600 * 1000
        late = await client.post(
            "/accounts/password-reset/complete",
            json={"token": link_token(link), "password": "a new secret"},
        )
        assert late.status_code == 400


async def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    client: AsyncTestClient[Litestar],
) -> None:
    here = await sign_up(client, "change@example.org")
    elsewhere = await sign_up_again(client, "change@example.org")
    wrong = await client.post(
        "/accounts/me/password",
        headers=here,
        json={"currentPassword": "not it", "newPassword": "a better password"},
    )
    assert wrong.status_code == 403
    weak = await client.post(
        "/accounts/me/password",
        headers=here,
        json={"currentPassword": PASSWORD, "newPassword": "short"},
    )
    assert weak.status_code == 400 and "at least 8" in weak.json()["detail"]
    done = await client.post(
        "/accounts/me/password",
        headers=here,
        json={"currentPassword": PASSWORD, "newPassword": "a better password"},
    )
    assert done.status_code == 204
    assert (await client.get("/accounts/me", headers=here)).status_code == 200
    assert (await client.get("/accounts/me", headers=elsewhere)).status_code == 401
    assert (
        await client.post(
            "/auth/token", json={"email": "change@example.org", "password": "a better password"}
        )
    ).status_code == 200


async def sign_up_again(client: AsyncTestClient[Litestar], email: str) -> dict[str, str]:
    signed = await client.post("/auth/token", json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200
    return {"Authorization": f"Bearer {signed.json()['token']}"}


async def test_signing_out_everywhere_revokes_every_token(
    client: AsyncTestClient[Litestar],
) -> None:
    one = await sign_up(client, "away@example.org")
    two = await sign_up_again(client, "away@example.org")
    other = await sign_up(client, "stays@example.org")
    assert (await client.delete("/accounts/me/tokens", headers=one)).status_code == 204
    for headers in (one, two):
        assert (await client.get("/accounts/me", headers=headers)).status_code == 401
    assert (await client.get("/accounts/me", headers=other)).status_code == 200


async def test_registrations_are_limited_per_client_ip_per_hour(
    make_app: Callable[..., Litestar],
) -> None:
    async with AsyncTestClient(
        app=make_app(api_register_rate_per_hour=2, clock=ManualClock(NOW))
    ) as client:
        codes = [
            (
                await client.post(
                    "/accounts", json={"email": f"r{i}@example.org", "password": PASSWORD}
                )
            ).status_code
            for i in range(3)
        ]
        assert codes == [201, 201, 429]


async def test_sign_in_attempts_are_limited_per_account(make_app: Callable[..., Litestar]) -> None:
    app = make_app(api_signin_account_rate_per_hour=3, clock=ManualClock(NOW))
    async with AsyncTestClient(app=app) as client:
        await client.post("/accounts", json={"email": "target@example.org", "password": PASSWORD})
        codes = [
            (
                await client.post(
                    "/auth/token", json={"email": "Target@example.org", "password": f"guess {i}"}
                )
            ).status_code
            for i in range(3)
        ]
        assert codes == [401, 401, 401]
        # the account had its share: even the right password waits now; another does not
        right = await client.post(
            "/auth/token", json={"email": "target@example.org", "password": PASSWORD}
        )
        assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
        await client.post("/accounts", json={"email": "other@example.org", "password": PASSWORD})
        assert (
            await client.post(
                "/auth/token", json={"email": "other@example.org", "password": PASSWORD}
            )
        ).status_code == 200


async def test_export_holds_the_account_targets_subscriptions_and_notifications(
    client: AsyncTestClient[Litestar], price_store: PriceStore, sql_url: str
) -> None:
    seed_product(price_store, asin="B0EXPORT01", prices=[(NOW - DAY, 2599)])
    headers = await sign_up(client, "export@example.org")
    await sign_up(client, "someone@example.org")
    by_sms = {"notificationType": "SMS", "target": "+1 555 555 0100"}
    sub = (await post_subscription(client, headers, "B0EXPORT01", 30, **by_sms)).json()
    async with engine_on(sql_url) as engine:
        await sql.claim_notification(engine, sub["subscriptionID"], "ev-1", "alert", 2599)

    response = await client.get("/accounts/me/export", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="pricewatch-export.json"'
    )
    data = response.json()
    assert data["account"]["email"] == "export@example.org"
    assert data["account"]["emailVerifiedAt"] is not None
    assert [(t["notificationType"], t["address"], t["confirmed"]) for t in data["targets"]] == [
        ("SMS", "+15555550100", False)
    ]
    [exported] = data["subscriptions"]
    assert (exported["subscriptionID"], exported["target"], exported["status"]) == (
        sub["subscriptionID"],
        "+15555550100",
        "unconfirmed",
    )
    [notification] = data["notifications"]
    assert (notification["eventId"], notification["price"], notification["status"]) == (
        "ev-1",
        2599,
        "pending",
    )

    table = await client.get("/accounts/me/export.csv", headers=headers)
    assert table.status_code == 200
    assert table.headers["content-type"].startswith("text/csv")
    assert "pricewatch-subscriptions.csv" in table.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [
        (r["subscriptionID"], r["productID"], r["threshold"], r["target"], r["status"])
        for r in rows
    ] == [(str(sub["subscriptionID"]), "B0EXPORT01", "30.0", "+15555550100", "unconfirmed")]
    assert (await client.get("/accounts/me/export")).status_code == 401


async def test_deleting_the_account_needs_the_password_and_takes_everything(
    client: AsyncTestClient[Litestar], sql_url: str
) -> None:
    headers = await sign_up(client, "leaving@example.org")
    other = await sign_up(client, "staying@example.org")
    for who in (headers, other):
        assert (await post_subscription(client, who, "B0LEAVE001")).status_code == 201
    await post_target(client, headers, "SMS", "+15555550100")
    me_before = await me(client, headers)

    wrong = await client.request(
        "DELETE", "/accounts/me", headers=headers, json={"password": "not it"}
    )
    assert wrong.status_code == 403
    gone = await client.request(
        "DELETE", "/accounts/me", headers=headers, json={"password": PASSWORD}
    )
    assert gone.status_code == 204
    assert (await client.get("/accounts/me", headers=headers)).status_code == 401
    assert (
        await client.post(
            "/auth/token", json={"email": "leaving@example.org", "password": PASSWORD}
        )
    ).status_code == 401
    async with engine_on(sql_url) as engine:
        user_id = int(str(me_before["userID"]))
        assert await sql.get_user(engine, user_id) is None
        assert await sql.subscriptions_of_user(engine, user_id) == []
        assert await sql.list_targets(engine, user_id) == []
        staying = await sql.get_user_by_email(engine, "staying@example.org")
        assert staying is not None
        assert len(await sql.list_subscriptions(engine, staying.id)) == 1


async def test_subscriptions_wait_for_the_account_email_and_fire_once_it_is_verified(
    client: AsyncTestClient[Litestar],
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    seed_product(price_store, asin="B0WAITING1", prices=[(NOW - DAY, 2000)])
    headers = await sign_up(client, "wait@example.org", verify=False)
    created = await post_subscription(client, headers, "B0WAITING1", 25)
    assert created.status_code == 201 and created.json()["status"] == "unconfirmed"
    sub_id = created.json()["subscriptionID"]
    got = (await client.get(f"/subscriptions/{sub_id}", headers=headers)).json()
    assert got["status"] == "unconfirmed"
    # asking to activate it does not, while the address is not verified
    patched = await client.patch(
        f"/subscriptions/{sub_id}", headers=headers, json={"status": "active"}
    )
    assert patched.json()["status"] == "unconfirmed"
    stream = keys.price_changes(partition_of("us", "B0WAITING1", 2))
    redis_client.delete(stream)

    await verify_email(client, "wait@example.org")
    got = (await client.get(f"/subscriptions/{sub_id}", headers=headers)).json()
    assert got["status"] == "active"
    [event] = rechecks_on_stream(redis_client, keys, "B0WAITING1")
    assert (event.event_id.startswith(f"recheck:{sub_id}:"), event.price) == (True, 2000)


async def test_without_verification_every_destination_counts_as_confirmed(
    make_app: Callable[..., Litestar],
) -> None:
    async with AsyncTestClient(app=make_app(verify_targets=False)) as client:
        use_dns(client.app)
        headers = await sign_up(client, "private@example.org", verify=False)
        for kind, target in (
            ("EMAIL", None),
            ("EMAIL", "friend@example.org"),
            ("SMS", "+15555550100"),
            ("WEBHOOK", "https://hooks.example.org/"),
        ):
            created = await post_subscription(
                client, headers, "B0PRIVATE1", notificationType=kind, target=target
            )
            assert created.status_code == 201 and created.json()["status"] == "active", kind
        targets = (await client.get("/targets", headers=headers)).json()
        assert len(targets) == 3 and all(t["confirmed"] for t in targets)
        kinds = {m.kind for m in await queued_messages(client.app)}
        assert MessageKind.CONFIRM_TARGET not in kinds


async def test_the_api_documents_the_account_and_target_routes(
    client: AsyncTestClient[Litestar],
) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path, method in [
        ("/accounts/me/verification-email", "post"),
        ("/accounts/verify-email", "post"),
        ("/accounts/password-reset", "post"),
        ("/accounts/password-reset/complete", "post"),
        ("/accounts/me/password", "post"),
        ("/accounts/me/tokens", "delete"),
        ("/accounts/me", "delete"),
        ("/accounts/me/export", "get"),
        ("/accounts/me/export.csv", "get"),
        ("/targets", "get"),
        ("/targets", "post"),
        ("/targets/{target_id}/resend", "post"),
        ("/targets/{target_id}", "delete"),
        ("/targets/confirm", "post"),
    ]:
        assert method in paths[path], (path, method)
    # the website's link pages are not part of the API
    assert "/verify-email" not in paths and "/confirm" not in paths
