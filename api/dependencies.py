"""What handlers ask for by name, and how each is provided per request.

``api`` is the application's stores and caches (an ``ApiState``), and the only way a
handler reaches them; ``client_ip`` the caller's address; ``bearer`` the caller's
token; ``user`` the signed-in account (``USER``, or ``OPTIONAL_USER`` where anonymous
callers are welcome). Handlers annotate a parameter with the alias below of the same
name (``api: Api``): Litestar injects it, and the OpenAPI schema leaves it out.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException

from api.forwarded import client_address, trusted_networks
from api.services import accounts
from api.state import ApiState
from pricewatch.storage.sql import User

Api = NamedDependency[ApiState]
ClientIp = NamedDependency[str]
Bearer = NamedDependency[str]
Me = NamedDependency[User]
MaybeMe = NamedDependency[User | None]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pricewatch"'}


def provide_api(request: Request[Any, Any, Any]) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("Authorization must be 'Bearer <token>'", headers=_CHALLENGE)
    return token.strip()


def provide_bearer(request: Request[Any, Any, Any]) -> str:
    """The caller's token; 401 without one."""
    token = bearer_token(request)
    if token is None:
        raise NotAuthorizedException(
            "sign in first: Authorization: Bearer <token>", headers=_CHALLENGE
        )
    return token


def provide_client_ip(request: Request[Any, Any, Any], api: Api) -> str:
    """The client's address, for per-IP limits: the TCP peer, or the X-Forwarded-For
    address behind a proxy listed in ``Settings.trusted_proxies`` (api.forwarded)."""
    peer = request.client.host if request.client else None
    trusted = trusted_networks(api.settings.trusted_proxies)
    return client_address(peer, request.headers.getall("x-forwarded-for", []), trusted)


async def provide_user(request: Request[Any, Any, Any], api: Api) -> User:
    """The signed-in account; 401 without a valid token."""
    user = await accounts.user_for_token(api.db, provide_bearer(request), api.clock())
    if user is None:
        raise NotAuthorizedException("the token is unknown or expired", headers=_CHALLENGE)
    return user


async def provide_optional_user(request: Request[Any, Any, Any], api: Api) -> User | None:
    """The signed-in account, or None for an anonymous request (a bad token is 401)."""
    if request.headers.get("authorization") is None:
        return None
    return await provide_user(request, api)


DEPENDENCIES = {
    "api": Provide(provide_api, sync_to_thread=False),
    "client_ip": Provide(provide_client_ip, sync_to_thread=False),
    "bearer": Provide(provide_bearer, sync_to_thread=False),
}
USER = {"user": Provide(provide_user)}
OPTIONAL_USER = {"user": Provide(provide_optional_user)}
