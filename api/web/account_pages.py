"""Pages of the account: "my account", forgot / reset password, and the pages the
links in our messages open (verify an e-mail address, confirm a target).

A link's page never acts when opened: mail scanners and link previews open links
on their own. It shows a button; the page script POSTs the link's token to the
JSON API when the person presses it. Opening a page only tells whether its link
still works (a read, nothing spent).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST

from api.services.passwords import MIN_PASSWORD_LENGTH, PASSWORD_RULE
from api.state import ApiState
from api.web.controllers import _error, _page
from pricewatch.account_messages import CONFIRM_TARGET_PATH, RESET_PASSWORD_PATH, VERIFY_EMAIL_PATH
from pricewatch.storage import sql
from pricewatch.storage.sql import AccountTokenPurpose, NotificationType

INVALID_LINK = (
    "This link does not work any more: it has expired or was used already. Ask for a new "
    "one from your account page (or from the sign-in page for a password reset)."
)
KINDS = (
    (NotificationType.EMAIL.value, "E-mail address"),
    (NotificationType.SMS.value, "Phone number (SMS)"),
    (NotificationType.WEBHOOK.value, "Webhook URL"),
)


async def _link_works(
    request: Request[Any, Any, Any], token: str, purpose: AccountTokenPurpose
) -> bool:
    if not token or len(token) > 512:
        return False
    state: ApiState = request.app.state.api
    found = await sql.peek_account_token(
        state.db, sql.hash_token(token), purpose.value, state.clock()
    )
    return found is not None


class AccountPages(Controller):
    include_in_schema = False

    @get("/account", name="web:account")
    async def account(self) -> Template:
        return _page(
            "account.html",
            {"kinds": KINDS, "min_password": MIN_PASSWORD_LENGTH, "password_rule": PASSWORD_RULE},
        )

    @get("/forgot-password", name="web:forgot-password")
    async def forgot_password(self) -> Template:
        return _page("forgot.html", {})

    @get(RESET_PASSWORD_PATH, name="web:reset-password")
    async def reset_password(
        self, request: Request[Any, Any, Any], token: FromQuery[str] = ""
    ) -> Template:
        if not await _link_works(request, token, AccountTokenPurpose.RESET_PASSWORD):
            return _error("Reset link not valid", INVALID_LINK, HTTP_400_BAD_REQUEST)
        return _page(
            "reset.html", {"min_password": MIN_PASSWORD_LENGTH, "password_rule": PASSWORD_RULE}
        )

    @get(VERIFY_EMAIL_PATH, name="web:verify-email")
    async def verify_email(
        self, request: Request[Any, Any, Any], token: FromQuery[str] = ""
    ) -> Template:
        if not await _link_works(request, token, AccountTokenPurpose.VERIFY_EMAIL):
            return _error("Verification link not valid", INVALID_LINK, HTTP_400_BAD_REQUEST)
        return _page(
            "confirm.html",
            {
                "heading": "Confirm your e-mail address",
                "explanation": "Press the button to confirm that this e-mail address is yours. "
                "Price-drop alerts to it start once it is confirmed.",
                "button": "Confirm my e-mail address",
                "action": "verify-email",
            },
        )

    @get(CONFIRM_TARGET_PATH, name="web:confirm-target")
    async def confirm_target(
        self, request: Request[Any, Any, Any], token: FromQuery[str] = ""
    ) -> Template:
        if not await _link_works(request, token, AccountTokenPurpose.CONFIRM_TARGET):
            return _error("Confirmation link not valid", INVALID_LINK, HTTP_400_BAD_REQUEST)
        return _page(
            "confirm.html",
            {
                "heading": "Confirm price-drop alerts",
                "explanation": "A Pricewatch user asked to send price-drop alerts here. Press the "
                "button if you want them; otherwise close this page and nothing "
                "more will be sent.",
                "button": "Yes, send price alerts here",
                "action": "confirm-target",
            },
        )
