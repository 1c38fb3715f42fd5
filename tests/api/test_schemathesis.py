"""Property-based requests generated from our own OpenAPI schema: whatever a client
sends, the API answers with a 2xx/3xx/4xx, never a server error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from litestar import Litestar

from api.server import serve
from pricewatch.storage.clickhouse import PriceStore
from tests.api.conftest import DAY, use_dns
from tests.observations import seed_product
from tests.services import free_port, wait_port

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def base_url(make_app: Callable[..., Litestar], price_store: PriceStore) -> Iterator[str]:
    seed_product(price_store, asin="B0FUZZ0001", prices=[(time.time_ns() // 10**6 - 3 * DAY, 1000)])
    port = free_port()
    stop = threading.Event()
    app = make_app(
        api_auth_rate_per_min=10_000,
        api_report_rate_per_min=10_000,
        api_report_ip_rate_per_min=10_000,
    )
    thread = threading.Thread(
        target=serve, args=(app, "127.0.0.1", port, stop, "warning"), daemon=True
    )
    thread.start()
    wait_port("127.0.0.1", port)
    # webhook URLs the fuzzer makes up are resolved by a stand-in DNS, not the internet
    use_dns(app)
    yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(15)


@pytest.mark.slow
def test_no_server_errors(base_url: str) -> None:
    email, password = "fuzz@example.org", "fuzzing password"
    httpx.post(f"{base_url}/accounts", json={"email": email, "password": password})
    token = httpx.post(
        f"{base_url}/auth/token", json={"email": email, "password": password}
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}", "X-Install-Id": "fuzz-install-01"}

    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "DELETE" and operation.path in (
            "/auth/token",
            "/accounts/me/tokens",
        ):
            continue  # would sign the fuzzer out half-way
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=auth)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> "
                    f"{response.status_code}: {response.text[:200]}"
                )

        check()
    assert operations >= 12
    assert failures == [], "\n".join(failures)
