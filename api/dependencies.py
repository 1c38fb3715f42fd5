"""Request-scoped values handlers ask for by name: the app state, the caller's
account, the client address."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException

from api.forwarded import client_address, trusted_networks
from api.services import accounts
from api.state import ApiState
from pricewatch.storage.sql import User

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pricewatch"'}


def get_state(request: Request[Any, Any, Any]) -> ApiState:
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


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The client's address, for per-IP limits: the TCP peer, or the X-Forwarded-For
    address behind a proxy listed in ``Settings.trusted_proxies`` (api.forwarded)."""
    peer = request.client.host if request.client else None
    trusted = trusted_networks(get_state(request).settings.trusted_proxies)
    return client_address(peer, request.headers.getall("x-forwarded-for", []), trusted)


async def provide_user(request: Request[Any, Any, Any]) -> User:
    """The signed-in account; 401 without a valid token."""
    token = bearer_token(request)
    if token is None:
        raise NotAuthorizedException(
            "sign in first: Authorization: Bearer <token>", headers=_CHALLENGE
        )
    state = get_state(request)
    user = await accounts.user_for_token(state.db, token, state.clock())
    if user is None:
        raise NotAuthorizedException("the token is unknown or expired", headers=_CHALLENGE)
    return user


async def provide_optional_user(request: Request[Any, Any, Any]) -> User | None:
    """The signed-in account, or None for an anonymous request (a bad token is 401)."""
    if request.headers.get("authorization") is None:
        return None
    return await provide_user(request)


def provide_state(request: Request[Any, Any, Any]) -> ApiState:
    return get_state(request)


DEPENDENCIES = {"api": Provide(provide_state, sync_to_thread=False)}
USER = {"user": Provide(provide_user)}
OPTIONAL_USER = {"user": Provide(provide_optional_user)}
