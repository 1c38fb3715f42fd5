"""Parsed page + the task that asked for it -> Observations, one per price
series the page speaks of (:mod:`pricewatch.page_series`). Pure, no Scrapy."""

from __future__ import annotations

import msgspec

from crawler.parsing import PageKind, ParsedPage
from pricewatch.markets import get_market
from pricewatch.models import Availability, CrawlTask, Observation, Series, Source, TaskKind
from pricewatch.money import Money
from pricewatch.page_series import PageFacts, series_observations

# Statuses that mean "this product page is gone", whatever the body says.
GONE_STATUSES = frozenset({404, 410})
# What a page that is gone says, whatever else it shows: "unavailable", nothing more.
_GONE = ParsedPage(page_kind=PageKind.NOT_FOUND, availability=Availability.UNAVAILABLE)


def page_facts(page: ParsedPage, currency: str) -> PageFacts:
    """The page's prices as minor units of ``currency``; a price in another
    currency (a foreign offer, a list price in dollars) says nothing."""

    def minor(money: Money | None) -> int | None:
        return money.minor if money is not None and money.currency == currency else None

    return PageFacts(
        availability=page.availability,
        price=minor(page.price),
        buybox_used=page.buybox_used,
        sold_by=page.sold_by,
        # a strikethrough price only means something next to a price
        list_price=minor(page.list_price) if page.price else None,
        new_offers_from=minor(page.new_offers_from),
        used_from=minor(page.used_from),
        sales_rank=page.sales_rank,
    )


def observations_for(
    task: CrawlTask, page: ParsedPage, status: int, now_ms: int
) -> list[Observation] | None:
    """The observations a fetched product page makes, or None when it makes none.

    A robot check or an unrecognised page says nothing about the product: None
    (the caller decides between retrying and giving up). A page that is gone is
    "unavailable" in every series. The product is the task's: the page was
    fetched at its /dp/ URL, which is what a shopper sees for it. The buy-box
    observation also carries the page's title and attributes. Prices are in
    the buy box's currency (ingest refuses one that is not the marketplace's),
    else in the marketplace's.
    """
    if task.asin is None:
        raise ValueError(f"a product observation needs a task with an asin: {task!r}")
    source = Source.VERIFICATION if task.kind is TaskKind.VERIFY else Source.CRAWLER
    if page.page_kind is PageKind.CAPTCHA:
        return None
    if status in GONE_STATUSES or page.page_kind is PageKind.NOT_FOUND:
        page = _GONE
    elif page.page_kind is not PageKind.PRODUCT:
        return None
    currency = page.price.currency if page.price else get_market(task.market).currency
    facts = page_facts(page, currency)
    observations = series_observations(
        facts,
        market=task.market,
        asin=task.asin,
        observed_at=now_ms,
        source=source,
        currency=currency,
    )
    return [
        _with_product_fields(obs, page, facts) if obs.series is Series.BUYBOX else obs
        for obs in observations
    ]


def _with_product_fields(obs: Observation, page: ParsedPage, facts: PageFacts) -> Observation:
    """The buy-box observation also says what the page says of the product."""
    return msgspec.structs.replace(
        obs,
        list_price=facts.list_price,
        title=page.title,
        image=page.image_url,
        sold_by=page.sold_by,
        rating=page.rating,
        review_count=page.review_count,
    )
