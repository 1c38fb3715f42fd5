"""Title search on SQLite (FTS5) and PostgreSQL (tsvector, GIN): one interface, the
same answers."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from pricewatch.storage.sql_search import (
    MAX_QUERY_CHARS,
    fts5_match,
    search_statement,
    search_terms,
    tsquery,
)
from tests.sql_store import engine_on, subscribed

TITLES = [
    ("us", "B0CABLE001", "Anker USB-C Cable, 6 ft, braided", 1),
    ("us", "B0CABLE002", "Amazon Basics USB-A to Lightning Cable", 1),
    ("us", "B0KETTLE01", "Electric Kettle, 1.7 L, stainless steel", 1),
    ("uk", "B0CABLE003", "USB-C Cable (UK plug)", 1),
    ("de", "B0CAFE0001", "Café-Maschine für zu Hause", 1),
]


async def _asins(engine: AsyncEngine, query: str, market: str = "us", **kw: int) -> list[str]:
    page = await sql.search_titles(engine, query, market, **kw)
    return [m.asin for m in page.matches]


async def test_every_word_must_match_within_the_marketplace(sql_engine: AsyncEngine):
    assert await sql.upsert_titles(sql_engine, TITLES) == len(TITLES)
    assert sorted(await _asins(sql_engine, "cable")) == ["B0CABLE001", "B0CABLE002"]
    assert await _asins(sql_engine, "USB-C cable") == ["B0CABLE001"]
    assert await _asins(sql_engine, "cable", "uk") == ["B0CABLE003"]
    assert await _asins(sql_engine, "kettle steel") == ["B0KETTLE01"]
    assert await _asins(sql_engine, "kettle cable") == []
    # the last word also matches as a prefix: a title is found while it is being typed
    assert await _asins(sql_engine, "stainless ste") == ["B0KETTLE01"]
    assert await _asins(sql_engine, "maschine", "de") == ["B0CAFE0001"]


async def test_hostile_text_is_words_and_nothing_else(sql_engine: AsyncEngine):
    await sql.upsert_titles(sql_engine, TITLES)
    # FTS5 and tsquery syntax: quotes, operators, column filters, NEAR, brackets, stars
    for typed in (
        'cable"',
        '"cable',
        "cable OR kettle",
        "title:cable",
        "NEAR(cable kettle)",
        "cable*",
        "(cable",
        "cable & !kettle",
        "cable:* | kettle",
        "-cable",
        "'cable'",
        "^cable",
        "cable AND",
        "\\cable\x00",
    ):
        found = await _asins(sql_engine, typed)
        # "or", "and" and "near" are words like any other: no title here holds them
        assert found in ([], ["B0CABLE001", "B0CABLE002"], ["B0CABLE002", "B0CABLE001"]), typed
    assert sorted(await _asins(sql_engine, 'cable"')) == ["B0CABLE001", "B0CABLE002"]
    for empty in ("", "   ", "***", '"" ()', "_"):
        with pytest.raises(sql.QueryRefused, match="few words"):
            await sql.search_titles(sql_engine, empty, "us")
    with pytest.raises(sql.QueryRefused, match=str(MAX_QUERY_CHARS)):
        await sql.search_titles(sql_engine, "cable " * 100, "us")


async def test_pages_follow_each_other(sql_engine: AsyncEngine):
    rows = [("us", f"B0PAGE{i:04d}", f"Page item number {i}", 1) for i in range(25)]
    await sql.upsert_titles(sql_engine, rows)
    first = await sql.search_titles(sql_engine, "page item", "us", limit=10)
    second = await sql.search_titles(sql_engine, "page item", "us", limit=10, offset=10)
    third = await sql.search_titles(sql_engine, "page item", "us", limit=10, offset=20)
    assert (len(first.matches), first.more) == (10, True)
    assert (len(second.matches), second.more) == (10, True)
    assert (len(third.matches), third.more) == (5, False)
    seen = [m.asin for p in (first, second, third) for m in p.matches]
    assert sorted(seen) == sorted(r[1] for r in rows)


async def test_a_changed_title_replaces_the_old_words(sql_engine: AsyncEngine):
    await sql.upsert_titles(sql_engine, [("us", "B0RENAME01", "Old blender", 10)])
    # the same title again writes nothing
    assert await sql.upsert_titles(sql_engine, [("us", "B0RENAME01", "Old blender", 11)]) == 0
    assert await sql.upsert_titles(sql_engine, [("us", "B0RENAME01", "New mixer", 12)]) == 1
    # an older sighting does not bring the old title back
    assert await sql.upsert_titles(sql_engine, [("us", "B0RENAME01", "Old blender", 5)]) == 0
    assert await _asins(sql_engine, "blender") == []
    page = await sql.search_titles(sql_engine, "mixer", "us")
    assert [(m.asin, m.title) for m in page.matches] == [("B0RENAME01", "New mixer")]


def test_terms_become_quoted_words():
    assert search_terms('USB-C "cable" OR x*') == ["usb", "c", "cable", "or", "x"]
    assert fts5_match(["usb", "c"]) == '"usb" "c"*'
    assert tsquery(["usb", "c"]) == "'usb' & 'c':*"
    assert len(search_terms(" ".join(["w"] * 50))) == 12


async def test_most_tracked_counts_active_alerts_per_product_in_one_marketplace(
    sql_engine: AsyncEngine,
):
    for i, asin in enumerate(["B0POPULAR1", "B0POPULAR1", "B0POPULAR1", "B0POPULAR2"]):
        await subscribed(sql_engine, f"watch{i}@example.com", asin, 100)
    await subscribed(sql_engine, "uk@example.com", "B0POPULAR2", 100, market="uk")
    await subscribed(sql_engine, "paused@example.com", "B0PAUSED01", 100, status="paused")
    assert await sql.most_tracked(sql_engine, "us") == [("B0POPULAR1", 3), ("B0POPULAR2", 1)]
    assert await sql.most_tracked(sql_engine, "us", limit=1) == [("B0POPULAR1", 3)]
    assert await sql.most_tracked(sql_engine, "uk") == [("B0POPULAR2", 1)]
    assert await sql.most_tracked(sql_engine, "de") == []


async def test_the_search_reads_the_word_index_not_every_title(sql_engine: AsyncEngine):
    words = ["kettle", "toaster", "blender", "grinder", "lamp", "mat", "bottle", "pan"]
    rows = [
        ("us", f"B0PLAN{i:04d}", f"{words[i % 8]} model {i} {words[(i * 3) % 8]}", 1)
        for i in range(2_000)
    ]
    await sql.upsert_titles(sql_engine, rows)
    async with sql_engine.connect() as conn:
        name = conn.dialect.name
        await conn.exec_driver_sql("ANALYZE")
        if name == "postgresql":
            # a small table may still tempt the planner into a scan; forbid it, so that a
            # missing or unusable index shows as a scan
            await conn.exec_driver_sql("SET enable_seqscan = off")
        sqlite = name == "sqlite"
        explain = text(
            ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + search_statement(name).text
        )
        params = {
            "match": fts5_match(["kettle"]) if sqlite else tsquery(["kettle"]),
            "market": "us",
            "limit": 21,
            "offset": 0,
        }
        plan = "\n".join(str(r[-1]) for r in (await conn.execute(explain, params)).all())
    if sqlite:
        assert "VIRTUAL TABLE INDEX" in plan, plan
        assert "SCAN t" not in plan, plan
    else:
        assert "ix_product_titles_search" in plan, plan


def _search_objects(conn: Connection) -> set[str]:
    inspector = inspect(conn)
    names = set(inspector.get_table_names())
    if "product_titles" in names:
        names |= {ix["name"] for ix in inspector.get_indexes("product_titles") if ix["name"]}
    return {n for n in names if n.startswith(("product_titles", "ix_product_titles"))}


async def test_0006_adds_the_title_index_and_takes_it_away_again(sql_url: str):
    await sql.migrate_sql_async(sql_url, "0005")
    async with engine_on(sql_url) as engine:
        await sql.migrate_sql_async(engine, "0006")
        async with engine.connect() as conn:
            created = await conn.run_sync(_search_objects)
            expected = {"product_titles_fts", "product_titles"}
            if conn.dialect.name == "postgresql":
                expected = {"product_titles", "ix_product_titles_search"}
        assert expected <= created
        await sql.upsert_titles(engine, [("us", "B0MIGRATE1", "Migrated kettle", 1)])
        assert [m.asin for m in (await sql.search_titles(engine, "kettle", "us")).matches] == [
            "B0MIGRATE1"
        ]

        await sql.downgrade_sql_async(engine, "0005")
        async with engine.connect() as conn:
            assert await conn.run_sync(_search_objects) == set()
        # and up again: the index starts empty, the API fills it from the catalogue
        await sql.migrate_sql_async(engine)
        assert (await sql.search_titles(engine, "kettle", "us")).matches == []
