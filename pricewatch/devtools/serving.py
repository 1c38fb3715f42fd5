"""What the local servers (the marketplace and the forward proxies) have in common.

Both run in background threads next to the code that drives them (a test, the
demo), so both start and stop the same way, and both read request targets that
may be in origin-form (``/dp/X``) or absolute-URI form (``http://host/dp/X``,
what a client sends to a forward proxy).
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = ["BackgroundServer", "origin_form"]


class BackgroundServer(abc.ABC):
    """Serves from background threads between ``start()`` and ``stop()``; as a context
    manager, ``with`` starts it and stops it on the way out, whatever happened."""

    @abc.abstractmethod
    def start(self) -> Self:
        """Listen and serve; returns ``self`` so a start can be chained."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop serving and drop open connections; safe to call twice."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def origin_form(target: str) -> str:
    """Path and query of a request target, whether origin-form or absolute-URI."""
    if "://" not in target:
        return target
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
