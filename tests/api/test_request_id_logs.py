"""In JSON logs, what is logged while a request is handled carries its request id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch.logs import JsonFormatter


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the API's loggers write, as JSON lines."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("api")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.redis
@pytest.mark.clickhouse
async def test_a_request_logs_with_its_id(
    client: AsyncTestClient[Litestar], json_lines: io.StringIO
) -> None:
    for rid in ("edge-1", "edge-2"):
        response = await client.post(
            "/reports", content=b"{not json", headers={"X-Request-Id": rid}
        )
        assert response.status_code == 400
    entries = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    bad = [e for e in entries if " 400 " in e["message"]]
    assert [e["request_id"] for e in bad] == ["edge-1", "edge-2"]
    assert all(e["logger"] == "api.errors" for e in bad)
    # a line logged outside any request carries none
    logging.getLogger("api.test").info("between requests")
    last = json.loads(json_lines.getvalue().splitlines()[-1])
    assert last["message"] == "between requests" and "request_id" not in last
