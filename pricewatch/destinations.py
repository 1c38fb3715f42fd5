"""Where an alert goes, normalised (pure).

A subscription's destination is its target, or the account's e-mail address when
the target is null. Each kind of address has one written form, so that the same
destination typed twice is the same ``targets`` row: e-mail addresses lower-cased,
phone numbers in E.164, webhook URLs as the egress policy spells them (the caller
passes its ``check_url``, which also refuses what must never be called).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from pricewatch.storage.sql_schema import NotificationType

MAX_ADDRESS = 2048

# E.164: "+", a country code that does not start with 0, at most 15 digits in all
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# what people put between digits: spaces, dots, dashes, brackets
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
# a bare address: what SMTP can carry without quoting, and a domain with a dot
_EMAIL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{3,255}$)[a-z0-9-]+(\.[a-z0-9-]+)+$")


def e164(text: str) -> str:
    """A phone number in international form (``+15555550100``); ValueError if not one."""
    number = _PHONE_PUNCTUATION.sub("", text)
    if number.startswith("00"):
        number = "+" + number[2:]
    if not _E164.match(number):
        raise ValueError(
            "Give the phone number in international form, starting with + and the "
            "country code (for example +15555550100)."
        )
    return number


def email_address(text: str) -> str:
    """A lower-cased bare e-mail address; ValueError if it is not one."""
    address = text.strip().lower()
    local, _, domain = address.rpartition("@")
    if (
        not _EMAIL.match(address)
        or local.startswith(".")
        or ".." in address
        or (domain.startswith("-"))
    ):
        raise ValueError("That is not an e-mail address we can send to.")
    return address


@dataclasses.dataclass(frozen=True, slots=True)
class Destination:
    kind: NotificationType
    # None: the account's own e-mail address
    address: str | None

    @property
    def is_account_email(self) -> bool:
        return self.address is None


def destination_of(
    kind: NotificationType | str,
    target: str | None,
    account_email: str,
    check_url: Callable[[str], str],
) -> Destination:
    """The normalised destination of (``kind``, ``target``) for an account.

    An e-mail target equal to the account's address is the account's address.
    SMS and webhooks need a target. Raises ValueError with a sentence for the user.
    """
    kind = NotificationType(kind)
    if target is not None and len(target) > MAX_ADDRESS:
        raise ValueError(f"The address is longer than {MAX_ADDRESS} characters.")
    if target is not None and not target.strip():
        target = None
    if kind == NotificationType.EMAIL:
        if target is None:
            return Destination(kind, None)
        address = email_address(target)
        return Destination(kind, None if address == account_email else address)
    if target is None:
        raise ValueError(
            "An SMS alert needs a phone number."
            if kind == NotificationType.SMS
            else "A webhook alert needs the URL to call."
        )
    if kind == NotificationType.SMS:
        return Destination(kind, e164(target))
    return Destination(kind, check_url(target.strip()))


def masked(kind: NotificationType | str, address: str) -> str:
    """Enough of an address for a log line to tell destinations apart, never the whole:
    ``j***@example.com``, ``+1*******0100``, ``https://hooks.example.com/***`` (a
    webhook's path and query often carry its secret)."""
    kind = NotificationType(kind)
    if kind == NotificationType.EMAIL:
        local, at, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}" if at else "***"
    if kind == NotificationType.SMS:
        return f"{address[:2]}{'*' * max(3, len(address) - 6)}{address[-4:]}"
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.hostname}/***" if parts.hostname else "***"
