"""Pages of the account: "my account", forgot / reset password, and the pages the
links in our messages open (verify an e-mail address, confirm a target).

A link's page never acts when opened: mail scanners and link previews open links
on their own. It shows a button; the page script POSTs the link's token to the
JSON API when the person presses it. Opening a page only tells whether its link
still works (a read, nothing spent).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar import Controller, get
from litestar.params import FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST

from api.dependencies import Api
from api.schemas import NotificationType
from api.services import link_tokens
from api.services.link_tokens import AccountTokenPurpose
from api.services.passwords import MIN_PASSWORD_LENGTH, PASSWORD_RULE
from api.state import ApiState
from api.web.pages import error_page, page
from pricewatch.account_messages import CONFIRM_TARGET_PATH, RESET_PASSWORD_PATH, VERIFY_EMAIL_PATH

INVALID_LINK = (
    "This link does not work any more: it has expired or was used already. Ask for a new "
    "one from your account page (or from the sign-in page for a password reset)."
)
KINDS = (
    (NotificationType.EMAIL.value, "E-mail address"),
    (NotificationType.SMS.value, "Phone number (SMS)"),
    (NotificationType.WEBHOOK.value, "Webhook URL"),
    (NotificationType.APPRISE.value, "Apprise URL (Telegram, Discord, ntfy…)"),
)
PASSWORD_FORM = {"min_password": MIN_PASSWORD_LENGTH, "password_rule": PASSWORD_RULE}


@dataclasses.dataclass(frozen=True)
class LinkPage:
    """The page a link of ours opens: what it shows while the link works, and the
    heading of the error page once it does not."""

    purpose: AccountTokenPurpose
    invalid: str
    template: str
    context: dict[str, Any]


RESET_PAGE = LinkPage(
    AccountTokenPurpose.RESET_PASSWORD, "Reset link not valid", "reset.html", PASSWORD_FORM
)
VERIFY_PAGE = LinkPage(
    AccountTokenPurpose.VERIFY_EMAIL,
    "Verification link not valid",
    "confirm.html",
    {
        "heading": "Confirm your e-mail address",
        "explanation": "Press the button to confirm that this e-mail address is yours. "
        "Price-drop alerts to it start once it is confirmed.",
        "button": "Confirm my e-mail address",
        "action": "verify-email",
    },
)
CONFIRM_TARGET_PAGE = LinkPage(
    AccountTokenPurpose.CONFIRM_TARGET,
    "Confirmation link not valid",
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


async def _link_page(api: ApiState, token: str, link: LinkPage) -> Template:
    if not await link_tokens.works(api, token, link.purpose):
        return error_page(link.invalid, INVALID_LINK, HTTP_400_BAD_REQUEST)
    return page(link.template, link.context)


class AccountPages(Controller):
    include_in_schema = False

    @get("/account", name="web:account")
    async def account(self) -> Template:
        return page("account.html", {"kinds": KINDS, **PASSWORD_FORM})

    @get("/forgot-password", name="web:forgot-password")
    async def forgot_password(self) -> Template:
        return page("forgot.html", {})

    @get(RESET_PASSWORD_PATH, name="web:reset-password")
    async def reset_password(self, api: Api, token: FromQuery[str] = "") -> Template:
        return await _link_page(api, token, RESET_PAGE)

    @get(VERIFY_EMAIL_PATH, name="web:verify-email")
    async def verify_email(self, api: Api, token: FromQuery[str] = "") -> Template:
        return await _link_page(api, token, VERIFY_PAGE)

    @get(CONFIRM_TARGET_PATH, name="web:confirm-target")
    async def confirm_target(self, api: Api, token: FromQuery[str] = "") -> Template:
        return await _link_page(api, token, CONFIRM_TARGET_PAGE)
