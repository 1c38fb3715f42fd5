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
    ALERT_SERIES,
    NotificationKind,
    NotificationStatus,
    NotificationType,
    SubscriptionKind,
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
    # major units of the currency; for the sales rank, the rank (an integer)
    price: float
    date: str


class ProductStats(Out, kw_only=True):
    """Statistics over the last ``windowDays`` days, counted only from when the product
    was first seen.

    ``average`` is time-weighted: each price weighs as long as it was in force, so a
    price held three days at 10 and then one day at 20 averages 12.5, and a product
    seen an hour ago averages its prices of that hour (an average of samples would
    over-weight prices that were crawled more often). Time without a price (out of
    stock) counts for nothing. It is exact (from every change) when the product's
    tracked life is short and its changes few, and at daily resolution otherwise (each
    day at the price in force at its end). ``lowest`` and ``highest`` carry the day
    they were (first) in force. For the sales rank, ``lowest`` is the best rank (the
    smallest number) and the average is rounded to a whole rank.
    """

    window_days: int
    lowest: PriceStat | None
    highest: PriceStat | None
    average: float | None


class GoodDeal(Out, kw_only=True):
    """Whether the buy box is a good deal now, and the rule that says so (``rule``).

    ``percentile``: the share, in whole percent rounded down, of the last
    ``percentileDays`` days' priced time (since the product was first seen) during
    which the buy-box price was higher than now: 85 reads "lower than 85% of the last
    year's prices". Null without a price now or any priced time in that window.
    """

    is_good_deal: bool
    rule: str
    percentile: int | None
    percentile_days: int


class Freshness(Out, kw_only=True):
    """How fresh the price is: ``checkedAt`` the last crawl or accepted report, and
    ``nextCheckAt`` when the next crawl is due (now when it is queued; null when not
    scheduled yet), as ISO times; ``changesPerWeek`` how often the buy-box price
    changed over the product's tracked life (at most the last 90 days; null when
    tracked less than a day). ``text`` says it all in the words every client shows,
    e.g. "checked 12 min ago · next check in about 3 h · changes about twice a week"."""

    checked_at: str | None
    next_check_at: str | None
    changes_per_week: float | None
    text: str


class SeriesOut(Out, kw_only=True):
    """One price series of a product (``buybox``, ``amazon``, ``new``, ``used``, ``list``,
    ``cheapest_new``, ``sales_rank``): its value now (null: the page shows none now) and
    its statistics, as the product's own are for the buy box."""

    current: float | None
    stats: ProductStats
    all_time: ProductStats


class ProductOut(Out, kw_only=True):
    """A product; ``price``, ``availability``, ``stats``, ``allTime``, ``deal`` and
    ``freshness`` speak of the buy box, ``series`` of every series the product has ever
    shown."""

    asin: str
    market: str
    title: str | None
    image: str | None
    # the buy box's seller as the page names it ("Amazon.com", a third-party shop)
    sold_by: str | None
    # the average star rating out of 5, one decimal, and how many ratings it averages
    rating: float | None
    review_count: int | None
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
    freshness: Freshness
    series: dict[str, SeriesOut]


class AlertFeedOut(Out, kw_only=True):
    """The address of the account's Atom feed of sent alerts. It holds a secret: anyone
    with it reads the feed, without signing in. Asking again gives a new address and
    the old one stops working."""

    url: str


class PricePoint(Out, kw_only=False):
    # positional: a chart miss builds hundreds of these, and keywords cost a third more
    timestamp: str
    price: float | None
    min: float | None
    max: float | None


class PriceLine(Out, kw_only=True):
    """One series on the chart: money in major units of the chart's ``currency``, or a
    sales rank (``unit`` "rank", lower is better). Its points are of the chart's
    ``granularity``, like ``history``'s."""

    series: str
    unit: Literal["money", "rank"]
    points: list[PricePoint]


class PriceHistoryOut(Out, kw_only=True):
    """A step-function chart over the window ``start``..``end`` (``end`` is now for a
    period). ``granularity`` says what a point is:

    * ``"changes"``: a change of the series' state. ``price`` holds from ``timestamp``
      until the line's next point (or ``end``); ``min`` and ``max`` equal it. A line's
      first point is at ``start`` when a state was in force before the window. Served
      when the window holds few enough changes (and no bucket size was asked for).
    * a bucket size (``hourly``, ``daily``, ``weekly``, ``monthly``): a bucket starting
      at ``timestamp``; ``price`` is the price in force at the bucket's end, ``min``/
      ``max`` the band it moved in.

    ``null`` is no price then. ``history`` is the buy box; ``lines`` every series with
    data in the window (the buy box among them), each from its first observation on."""

    asin: str
    market: str
    currency: str
    exponent: int
    granularity: str
    start: str
    end: str
    history: list[PricePoint]
    lines: list[PriceLine]


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
    # an e-mail address, a phone number in international form, a webhook URL, or an
    # Apprise URL (tgram://..., ntfy://...)
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


