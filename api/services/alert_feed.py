"""The Atom feed of the alerts an account was sent, read by a feed reader without a
session: its address carries a secret, an account token of purpose ``alerts_feed``
(the link tokens' mechanism: stored by its hash only, looked up without being spent).
Asking for a new address replaces the old one, which stops working at once."""

from __future__ import annotations

from api.services import feeds, link_tokens
from api.state import ApiState
from pricewatch.markets import UnknownMarket, get_market
from pricewatch.money import format_price
from pricewatch.series_names import series_label
from pricewatch.storage import sql
from pricewatch.storage.sql import AccountTokenPurpose
from pricewatch.storage.sql_alert_feed import SentAlert, sent_alerts

PURPOSE = AccountTokenPurpose.ALERTS_FEED
# a feed address works until its owner replaces it (or deletes the account)
FEED_TTL_S = 100 * 365 * 24 * 3600
# entries in the feed: the newest
MAX_ALERT_ENTRIES = 50


def feed_url(state: ApiState, token: str) -> str:
    return f"{state.settings.public_url.rstrip('/')}/feeds/alerts/{token}"


async def rotate(state: ApiState, user_id: int) -> str:
    """A new feed address (its token); the account's earlier one stops working."""
    await sql.drop_account_tokens(state.db, user_id, PURPOSE.value)
    token, _ = await link_tokens.issue(state, user_id, PURPOSE, FEED_TTL_S)
    return token


async def revoke(state: ApiState, user_id: int) -> None:
    await sql.drop_account_tokens(state.db, user_id, PURPOSE.value)


async def owner(state: ApiState, token: str) -> int | None:
    """The account whose feed ``token`` opens; None for anything else."""
    if not token or len(token) > link_tokens.MAX_TOKEN_CHARS:
        return None
    found = await sql.peek_account_token(
        state.db, sql.hash_token(token), PURPOSE.value, state.clock()
    )
    return None if found is None else found.user_id


def _money(alert: SentAlert) -> str | None:
    if alert.price is None:
        return None
    if alert.series == "sales_rank":
        return f"#{alert.price:,}"
    try:
        market = get_market(alert.market)
    except UnknownMarket:
        return None
    return format_price(alert.price, alert.currency, market)


async def alerts_feed(state: ApiState, user_id: int, token: str) -> bytes:
    """The account's feed: its newest ``MAX_ALERT_ENTRIES`` sent alerts."""
    alerts = await sent_alerts(state.db, user_id, MAX_ALERT_ENTRIES)
    keys = {(a.market, a.asin) for a in alerts}
    titles = await state.clickhouse(state.prices.products, keys) if keys else {}
    site = state.settings.public_url.rstrip("/")
    entries = []
    for alert in alerts:
        product = titles.get((alert.market, alert.asin))
        name = (product.title if product else None) or f"{alert.market}:{alert.asin}"
        price = _money(alert)
        title = feeds.alert_title(
            kind=alert.kind,
            alert_kind=alert.alert_kind,
            series_label=series_label(alert.series),
            name=name,
            price=price,
        )
        entries.append(
            feeds.AlertEntry(
                entry_id=f"{site}/feeds/alerts#notification-{alert.notification_id}",
                title=title,
                summary=f"{title}. Sent {feeds.iso(alert.sent_at)}.",
                sent_at_ms=alert.sent_at,
                link=f"{site}/p/{alert.market}/{alert.asin}",
            )
        )
    return feeds.alerts_atom(
        self_url=feed_url(state, token), site_url=site, updated_ms=state.clock(), entries=entries
    )
