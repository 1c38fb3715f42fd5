"""Wire schemas: what the API reads and writes, in camelCase JSON.

These Structs exist only at the HTTP edge. Inside, prices are integer minor units
(``pricewatch.models``); on the wire a price is a JSON number in the *major* unit of
the stated ``currency`` ("12.99" dollars, "1299" yen), because that is what people,
the website chart and the extension display. Times on the wire are ISO 8601 UTC
strings.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from api.services.passwords import MAX_PASSWORD_LENGTH, PASSWORD_RULE
from pricewatch.asin import ASIN_SHAPE
from pricewatch.models import Availability
from pricewatch.storage.sql import (
    NotificationKind,
    NotificationStatus,
    NotificationType,
    SubscriptionStatus,
)

# 10**10 major units: far above any real product, far below Int64 minor units.
MAX_MAJOR = 10_000_000_000

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, examples=["me@example.org"])]
# A new password: the rule (api.services.passwords) is checked by the service, which
# says what is wrong in a sentence; only a bound on the text is left to the decoder.
Password = Annotated[
    str, msgspec.Meta(max_length=4 * MAX_PASSWORD_LENGTH, description=PASSWORD_RULE)
]
# a password to check rather than to set: only a bound on the text
AnyPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
# the token of a link (43 characters as we make them; a bound, not a format)
LinkToken = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
AsinText = Annotated[str, msgspec.Meta(pattern=ASIN_SHAPE, examples=["B0C1234567"])]
MarketText = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}$", examples=["us"])]
MajorPrice = Annotated[float, msgspec.Meta(ge=0, le=MAX_MAJOR)]
Percent = Annotated[float, msgspec.Meta(gt=0, lt=100)]
Target = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class Wire(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: camelCase, unknown fields are an error, not ignored."""


class Out(msgspec.Struct, rename="camel", kw_only=True):
    """Base of response bodies."""


# ------------------------------------------------------------------------ products


class PriceStat(Out, kw_only=True):
    price: float
    date: str


class ProductStats(Out, kw_only=True):
    """Statistics from the daily rollup over ``windowDays`` days.

    ``average`` is time-weighted at daily resolution: every day in the window on which
    the product had a price counts once, with the price in force at the end of that
    day (an average of samples would over-weight days that were crawled more often).
    """

    window_days: int
    lowest: PriceStat | None
    highest: PriceStat | None
    average: float | None


class GoodDeal(Out, kw_only=True):
    is_good_deal: bool
    rule: str


class ProductOut(Out, kw_only=True):
    asin: str
    market: str
    title: str | None
    image: str | None
    currency: str
    # decimal places of the currency's minor unit, for clients that want exact integers
    exponent: int
    price: float | None
    availability: Availability
    last_checked: str | None
    first_seen: str | None
    stats: ProductStats
    all_time: ProductStats
    deal: GoodDeal


class PricePoint(Out, kw_only=True):
    timestamp: str
    price: float | None
    min: float | None
    max: float | None


class PriceHistoryOut(Out, kw_only=True):
    """A step-function chart: each point is a bucket; ``price`` is the price in force at
    the bucket's end, ``min``/``max`` the band it moved in (``null``: no buy-box price)."""

    asin: str
    market: str
    currency: str
    exponent: int
    granularity: str
    start: str
    end: str
    history: list[PricePoint]


class QueuedOut(Out, kw_only=True):
    """Body of the answer for a product never seen: queued for a first crawl, known not
    to exist, or not queued because first crawls are used up for now."""

    detail: str
    status: Literal["queued", "not_found", "limited"]
    asin: str
    market: str


# ------------------------------------------------------------------------ accounts


class RegisterIn(Wire, kw_only=True):
    email: Email
    password: Password


class SignInIn(Wire, kw_only=True):
    email: Email
    password: AnyPassword


class AccountOut(Out, kw_only=True):
    user_id: int = msgspec.field(name="userID")
    email: str
    # alerts to the account's e-mail wait until it is verified
    email_verified: bool
    created_at: str


class TokenOut(Out, kw_only=True):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: str


class TokenIn(Wire, kw_only=True):
    """The token of a link we sent (``?token=`` of the page it opened)."""

    token: LinkToken


class PasswordResetRequestIn(Wire, kw_only=True):
    email: Email


class PasswordResetIn(Wire, kw_only=True):
    token: LinkToken
    password: Password


class PasswordChangeIn(Wire, kw_only=True):
    current_password: AnyPassword
    new_password: Password


