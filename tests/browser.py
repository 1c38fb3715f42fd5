"""Debian's Chromium through Playwright, as every browser test here runs it.

Never ``playwright install``: the browser is Debian's (``apt-get install chromium``).
Pages reach only the app under test (no test touches the internet), and what a page
logs as an error (CSP violations included) is collected for the test to check.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api as playwright_sync

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# no sandbox (tests run as root), and none of the background traffic to Google's hosts
# that a closed network refuses
HEADLESS_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    return CHROMIUM


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for the length of the block."""
    path = chromium_path()
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=[*HEADLESS_ARGS, "--headless"])
        try:
            yield browser
        finally:
            browser.close()


def own_origin_only(context: Any, *origins: str) -> None:
    """Let the context's pages reach ``origins`` and nothing else."""
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(origins) else route.abort(),
    )


@contextlib.contextmanager
def own_origin_page(
    browser: Any, url: str, timeout_ms: int = 10_000, **options: Any
) -> Iterator[Any]:
    """A page in a new context of ``browser`` (``options`` configure the context) on the
    site at ``url``, its base URL and the only origin it may reach; it waits
    ``timeout_ms`` for anything, and closes with its context after the block."""
    context = browser.new_context(base_url=url, **options)
    own_origin_only(context, url)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        yield page
    finally:
        context.close()


def collect_errors(page: Any) -> list[str]:
    """Console errors and uncaught exceptions of ``page``, as they happen."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors
