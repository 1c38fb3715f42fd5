"""A watch over every SQLite transaction the tests run: one that reads and then
writes must have begun with ``sql.writing`` (BEGIN IMMEDIATE).

A deferred transaction that reads first and writes later fails its write at once
("database is locked") when another connection wrote in between: WAL mode will not
let it write from a stale snapshot, and the busy timeout does not help. That only
shows under concurrent load, so no ordinary test meets it; this watch makes every
test that runs such a transaction fail, whether or not a write landed in between.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_BEGIN = re.compile(r"\s*BEGIN\b(?P<mode>\s+\w+)?", re.IGNORECASE)
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP)\b", re.IGNORECASE)
_SELECT = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_WITH = re.compile(r"\s*WITH\b", re.IGNORECASE)
# a common table expression's main statement, when it writes
_CTE_WRITE = re.compile(r"\)\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _writes(statement: str) -> bool | None:
    """True for a statement that writes, False for one that reads, None for others
    (SAVEPOINT, PRAGMA...)."""
    if _WRITE.match(statement):
        return True
    if _SELECT.match(statement):
        return False
    if _WITH.match(statement):
        return _CTE_WRITE.search(statement) is not None
    return None


class _Transaction:
    __slots__ = ("deferred", "read", "first_read")

    def __init__(self, deferred: bool) -> None:
        self.deferred = deferred
        self.read = False
        self.first_read = ""


_open: dict[int, _Transaction] = {}
_found: list[str] = []
_lock = threading.Lock()


def _on_statement(
    conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool
) -> None:
    if conn.dialect.name != "sqlite":
        return
    key = id(conn.connection.dbapi_connection)
    begin = _BEGIN.match(statement)
    with _lock:
        if begin is not None:
            mode = (begin.group("mode") or "").strip().upper()
            _open[key] = _Transaction(deferred=mode in ("", "DEFERRED"))
            return
        txn = _open.get(key)
        if txn is None or not txn.deferred:
            return
        writes = _writes(statement)
        head = " ".join(statement.split())[:160]
        if writes is False and not txn.read:
            txn.read, txn.first_read = True, head
        elif writes:
            if txn.read:
                _found.append(f"read: {txn.first_read}\n    then wrote: {head}")
            # it holds the write lock now: what follows is safe (and one report per
            # transaction is enough)
            txn.deferred = False


def install() -> None:
    """Watch every engine this process creates (idempotent)."""
    if not event.contains(Engine, "before_cursor_execute", _on_statement):
        event.listen(Engine, "before_cursor_execute", _on_statement)


def take() -> list[str]:
    """The transactions that read and then wrote without BEGIN IMMEDIATE since the
    last call."""
    with _lock:
        found = list(_found)
        _found.clear()
    return found
