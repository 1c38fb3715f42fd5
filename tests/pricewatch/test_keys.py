"""Every key as Redis sees it: the Lua scripts, the other roles and the data already in
a deployment's Redis depend on these exact strings."""

from __future__ import annotations

import pickle

from pricewatch.keys import Keys

SPELLED = {
    "dead_letter": "p:dead-letter",
    "views_dirty": "p:views:dirty",
    "history_invalidations": "p:history-invalidations",
    "scheduler_state": "p:scheduler:{scheduler}:state",
    "scheduler_leader": "p:scheduler:{scheduler}:leader",
    "scheduler_fence": "p:scheduler:{scheduler}:fence",
    "scheduler_pushed": "p:scheduler:pushed",
    "account_messages": "p:account-messages",
    "title_index_watermark": "p:title-index:watermark",
    "title_index_guard": "p:title-index:guard",
}

SPELLED_WITH_PARTS = [
    ("observations", (3,), "p:observations:{p3}"),
    ("price_changes", (0,), "p:price-changes:{p0}"),
    ("last_price", (7,), "p:last-price:{p7}"),
    ("frontier", (3,), "p:frontier:{p3}"),
    ("frontier_tasks", (0,), "p:frontier:{p0}:tasks"),
    ("frontier_verify", (1,), "p:frontier:{p1}:verify"),
    ("frontier_inflight", (2,), "p:frontier:{p2}:inflight"),
    ("frontier_inflight_tasks", (2,), "p:frontier:{p2}:inflight:tasks"),
    ("frontier_deferred", (5,), "p:frontier:{p5}:deferred"),
    ("frontier_worker", (1, "w-1"), "p:frontier:{p1}:worker:w-1"),
    ("frontier_worker_prefix", (1,), "p:frontier:{p1}:worker:"),
    ("frontier_fence", (0,), "p:frontier:{p0}:fence"),
    ("proxy_next_slot", ("10.0.0.1",), "p:politeness:{politeness}:10.0.0.1"),
    ("known_products", ("de",), "p:known-products:de"),
    ("views", ("us", "B000000001"), "p:views:us:B000000001"),
    ("history_cache", ("us", "B000000001"), "p:history:us:B000000001"),
    ("rate_limit", ("reports", "1.2.3.4"), "p:rate:reports:1.2.3.4"),
    ("alert_event", ("change", "e1"), "p:alert-event:change:e1"),
    ("trust_held", (1, "us:B000000001:buybox"), "p:trust:held:{p1}:us:B000000001:buybox"),
    ("trust_recent", (0, "us:B000000001:new"), "p:trust:recent:{p0}:us:B000000001:new"),
    ("trust_accepted", (2, "us:B000000001:used"), "p:trust:accepted:{p2}:us:B000000001:used"),
    ("trust_deadlines", (3,), "p:trust:deadlines:{p3}"),
    ("trust_confirmed", (1, "r1"), "p:trust:confirmed:{p1}:r1"),
    ("trust_outbox", (0,), "p:trust:outbox:{p0}"),
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
    assert keys.frontier(1) == "{pw}:frontier:{p1}"
    assert keys.frontier_worker(0, "w") == "{pw}:frontier:{p0}:worker:w"
    assert keys.views("us", "B000000001") == "{pw}:views:us:B000000001"


def test_keys_with_the_same_prefix_are_equal_however_used() -> None:
    used = Keys("p:")
    assert used.views("us", "B000000001") and used.dead_letter
    assert used == Keys("p:") and hash(used) == hash(Keys("p:"))
    assert Keys("q:").dead_letter == "q:dead-letter" and used.dead_letter == "p:dead-letter"
    copied = pickle.loads(pickle.dumps(used))
    assert copied == used and copied.not_found("us", "B1") == "p:not-found:us:B1"
