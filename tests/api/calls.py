"""The JSON API called as its clients call it: signing up, subscribing, adding targets,
and the account messages it queues for the alerts role to send."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import redis as redis_lib
import redis.asyncio
import redis.asyncio.cluster
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch.account_messages import AccountMessage, MessageKind
from pricewatch.models import decode
from pricewatch.storage.redis import connect
from pricewatch.storage.streams import FIELD


async def queued_messages(app: Litestar) -> list[AccountMessage]:
    """The messages the API queued for the alerts role to send, oldest first."""
    state = app.state.api
    # the app's own client belongs to the test client's event loop, not to this one
    with _sync_twin(state.redis) as r:
        entries = r.xrange(state.keys.account_messages)
    return [decode(fields[FIELD], AccountMessage) for _, fields in entries]


def _sync_twin(client: redis.asyncio.Redis) -> redis_lib.Redis:
    """A sync client of the Redis (or Redis Cluster) an async client talks to."""
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        nodes = ",".join(f"{node.host}:{node.port}" for node in client.startup_nodes)
        return connect(f"redis+cluster://{nodes}/0")
    where = client.connection_pool.connection_kwargs
    return redis_lib.Redis(host=where["host"], port=where["port"], db=where.get("db", 0))


def link_token(link: str) -> str:
    """The token a confirmation or reset link carries."""
    return parse_qs(urlsplit(link).query)["token"][0]


async def verify_email(client: AsyncTestClient[Litestar], email: str) -> None:
    """Open the verification link the account was sent, as its owner would."""
    [message] = [
        m
        for m in await queued_messages(client.app)
        if m.kind == MessageKind.VERIFY_EMAIL and m.recipient == email.lower()
    ][-1:]
    assert message.link is not None
    done = await client.post("/accounts/verify-email", json={"token": link_token(message.link)})
    assert done.status_code == 200, done.text


async def sign_up(
    client: AsyncTestClient[Litestar],
    email: str,
    password: str = "correct horse battery",
    *,
    verify: bool = True,
) -> dict[str, str]:
    """Register and sign in; the Authorization header of the new account. With
    ``verify`` the account's e-mail is verified first, so alerts may go to it."""
    created = await client.post("/accounts", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    if verify:
        await verify_email(client, email)
    signed = await client.post("/auth/token", json={"email": email, "password": password})
    assert signed.status_code == 200, signed.text
    return {"Authorization": f"Bearer {signed.json()['token']}"}


async def post_subscription(
    client: AsyncTestClient[Litestar],
    headers: dict[str, str],
    asin: str,
    threshold: float | None = 10,
    **fields: object,
) -> Response:
    """POST /subscriptions asking for an e-mail alert on ``asin``'s buy box at or below
    ``threshold`` (major units; None leaves it out); ``fields`` add to the body or
    replace what it holds, in the API's names (market, series, kind, notificationType,
    target, thresholdPercent)."""
    body: dict[str, object] = {"productID": asin, "series": "buybox", "notificationType": "EMAIL"}
    if threshold is not None:
        body["threshold"] = threshold
    return await client.post("/subscriptions", headers=headers, json={**body, **fields})


async def post_target(
    client: AsyncTestClient[Litestar], headers: dict[str, str], kind: str, address: str
) -> Response:
    """POST /targets: add ``address`` as a destination of ``kind`` (EMAIL, SMS, WEBHOOK)."""
    body = {"notificationType": kind, "address": address}
    return await client.post("/targets", headers=headers, json=body)
