"""The async relational store, called from synchronous code (the ingest thread).

The store functions are coroutines over an ``AsyncEngine``; a synchronous caller
runs them to completion with :class:`BlockingSql`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage.sql_engine import create_engine

T = TypeVar("T")


class BlockingSql:
    """Runs store functions to completion from a synchronous thread.

    An engine's connections belong to the event loop that opened them, so this keeps
    one loop of its own and every call runs on it. Close it when done.
    """

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self.engine: AsyncEngine = create_engine(url)

    def run(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        return self._loop.run_until_complete(work(self.engine))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self.engine.dispose())
        finally:
            self._loop.close()


__all__ = ["BlockingSql"]
