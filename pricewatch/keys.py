"""Every Redis key and stream name, in one module.

Nobody else writes a key string. Keys carry a common prefix so one Redis can
host several deployments (and tests can isolate themselves).
"""

from __future__ import annotations

import dataclasses
import zlib

# Stream names (per partition: "<prefix>observations:<n>")
OBSERVATIONS = "observations"
PRICE_CHANGES = "price-changes"
PRICE_CORRECTIONS = "price-corrections"
DEAD_LETTER = "dead-letter"

# Kinds of entries on a stream that carries more than one model (an entry without a
# kind holds the stream's own: an Observation, a PriceChange...). ``price-changes``
# also carries the re-checks of subscriptions (``pricewatch.models.Recheck``).
RECHECK = "recheck"

# Consumer groups
INGEST_GROUP = "ingest"
ALERTS_GROUP = "alerts"
# the alerts role's readers of Keys.account_messages
ACCOUNT_MESSAGES_GROUP = "account-messages"


def partition_of(market: str, asin: str, partitions: int) -> int:
    """Stable partition for a product: same product, same partition, same order.

    crc32 is stable across processes and languages (Python's hash() is not).
    """
    return zlib.crc32(f"{market}:{asin}".encode()) % partitions


# Prefix of every key of a deployment (PRICEWATCH_KEY_PREFIX overrides it).
DEFAULT_PREFIX = "pw:"


@dataclasses.dataclass(frozen=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    def stream(self, name: str, partition: int) -> str:
        return f"{self.prefix}{name}:{partition}"

    def observations(self, partition: int) -> str:
        return self.stream(OBSERVATIONS, partition)

    def price_changes(self, partition: int) -> str:
        return self.stream(PRICE_CHANGES, partition)

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}{DEAD_LETTER}"

    # ingest: last accepted state per (market, asin, series), a hash field per product
    def last_price(self, partition: int) -> str:
        return f"{self.prefix}last-price:{partition}"

    # crawl frontier: two sorted sets of task keys by priority (verification lane
    # first), payloads in a hash, leases of popped tasks. The "{frontier}" hash tag
    # puts every frontier key in one Redis Cluster slot, which the Lua scripts
    # that touch several of them at once require.
    @property
    def frontier(self) -> str:
        return f"{self.prefix}{{frontier}}"

    @property
    def frontier_tasks(self) -> str:
        return f"{self.prefix}{{frontier}}:tasks"

    @property
    def frontier_verify(self) -> str:
        return f"{self.prefix}{{frontier}}:verify"

    # lease deadlines (ms) of popped tasks, a sorted set by deadline
    @property
    def frontier_inflight(self) -> str:
        return f"{self.prefix}{{frontier}}:inflight"

    # owner, rank and payload of each popped task
    @property
    def frontier_inflight_tasks(self) -> str:
        return f"{self.prefix}{{frontier}}:inflight:tasks"

    # tasks pushed while the same key was in flight, queued once it is acked
    @property
    def frontier_deferred(self) -> str:
        return f"{self.prefix}{{frontier}}:deferred"

    # the task keys one worker holds, for heartbeats
    def frontier_worker(self, worker: str) -> str:
        return f"{self.prefix}{{frontier}}:worker:{worker}"

    @property
    def frontier_worker_prefix(self) -> str:
        return self.frontier_worker("")

    def proxy_next_slot(self, proxy: str) -> str:
        return f"{self.prefix}politeness:{proxy}"

    # ASINs the crawler has seen in one market (a set): discovery enqueues only others
    def known_products(self, market: str) -> str:
        return f"{self.prefix}known-products:{market}"

    def views(self, market: str, asin: str) -> str:
        return f"{self.prefix}views:{market}:{asin}"

    @property
    def views_dirty(self) -> str:
        return f"{self.prefix}views:dirty"

    def history_cache(self, market: str, asin: str) -> str:
        """Hash of computed chart histories for one product, a field per variant.

        One key per product so that ingest can drop all of them with one DEL
        when the product's price changes.
        """
        return f"{self.prefix}history:{market}:{asin}"

    @property
    def history_invalidations(self) -> str:
        """Pub/sub channel: the ``history_cache`` key of each product whose
        histories were just dropped, for the API processes' in-memory copies."""
        return f"{self.prefix}history-invalidations"

    def rate_limit(self, scope: str, ident: str) -> str:
        return f"{self.prefix}rate:{scope}:{ident}"

    # alerts: the event a notification row refers to (a PriceChange or a
    # PriceCorrection), kept for a while so a retried or orphaned notification
    # renders the same message as the first attempt would have
    def alert_event(self, kind: str, event_id: str) -> str:
        return f"{self.prefix}alert-event:{kind}:{event_id}"

    # scheduler: a hash of its watermarks (what the last re-scoring saw) and water
    # levels (one per budget group), so a restart re-scores incrementally
    @property
    def scheduler_state(self) -> str:
        return f"{self.prefix}scheduler:state"

    # scheduler: product key -> when it was last pushed to the frontier (ms), a sorted
    # set; a pushed product is not pushed again until observed or the entry expires
    @property
    def scheduler_pushed(self) -> str:
        return f"{self.prefix}scheduler:pushed"

    # trust-but-verify (pricewatch.trust.store). Per series (``series_text``):
    # held reports awaiting verification (a hash by report id), recent reports (a
    # sorted set by observed_at, for agreement and conflicts) and reports accepted at
    # once that a verification crawl may still contradict (a hash by report id).
    def trust_held(self, series: str) -> str:
        return f"{self.prefix}trust:held:{series}"

    def trust_recent(self, series: str) -> str:
        return f"{self.prefix}trust:recent:{series}"

    def trust_accepted(self, series: str) -> str:
        return f"{self.prefix}trust:accepted:{series}"

    # "series text<TAB>report id" of every held report, scored by its deadline (ms)
    @property
    def trust_deadlines(self) -> str:
        return f"{self.prefix}trust:deadlines"

    # a confirmed report re-published to the observations stream: the gate accepts
    # it on sight. Only the trust store writes these, so no client can mark its own report.
    def trust_confirmed(self, report_id: str) -> str:
        return f"{self.prefix}trust:confirmed:{report_id}"

    # decided reports (a hash by report id) waiting to be written to the SQL audit
    # log and reputations; Redis holds them first so that the decision commits with
    # the ingest batch, and SQL gets it exactly once after
    @property
    def trust_outbox(self) -> str:
        return f"{self.prefix}trust:outbox"

    # the public edge: a product someone looked up that is queued for its first crawl
    # (a string with a TTL, so a burst of lookups queues it once), and an ASIN whose
    # page turned out not to exist (a string with a TTL: not queued again meanwhile)
    def lookup_crawl(self, market: str, asin: str) -> str:
        return f"{self.prefix}lookup-crawl:{market}:{asin}"

    def not_found(self, market: str, asin: str) -> str:
        return f"{self.prefix}not-found:{market}:{asin}"

    # messages about an account rather than a price (confirm an e-mail or a target,
    # reset a password): the API adds them, the alerts role sends them
    @property
    def account_messages(self) -> str:
        return f"{self.prefix}account-messages"

    # a role's last word on its own health (a hash: status, detail, at), read by /healthz
    def health(self, role: str) -> str:
        return f"{self.prefix}health:{role}"


DEFAULT_KEYS = Keys()
