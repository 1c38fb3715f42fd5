"""Static files of the website and their cache-busting URLs.

The bundles are built from ``api/web/frontend`` (``npm run build``, run by ``make``)
into ``api/web/static``. Each URL carries a hash of the file's content, so browsers
may keep the files for a year and still never run a stale script after an upgrade.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/static"
BUNDLES = ("chart.js", "site.js", "site.css", "docs.js", "docs.css")
BUILD_HINT = "build them with `npm ci && npm run build` in api/web/frontend (or `make web`)"


class MissingAssetsError(RuntimeError):
    """The front-end bundles have not been built."""


def missing_bundles(static_dir: Path = STATIC_DIR) -> list[str]:
    return [name for name in BUNDLES if not (static_dir / name).is_file()]


class AssetUrls:
    """``asset("chart.js")`` -> ``/static/chart.js?v=<content hash>``, hashed once."""

    def __init__(self, static_dir: Path = STATIC_DIR, prefix: str = STATIC_PATH) -> None:
        self.static_dir = static_dir
        self.prefix = prefix
        self._urls: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        url = self._urls.get(name)
        if url is None:
            path = self.static_dir / name
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            except FileNotFoundError:
                raise MissingAssetsError(f"{path} is missing; {BUILD_HINT}") from None
            url = self._urls[name] = f"{self.prefix}/{name}?v={digest}"
        return url
