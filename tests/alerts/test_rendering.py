from __future__ import annotations

import json

import pytest

from alerts.notices import LinkMaker, Links, Notice
from alerts.rendering import BadAddress, address_of, email_bytes, sms_text, webhook_body
from pricewatch.alert_links import verify_stop_token
from pricewatch.storage.sql import (
    NotificationKind,
    NotificationType,
    Subscription,
    SubscriptionStatus,
)
from tests.mail import parse_email, plain_text

LINKS = LinkMaker("https://p.test", "secret")


def notice(**kw: object) -> Notice:
    values: dict[str, object] = {
        "notification_id": 7,
        "kind": NotificationKind.ALERT,
        "notification_type": NotificationType.EMAIL,
        "subscription_id": 3,
        "event_id": "abc123",
        "market": "de",
        "asin": "B000000001",
        "currency": "EUR",
        "threshold": 100_000,
        "recipient": "Anna <anna@example.com>",
        "links": Links(
            product_page="https://p.test/p/de/B000000001",
            amazon="https://www.amazon.de/dp/B000000001",
            stop="https://p.test/alerts/3/stop?token=t0k",
        ),
        "title": "Kaffeemaschine „Crème“ 1,5 l",
        "new_price": 89_999,
        "old_price": 129_900,
    }
    values.update(kw)
    return Notice(**values)  # type: ignore[arg-type]


def test_alert_email_is_multipart_with_prices_threshold_and_links() -> None:
    message = parse_email(email_bytes(notice(), "Pricewatch <alerts@p.test>"))
    assert message["To"] == "anna@example.com"
    assert message["Subject"] == "Price drop: Kaffeemaschine „Crème“ 1,5 l is now 899,99\u00a0€"
    assert message["X-Pricewatch-Notification"] == "7"
    assert message["X-Pricewatch-Key"] == "3:abc123:alert"
    assert message["Message-ID"] == "<pw.alert.7.abc123@p.test>"
    # RFC 8058: the stop link works with one POST from the mail client
    assert message["List-Unsubscribe"] == "<https://p.test/alerts/3/stop?token=t0k>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    text, markup = plain.get_content(), html.get_content()
    for body in (text, markup):
        assert "899,99\u00a0€" in body and "1.299,00\u00a0€" in body  # new and old price
        assert "1.000,00\u00a0€" in body  # the threshold
        assert "https://p.test/p/de/B000000001" in body
        assert "https://www.amazon.de/dp/B000000001" in body
        assert "https://p.test/alerts/3/stop?token=t0k" in body
    assert "Kaffeemaschine „Crème“ 1,5 l dropped to 899,99\u00a0€ (was 1.299,00\u00a0€)." in text
    assert "<b>Kaffeemaschine „Crème“ 1,5 l</b>" in markup


def test_html_escapes_the_title() -> None:
    message = parse_email(email_bytes(notice(title="<script>x</script>"), "a@p.test"))
    html = message.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()


def test_correction_email_names_the_refuted_and_actual_price() -> None:
    correction = notice(
        kind=NotificationKind.CORRECTION,
        new_price=None,
        old_price=None,
        refuted_price=89_999,
        actual_price=124_900,
    )
    message = parse_email(email_bytes(correction, "a@p.test"))
    assert message["Subject"].startswith("Correction: ")
    assert message["X-Pricewatch-Key"] == "3:abc123:correction"
    plain = message.get_body(("plain",))
    assert plain is not None
    assert "899,99\u00a0€" in plain.get_content()
    assert "The verified price is 1.249,00\u00a0€." in plain.get_content()


def test_an_address_that_is_not_one_is_refused() -> None:
    with pytest.raises(BadAddress):
        email_bytes(notice(recipient="nobody"), "a@p.test")


def test_sms_and_webhook_bodies() -> None:
    assert sms_text(notice(market="us", currency="USD", title="Mug")) == (
        "Price drop: Mug now $899.99. https://p.test/p/de/B000000001"
    )
    body = json.loads(webhook_body(notice()))
    assert body["kind"] == "alert" and body["newPrice"] == 89_999 and body["oldPrice"] == 129_900
    assert body["links"]["stop"].endswith("token=t0k")


def test_link_maker_signs_stop_links() -> None:
    sub = Subscription(
        id=11,
        user_id=1,
        market="de",
        asin="B000000001",
        series="buybox",
        threshold=1,
        threshold_percent=None,
        base_price=None,
        currency="EUR",
        notification_type=NotificationType.EMAIL,
        target=None,
        status=SubscriptionStatus.ACTIVE,
        armed=True,
        last_fired_price=None,
        last_fired_at=None,
        created_at=0,
        updated_at=0,
    )
    links = LINKS.links(sub)
    token = links.stop.split("token=")[1]
    assert links.stop.startswith("https://p.test/alerts/11/stop?token=")
    assert verify_stop_token(11, token, "secret")


@pytest.mark.parametrize(
    ("recipient", "bare"),
    [
        ("ann@example.com", "ann@example.com"),
        ("first.o'neil+tag@mail.example.org", "first.o'neil+tag@mail.example.org"),
        ("Ann <ann@example.com>", "ann@example.com"),
        ('"Ann, B." <ann.b@example.com>', "ann.b@example.com"),
    ],
)
def test_address_of_takes_the_fast_path_only_for_bare_addresses(recipient: str, bare: str) -> None:
    assert address_of(recipient) == bare


@pytest.mark.parametrize("recipient", ["nobody", "änn@example.com", "ann@", ""])
def test_address_of_refuses_what_is_not_an_address(recipient: str) -> None:
    with pytest.raises(BadAddress):
        address_of(recipient)


def test_a_price_already_in_force_is_not_told_as_a_drop() -> None:
    # a new alert meets the current price through a re-check: a "change" from the
    # price to itself, which must not read "dropped to 899,99 € (was 899,99 €)"
    message = parse_email(email_bytes(notice(old_price=89_999), "Pricewatch <alerts@p.test>"))
    text = plain_text(message)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "is at 899,99\u00a0€." in text and "was" not in text
    assert "<s>" not in html and "is at" in html
