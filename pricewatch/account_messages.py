"""Messages about an account rather than a price, and the links they carry.

The API never sends mail itself: it adds an :class:`AccountMessage` to the Redis
stream ``Keys.account_messages`` and the alerts role, which owns the SMTP pool, the
SMS provider and the safe HTTP client, sends it (``alerts.account_mail``). A message
holds everything needed to send it; its text is fixed and holds nothing a user
typed, so that these messages cannot carry anyone's words to a third party.

Links point at pages of the website (``*_PATH``). Opening one shows a page with a
button; only the button's POST acts, because mail scanners open links on their own.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from urllib.parse import quote

import msgspec

from pricewatch.models import Millis

VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password"
CONFIRM_TARGET_PATH = "/confirm"


class MessageKind(StrEnum):
    # a link that proves the account's e-mail address is its owner's
    VERIFY_EMAIL = "verify_email"
    # a link to choose a new password
    RESET_PASSWORD = "reset_password"
    # a link (e-mail, SMS) or a challenge to echo (webhook) that confirms a target
    CONFIRM_TARGET = "confirm_target"


class AccountMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    # random; names the message (Message-ID, outbox file), stable across retries
    message_id: str
    kind: MessageKind
    # NotificationType value: EMAIL, SMS or WEBHOOK
    channel: str
    # normalised e-mail address, E.164 number or vetted URL
    recipient: str
    user_id: int
    target_id: int | None = None
    link: str | None = None
    # when the link stops working
    expires_at: Millis | None = None
    # webhooks: what the receiver must echo
    challenge: str | None = None
    created_at: Millis


def new_message_id() -> str:
    return secrets.token_hex(12)


def new_challenge() -> str:
    return secrets.token_urlsafe(24)


def _link(public_url: str, path: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{path}?token={quote(token, safe='')}"


def verify_email_url(public_url: str, token: str) -> str:
    return _link(public_url, VERIFY_EMAIL_PATH, token)


def reset_password_url(public_url: str, token: str) -> str:
    return _link(public_url, RESET_PASSWORD_PATH, token)


def confirm_target_url(public_url: str, token: str) -> str:
    return _link(public_url, CONFIRM_TARGET_PATH, token)
