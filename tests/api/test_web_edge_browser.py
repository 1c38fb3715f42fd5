"""The site's own origin in a real browser (Debian's Chromium through Playwright): the
API documentation runs only our own code, and signing in never leads to another host.

Every request a page makes is recorded; requests to other hosts are refused, as they
would be offline, and the pages must work all the same.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.apps import ServedApp, site_fixture
from tests.browser import collect_errors

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

PASSWORD = "correct horse battery"
PRODUCT_PATH = "/p/us/B0EDGE0001"
DOC_PAGES = ("/schema", "/schema/swagger")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


site = site_fixture("edge")


@dataclasses.dataclass
class Tab:
    page: Any
    requests: list[str]
    errors: list[str]


@pytest.fixture
def tab(browser: Any, site: ServedApp) -> Iterator[Tab]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1200, "height": 900})
    requests: list[str] = []

    def route(handle: Any) -> None:
        requests.append(handle.request.url)
        # the site is the only thing a page may reach: no test touches the internet
        if origin(handle.request.url) == site.url:
            handle.continue_()
        else:
            handle.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield Tab(page, requests, collect_errors(page))
    context.close()


# ------------------------------------------------------------------ documentation


@pytest.mark.parametrize("path", DOC_PAGES)
def test_the_api_docs_render_from_our_own_origin(
    tab: Tab, site: ServedApp, path: str, tmp_path: Path
) -> None:
    tab.page.goto(path)
    tab.page.locator(".opblock").first.wait_for()
    paths = tab.page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/reports", "/subscriptions", "/auth/token"} <= {p.strip() for p in paths}
    assert len(paths) >= 10
    # an operation opens, offers to be tried and shows its schema: the UI works, not
    # only its first paint (and styles what it opens without breaking the policy)
    tab.page.locator(".opblock-summary-path", has_text="/reports").first.click()
    tab.page.get_by_role("button", name="Try it out").click()
    tab.page.locator(".opblock-body textarea").first.wait_for()
    tab.page.get_by_role("tab", name="Schema").first.click()
    tab.page.locator(".opblock-body .model-box").first.wait_for()

    shot = tmp_path / "docs.png"
    tab.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000  # drawn and styled, not a blank page

    assert tab.requests, "the page made no request at all"
    assert [url for url in tab.requests if origin(url) != site.url] == []
    assert any("/static/docs.js" in url for url in tab.requests)
    assert tab.errors == []


def test_the_docs_pages_forbid_other_origins(site: ServedApp) -> None:
    with site.client() as client:
        for path in DOC_PAGES:
            page = client.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            policy = page.headers["content-security-policy"]
            assert "script-src 'self';" in policy and "default-src 'self';" in policy
            assert "http" not in policy and "*" not in policy
            assert "<script>" not in page.text  # no inline script for the policy to allow
            for marker in ('src="http', 'href="http', "src='http", "href='http", "//cdn"):
                assert marker not in page.text, (path, marker)
        # the documents stay where clients and the fuzzer read them
        assert client.get("/schema/openapi.json").json()["info"]["title"] == "Pricewatch API"
        assert client.get("/schema/openapi.yaml").status_code == 200
        # the UIs that load from CDNs are gone
        for path in ("/schema/redoc", "/schema/elements", "/schema/rapidoc"):
            assert client.get(path).status_code == 404, path


# ------------------------------------------------------------------ sign-in redirect


@pytest.fixture(scope="module")
def email(site: ServedApp) -> str:
    """One account for every sign-in: registrations per client IP are limited."""
    address = f"edge-{uuid.uuid4().hex[:8]}@example.org"
    with site.client() as client:
        created = client.post("/accounts", json={"email": address, "password": PASSWORD})
    assert created.status_code == 201, created.text
    return address


def _sign_in(tab: Tab, next_value: str, email: str) -> None:
    tab.page.goto(f"/signin?next={quote(next_value, safe='')}")
    tab.page.get_by_label("E-mail").fill(email)
    tab.page.get_by_label("Password").fill(PASSWORD)
    tab.page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize(
    "next_value",
    [
        "/\\evil-host/x",
        "/\t/evil",
        "/\n/evil",
        "//evil",
        "https://evil.example",
        "javascript:alert(1)",
        "/\\/evil",
        " //evil",
        "http:/evil",
    ],
)
def test_sign_in_never_leads_to_another_host(
    tab: Tab, site: ServedApp, email: str, next_value: str
) -> None:
    _sign_in(tab, next_value, email)
    tab.page.wait_for_url(f"{site.url}/alerts")
    assert tab.page.evaluate("() => localStorage.getItem('pricewatch.token')")
    assert [url for url in tab.requests if origin(url) != site.url] == []
    assert tab.page.evaluate("() => window.location.origin") == site.url


def test_sign_in_returns_to_a_page_of_the_site(tab: Tab, site: ServedApp, email: str) -> None:
    _sign_in(tab, f"{PRODUCT_PATH}?period=90d", email)
    tab.page.wait_for_url(f"{site.url}{PRODUCT_PATH}?period=90d")


def test_register_link_keeps_where_to_go_next(tab: Tab, site: ServedApp) -> None:
    tab.page.goto(f"/signin?next={quote(PRODUCT_PATH, safe='')}")
    register = tab.page.locator("main").get_by_role("link", name="Register")
    assert register.get_attribute("href") == f"/register?next={quote(PRODUCT_PATH, safe='')}"
    register.click()
    tab.page.wait_for_url("**/register?next=*")
    email = f"edge-{uuid.uuid4().hex[:8]}@example.org"
    tab.page.get_by_label("E-mail").fill(email)
    tab.page.get_by_label("Password").fill(PASSWORD)
    tab.page.get_by_role("button", name="Register").click()
    tab.page.wait_for_url(f"{site.url}{PRODUCT_PATH}")

    # a refused next= is not carried over either
    tab.page.goto("/signin?next=%2F%5Cevil-host%2Fx")
    register = tab.page.locator("main").get_by_role("link", name="Register")
    assert register.get_attribute("href") == "/register"