# The series an alert may watch (the sales rank is no price). Text checked by the
# service, which says why a value is refused; the schema lists the choices (null, as
# when left out, is the kind's default).
AlertSeriesText = Annotated[
    str,
    msgspec.Meta(
        max_length=32,
        description=(
            "The price series watched: cheapest_new (the default for a price alert), "
            "amazon, new (third-party new), used, list or buybox. A back_in_stock alert "
            "watches the buy box's availability: buybox or left out."
        ),
        extra_json_schema={"extra": {"enum": [*ALERT_SERIES, None]}},
    ),
]


class SubscriptionIn(Wire, kw_only=True):
    """A ``price`` alert (the default) needs exactly one of ``threshold`` (a price in
    the market's currency, major units) and ``thresholdPercent`` (percent under the
    current value of its ``series``). A ``back_in_stock`` alert takes neither: it fires
    when the product is in stock again after being out of stock."""

    product_id: AsinText = msgspec.field(name="productID")
    market: MarketText = "us"
    kind: SubscriptionKind = SubscriptionKind.PRICE
    series: AlertSeriesText | None = None
    threshold: MajorPrice | None = None
    threshold_percent: Percent | None = None
    notification_type: NotificationType
    # e-mail address, phone number, webhook URL or Apprise URL; null: the account's e-mail
    target: Target | None = None


class SubscriptionPatch(Wire, kw_only=True):
    """Fields to change; absent fields keep their value. A new ``kind`` takes its own
    default ``series`` unless one is given; becoming a price alert needs a threshold
    (or percent) in the same change."""

    kind: SubscriptionKind | None = None
    series: AlertSeriesText | None = None
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
    kind: SubscriptionKind
    series: str
    # null for a back_in_stock alert
    threshold: float | None
    threshold_percent: float | None
    base_price: float | None
    notification_type: NotificationType
    target: str | None
    status: SubscriptionStatus
    # false after an alert fired, until the price goes back above the threshold
    # (back_in_stock: true while the product is out of stock)
    armed: bool
    created_at: str
    updated_at: str
    # the product as the catalogue knows it (lists only; null when not known yet);
    # ``image`` only when a page may show it (api.web.images)
    title: str | None = None
    image: str | None = None


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


ReportedPrice = float | Annotated[str, msgspec.Meta(max_length=64)]


class ReportPage(Wire, kw_only=True):
    """The rest of what the page showed, as the extension's parser reads it: who sells
    the buy box, whether it is a used copy, the list price, the lowest new and used
    offers, the sales rank. Prices are written like ``price``; null: not shown. With
    it, a report speaks for every price series of the product, not just the buy box."""

    sold_by: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    buybox_used: bool = False
    list_price: ReportedPrice | None = None
    new_offers_from: ReportedPrice | None = None
    used_from: ReportedPrice | None = None
    sales_rank: Annotated[int, msgspec.Meta(ge=1, le=10**9)] | None = None


class ReportIn(Wire, kw_only=True):
    """A price seen by the extension on an Amazon product page.

    ``price`` is a number in major units ("12.99") or the text as printed on the page
    ("1.299,00 €"); null with an out-of-stock availability. ``observedAt`` is ISO 8601
    or epoch seconds/milliseconds. ``page`` carries the page's other prices.
    """

    asin: Annotated[str, msgspec.Meta(max_length=64)]
    market: Annotated[str, msgspec.Meta(max_length=8)]
    availability: Availability = Availability.IN_STOCK
    price: ReportedPrice | None = None
    currency: Annotated[str, msgspec.Meta(max_length=8)] | None = None
    title: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    observed_at: float | Annotated[str, msgspec.Meta(max_length=64)] | None = None
    page: ReportPage | None = None


class ReportAccepted(Out, kw_only=True):
    status: Literal["accepted"] = "accepted"
    reporter: str


# --------------------------------------------------------------------------- health


class HealthOut(Out, kw_only=True):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]
