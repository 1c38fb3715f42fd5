"""Shared pieces of the extension tests: the built extension and Debian's Chromium.

The extension is built by ``make extension`` (mk/extension.mk: ``npm ci`` then
``npm run build`` in extension/); a missing build fails with that command. Playwright
drives /usr/bin/chromium (never ``playwright install``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import browser

EXTENSION_DIR = Path(__file__).resolve().parents[2] / "extension"
DIST_DIR = EXTENSION_DIR / "dist"
PARSER_BUNDLE = EXTENSION_DIR / "build" / "parser.js"
GENERATED_RULES = EXTENSION_DIR / "src" / "generated" / "rules.json"


@pytest.fixture(scope="session")
def built_extension() -> Path:
    """extension/dist, after checking the build is complete and not older than its sources."""
    needed = [
        DIST_DIR / name
        for name in (
            "manifest.json",
            "content.js",
            "background.js",
            "options.js",
            "options.html",
            "bridge.js",
        )
    ]
    needed += [PARSER_BUNDLE, GENERATED_RULES]
    missing = [str(path.relative_to(EXTENSION_DIR)) for path in needed if not path.exists()]
    if missing:
        pytest.fail(f"extension not built ({', '.join(missing)} missing): run `make extension`")
    newest_source = max(p.stat().st_mtime for p in (EXTENSION_DIR / "src").glob("*.*"))
    if min(p.stat().st_mtime for p in needed) < newest_source:
        pytest.fail("extension build is older than extension/src: run `make extension`")
    return DIST_DIR


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return browser.chromium_path()
