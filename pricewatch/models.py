"""Neutral models that travel on streams and between roles.

Prices are integers in minor units of ``currency`` everywhere inside; decimal
strings exist only at the edges (pages, API bodies, e-mails). Times are
integer milliseconds since the Unix epoch, UTC: cheap to encode at 100k+/s and
exact in ClickHouse ``DateTime64(3, 'UTC')``.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, NamedTuple, TypeVar

import msgspec

from pricewatch.asin import ASIN_SHAPE


class Availability(StrEnum):
    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN = "unknown"
    # the product page is gone (404 / "dog page"); recorded, never a price
    UNAVAILABLE = "unavailable"


class Source(StrEnum):
    CRAWLER = "crawler"
    EXTENSION = "extension"
    VERIFICATION = "verification"
    IMPORT = "import"


class Series(StrEnum):
    """The kinds of price a product page shows, each kept as its own history
    (how a page yields them: :mod:`pricewatch.page_series`)."""

    # the buy-box price, whoever sells it: the product's current price
    BUYBOX = "buybox"
    # the buy box when Amazon itself sells
    AMAZON = "amazon"
    # the lowest third-party new offer (the buy box's or the offers box's)
    NEW = "new"
    # the lowest used offer
    USED = "used"
    # the list price (strikethrough / RRP)
    LIST = "list"
    # the cheapest new price, min(amazon, new): what an alert watches by default
    CHEAPEST_NEW = "cheapest_new"
    # the main Best Sellers Rank: an integer in the price column, no currency
    SALES_RANK = "sales_rank"


# The series whose values are money (all but the sales rank).
PRICE_SERIES = frozenset(s for s in Series if s is not Series.SALES_RANK)
# The series whose availability is the product's: what a back-in-stock alert watches.
STOCK_SERIES = Series.BUYBOX


class SubscriptionKind(StrEnum):
    """What an alert promises to tell."""

    # the series' price at or below a threshold
    PRICE = "price"
    # the product's buy box back in stock (no threshold)
    BACK_IN_STOCK = "back_in_stock"


class TaskKind(StrEnum):
    PRODUCT = "product"
    VERIFY = "verify"
    DISCOVER = "discover"


Asin = Annotated[str, msgspec.Meta(pattern=ASIN_SHAPE)]
MarketCode = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}$")]
Millis = Annotated[int, msgspec.Meta(ge=0)]
# Up to 10**12 minor units: far above any real product, far below Int64 overflow.
Minor = Annotated[int, msgspec.Meta(ge=0, le=10**12)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
# Observations arrive 100k+ a second: a regex per field costs more than the rest
# of decoding, so their decoder checks only lengths here and ingest checks the
# characters with str methods (``is_asin_shaped``), an order of magnitude cheaper.
AsinField = Annotated[str, msgspec.Meta(min_length=10, max_length=10)]
MarketField = Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
CurrencyField = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]
# an average star rating, "4.4" on the wire (msgspec bounds no Decimal: ingest's
# validate checks 0..5)
Rating = Decimal
Count = Annotated[int, msgspec.Meta(ge=0, le=10**10)]


def is_asin_shaped(value: str) -> bool:
    """Ten ASCII digits or upper-case letters (what ``Asin`` matches)."""
    return (
        len(value) == 10
        and value.isascii()
        and value.isalnum()
        and (value.isupper() or value.isdigit())
    )


# gc=False: these hold only strings and numbers, so they can never be part of a
# reference cycle; untracked, the batches of 100k+ that ingest builds cost the
# garbage collector nothing.


class LastState(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """The last accepted sighting of one series: what ingest compares a new one with
    (kept in Redis by its ``series_text``, read back from ClickHouse on a miss)."""

    observed_at: int
    price: int | None
    availability: str


# (market, asin): one product, where a plain tuple is all a lookup needs
ProductKey = tuple[str, str]


class SeriesKey(NamedTuple):
    """One price series of one product: what a last state, a history and trust records
    belong to. A tuple, so ClickHouse takes it as a parameter and answers in kind."""

    market: str
    asin: str
    series: str

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        """The key back from its :func:`series_text`."""
        market, asin, series = text.split(":", 2)
        return cls(market, asin, series)


def series_text(market: str, asin: str, series: str) -> str:
    """A series key as "market:asin:series", where Redis needs text (hash fields, key
    parts). Three strings rather than a :class:`SeriesKey`: ingest spells one per
    observation, 100k+ a second, and building a tuple first costs as much again."""
    return f"{market}:{asin}:{series}"


class Observation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One sighting of a product's price (or of its absence).

    Decoding checks field lengths only; ``pricewatch.ingest.core.validate``
    completes the checks (known market, ASIN characters, currency).
    """

    market: MarketField
    asin: AsinField
    observed_at: Millis
    availability: Availability
    source: Source
    series: Series = Series.BUYBOX
    # None when no buy-box price is shown (out of stock, gone, "see all offers")
    price: Minor | None = None
    currency: CurrencyField | None = None
    list_price: Minor | None = None
    title: str | None = None
    image: str | None = None
    # the product's current attributes, read from its page (buy-box observations only)
    sold_by: str | None = None
    rating: Rating | None = None
    review_count: Count | None = None
    # who said so: a user id, or install id + hashed IP for extension reports
    reporter: str | None = None

    @property
    def product_key(self) -> str:
        return f"{self.market}:{self.asin}"


