"""The account page makes the alerts feed's address, and a feed reader (no cookie, no
bearer) reads the feed there (real app on uvicorn, Debian's Chromium)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.services.feeds import ATOM_NS
from tests.api.conftest import register_in_page
from tests.apps import ServedApp, site_fixture
from tests.browser import own_origin_page

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

site = site_fixture("alerts_feed")


@pytest.fixture
def page(browser: Any, site: ServedApp) -> Iterator[Any]:
    with own_origin_page(browser, site.url, viewport={"width": 1100, "height": 900}) as tab:
        yield tab


def test_the_account_page_makes_a_feed_address_a_reader_can_open(
    page: Any, page_errors: list[str], site: ServedApp
) -> None:
    register_in_page(page, "feeds@example.org", "correct horse battery")
    page.goto("/account")
    address = page.locator('[data-field="alerts-feed-url"]')
    assert not address.is_visible()
    page.get_by_role("button", name="Get a new feed URL").click()
    page.wait_for_function(
        "() => document.querySelector('[data-field=\"alerts-feed-url\"]').value !== ''"
    )
    first = address.input_value()
    assert "/feeds/alerts/" in first
    assert "no longer works" in page.locator("#account-page-message").inner_text()
    # a feed reader has neither the page's bearer token nor a cookie
    feed_path = first[first.index("/feeds/alerts/") :]
    with httpx.Client(base_url=site.url, timeout=10) as reader:
        answer = reader.get(feed_path)
        assert answer.status_code == 200
        feed = ET.fromstring(answer.content)
        assert feed.tag == f"{{{ATOM_NS}}}feed"
        assert feed.findall(f"{{{ATOM_NS}}}entry") == []
        page.get_by_role("button", name="Get a new feed URL").click()
        page.wait_for_function(
            "old => document.querySelector('[data-field=\"alerts-feed-url\"]').value !== old",
            arg=first,
        )
        assert reader.get(feed_path).status_code == 404
    page.screenshot(path="/tmp/shots/stats-account-feed.png", full_page=True)
    assert page_errors == []
