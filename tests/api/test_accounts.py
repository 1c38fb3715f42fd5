from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.api.calls import sign_up

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]


async def test_register_sign_in_me_sign_out(client: AsyncTestClient[Litestar]) -> None:
    headers = await sign_up(client, "Ann@Example.org")
    me = await client.get("/accounts/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["email"] == "ann@example.org"
    assert isinstance(me.json()["userID"], int)
    assert (await client.delete("/auth/token", headers=headers)).status_code == 204
    after = await client.get("/accounts/me", headers=headers)
    assert after.status_code == 401
    assert after.headers["www-authenticate"].startswith("Bearer")


async def test_duplicate_email_is_409(client: AsyncTestClient[Litestar]) -> None:
    await sign_up(client, "bob@example.org")
    again = await client.post(
        "/accounts", json={"email": "BOB@example.org", "password": "another password"}
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


async def test_bad_registrations_are_400(client: AsyncTestClient[Litestar]) -> None:
    for body in (
        {"email": "x@example.org", "password": "short"},
        {"email": "not an email", "password": "long enough password"},
        {"email": "x@example.org"},
        {"email": "x@example.org", "password": "long enough password", "admin": True},
    ):
        response = await client.post("/accounts", json=body)
        assert response.status_code == 400, (body, response.text)


async def test_wrong_password_and_unknown_email_are_both_401(
    client: AsyncTestClient[Litestar],
) -> None:
    await sign_up(client, "cy@example.org")
    for email, password in (
        ("cy@example.org", "wrong password"),
        ("nobody@example.org", "wrong password"),
    ):
        response = await client.post("/auth/token", json={"email": email, "password": password})
        assert response.status_code == 401
        assert response.json()["detail"] == "wrong e-mail or password"


async def test_bad_tokens_are_401(client: AsyncTestClient[Litestar]) -> None:
    for header in ("Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "):
        response = await client.get("/accounts/me", headers={"Authorization": header})
        assert response.status_code == 401, header
    assert (await client.get("/accounts/me")).status_code == 401


async def test_sign_in_attempts_are_rate_limited_per_ip(make_app: Callable[..., Litestar]) -> None:
    async with AsyncTestClient(app=make_app(api_auth_rate_per_min=3)) as client:
        codes = [
            (
                await client.post(
                    "/auth/token", json={"email": "a@example.org", "password": "guess"}
                )
            ).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
