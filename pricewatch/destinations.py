"""Where an alert goes, normalised (pure).

A subscription's destination is its target, or the account's e-mail address when
the target is null. Each kind of address has one written form, so that the same
destination typed twice is the same ``targets`` row: e-mail addresses lower-cased,
phone numbers in E.164, webhook URLs as the egress policy spells them (the caller
passes its ``check_url``, which also refuses what must never be called), Apprise URLs
as typed, once Apprise reads them as one of the services below.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from pricewatch.storage.sql_schema import NotificationType

MAX_ADDRESS = 2048

# Apprise services alerts may go to, by URL scheme: notification services reached over
# HTTP(S) with ``requests``, which the Apprise channel keeps under the egress policy.
# Cloud services are reached at their own public API hosts; the others at the server
# the URL names, which must pass the egress policy like a webhook's host. Everything
# else Apprise knows is refused: e-mail and SMS have their own channels (and their own
# limits), and files, desktop notifications, syslog or raw sockets are no place to
# send a stranger's alerts from a server.
APPRISE_CLOUD = {
    "tgram": "Telegram",
    "discord": "Discord",
    "slack": "Slack",
    "pover": "Pushover",
    "pbul": "Pushbullet",
}
APPRISE_SELF_HOSTED = {
    "ntfy": "ntfy",
    "ntfys": "ntfy",
    "gotify": "Gotify",
    "gotifys": "Gotify",
    "matrix": "Matrix",
    "matrixs": "Matrix",
    "mmost": "Mattermost",
    "mmosts": "Mattermost",
    "rocket": "Rocket.Chat",
    "rockets": "Rocket.Chat",
    "json": "JSON webhook",
    "jsons": "JSON webhook",
    "xml": "XML webhook",
    "xmls": "XML webhook",
    "form": "form webhook",
    "forms": "form webhook",
}
APPRISE_SCHEMES = frozenset(APPRISE_CLOUD) | frozenset(APPRISE_SELF_HOSTED)
# what a refusal suggests instead, for schemes people may try
_OWN_CHANNEL = {"mailto": "e-mail", "mailtos": "e-mail", "twilio": "SMS", "sns": "SMS"}
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]{0,31})://", re.IGNORECASE)

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
class AppriseUrl:
    """An Apprise URL alerts may go to."""

    url: str
    scheme: str
    # what the user calls it ("Telegram", "ntfy")
    service: str
    # the http(s) root of the server the URL names, as the egress policy spells it
    # (None: a cloud service's own public API)
    server: str | None


def apprise_url(text: str, check_url: Callable[[str], str]) -> AppriseUrl:
    """``text`` as an Apprise URL of one of the accepted services; ValueError with a
    sentence when it is not one (``check_url`` judges the server of a self-hosted one:
    an :class:`~pricewatch.egress.EgressRefused`, itself a ValueError, says why not)."""
    url = text.strip()
    found = _SCHEME.match(url)
    if found is None:
        raise ValueError(
            "Give an Apprise URL such as tgram://bottoken/chat_id or ntfy://ntfy.example.org/topic."
        )
    scheme = found.group(1).lower()
    if scheme not in APPRISE_SCHEMES:
        own = _OWN_CHANNEL.get(scheme)
        instead = f" Use the {own} channel for {own}." if own else ""
        raise ValueError(
            f"Apprise URLs starting with {scheme}:// are not accepted: alerts go only to "
            f"network notification services ({', '.join(_service_names())}).{instead}"
        )
    service = APPRISE_CLOUD.get(scheme) or APPRISE_SELF_HOSTED[scheme]
    # Apprise reads its URLs without any I/O; imported here, as it loads ~100 plugins
    import apprise

    plugin = apprise.Apprise.instantiate(scheme + url[len(scheme) :], suppress_exceptions=True)
    if plugin is None:
        raise ValueError(
            f"That is not an Apprise URL for {service} that Apprise can use; see "
            "https://github.com/caronc/apprise/wiki for how to write one."
        )
    server = None
    if scheme in APPRISE_SELF_HOSTED and getattr(plugin, "mode", None) != "cloud":
        host = str(getattr(plugin, "host", "") or "")
        if not host:
            raise ValueError(f"The {service} URL names no server.")
        host = f"[{host}]" if ":" in host else host
        port = getattr(plugin, "port", None)
        http = "https" if getattr(plugin, "secure", False) else "http"
        try:
            server = check_url(f"{http}://{host}{f':{port}' if port else ''}/")
        except ValueError as exc:
            raise type(exc)(
                f"The {service} server of that Apprise URL is refused: {exc}."
            ) from None
    return AppriseUrl(scheme + url[len(scheme) :], scheme, service, server)


def _service_names() -> list[str]:
    names = [*APPRISE_CLOUD.values(), *APPRISE_SELF_HOSTED.values()]
    return sorted(dict.fromkeys(n for n in names if "webhook" not in n), key=str.lower) + [
        "JSON, XML or form webhooks"
    ]


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
            {
                NotificationType.SMS: "An SMS alert needs a phone number.",
                NotificationType.APPRISE: "An Apprise alert needs the service's Apprise URL.",
            }.get(kind, "A webhook alert needs the URL to call.")
        )
    if kind == NotificationType.SMS:
        return Destination(kind, e164(target))
    if kind == NotificationType.APPRISE:
        return Destination(kind, apprise_url(target, check_url).url)
    return Destination(kind, check_url(target.strip()))


def masked(kind: NotificationType | str, address: str) -> str:
    """Enough of an address for a log line to tell destinations apart, never the whole:
    ``j***@example.com``, ``+1*******0100``, ``https://hooks.example.com/***`` (a
    webhook's path and query often carry its secret), ``tgram://***`` (an Apprise URL
    is its token from the scheme on)."""
    kind = NotificationType(kind)
    if kind == NotificationType.EMAIL:
        local, at, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}" if at else "***"
    if kind == NotificationType.SMS:
        return f"{address[:2]}{'*' * max(3, len(address) - 6)}{address[-4:]}"
    if kind == NotificationType.APPRISE:
        scheme = _SCHEME.match(address)
        return f"{scheme.group(1).lower()}://***" if scheme else "***"
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.hostname}/***" if parts.hostname else "***"
