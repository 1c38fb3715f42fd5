"""What messages about an account say (pure; no I/O).

Every text here is fixed: the only variable parts are our own link, its expiry
and the recipient's address in the envelope, never words a user typed, so these
messages cannot be used to send someone else a message of one's choosing.
Rendering is deterministic (the Date is the message's creation time, the
Message-ID and MIME boundary come from its id): a retry sends the same bytes.
"""

from __future__ import annotations

import html
import json
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from pricewatch.account_messages import AccountMessage, MessageKind

MESSAGE_HEADER = "X-Pricewatch-Account-Message"

_SUBJECTS = {
    MessageKind.VERIFY_EMAIL: "Confirm your e-mail address for Pricewatch",
    MessageKind.RESET_PASSWORD: "Reset your Pricewatch password",
    MessageKind.CONFIRM_TARGET: "Confirm price alerts to this address",
}

# (what happened, what the link does, what to do if it was not you)
_PARAGRAPHS = {
    MessageKind.VERIFY_EMAIL: (
        "Someone, hopefully you, created a Pricewatch account with this e-mail address.",
        "To confirm that the address is yours, open this link and press the button on the page:",
        "If you did not create an account, ignore this message.",
    ),
    MessageKind.RESET_PASSWORD: (
        "Someone asked to reset the password of the Pricewatch account with this e-mail address.",
        "To choose a new password, open this link:",
        "If you did not ask for this, ignore this message: your password stays as it is.",
    ),
    MessageKind.CONFIRM_TARGET: (
        "A Pricewatch user asked to send price-drop alerts to this e-mail address.",
        "If you want them, open this link and press the button on the page:",
        "If you did not ask for them, ignore this message: nothing more is sent to this "
        "address unless it is confirmed.",
    ),
}


def subject(message: AccountMessage) -> str:
    return _SUBJECTS[message.kind]


def _expiry(message: AccountMessage) -> str:
    if message.expires_at is None:
        return "The link works once."
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(message.expires_at / 1000))
    return f"The link works once, until {when}."


def _link(message: AccountMessage) -> str:
    if not message.link:
        raise ValueError(f"a {message.kind.value} message needs a link")
    return message.link


def plain_text(message: AccountMessage) -> str:
    what, how, otherwise = _PARAGRAPHS[message.kind]
    return (
        "\n".join(
            [
                what,
                "",
                how,
                _link(message),
                "",
                _expiry(message),
                "",
                otherwise,
                "",
                "-- Pricewatch",
            ]
        )
        + "\n"
    )


def html_text(message: AccountMessage) -> str:
    e = html.escape
    what, how, otherwise = _PARAGRAPHS[message.kind]
    link = e(_link(message))
    return (
        "<!DOCTYPE html><html><body>"
        f"<p>{e(what)}</p>"
        f'<p>{e(how)}<br><a href="{link}">{link}</a></p>'
        f"<p>{e(_expiry(message))}</p>"
        f"<p>{e(otherwise)}</p>"
        "<p>&mdash; Pricewatch</p>"
        "</body></html>\n"
    )


def message_id(message: AccountMessage, sender_domain: str) -> str:
    return f"<pw.account.{message.message_id}@{sender_domain}>"


def email_bytes(message: AccountMessage, sender: str, sender_domain: str) -> bytes:
    """A multipart/alternative (plain text + HTML) e-mail with CRLF line endings."""
    mail = EmailMessage(policy=SMTP)
    mail["From"] = sender
    mail["To"] = message.recipient
    mail["Subject"] = subject(message)
    mail["Date"] = formatdate(message.created_at / 1000, localtime=False)
    mail["Message-ID"] = message_id(message, sender_domain)
    # RFC 3834: no auto-replies (vacation notices) to a machine's message
    mail["Auto-Submitted"] = "auto-generated"
    mail[MESSAGE_HEADER] = message.kind.value
    mail.set_content(plain_text(message))
    mail.add_alternative(html_text(message), subtype="html")
    mail.set_boundary(f"=_pw_account_{message.message_id}")
    return mail.as_bytes()


def sms_text(message: AccountMessage) -> str:
    if message.kind != MessageKind.CONFIRM_TARGET:
        raise ValueError(f"{message.kind.value} messages are not sent by SMS")
    return (
        f"Pricewatch: to get price-drop alerts at this number, open {_link(message)} "
        "- ignore this message if you did not ask for them."
    )


def apprise_text(message: AccountMessage) -> tuple[str, str]:
    """(title, body) of a confirmation sent through Apprise (a chat, a push service)."""
    if message.kind != MessageKind.CONFIRM_TARGET:
        raise ValueError(f"{message.kind.value} messages are not sent through Apprise")
    return (
        "Pricewatch: confirm price alerts here",
        "A Pricewatch user asked to send price-drop alerts here. If you want them, open "
        f"this link and press the button on the page: {_link(message)}\n"
        f"{_expiry(message)} If you did not ask for them, ignore this message: nothing "
        "more is sent here unless it is confirmed.",
    )


def webhook_challenge_body(message: AccountMessage) -> bytes:
    """What a webhook receiver is sent to confirm it: it must answer 2xx with the
    challenge somewhere in its body."""
    if not message.challenge:
        raise ValueError("a webhook confirmation needs a challenge")
    payload = {"type": "verification", "challenge": message.challenge}
    return json.dumps(payload, separators=(",", ":")).encode()
