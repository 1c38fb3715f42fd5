"""The trust gate as a deployment configures it, from settings."""

from __future__ import annotations

import redis

from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.settings import Settings
from pricewatch.storage.clickhouse import PriceStore, all_time_lows
from pricewatch.storage.sql_blocking import BlockingSql
from pricewatch.trust.gate import TrustGate
from pricewatch.trust.rules import TrustPolicy


def policy_from_settings(settings: Settings) -> TrustPolicy:
    return TrustPolicy(
        drop_share=settings.trust_drop_share,
        rise_share=settings.trust_rise_share,
        quorum=settings.trust_quorum,
        window_ms=settings.trust_window_s * 1000,
        verify_tolerance_share=settings.trust_verify_tolerance_share,
        pending_ttl_ms=settings.trust_pending_ttl_s * 1000,
        spot_check_share=settings.trust_spot_check_share,
    )


def build_trust_gate(
    settings: Settings, client: redis.Redis, keys: Keys, store: PriceStore
) -> TrustGate:
    """The gate over the deployment's stores (close ``gate.sql`` when done)."""
    return TrustGate(
        client,
        keys,
        partitions=settings.stream_partitions,
        sql=BlockingSql(settings.database_url),
        lows=lambda series: all_time_lows(store, series),
        frontier=Frontier(
            client, keys, lease_ms=settings.crawl_lease_ms, partitions=settings.stream_partitions
        ),
        policy=policy_from_settings(settings),
        maxlen=settings.stream_maxlen,
    )


__all__ = ["build_trust_gate", "policy_from_settings"]
