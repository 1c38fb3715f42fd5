from __future__ import annotations

import json
from decimal import Decimal
from html import escape

import pytest

from alerts.notices import LinkMaker, Links, Notice
from alerts.rendering import BadAddress, address_of, email_bytes, sms_text, webhook_body
from pricewatch.alert_links import verify_stop_token
from pricewatch.storage.sql import (
    NotificationKind,
    NotificationType,
    Subscription,
    SubscriptionKind,
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
        "series": "buybox",
        "alert_kind": SubscriptionKind.PRICE,
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
    assert message["Subject"] == (
        "Price of Kaffeemaschine „Crème“ 1,5 l is at 899,99\u00a0€, below your 1.000,00\u00a0€"
    )
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
    assert (
        "Price of Kaffeemaschine „Crème“ 1,5 l dropped to 899,99\u00a0€ (was 1.299,00\u00a0€)."
        in text
    )
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
        "Price of Mug is at $899.99, below your $1,000.00. https://p.test/p/de/B000000001"
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
        kind=SubscriptionKind.PRICE,
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


# --- series, back in stock, what the product looks like ------------------------------------

IMAGE = "https://m.media-amazon.com/images/I/71kettle.jpg"


def _us(**kw: object) -> Notice:
    values: dict[str, object] = {
        "market": "us",
        "currency": "USD",
        "title": "Kettle",
        "threshold": 20_00,
        "new_price": 18_00,
        "old_price": 24_00,
        "image": IMAGE,
        "sold_by": "Kettle Corner",
        "rating": Decimal("4.4"),
        "review_count": 1_234,
    }
    values.update(kw)
    return notice(**values)


def _back_in_stock(**kw: object) -> Notice:
    """A back-in-stock alert's notice: it has no threshold."""
    return _us(alert_kind=SubscriptionKind.BACK_IN_STOCK, threshold=None, **kw)


def _bodies(n: Notice) -> tuple[str, str, str]:
    message = parse_email(email_bytes(n, "a@p.test"))
    html = message.get_body(("html",))
    assert html is not None
    return str(message["Subject"]), plain_text(message), html.get_content()


@pytest.mark.parametrize(
    ("series", "name"),
    [
        ("used", "Used price"),
        ("cheapest_new", "Cheapest new price"),
        ("new", "Third-party new price"),
        ("amazon", "Amazon's price"),
        ("buybox", "Price"),
    ],
)
def test_a_price_alert_says_which_series(series: str, name: str) -> None:
    subject, text, html = _bodies(_us(series=series))
    assert subject == f"{name} of Kettle is at $18.00, below your $20.00"
    assert f"{name} of Kettle dropped to $18.00 (was $24.00)." in text
    assert f"Your alert: {name.lower()} at or below $20.00." in text
    assert f"{escape(name)} of <b>Kettle</b> dropped to <b>$18.00</b>" in html
    assert sms_text(_us(series=series)).startswith(
        f"{name} of Kettle is at $18.00, below your $20.00. https://"
    )
    body = json.loads(webhook_body(_us(series=series)))
    assert (body["series"], body["alertKind"], body["kind"]) == (series, "price", "alert")
    # at the threshold itself: "at", not "below"
    assert _bodies(_us(series=series, new_price=20_00))[0].endswith("is at $20.00, at your $20.00")


def test_back_in_stock_reads_as_such_with_the_price_it_came_back_at() -> None:
    back = _back_in_stock(series="buybox", new_price=54_00, old_price=None)
    subject, text, html = _bodies(back)
    assert subject == "Back in stock: Kettle at $54.00"
    assert "Kettle is back in stock at $54.00." in text
    assert "You asked to be told when it is back in stock." in text
    assert "threshold" not in text.lower() and "None" not in text
    assert "<b>Kettle</b> is back in stock<b> at $54.00</b>" in html
    assert sms_text(back) == "Back in stock: Kettle at $54.00. https://p.test/p/de/B000000001"
    body = json.loads(webhook_body(back))
    assert (body["series"], body["alertKind"], body["threshold"]) == (
        "buybox",
        "back_in_stock",
        None,
    )
    # in stock with no single price shown (a choice of sizes)
    no_price = _back_in_stock(new_price=None)
    assert _bodies(no_price)[0] == "Back in stock: Kettle"
    assert sms_text(no_price).startswith("Back in stock: Kettle. ")


def test_a_refuted_return_is_corrected_as_one() -> None:
    refuted = _back_in_stock(
        kind=NotificationKind.CORRECTION,
        new_price=None,
        old_price=None,
        refuted_price=54_00,
        actual_price=None,
    )
    subject, text, _ = _bodies(refuted)
    assert subject == "Correction: Kettle is not back in stock"
    assert "We told you that Kettle was back in stock at $54.00." in text
    assert sms_text(refuted).startswith("Correction: Kettle is not back in stock.")


def test_seller_and_rating_are_told_when_known() -> None:
    _, text, html = _bodies(_us(series="buybox"))
    assert "Sold by: Kettle Corner" in text and "Sold by: Kettle Corner" in html
    assert "Rating: 4.4 out of 5 stars (1,234 ratings)" in text
    body = json.loads(webhook_body(_us()))
    assert (body["soldBy"], body["rating"], body["reviewCount"]) == ("Kettle Corner", 4.4, 1234)
    # the buy box's seller is not the seller of the cheapest used copy: not said there
    _, used, _ = _bodies(_us(series="used"))
    assert "Sold by" not in used and "Rating: 4.4" in used
    _, bare, _ = _bodies(_us(sold_by=None, rating=None, review_count=None))
    assert "Sold by" not in bare and "Rating" not in bare
    _, one, _ = _bodies(_us(review_count=1))
    assert "(1 rating)" in one


@pytest.mark.parametrize(
    ("image", "shown"),
    [
        (IMAGE, True),
        ("https://images-na.ssl-images-amazon.com/images/I/x.jpg", True),
        ("https://images-eu.ssl-images-amazon.com/images/I/x.jpg", True),
        ("https://images-fe.ssl-images-amazon.com/images/I/x.jpg", True),
        ("http://m.media-amazon.com/images/I/x.jpg", False),  # not https
        ("https://m.media-amazon.com.evil.example/x.jpg", False),
        ("https://evil.example/m.media-amazon.com/x.jpg", False),
        ("https://user@m.media-amazon.com/x.jpg", False),
        ("https://m.media-amazon.com:8443/x.jpg", False),
        ("https://m.media-amazon.com:bad/x.jpg", False),
        ("javascript:alert(1)", False),
        ("//m.media-amazon.com/x.jpg", False),
        ("", False),
        (None, False),
    ],
)
def test_only_amazons_image_hosts_over_https_are_shown(image: str | None, shown: bool) -> None:
    _, _, html = _bodies(_us(image=image))
    assert ("<img" in html) is shown
    if shown:
        assert f'src="{image}"' in html
    assert json.loads(webhook_body(_us(image=image)))["image"] == (image if shown else None)
