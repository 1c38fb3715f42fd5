"""Every key as Redis sees it: the Lua scripts, the other roles and the data already in
a deployment's Redis depend on these exact strings."""

from __future__ import annotations

import pickle

from pricewatch.keys import Keys

SPELLED = {
    "dead_letter": "p:dead-letter",
    "frontier": "p:{frontier}",
    "frontier_tasks": "p:{frontier}:tasks",
    "frontier_verify": "p:{frontier}:verify",
    "frontier_inflight": "p:{frontier}:inflight",
    "frontier_inflight_tasks": "p:{frontier}:inflight:tasks",
    "frontier_deferred": "p:{frontier}:deferred",
    "frontier_worker_prefix": "p:{frontier}:worker:",
    "views_dirty": "p:views:dirty",
    "history_invalidations": "p:history-invalidations",
    "scheduler_state": "p:{frontier}:scheduler:state",
    "scheduler_leader": "p:{frontier}:scheduler:leader",
    "scheduler_fence": "p:{frontier}:scheduler:fence",
    "scheduler_pushed": "p:scheduler:pushed",
    "trust_deadlines": "p:trust:deadlines",
    "trust_outbox": "p:trust:outbox",
    "account_messages": "p:account-messages",
    "title_index_watermark": "p:title-index:watermark",
    "title_index_guard": "p:title-index:guard",
}

SPELLED_WITH_PARTS = [
    ("observations", (3,), "p:observations:3"),
    ("price_changes", (0,), "p:price-changes:0"),
    ("last_price", (7,), "p:last-price:7"),
    ("frontier_worker", ("w-1",), "p:{frontier}:worker:w-1"),
    ("proxy_next_slot", ("10.0.0.1",), "p:politeness:10.0.0.1"),
    ("known_products", ("de",), "p:known-products:de"),
    ("views", ("us", "B000000001"), "p:views:us:B000000001"),
    ("history_cache", ("us", "B000000001"), "p:history:us:B000000001"),
    ("rate_limit", ("reports", "1.2.3.4"), "p:rate:reports:1.2.3.4"),
    ("alert_event", ("change", "e1"), "p:alert-event:change:e1"),
    ("trust_held", ("us:B000000001:buybox",), "p:trust:held:us:B000000001:buybox"),
    ("trust_recent", ("us:B000000001:new",), "p:trust:recent:us:B000000001:new"),
    ("trust_accepted", ("us:B000000001:used",), "p:trust:accepted:us:B000000001:used"),
    ("trust_confirmed", ("r1",), "p:trust:confirmed:r1"),
    ("lookup_crawl", ("us", "B000000001"), "p:lookup-crawl:us:B000000001"),
    ("not_found", ("us", "B000000001"), "p:not-found:us:B000000001"),
    ("health", ("ingest",), "p:health:ingest"),
    ("home_sections", ("us",), "p:home:us"),
]


def test_every_key_is_spelled_as_before() -> None:
    keys = Keys("p:")
    for _ in range(2):  # first use spells them, the second reads what was kept
        assert {name: getattr(keys, name) for name in SPELLED} == SPELLED
        for name, parts, spelled in SPELLED_WITH_PARTS:
            assert getattr(keys, name)(*parts) == spelled
    assert keys.stream("observations", 3) == keys.observations(3)


def test_a_prefix_is_taken_literally() -> None:
    # a hash-tagged prefix keeps its braces: templates do not read them as fields
    keys = Keys("{pw}:")
    assert keys.frontier == "{pw}:{frontier}"
    assert keys.frontier_worker("w") == "{pw}:{frontier}:worker:w"
    assert keys.views("us", "B000000001") == "{pw}:views:us:B000000001"


def test_keys_with_the_same_prefix_are_equal_however_used() -> None:
    used = Keys("p:")
    assert used.views("us", "B000000001") and used.frontier
    assert used == Keys("p:") and hash(used) == hash(Keys("p:"))
    assert Keys("q:").frontier == "q:{frontier}" and used.frontier == "p:{frontier}"
    copied = pickle.loads(pickle.dumps(used))
    assert copied == used and copied.not_found("us", "B1") == "p:not-found:us:B1"
