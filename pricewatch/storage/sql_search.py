"""Finding products by the words of their titles: one interface, each database's own
full-text search underneath.

``product_titles`` holds one row per (market, asin) with the catalogue's current title
(the catalogue itself is in ClickHouse, which has no word index). Beside it, created by
migration 0006 and kept out of ``metadata`` because SQLAlchemy cannot describe them:

- SQLite: ``product_titles_fts``, an FTS5 table over ``title`` with ``product_titles`` as
  its external content, kept in step by three triggers; ranked by bm25.
- PostgreSQL: a GIN index on ``to_tsvector('simple', title)``; ranked by ``ts_rank``.
  The ``simple`` configuration (lower-casing, no stemming, no stop words) because the
  titles are in every marketplace's language.

Whatever a visitor types, only its words reach either engine: the text is cut into
runs of letters and digits, each quoted (FTS5) or joined by ``&`` (tsquery), so FTS5's
operators, quotes, brackets and column filters are plain separators and never syntax.
Every word must match; the last one also matches as a prefix ("usb cab" finds cables).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, String, Table, Text, TextClause, UniqueConstraint, text
from sqlalchemy.ext.asyncio import AsyncConnection

from pricewatch.storage.sql_dialect import upsert_insert
from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_schema import Id, metadata

product_titles = Table(
    "product_titles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("market", String(2), nullable=False),
    Column("asin", String(10), nullable=False),
    Column("title", Text, nullable=False),
    # when the catalogue saw this title (ms): the newest sighting wins
    Column("seen_at", BigInteger, nullable=False),
    UniqueConstraint("market", "asin"),
)

# created by migration 0006 next to the table (see the module's docstring)
SQLITE_FTS_TABLE = "product_titles_fts"
POSTGRES_SEARCH_INDEX = "ix_product_titles_search"

# a longer text is refused before it reaches the database, with a message
MAX_QUERY_CHARS = 200
MAX_TERMS = 12
MAX_TITLE_CHARS = 1000

_WORD = re.compile(r"[^\W_]+")


class QueryRefused(ValueError):
    """The text cannot be searched; the message says why, for the visitor."""


def managed_outside_metadata(name: str | None, type_: str, parent_names: Any) -> bool:
    """False for the search objects ``metadata`` cannot describe (the FTS5 table and its
    shadow tables, the expression index): an ``include_name`` hook for autogenerate."""
    if name is None:
        return True
    if type_ == "table" and name.startswith(SQLITE_FTS_TABLE):
        return False
    return not (type_ == "index" and name == POSTGRES_SEARCH_INDEX)


def search_terms(query: str) -> list[str]:
    """The words of ``query``, lower-cased, at most ``MAX_TERMS``; raises
    :class:`QueryRefused` for an overlong text or one without a word."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryRefused(f"Search for at most {MAX_QUERY_CHARS} characters.")
    terms = [w.lower() for w in _WORD.findall(query)]
    if not terms:
        raise QueryRefused("Type a few words of the product's title.")
    return terms[:MAX_TERMS]


def fts5_match(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every term quoted, the last one as a prefix."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def tsquery(terms: Sequence[str]) -> str:
    """A ``to_tsquery`` text: every term, the last one as a prefix. Terms are letters
    and digits only (``search_terms``), so none carries tsquery syntax."""
    parts = [f"'{t}'" for t in terms]
    parts[-1] += ":*"
    return " & ".join(parts)


@dataclasses.dataclass(frozen=True)
class TitleMatch:
    market: str
    asin: str
    title: str


@dataclasses.dataclass(frozen=True)
class TitlePage:
    matches: list[TitleMatch]
    # another page follows this one
    more: bool


async def upsert_titles(db: Db, rows: Sequence[tuple[str, str, str, int]]) -> int:
    """Record (market, asin, title, seen_at) rows; a row changes only when its title
    did and the sighting is not older than the stored one. Returns how many rows were
    written (new or changed)."""
    written = 0
    if not rows:
        return 0
    latest: dict[tuple[str, str], tuple[str, int]] = {}
    for market, asin, title, seen_at in rows:
        key = (market, asin)
        if key not in latest or seen_at >= latest[key][1]:
            latest[key] = (title[:MAX_TITLE_CHARS], seen_at)
    values = [
        {"market": m, "asin": a, "title": t, "seen_at": s} for (m, a), (t, s) in latest.items()
    ]
    async with transaction(db) as conn:
        for start in range(0, len(values), 1_000):
            written += await _upsert(conn, values[start : start + 1_000])
    return written


async def _upsert(conn: AsyncConnection, values: list[dict[str, Any]]) -> int:
    stmt = upsert_insert(conn, product_titles).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["market", "asin"],
        set_={"title": stmt.excluded.title, "seen_at": stmt.excluded.seen_at},
        # an unchanged title rewrites nothing (and fires no index trigger)
        where=(product_titles.c.title != stmt.excluded.title)
        & (product_titles.c.seen_at <= stmt.excluded.seen_at),
    )
    result = await conn.execute(stmt)
    return max(0, result.rowcount or 0)


_SQLITE_SEARCH = text(
    f"""
    SELECT t.market, t.asin, t.title
    FROM {SQLITE_FTS_TABLE} AS f JOIN product_titles AS t ON t.id = f.rowid
    WHERE {SQLITE_FTS_TABLE} MATCH :match AND t.market = :market
    ORDER BY bm25({SQLITE_FTS_TABLE}), t.asin
    LIMIT :limit OFFSET :offset
    """
)
# the same expression as the GIN index (migration 0006), so the planner can use it
_POSTGRES_SEARCH = text(
    """
    SELECT market, asin, title
    FROM product_titles
    WHERE to_tsvector('simple', title) @@ to_tsquery('simple', :match)
      AND market = :market
    ORDER BY ts_rank(to_tsvector('simple', title), to_tsquery('simple', :match)) DESC, asin
    LIMIT :limit OFFSET :offset
    """
)


def search_statement(dialect: str) -> TextClause:
    """The search query of ``dialect`` (parameters: match, market, limit, offset)."""
    return _SQLITE_SEARCH if dialect == "sqlite" else _POSTGRES_SEARCH


async def search_titles(
    db: Db, query: str, market: str, *, limit: int = 20, offset: int = 0
) -> TitlePage:
    """Products of ``market`` whose titles hold every word of ``query``, best match
    first; raises :class:`QueryRefused` (see ``search_terms``)."""
    terms = search_terms(query)
    params = {"market": market, "limit": limit + 1, "offset": max(0, offset)}
    async with transaction(db) as conn:
        sqlite = conn.dialect.name == "sqlite"
        params["match"] = fts5_match(terms) if sqlite else tsquery(terms)
        rows = (await conn.execute(search_statement(conn.dialect.name), params)).all()
    matches = [TitleMatch(m, a, t) for m, a, t in rows[:limit]]
    return TitlePage(matches, more=len(rows) > limit)
