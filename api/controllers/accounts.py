"""Accounts and sign-in. The bearer token works for the website and the extension."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.dependencies import USER, bearer_token, client_ip, get_state
from api.guards import bearer_present
from api.ratelimit import Limit, enforce
from api.schemas import AccountOut, RegisterIn, SignInIn, TokenOut
from api.services import accounts
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.storage.sql import DuplicateEmailError, User

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]


class Conflict(HTTPException):
    status_code = 409


async def _limit_auth(state: ApiState, request: Request[Any, Any, Any]) -> None:
    limit = Limit("auth", client_ip(request), state.settings.api_auth_rate_per_min)
    await enforce(state.redis, state.keys, [limit], state.clock())


def _account(user: NamedDependency[User]) -> AccountOut:
    return AccountOut(user_id=user.id, email=user.email, created_at=iso(user.created_at))


class AccountController(Controller):
    path = "/accounts"
    tags = ["accounts"]

    @post("/", status_code=HTTP_201_CREATED, summary="Create an account (e-mail + password)")
    async def register(
        self, request: Request[Any, Any, Any], data: JSONBody[RegisterIn]
    ) -> AccountOut:
        state = get_state(request)
        await _limit_auth(state, request)
        try:
            user = await accounts.register(state.db, data.email, data.password, state.clock())
        except DuplicateEmailError:
            raise Conflict(detail="an account with this e-mail already exists") from None
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return _account(user)

    @get("/me", summary="The signed-in account", dependencies=USER, guards=[bearer_present],
         security=BEARER)
    async def me(self, user: NamedDependency[User]) -> AccountOut:
        return _account(user)


class AuthController(Controller):
    path = "/auth/token"
    tags = ["accounts"]

    @post("/", status_code=200, summary="Sign in: e-mail + password -> bearer token")
    async def sign_in(self, request: Request[Any, Any, Any], data: JSONBody[SignInIn]) -> TokenOut:
        state = get_state(request)
        await _limit_auth(state, request)
        try:
            _, token, expires = await accounts.sign_in(
                state.db, data.email, data.password, state.clock(), state.settings.api_token_ttl_s
            )
        except accounts.BadCredentials as exc:
            raise NotAuthorizedException(str(exc)) from None
        return TokenOut(token=token, expires_at=iso(expires))

    @delete("/", status_code=HTTP_204_NO_CONTENT, summary="Sign out: revoke this token",
            guards=[bearer_present], security=BEARER)
    async def sign_out(self, request: Request[Any, Any, Any]) -> None:
        token = bearer_token(request)
        assert token is not None
        if not await accounts.sign_out(get_state(request).db, token):
            raise NotAuthorizedException("the token is unknown or already revoked")
