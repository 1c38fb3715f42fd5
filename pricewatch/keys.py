"""Every Redis key and stream name, in one module.

Nobody else writes a key string. Keys carry a common prefix so one Redis can
host several deployments (and tests can isolate themselves).
"""

from __future__ import annotations

import dataclasses
import string
import zlib
from collections.abc import Callable
from typing import Generic, ParamSpec, Self, TypeVar, cast, overload

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
    return partition_of_key(f"{market}:{asin}", partitions)


def partition_of_key(key: str, partitions: int) -> int:
    """:func:`partition_of` for a key spelled already: a product's ``market:asin`` (the
    same partition as :func:`partition_of` gives), or any other text such as a URL."""
    return zlib.crc32(key.encode()) % partitions


# Prefix of every key of a deployment (PRICEWATCH_KEY_PREFIX overrides it).
DEFAULT_PREFIX = "pw:"

P = ParamSpec("P")
T = TypeVar("T")


def _format_literal(text: str) -> str:
    """``text`` as literal characters of a ``str.format`` template."""
    return text.replace("{", "{{").replace("}", "}}")


class _Spelled(Generic[T]):
    """A ``Keys`` attribute (a key, or the function that spells one), made on first
    use and kept on the instance (a ``Keys`` never changes its prefix): reading it
    again costs one attribute lookup."""

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute

    @overload
    def __get__(self, keys: None, owner: type) -> Self: ...
    @overload
    def __get__(self, keys: Keys, owner: type) -> T: ...
    def __get__(self, keys: Keys | None, owner: type) -> T | Self:
        if keys is None:
            return self
        value = keys.__dict__[self.attribute] = self.spell(keys.prefix)
        return value

    def spell(self, prefix: str) -> T:
        raise NotImplementedError


class _Key(_Spelled[str]):
    """A key without parts: ``dead_letter = _Key("dead-letter")`` makes
    ``keys.dead_letter`` ``"<prefix>dead-letter"``. The template is ``str.format``'s,
    like :class:`_KeyOf`'s (``{{`` is a literal brace)."""

    def __init__(self, template: str) -> None:
        self.name = template.format()

    def spell(self, prefix: str) -> str:
        return prefix + self.name


class _KeyOf(_Spelled[Callable[P, str]], Generic[P]):
    """A key with parts, typed by them: ``views = _KeyOf[[str, str]]("views:{market}:{asin}")``
    makes ``keys.views(market, asin)`` ``"<prefix>views:<market>:<asin>"``.

    The template is ``str.format``'s, its fields named for the reader and filled in
    order (``{{`` is a literal brace). What a ``Keys`` keeps is the bound ``format`` of
    the prefixed template: spelling a key runs no Python code of its own.
    """

    def __init__(self, template: str) -> None:
        self.template = "".join(
            _format_literal(literal) + ("" if field is None else "{}")
            for literal, field, _, _ in string.Formatter().parse(template)
        )

    def spell(self, prefix: str) -> Callable[P, str]:
        return cast("Callable[P, str]", (_format_literal(prefix) + self.template).format)


# between the keys of one ``history_invalidations`` message (no key holds one)
INVALIDATION_SEPARATOR = "\n"