class PasswordIn(Wire, kw_only=True):
    """The account's password, asked again before an irreversible step."""

    password: AnyPassword


class AcceptedOut(Out, kw_only=True):
    status: Literal["accepted"] = "accepted"
    detail: str


class DoneOut(Out, kw_only=True):
    status: Literal["done"] = "done"
    detail: str


# -------------------------------------------------------------------------- targets


class TargetIn(Wire, kw_only=True):
    notification_type: NotificationType
    # an e-mail address, a phone number in international form, or a webhook URL
    address: Target


class TargetOut(Out, kw_only=True):
    target_id: int = msgspec.field(name="targetID")
    notification_type: NotificationType
    address: str
    # alerts go to it once its receiver confirmed it
    confirmed: bool
    confirmed_at: str | None
    created_at: str
    # when a confirmation message last went out (resends wait RESEND_GAP_S after it)
    last_sent_at: str | None


# -------------------------------------------------------------------- subscriptions


class SubscriptionIn(Wire, kw_only=True):
    """Exactly one of ``threshold`` (a price in the market's currency, major units)
    and ``thresholdPercent`` (percent under the current price) is required."""

    product_id: AsinText = msgspec.field(name="productID")
    market: MarketText = "us"
    threshold: MajorPrice | None = None
    threshold_percent: Percent | None = None
    notification_type: NotificationType
    # e-mail address, phone number or webhook URL; null: the account's e-mail
    target: Target | None = None


class SubscriptionPatch(Wire, kw_only=True):
    """Fields to change; absent fields keep their value."""

    threshold: MajorPrice | None = None
    threshold_percent: Percent | None = None
    notification_type: NotificationType | None = None
    target: Target | None = None
    status: Literal["active", "paused"] | None = None


class SubscriptionCreated(Out, kw_only=True):
    subscription_id: int = msgspec.field(name="subscriptionID")
    status: SubscriptionStatus


class SubscriptionOut(Out, kw_only=True):
    subscription_id: int = msgspec.field(name="subscriptionID")
    product_id: str = msgspec.field(name="productID")
    market: str
    currency: str
    threshold: float
    threshold_percent: float | None
    base_price: float | None
    notification_type: NotificationType
    target: str | None
    status: SubscriptionStatus
    # false after an alert fired, until the price goes back above the threshold
    armed: bool
    created_at: str
    updated_at: str


class SubscriptionPage(Out, kw_only=True):
    items: list[SubscriptionOut]
    # pass as ``cursor`` for the next page; null on the last page
    next_cursor: int | None


# --------------------------------------------------------------------------- export


class ExportAccount(Out, kw_only=True):
    user_id: int = msgspec.field(name="userID")
    email: str
    email_verified_at: str | None
    created_at: str


class ExportNotification(Out, kw_only=True):
    notification_id: int = msgspec.field(name="notificationID")
    subscription_id: int = msgspec.field(name="subscriptionID")
    event_id: str
    kind: NotificationKind
    status: NotificationStatus
    attempts: int
    price: int | None
    created_at: str
    sent_at: str | None


class ExportOut(Out, kw_only=True):
    """Everything Pricewatch holds about the account (subscriptions include deleted
    ones; notification prices are minor units of the subscription's currency)."""

    exported_at: str
    account: ExportAccount
    targets: list[TargetOut]
    subscriptions: list[SubscriptionOut]
    notifications: list[ExportNotification]


# -------------------------------------------------------------------------- reports


class ReportIn(Wire, kw_only=True):
    """A price seen by the extension on an Amazon product page.

    ``price`` is a number in major units ("12.99") or the text as printed on the page
    ("1.299,00 €"); null with an out-of-stock availability. ``observedAt`` is ISO 8601
    or epoch seconds/milliseconds.
    """

    asin: Annotated[str, msgspec.Meta(max_length=64)]
    market: Annotated[str, msgspec.Meta(max_length=8)]
    availability: Availability = Availability.IN_STOCK
    price: float | Annotated[str, msgspec.Meta(max_length=64)] | None = None
    currency: Annotated[str, msgspec.Meta(max_length=8)] | None = None
    title: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    observed_at: float | Annotated[str, msgspec.Meta(max_length=64)] | None = None


class ReportAccepted(Out, kw_only=True):
    status: Literal["accepted"] = "accepted"
    reporter: str


# --------------------------------------------------------------------------- health


class HealthOut(Out, kw_only=True):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]
