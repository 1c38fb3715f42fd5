"""Accounts and sign-in. The bearer token works for the website and the extension.

The lifecycle: registering e-mails a verification link; a forgotten password is
reset through a link (the request answers the same whether the address has an
account or not); a signed-in user can change the password, sign out everywhere,
export their data and delete the account (the password asked again).
"""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.dependencies import USER, Api, Bearer, ClientIp, Me
from api.guards import bearer_present
from api.schemas import (
    AcceptedOut,
    AccountOut,
    DoneOut,
    ExportOut,
    PasswordChangeIn,
    PasswordIn,
    PasswordResetIn,
    PasswordResetRequestIn,
    RegisterIn,
    SignInIn,
    TokenIn,
    TokenOut,
)
from api.services import account_export, account_lifecycle, extension_sign_in, limits
from api.services.extension_sign_in import extension_origin

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]
RESET_ACCEPTED = (
    "If an account has this e-mail address, a link to choose a new password is on its way there."
)


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}


class AccountController(Controller):
    """What anyone may do: register, and follow the links we e-mail."""

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
        self, api: Api, client_ip: ClientIp, data: JSONBody[RegisterIn]
    ) -> AccountOut:
        return await account_lifecycle.register(api, client_ip, data.email, data.password)

    @post(
        "/verify-email",
        status_code=200,
        summary="Verify the account's e-mail with the token of the link we sent",
    )
    async def verify_email(self, api: Api, client_ip: ClientIp, data: JSONBody[TokenIn]) -> DoneOut:
        await account_lifecycle.verify_email(api, client_ip, data.token)
        return DoneOut(detail="Your e-mail address is verified.")

    @post(
        "/password-reset",
        status_code=HTTP_202_ACCEPTED,
        summary="E-mail a password reset link",
        description="Answers the same whether or not the address has an account.",
    )
    async def request_reset(
        self, api: Api, client_ip: ClientIp, data: JSONBody[PasswordResetRequestIn]
    ) -> Response[AcceptedOut]:
        await limits.auth(api, client_ip)
        # the link goes out after the answer, so that its timing tells nothing either
        return Response(
            AcceptedOut(detail=RESET_ACCEPTED),
            status_code=HTTP_202_ACCEPTED,
            background=BackgroundTask(account_lifecycle.request_password_reset, api, data.email),
        )

    @post(
        "/password-reset/complete",
        status_code=200,
        summary="Set a new password with the token of a reset link",
        description="Signs the account out everywhere and counts as e-mail verification.",
    )
    async def complete_reset(
        self, api: Api, client_ip: ClientIp, data: JSONBody[PasswordResetIn]
    ) -> DoneOut:
        await account_lifecycle.reset_password(api, client_ip, data.token, data.password)
        return DoneOut(detail="Your password is changed. Sign in with the new one.")


class MyAccountController(Controller):
    """The signed-in account."""

    path = "/accounts/me"
    tags = ["accounts"]
    dependencies = USER
    guards = [bearer_present]
    security = BEARER

    @get("/", summary="The signed-in account")
    async def me(self, user: Me) -> AccountOut:
        return account_lifecycle.account_out(user)

    @post(
        "/verification-email",
        status_code=HTTP_202_ACCEPTED,
        summary="E-mail the verification link again (once per 10 minutes)",
    )
    async def resend_verification(self, api: Api, user: Me) -> AcceptedOut:
        await account_lifecycle.resend_verification(api, user)
        return AcceptedOut(detail="A new verification link is on its way to your e-mail.")

    @post(
        "/password",
        status_code=HTTP_204_NO_CONTENT,
        summary="Change the password (the current one required)",
        description="Every other session of the account ends; this one goes on.",
    )
    async def change_password(
        self,
        api: Api,
        client_ip: ClientIp,
        bearer: Bearer,
        user: Me,
        data: JSONBody[PasswordChangeIn],
    ) -> None:
        await account_lifecycle.change_password(
            api, client_ip, user, data.current_password, data.new_password, bearer
        )

    @delete(
        "/tokens",
        status_code=HTTP_204_NO_CONTENT,
        summary="Sign out everywhere: revoke every token of the account",
    )
    async def sign_out_everywhere(self, api: Api, user: Me) -> None:
        await account_lifecycle.sign_out_everywhere(api, user)

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete the account and all its data (the password required)",
    )
    async def delete_me(
        self, api: Api, client_ip: ClientIp, user: Me, data: JSONBody[PasswordIn]
    ) -> None:
        await account_lifecycle.delete_account(api, client_ip, user, data.password)

    @get(
        "/export", summary="Download my data (JSON): account, targets, subscriptions, notifications"
    )
    async def export_json(self, api: Api, user: Me) -> Response[ExportOut]:
        return Response(
            await account_export.export(api, user), headers=_attachment("pricewatch-export.json")
        )

    @get(
        "/export.csv",
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
    async def sign_in(self, api: Api, client_ip: ClientIp, data: JSONBody[SignInIn]) -> TokenOut:
        return await account_lifecycle.sign_in(api, client_ip, data.email, data.password)

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="Sign out: revoke this token",
        guards=[bearer_present],
        security=BEARER,
    )
    async def sign_out(self, api: Api, bearer: Bearer) -> None:
        await account_lifecycle.sign_out(api, bearer)

    @post(
        "/extension",
        status_code=200,
        summary="The browser extension's own token, for the website's sign-in",
        description="Answers only a browser extension (its Origin), signed in with the "
        "website's token: the extension follows the website's sign-in without sharing "
        "its token (extension/README.md).",
        guards=[bearer_present, extension_origin],
        dependencies=USER,
        security=BEARER,
    )
    async def extension_token(self, api: Api, user: Me) -> TokenOut:
        return await extension_sign_in.extension_token(api, user)