@dataclasses.dataclass(frozen=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    # Partitioned keys carry their partition as the hash tag "{p<n>}": on a Redis
    # Cluster all keys of one partition (its streams, ingest's state, the frontier's
    # share) live in one slot, so that ingest commits a partition's batch in one
    # transaction, while the partitions spread over the masters.
    def stream(self, name: str, partition: int) -> str:
        return f"{self.prefix}{name}:{{p{partition}}}"

    # stream(OBSERVATIONS, partition) and stream(PRICE_CHANGES, partition)
    observations = _KeyOf[[int]](OBSERVATIONS + ":{{p{partition}}}")
    price_changes = _KeyOf[[int]](PRICE_CHANGES + ":{{p{partition}}}")
    dead_letter = _Key(DEAD_LETTER)

    # ingest: last accepted state per (market, asin, series), a hash field per product
    last_price = _KeyOf[[int]]("last-price:{{p{partition}}}")

    # crawl frontier, split into partitions by the streams' hash (partition_of): per
    # partition, two sorted sets of task keys by priority (verification lane first),
    # payloads in a hash, leases of popped tasks. A partition's keys share the hash
    # tag "{p<n>}", so that a Redis Cluster keeps them in one slot (the Lua scripts
    # touch several at once) while the partitions spread over the cluster. (Braces
    # are doubled here: every key is a str.format template.)
    frontier = _KeyOf[[int]]("frontier:{{p{partition}}}")
    frontier_tasks = _KeyOf[[int]]("frontier:{{p{partition}}}:tasks")
    frontier_verify = _KeyOf[[int]]("frontier:{{p{partition}}}:verify")
    # lease deadlines (ms) of popped tasks, a sorted set by deadline
    frontier_inflight = _KeyOf[[int]]("frontier:{{p{partition}}}:inflight")
    # owner, rank and payload of each popped task
    frontier_inflight_tasks = _KeyOf[[int]]("frontier:{{p{partition}}}:inflight:tasks")
    # tasks pushed while the same key was in flight, queued once it is acked
    frontier_deferred = _KeyOf[[int]]("frontier:{{p{partition}}}:deferred")
    # the task keys one worker holds in a partition, for heartbeats; the Lua scripts
    # append the worker's name to frontier_worker_prefix
    frontier_worker = _KeyOf[[int, str]]("frontier:{{p{partition}}}:worker:{worker}")
    frontier_worker_prefix = _KeyOf[[int]]("frontier:{{p{partition}}}:worker:")
    # the newest scheduler fencing token this partition has seen: raised to the
    # leader's token before its first push, so that a deposed leader's pushes are
    # refused in every partition (the counter itself lives in another slot)
    frontier_fence = _KeyOf[[int]]("frontier:{{p{partition}}}:fence")

    # when each outgoing IP may send next. One hash tag for all: a grant picks the first
    # free IP among several in one script, so on a Redis Cluster they share a slot
    # (a few thousand tiny scripts a second at fleet scale, well within one node)
    proxy_next_slot = _KeyOf[[str]]("politeness:{{politeness}}:{proxy}")

    # ASINs the crawler has seen in one market (a set): discovery enqueues only others
    known_products = _KeyOf[[str]]("known-products:{market}")

    views = _KeyOf[[str, str]]("views:{market}:{asin}")
    views_dirty = _Key("views:dirty")

    # Hash of computed chart histories for one product, a field per
    # variant. One key per product so that ingest can drop all of them with one DEL
    # when the product's price changes.
    history_cache = _KeyOf[[str, str]]("history:{market}:{asin}")
    # Pub/sub channel: the history_cache keys of products whose histories were just
    # dropped, for the API processes' in-memory copies; one message per batch, its
    # keys separated by newlines (INVALIDATION_SEPARATOR).
    history_invalidations = _Key("history-invalidations")

    rate_limit = _KeyOf[[str, str]]("rate:{scope}:{ident}")

    # alerts: the event a notification row refers to (a PriceChange or a
    # PriceCorrection), kept for a while so a retried or orphaned notification
    # renders the same message as the first attempt would have
    alert_event = _KeyOf[[str, str]]("alert-event:{kind}:{event_id}")

    # scheduler: a hash of its watermarks (what the last re-scoring saw) and water
    # levels (one per budget group), so a restart re-scores incrementally. In the
    # slot of the fence that guards its writes.
    scheduler_state = _Key("scheduler:{{scheduler}}:state")
    # scheduler leader election (pricewatch.leader): the lease (a string with a TTL,
    # "owner<TAB>token") and the fencing counter, incremented by each acquisition.
    # Writes of the scheduler's state carry the leader's token and are refused once a
    # newer one exists; the counter shares the "{scheduler}" hash tag so that the
    # check and the write are one script in one slot. Frontier partitions keep their
    # own copy of the newest token (frontier_fence).
    scheduler_leader = _Key("scheduler:{{scheduler}}:leader")
    scheduler_fence = _Key("scheduler:{{scheduler}}:fence")
    # scheduler: product key -> when it was last pushed to the frontier (ms), a sorted
    # set; a pushed product is not pushed again until observed or the entry expires
    scheduler_pushed = _Key("scheduler:pushed")

    # trust-but-verify (pricewatch.trust.store). Per series (``series_text``), in the
    # partition of its product (the ingest batch's transaction writes them): held
    # reports awaiting verification (a hash by report id), recent reports (a sorted
    # set by observed_at, for agreement and conflicts) and reports accepted at once
    # that a verification crawl may still contradict (a hash by report id).
    trust_held = _KeyOf[[int, str]]("trust:held:{{p{partition}}}:{series}")
    trust_recent = _KeyOf[[int, str]]("trust:recent:{{p{partition}}}:{series}")
    trust_accepted = _KeyOf[[int, str]]("trust:accepted:{{p{partition}}}:{series}")
    # "series text<TAB>report id" of every held report of a partition, scored by its
    # deadline (ms)
    trust_deadlines = _KeyOf[[int]]("trust:deadlines:{{p{partition}}}")
    # a confirmed report re-published to the observations stream: the
    # gate accepts it on sight. Only the trust store writes these, so no client can
    # mark its own report.
    trust_confirmed = _KeyOf[[int, str]]("trust:confirmed:{{p{partition}}}:{report_id}")
    # decided reports (a hash by report id) waiting to be written to the SQL audit
    # log and reputations; Redis holds them first so that the decision commits with
    # the ingest batch, and SQL gets it exactly once after
    trust_outbox = _KeyOf[[int]]("trust:outbox:{{p{partition}}}")

    # the public edge: a product someone looked up that is queued for
    # its first crawl (a string with a TTL, so a burst of lookups queues it once), and
    # an ASIN whose page turned out not to exist (a string with a TTL: not queued
    # again meanwhile)
    lookup_crawl = _KeyOf[[str, str]]("lookup-crawl:{market}:{asin}")
    not_found = _KeyOf[[str, str]]("not-found:{market}:{asin}")

    # messages about an account rather than a price (confirm an e-mail or a target,
    # reset a password): the API adds them, the alerts role sends them
    account_messages = _Key("account-messages")

    # a role's last word on its own health (a hash: status, detail, at), read by /healthz
    health = _KeyOf[[str]]("health:{role}")

    # the home page's lists of one marketplace (drops, most tracked, newest), computed
    # by one API process and shared by all for a minute (a string with a TTL)
    home_sections = _KeyOf[[str]]("home:{market}")
    # the title index (SQL) copies catalogue titles sighted after this watermark (ms);
    # the guard (a string with a TTL) lets one API process copy at a time, once a minute
    title_index_watermark = _Key("title-index:watermark")
    title_index_guard = _Key("title-index:guard")


DEFAULT_KEYS = Keys()
