"""Accounts and sign-in. The bearer token works for the website and the extension.

The lifecycle: registering e-mails a verification link; a forgotten password is
reset through a link (the request answers the same whether the address has an
account or not); a signed-in user can change the password, sign out everywhere,
export their data and delete the account (the password asked again).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.account_schemas import (
    AcceptedOut,
    DoneOut,
    ExportOut,
    PasswordChangeIn,
    PasswordIn,
    PasswordResetIn,
    PasswordResetRequestIn,
    TokenIn,
)
from api.dependencies import USER, bearer_token, client_ip, get_state
from api.guards import bearer_present
from api.ratelimit import Limit, enforce
from api.schemas import AccountOut, RegisterIn, SignInIn, TokenOut
from api.services import account_export, account_lifecycle, accounts
from api.services.account_mail import address_ident
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.storage.sql import DuplicateEmailError, User

log = logging.getLogger(__name__)

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]
HOUR_S = 3600
RESET_ACCEPTED = (
    "If an account has this e-mail address, a link to choose a new password is on its way there."
)


class Conflict(HTTPException):
    status_code = 409


Api = NamedDependency[ApiState]
Me = NamedDependency[User]


async def _limit_auth(state: ApiState, request: Request[Any, Any, Any], *extra: Limit) -> None:
    limit = Limit("auth", client_ip(request), state.settings.api_auth_rate_per_min)
    await enforce(state.redis, state.keys, [limit, *extra], state.clock())


def _account_guesses(state: ApiState, email: str) -> Limit:
    """Password attempts against one account, from anywhere (on top of per-IP limits)."""
    return Limit(
        "signin-account",
        address_ident("EMAIL", email.strip().lower()),
        state.settings.api_signin_account_rate_per_hour,
        HOUR_S,
    )


def _account(user: User) -> AccountOut:
    return AccountOut(
        user_id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        created_at=iso(user.created_at),
    )


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}


async def _reset_quietly(state: ApiState, email: str) -> None:
    # runs after the answer went out; a failure must not reach the client either way
    try:
        await account_lifecycle.request_password_reset(state, email)
    except Exception:
        log.exception("a password reset request could not be queued")


class AccountController(Controller):
    path = "/accounts"
    tags = ["accounts"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Create an account (e-mail + password)",
        description="E-mails a link that verifies the address. Limited per client IP per "
        "minute and per hour (429 with Retry-After).",
    )
    async def register(
        self, request: Request[Any, Any, Any], data: JSONBody[RegisterIn]
    ) -> AccountOut:
        state = get_state(request)
        await _limit_auth(
            state,
            request,
            Limit(
                "register", client_ip(request), state.settings.api_register_rate_per_hour, HOUR_S
            ),
        )
        try:
            user = await account_lifecycle.register(state, data.email, data.password)
        except DuplicateEmailError:
            raise Conflict(detail="an account with this e-mail already exists") from None
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return _account(user)

    @get(
        "/me",
        summary="The signed-in account",
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
    )
    async def me(self, user: Me) -> AccountOut:
        return _account(user)

    @post(
        "/me/verification-email",
        status_code=HTTP_202_ACCEPTED,
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        summary="E-mail the verification link again (once per 10 minutes)",
    )
    async def resend_verification(self, api: Api, user: Me) -> AcceptedOut:
        try:
            await account_lifecycle.resend_verification(api, user)
        except account_lifecycle.AlreadyVerified as exc:
            raise Conflict(detail=str(exc)) from None
        return AcceptedOut(detail="A new verification link is on its way to your e-mail.")

    @post(
        "/verify-email",
        status_code=200,
        summary="Verify the account's e-mail with the token of the link we sent",
    )
    async def verify_email(
        self, request: Request[Any, Any, Any], data: JSONBody[TokenIn]
    ) -> DoneOut:
        state = get_state(request)
        await _limit_auth(state, request)
        try:
            await account_lifecycle.verify_email(state, data.token)
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return DoneOut(detail="Your e-mail address is verified.")

    @post(
        "/password-reset",
        status_code=HTTP_202_ACCEPTED,
        summary="E-mail a password reset link",
        description="Answers the same whether or not the address has an account.",
    )
    async def request_reset(
        self, request: Request[Any, Any, Any], data: JSONBody[PasswordResetRequestIn]
    ) -> Response[AcceptedOut]:
        state = get_state(request)
        await _limit_auth(state, request)
        return Response(
            AcceptedOut(detail=RESET_ACCEPTED),
            status_code=HTTP_202_ACCEPTED,
            background=BackgroundTask(_reset_quietly, state, data.email),
        )

    @post(
        "/password-reset/complete",
        status_code=200,
        summary="Set a new password with the token of a reset link",
        description="Signs the account out everywhere and counts as e-mail verification.",
    )
    async def complete_reset(
        self, request: Request[Any, Any, Any], data: JSONBody[PasswordResetIn]
    ) -> DoneOut:
        state = get_state(request)
        await _limit_auth(state, request)
        try:
            await account_lifecycle.reset_password(state, data.token, data.password)
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return DoneOut(detail="Your password is changed. Sign in with the new one.")

    @post(
        "/me/password",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        summary="Change the password (the current one required)",
        description="Every other session of the account ends; this one goes on.",
    )
    async def change_password(
        self, request: Request[Any, Any, Any], api: Api, user: Me, data: JSONBody[PasswordChangeIn]
    ) -> None:
        await _limit_auth(api, request, _account_guesses(api, user.email))
        token = bearer_token(request)
        assert token is not None
        try:
            await account_lifecycle.change_password(
                api, user, data.current_password, data.new_password, token
            )
        except account_lifecycle.WrongPassword as exc:
            raise PermissionDeniedException(str(exc)) from None
        except ValueError as exc:
            raise ValidationException(str(exc)) from None

    @delete(
        "/me/tokens",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        summary="Sign out everywhere: revoke every token of the account",
    )
    async def sign_out_everywhere(self, api: Api, user: Me) -> None:
        await account_lifecycle.sign_out_everywhere(api, user)

    @delete(
        "/me",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        summary="Delete the account and all its data (the password required)",
    )
    async def delete_me(
        self, request: Request[Any, Any, Any], api: Api, user: Me, data: JSONBody[PasswordIn]
    ) -> None:
        await _limit_auth(api, request, _account_guesses(api, user.email))
        try:
            await account_lifecycle.delete_account(api, user, data.password)
        except account_lifecycle.WrongPassword as exc:
            raise PermissionDeniedException(str(exc)) from None

    @get(
        "/me/export",
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        summary="Download my data (JSON): account, targets, subscriptions, notifications",
    )
    async def export_json(self, api: Api, user: Me) -> Response[ExportOut]:
        return Response(
            await account_export.export(api, user), headers=_attachment("pricewatch-export.json")
        )

    @get(
        "/me/export.csv",
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        media_type="text/csv; charset=utf-8",
        summary="Download my subscriptions (CSV)",
    )
    async def export_csv(self, api: Api, user: Me) -> Response[str]:
        data = account_export.subscriptions_csv(await account_export.export(api, user))
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers=_attachment("pricewatch-subscriptions.csv"),
        )


class AuthController(Controller):
    path = "/auth/token"
    tags = ["accounts"]

    @post(
        "/",
        status_code=200,
        summary="Sign in: e-mail + password -> bearer token",
        description="Limited per client IP and per account (429 with Retry-After).",
    )
    async def sign_in(self, request: Request[Any, Any, Any], data: JSONBody[SignInIn]) -> TokenOut:
        state = get_state(request)
        await _limit_auth(state, request, _account_guesses(state, data.email))
        try:
            _, token, expires = await accounts.sign_in(
                state.db, data.email, data.password, state.clock(), state.settings.api_token_ttl_s
            )
        except accounts.BadCredentials as exc:
            raise NotAuthorizedException(str(exc)) from None
        return TokenOut(token=token, expires_at=iso(expires))

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="Sign out: revoke this token",
        guards=[bearer_present],
        security=BEARER,
    )
    async def sign_out(self, request: Request[Any, Any, Any]) -> None:
        token = bearer_token(request)
        assert token is not None
        if not await accounts.sign_out(get_state(request).db, token):
            raise NotAuthorizedException("the token is unknown or already revoked")
