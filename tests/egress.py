"""The safe HTTP client as the tests build it: names resolve through a stand-in DNS,
so no test asks the internet, and the limits are ones a test can reach."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pricewatch.egress import EgressPolicy, SafeHttpClient
from tests.stand_in_dns import StandInDns


def safe_client(
    allow: Sequence[str] = (), table: Mapping[str, Sequence[str]] | None = None, **options: Any
) -> SafeHttpClient:
    """A client under an egress policy that allows ``allow`` and resolves the names in
    ``table`` (any other name does not exist); ``options`` override the defaults: 2 s
    to connect, 5 s to read, 4 requests at a time per host, and a breaker that opens
    for 60 s after 5 failures."""
    limits: dict[str, Any] = {
        "connect_timeout_s": 2.0,
        "read_timeout_s": 5.0,
        "host_concurrency": 4,
        "breaker_failures": 5,
        "breaker_cooldown_s": 60.0,
    }
    policy = EgressPolicy(allow, resolver=StandInDns(table))
    return SafeHttpClient(policy, **{**limits, **options})
