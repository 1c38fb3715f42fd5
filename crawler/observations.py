"""Parsed page + the task that asked for it -> Observation. Pure, no Scrapy."""

from __future__ import annotations

from crawler.parsing import PageKind, ParsedPage
from pricewatch.models import Availability, CrawlTask, Observation, Source, TaskKind

# Statuses that mean "this product page is gone", whatever the body says.
GONE_STATUSES = frozenset({404, 410})
# What a page that is gone says, whatever else it shows: "unavailable", nothing more.
_GONE = ParsedPage(page_kind=PageKind.NOT_FOUND, availability=Availability.UNAVAILABLE)


def observation_for(
    task: CrawlTask, page: ParsedPage, status: int, now_ms: int
) -> Observation | None:
    """The observation a fetched product page makes, or None when it makes none.

    A robot check or an unrecognised page says nothing about the product: None
    (the caller decides between retrying and giving up). A page that is gone is
    an "unavailable" observation without a price. The product is the task's:
    the page was fetched at its /dp/ URL, which is what a shopper sees for it.
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
    price, list_price = page.price, page.list_price
    return Observation(
        market=task.market,
        asin=task.asin,
        observed_at=now_ms,
        availability=page.availability,
        source=source,
        price=price.minor if price else None,
        currency=price.currency if price else None,
        # a strikethrough price only means something next to a price of the same currency
        list_price=list_price.minor
        if list_price and price and list_price.currency == price.currency
        else None,
        title=page.title,
        image=page.image_url,
    )