class PriceChange(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """The accepted price of a (market, asin, series) moved (or, for the buy box, the
    product's availability did: a back-in-stock alert needs to hear of it even when
    the price shown stayed the same).

    The product's description (title, image, seller, rating) comes along, as its page
    showed it, so that a message about any series can name the product."""

    event_id: str
    market: MarketCode
    asin: Asin
    series: Series
    observed_at: Millis
    source: Source
    new_price: Minor | None
    old_price: Minor | None = None
    currency: Currency | None = None
    old_availability: Availability | None = None
    new_availability: Availability = Availability.UNKNOWN
    title: str | None = None
    image: str | None = None
    sold_by: str | None = None
    rating: Rating | None = None
    review_count: Count | None = None

    @property
    def product_key(self) -> str:
        return f"{self.market}:{self.asin}"


class PriceCorrection(msgspec.Struct, frozen=True, kw_only=True):
    """A price that was announced turned out to be false."""

    refuted_event_id: str
    market: MarketCode
    asin: Asin
    series: Series
    refuted_price: Minor | None
    # the price verified in its place, if known
    actual_price: Minor | None = None
    currency: Currency | None = None


class Recheck(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A subscription that makes a new promise (created, resumed, its threshold moved,
    its destination confirmed) meets the price already in force.

    Nothing moved, so this is no :class:`PriceChange`: it names one subscription, and
    only that one may fire on it. It travels on the product's ``price-changes``
    partition (entry kind ``RECHECK``), in order with the product's changes.
    """

    # one per promise (``pricewatch.rechecks.recheck_id``): a repeated publish is one event
    event_id: str
    subscription_id: int
    market: MarketCode
    asin: Asin
    series: Series
    # the price in force, as the price store last accepted it (None: none shown, as
    # when a back-in-stock alert meets a product out of stock)
    price: Minor | None
    currency: Currency | None = None
    availability: Availability = Availability.UNKNOWN
    # when the re-check was asked for
    checked_at: Millis
    # the product as the catalogue describes it, when known
    title: str | None = None
    image: str | None = None
    sold_by: str | None = None
    rating: Rating | None = None
    review_count: Count | None = None


class CrawlTask(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A unit of crawl work on the frontier (JSON on the wire)."""

    market: MarketCode
    asin: Asin | None = None
    kind: TaskKind = TaskKind.PRODUCT
    priority: float = 0.0
    # discovery tasks carry the listing URL; verification tasks the report id
    url: str | None = None
    report_id: str | None = None

    @property
    def product_key(self) -> str:
        return f"{self.market}:{self.asin}"


class Product(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Catalogue state of one product in one marketplace."""

    market: MarketCode
    asin: Asin
    title: str | None = None
    image: str | None = None
    sold_by: str | None = None
    rating: Rating | None = None
    review_count: Count | None = None
    currency: Currency | None = None
    last_price: Minor | None = None
    availability: Availability = Availability.UNKNOWN
    first_seen: Millis | None = None
    last_seen: Millis | None = None


def change_event_id(
    market: str, asin: str, series: str, observed_at: int, new_price: int | None
) -> str:
    """Deterministic id: replaying the observation yields the same event id."""
    raw = f"{market}|{asin}|{series}|{observed_at}|{new_price}".encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[type, msgspec.json.Decoder] = {}


def encode(obj: object) -> bytes:
    return _ENCODER.encode(obj)


def decode(data: bytes | str, type_: type[T]) -> T:
    """Decode and validate; raises ``msgspec.ValidationError`` with the reason."""
    dec = _DECODERS.get(type_)
    if dec is None:
        dec = _DECODERS[type_] = msgspec.json.Decoder(type_)
    return dec.decode(data)


def decode_many(data: bytes, type_: type[T]) -> list[T]:
    """The items of a stream entry holding one ``type_`` or a JSON array of them: a
    producer that emits many at once (the crawler's pipeline, ingest's batches) sends
    one entry for all. Raises as :func:`decode` does, for the entry as a whole."""
    if data[:1] == b"[":
        return decode(data, list[type_])  # type: ignore[valid-type]
    return [decode(data, type_)]


_RAW_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])


def decode_each(data: bytes, type_: type[T]) -> tuple[list[T], list[tuple[str, bytes]]]:
    """:func:`decode_many`, where a bad item costs only itself: the items that decode,
    and (reason, bytes) of each that does not, or of the whole entry when it is not
    even JSON. One decode call when all is well."""
    try:
        return decode_many(data, type_), []
    except msgspec.DecodeError as exc:
        if data[:1] != b"[":
            return [], [(str(exc), data)]
        whole = (str(exc), data)
    try:
        items = [bytes(item) for item in _RAW_ITEMS.decode(data)]
    except msgspec.DecodeError:
        return [], [whole]
    good: list[T] = []
    bad: list[tuple[str, bytes]] = []
    for item in items:
        try:
            good.append(decode(item, type_))
        except msgspec.DecodeError as exc:
            bad.append((str(exc), item))
    return good, bad
