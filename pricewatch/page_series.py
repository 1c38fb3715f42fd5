"""What one product page says about each price series: pure, shared by the
crawler (pages it fetched) and the API (pages the extension read).

A page shows the buy box (its price, whether it is a used copy, who sells it),
an offers summary (the lowest new and used offers), a list price and a sales
rank. From those:

- ``buybox``: the buy-box price, whoever sells;
- ``amazon``: the buy-box price when Amazon itself sells it, none when another
  seller holds the buy box or nothing can be bought; left out when the page
  names no seller (Amazon may well be selling: nothing is known);
- ``new``: the lowest third-party new offer, from the buy box (when a named
  seller other than Amazon holds it) or from the offers summary. The summary's
  "from" price may be Amazon's own offer: pages do not say;
- ``used``: the lowest used offer, a used-only buy box included;
- ``cheapest_new``: min(new buy box, offers summary's new) = min(amazon, new);
- ``list``: the list price; ``sales_rank``: the main Best Sellers Rank.

``None`` means "the page shows no such price now": charts draw a gap and
alerts do not fire on it.
"""

from __future__ import annotations

import re

import msgspec

from pricewatch.models import Availability, Observation, Series, Source

# "Amazon", "Amazon.com", "Amazon.com.br", "Amazon EU S.à r.l.", "Amazon US",
# "Amazon Media EU S.à r.l." (Kindle): Amazon itself. Its Warehouse and resale
# arms sell returned, used stock, as third parties do.
_AMAZON_SELLER_RE = re.compile(r"^amazon(?:[\s.]|$)", re.IGNORECASE)
_NOT_AMAZON_ITSELF_RE = re.compile(r"warehouse|resale", re.IGNORECASE)
_OUT_OF_STOCK = Availability.OUT_OF_STOCK


class PageFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a product page showed; money in minor units of the marketplace's currency."""

    availability: Availability
    # the buy box: its price, and whether it offers a used copy
    price: int | None = None
    buybox_used: bool = False
    sold_by: str | None = None
    list_price: int | None = None
    new_offers_from: int | None = None
    used_from: int | None = None
    sales_rank: int | None = None


def is_amazon(seller: str | None) -> bool:
    """Whether the seller named on a page is Amazon itself."""
    return bool(
        seller and _AMAZON_SELLER_RE.match(seller) and not _NOT_AMAZON_ITSELF_RE.search(seller)
    )


def _lowest(*values: int | None) -> int | None:
    known = [value for value in values if value is not None]
    return min(known) if known else None


def series_values(facts: PageFacts) -> dict[Series, int | None]:
    """Each series the page speaks of, with its value (``None``: none shown now)."""
    if facts.availability is Availability.UNAVAILABLE:
        # the page is gone: nothing can be bought, in any series
        return {series: None for series in Series}
    new_buybox = None if facts.buybox_used else facts.price
    values: dict[Series, int | None] = {
        Series.BUYBOX: facts.price,
        Series.LIST: facts.list_price,
        Series.SALES_RANK: facts.sales_rank,
        Series.USED: _lowest(facts.used_from, facts.price if facts.buybox_used else None),
        Series.CHEAPEST_NEW: _lowest(new_buybox, facts.new_offers_from),
    }
    if new_buybox is None or facts.sold_by is not None:
        amazon_sells = is_amazon(facts.sold_by)
        values[Series.AMAZON] = new_buybox if amazon_sells else None
        third_party = None if amazon_sells else new_buybox
        values[Series.NEW] = _lowest(third_party, facts.new_offers_from)
    else:
        # a new buy box whose seller the page does not name: Amazon's or not is unknown
        values[Series.NEW] = facts.new_offers_from
    return values


def series_availability(series: Series, value: int | None, page: Availability) -> Availability:
    """A series' availability: the page's, except that a price shown in it can be
    bought even when the buy box is out of stock (used copies of a sold-out book)."""
    if series is not Series.SALES_RANK and value is not None and page is _OUT_OF_STOCK:
        return Availability.IN_STOCK
    return page


def series_observations(
    facts: PageFacts,
    *,
    market: str,
    asin: str,
    observed_at: int,
    source: Source,
    currency: str,
    reporter: str | None = None,
) -> list[Observation]:
    """An observation per series the page speaks of, in :func:`series_values`' order.
    A price is in ``currency``; the sales rank, and a series showing no value, carry
    none."""
    return [
        Observation(
            market=market,
            asin=asin,
            observed_at=observed_at,
            availability=series_availability(series, value, facts.availability),
            source=source,
            series=series,
            price=value,
            currency=None if series is Series.SALES_RANK or value is None else currency,
            reporter=reporter,
        )
        for series, value in series_values(facts).items()
    ]
