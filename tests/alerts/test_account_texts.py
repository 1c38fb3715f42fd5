"""Messages about accounts (pure): fixed texts, deterministic bytes, one link."""

from __future__ import annotations

import json

import pytest

from alerts.account_texts import email_bytes, sms_text, webhook_challenge_body
from pricewatch.account_messages import AccountMessage, MessageKind, confirm_target_url
from tests.mail import parse_email, plain_text

SENDER = "Pricewatch <alerts@pricewatch.test>"
LINK = confirm_target_url("https://pricewatch.test", "tok-en_1")


def message(kind: MessageKind = MessageKind.CONFIRM_TARGET, **fields: object) -> AccountMessage:
    values: dict[str, object] = {
        "message_id": "0123abcd",
        "kind": kind,
        "channel": "EMAIL",
        "recipient": "friend@example.org",
        "user_id": 1,
        "target_id": 2,
        "link": LINK,
        "expires_at": 1_700_086_400_000,
        "created_at": 1_700_000_000_000,
    }
    values.update(fields)
    return AccountMessage(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(MessageKind))
def test_an_email_is_the_same_bytes_every_time_with_the_link_and_no_more(kind: MessageKind) -> None:
    data = email_bytes(message(kind), SENDER, "pricewatch.test")
    assert data == email_bytes(message(kind), SENDER, "pricewatch.test")
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    mail = parse_email(data)
    assert mail["To"] == "friend@example.org"
    assert mail["Message-ID"] == "<pw.account.0123abcd@pricewatch.test>"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = plain_text(mail)
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert LINK in text and LINK.replace("&", "&amp;") in html
    assert "until 2023-11-15 22:13 UTC" in text


def test_no_text_comes_from_a_user() -> None:
    """Whatever the account or the target is called, the words are ours: only the
    envelope names the recipient."""
    odd = "buy-cheap-pills@example.org"
    mail = parse_email(email_bytes(message(recipient=odd), SENDER, "pricewatch.test"))
    body = plain_text(mail)
    assert "pills" not in body and "pills" not in str(mail["Subject"])
    assert sms_text(message(channel="SMS", recipient="+15555550100")).count("+1555") == 0


def test_sms_and_webhook_forms() -> None:
    text = sms_text(message(channel="SMS", recipient="+15555550100"))
    assert text.startswith("Pricewatch:") and LINK in text and len(text) < 320
    with pytest.raises(ValueError):
        sms_text(message(MessageKind.RESET_PASSWORD, channel="SMS"))
    body = webhook_challenge_body(message(channel="WEBHOOK", link=None, challenge="ch-4"))
    assert json.loads(body) == {"type": "verification", "challenge": "ch-4"}
    with pytest.raises(ValueError, match="challenge"):
        webhook_challenge_body(message(channel="WEBHOOK", link=None))
    with pytest.raises(ValueError, match="needs a link"):
        email_bytes(message(link=None), SENDER, "pricewatch.test")
