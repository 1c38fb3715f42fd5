"""Normalising destinations and building re-checks (pure)."""

from __future__ import annotations

import pytest

from pricewatch.destinations import Destination, destination_of, e164, email_address
from pricewatch.egress import EgressPolicy
from pricewatch.models import LastState, SeriesKey
from pricewatch.rechecks import recheck_events
from pricewatch.storage.sql import (
    NotificationType,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
)

EMAIL, SMS, WEBHOOK = NotificationType.EMAIL, NotificationType.SMS, NotificationType.WEBHOOK
check_url = EgressPolicy().check_url


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("+15555550100", "+15555550100"),
        ("+1 (555) 555-0100", "+15555550100"),
        ("0044 7700 900123", "+447700900123"),
        ("+33.6.12.34.56.78", "+33612345678"),
    ],
)
def test_phone_numbers_become_e164(text: str, number: str) -> None:
    assert e164(text) == number


@pytest.mark.parametrize(
    "text", ["5555550100", "+0123456789", "+1555", "call me", "+1234567890123456", "+1555555010a"]
)
def test_what_is_not_an_international_number_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match="international form, starting with \\+"):
        e164(text)


def test_email_addresses_are_lower_cased_and_checked() -> None:
    assert email_address("  Ann.Lee+alerts@Example.ORG ") == "ann.lee+alerts@example.org"
    for bad in (
        "ann",
        "ann@",
        "@example.org",
        "ann@example",
        "a b@example.org",
        "ann@exa mple.org",
        ".ann@example.org",
        "ann..lee@example.org",
        "ann@-example.org",
        "<ann@example.org>",
        "ann@example.org\nBcc: x@y.org",
    ):
        with pytest.raises(ValueError, match="not an e-mail address"):
            email_address(bad)


def test_the_destination_of_a_subscription() -> None:
    me = "ann@example.org"
    assert destination_of(EMAIL, None, me, check_url) == Destination(EMAIL, None)
    assert destination_of(EMAIL, "  ", me, check_url) == Destination(EMAIL, None)
    # the account's own address typed out is the account's address
    assert destination_of(EMAIL, "ANN@example.org", me, check_url) == Destination(EMAIL, None)
    assert destination_of(EMAIL, "Bob@Example.org", me, check_url) == Destination(
        EMAIL, "bob@example.org"
    )
    assert destination_of(SMS, "+1 555 555 0100", me, check_url) == Destination(SMS, "+15555550100")
    assert destination_of(WEBHOOK, "HTTPS://Hooks.Example.org/x?y=1", me, check_url) == (
        Destination(WEBHOOK, "https://hooks.example.org/x?y=1")
    )
    with pytest.raises(ValueError, match="needs a phone number"):
        destination_of(SMS, None, me, check_url)
    with pytest.raises(ValueError, match="needs the URL"):
        destination_of(WEBHOOK, None, me, check_url)
    for url in (
        "http://127.0.0.1/hook",
        "ftp://example.org/",
        "http://0x7f000001/",
        "http://localhost:8000/",
    ):
        with pytest.raises(ValueError):
            destination_of(WEBHOOK, url, me, check_url)


def _sub(
    sub_id: int, asin: str = "B0RECHECK1", kind: SubscriptionKind = SubscriptionKind.PRICE
) -> Subscription:
    return Subscription(
        id=sub_id,
        user_id=1,
        market="us",
        asin=asin,
        series="buybox",
        kind=kind,
        threshold=1000 if kind is SubscriptionKind.PRICE else None,
        threshold_percent=None,
        base_price=None,
        currency="USD",
        notification_type=EMAIL,
        target=None,
        status=SubscriptionStatus.ACTIVE,
        armed=True,
        last_fired_price=None,
        last_fired_at=None,
        created_at=1,
        updated_at=1,
    )


def test_rechecks_only_for_products_with_a_price() -> None:
    priced, out_of_stock, unseen = _sub(1, "B0RECHECK1"), _sub(2, "B0RECHECK2"), _sub(3, "B0X")
    prices = {
        SeriesKey("us", "B0RECHECK1", "buybox"): LastState(5, 950, "in_stock"),
        SeriesKey("us", "B0RECHECK2", "buybox"): LastState(5, None, "out_of_stock"),
    }
    events = recheck_events([priced, out_of_stock, unseen], prices, 77)
    assert [(e.event_id, e.subscription_id, e.price, e.checked_at) for e in events] == [
        ("recheck:1:1", 1, 950, 77)
    ]


def test_a_back_in_stock_alert_meets_any_sighting_of_the_buy_box() -> None:
    back = SubscriptionKind.BACK_IN_STOCK
    out_of_stock, in_stock, unseen = (
        _sub(1, "B0RECHECK1", back),
        _sub(2, "B0RECHECK2", back),
        _sub(3, "B0X", back),
    )
    prices = {
        SeriesKey("us", "B0RECHECK1", "buybox"): LastState(5, None, "out_of_stock"),
        SeriesKey("us", "B0RECHECK2", "buybox"): LastState(5, 950, "in_stock"),
    }
    events = recheck_events([out_of_stock, in_stock, unseen], prices, 77)
    assert [(e.subscription_id, e.price, e.availability) for e in events] == [
        (1, None, "out_of_stock"),
        (2, 950, "in_stock"),
    ]


def test_masked_addresses_tell_destinations_apart_but_never_give_them_away() -> None:
    from pricewatch.destinations import masked

    assert masked("EMAIL", "anna.person@example.com") == "a***@example.com"
    assert masked("SMS", "+15555550100") == "+1******0100"
    assert masked("WEBHOOK", "https://hooks.example.com/T0/secret?k=v") == (
        "https://hooks.example.com/***"
    )
