"""The client's address: X-Forwarded-For counts only behind a trusted proxy, and then
only its right-most address that is not one of our proxies. Unit tests of the rule,
then the sign-in limit through the real server."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from api.app import create_app
from api.forwarded import client_address, trusted_networks
from pricewatch.keys import Keys
from pricewatch.settings import Settings
from tests.api.served import serving

LOOPBACK = trusted_networks(("127.0.0.1/32",))
PROXIES = trusted_networks(("10.0.0.0/8", "fd00::/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "client"),
    [
        # no trusted proxy: the header is ignored, whatever it says
        ("127.0.0.1", ["203.0.113.7"], (), "127.0.0.1"),
        ("198.51.100.2", ["203.0.113.7"], (), "198.51.100.2"),
        # a peer that is not our proxy cannot speak for anyone else
        ("198.51.100.2", ["203.0.113.7"], PROXIES, "198.51.100.2"),
        # behind our proxy: the address it appended
        ("10.0.0.5", ["203.0.113.7"], PROXIES, "203.0.113.7"),
        # what the client wrote itself sits left of that, and is ignored
        ("10.0.0.5", ["1.2.3.4, 203.0.113.7"], PROXIES, "203.0.113.7"),
        ("10.0.0.5", ["1.2.3.4", "203.0.113.7"], PROXIES, "203.0.113.7"),
        # two of our proxies in a row are skipped
        ("10.0.0.5", ["1.2.3.4, 203.0.113.7, 10.0.0.9"], PROXIES, "203.0.113.7"),
        # the proxy sent no header: the peer is all we know
        ("10.0.0.5", [], PROXIES, "10.0.0.5"),
        # only proxies: where the request entered
        ("10.0.0.5", ["10.1.1.1, 10.0.0.9"], PROXIES, "10.1.1.1"),
        # not an address next to our proxy: the proxy that passed it on
        ("10.0.0.5", ["203.0.113.7, unknown"], PROXIES, "10.0.0.5"),
        ("10.0.0.5", ["garbage, 10.0.0.9"], PROXIES, "10.0.0.9"),
        # ports and brackets as some proxies write them; one spelling per address
        ("10.0.0.5", ["203.0.113.7:4711"], PROXIES, "203.0.113.7"),
        ("10.0.0.5", ["[2001:DB8::1]:443"], PROXIES, "2001:db8::1"),
        ("fd00::1", ["2001:db8:0:0::1"], PROXIES, "2001:db8::1"),
        ("::ffff:10.0.0.5", ["::ffff:203.0.113.7"], PROXIES, "203.0.113.7"),
        (None, ["203.0.113.7"], PROXIES, "unknown"),
    ],
)
def test_client_address(
    peer: str | None, forwarded_for: list[str], trusted: tuple, client: str
) -> None:
    assert client_address(peer, forwarded_for, trusted) == client


SIGN_IN_LIMIT = 3


def _sign_in_statuses(url: str, forwarded_for: list[str]) -> list[int]:
    statuses = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for address in forwarded_for:
            # a new e-mail each time, so that only the per-IP limit can answer 429
            body = {"email": f"{uuid.uuid4().hex[:10]}@example.org", "password": "wrong guess"}
            answer = client.post("/auth/token", json=body, headers={"X-Forwarded-For": address})
            statuses.append(answer.status_code)
    return statuses


@pytest.fixture
def limited_app(
    api_settings: Settings,
    redis_url: str,
    redis_client: Any,
    clickhouse_client: Any,
    clickhouse_database: str,
    sql_url: str,
    keys: Keys,
) -> Callable[..., Litestar]:
    """The app with a small sign-in limit and its clock stopped, so that every attempt
    falls in one rate-limit window (``redis_client`` empties Redis of older counts)."""
    now_ms = int(time.time() * 1000)

    def build(**overrides: Any) -> Litestar:
        settings = dataclasses.replace(
            api_settings, api_auth_rate_per_min=SIGN_IN_LIMIT, **overrides
        )
        return create_app(
            settings,
            redis_url=redis_url,
            clickhouse_client=clickhouse_client,
            clickhouse_database=clickhouse_database,
            database_url=sql_url,
            keys=keys,
            clock=lambda: now_ms,
            view_flush_s=0,
        )

    return build


@pytest.mark.redis
@pytest.mark.clickhouse
def test_rotating_the_header_does_not_reset_the_limit_without_a_trusted_proxy(
    limited_app: Callable[..., Litestar],
) -> None:
    with serving(limited_app()) as url:
        statuses = _sign_in_statuses(url, [f"203.0.113.{i}" for i in range(SIGN_IN_LIMIT + 2)])
    assert statuses == [401] * SIGN_IN_LIMIT + [429, 429]


@pytest.mark.redis
@pytest.mark.clickhouse
def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(
    limited_app: Callable[..., Litestar],
) -> None:
    app = limited_app(trusted_proxies=("127.0.0.1/32",))
    with serving(app) as url:
        one_client = _sign_in_statuses(url, ["203.0.113.9"] * (SIGN_IN_LIMIT + 1))
        # the client's own additions to the header change nothing
        spoofing = _sign_in_statuses(url, ["198.51.100.1, 203.0.113.9"])
        others = _sign_in_statuses(url, [f"203.0.113.{i}" for i in range(20, 20 + SIGN_IN_LIMIT)])
    assert one_client == [401] * SIGN_IN_LIMIT + [429]
    assert spoofing == [429]
    assert others == [401] * SIGN_IN_LIMIT
