"""The ``pricewatch`` command as a user runs it: subprocesses on a temp data dir."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pricewatch.frontier import Frontier
from pricewatch.keys import DEFAULT_KEYS, PRICE_CHANGES
from pricewatch.models import PriceChange, Series, decode_many
from pricewatch.storage.streams import PartitionedStream
from tests import up

pytestmark = pytest.mark.slow


def run(args, env, timeout=120, check=True):
    return subprocess.run(
        [sys.executable, "-m", "pricewatch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def run_python(code, env):
    """What ``code`` prints in a fresh process: it reads the data back as another
    command would, not through this test's connections."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_migrate_is_idempotent(env):
    first = run(["migrate"], env)
    assert "clickhouse:" in first.stdout and "sql: at head" in first.stdout
    second = run(["migrate"], env)
    assert "clickhouse: 0 migration(s) applied" in second.stdout


def test_import_csv_loads_history_and_reports_bad_lines(env, tmp_path):
    csv_file = tmp_path / "history.csv"
    csv_file.write_text(
        "market,asin,observed_at,price\n"
        "us,B07CLN88MV,2026-01-01T00:00:00Z,19.99\n"
        "us,B07CLN88MV,2026-01-02T00:00:00,17.50\n"
        'de,B07CLN88MV,1767312000,"12,99 €"\n'
        "us,B07CLN88MV,1767398400000,\n"
        "us,NOTANASIN,2026-01-01,1.00\n"
        "zz,B07CLN88MV,2026-01-01,1.00\n"
    )
    result = run(["import-csv", str(csv_file), "--no-reset-state"], env)
    assert "imported 4 rows for 2 series (2 rejected lines)" in result.stdout
    assert "line 6" in result.stderr and "line 7" in result.stderr  # says which and why
    # the rows are really in ClickHouse: read them back in a fresh process
    probe = (
        "from pricewatch.settings import load_settings;"
        "from pricewatch.storage.clickhouse import get_clickhouse, PriceStore;"
        "s=load_settings(); c=get_clickhouse(s.clickhouse_url);"
        "print(sorted(c.query('SELECT market, price FROM pricewatch.prices_raw').result_rows,"
        " key=str))"
    )
    out = run_python(probe, env)
    assert out.strip() == "[('de', 1299), ('us', 1750), ('us', 1999), ('us', None)]"


def test_import_csv_takes_every_series(env, tmp_path):
    csv_file = tmp_path / "series.csv"
    csv_file.write_text(
        "market,asin,observed_at,price,series\n"
        "us,B07CLN88MV,2026-01-01T00:00:00Z,19.99,buybox\n"
        "us,B07CLN88MV,2026-01-01T00:00:00Z,14.50,used\n"
        'us,B07CLN88MV,2026-01-01T00:00:00Z,"#2,345",sales_rank\n'
    )
    result = run(["import-csv", str(csv_file), "--no-reset-state", "--quiet"], env)
    assert "imported 3 rows for 3 series (0 rejected lines)" in result.stdout
    probe = (
        "from pricewatch.settings import load_settings;"
        "from pricewatch.storage.clickhouse import get_clickhouse;"
        "c=get_clickhouse(load_settings().clickhouse_url);"
        "print(sorted(c.query('SELECT series, price, currency FROM pricewatch.prices_raw')"
        ".result_rows))"
    )
    out = run_python(probe, env)
    assert out.strip() == (
        "[('buybox', 1999, 'USD'), ('sales_rank', 2345, ''), ('used', 1450, 'USD')]"
    )


def test_import_csv_without_required_columns_fails_clearly(env, tmp_path):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("asin,price\nB07CLN88MV,1\n")
    result = run(["import-csv", str(csv_file)], env, check=False)
    assert result.returncode != 0
    assert "missing column(s) market, observed_at" in result.stderr


def test_up_runs_redis_and_ingest_until_stopped(env):
    proc = up.start(env)
    try:
        client = up.redis_client(proc, env)
        client.ping()
        # other commands on this machine find the Redis that `up` started
        track = run(
            ["track", "https://www.amazon.de/dp/B07CLN88MV", "not-an-asin"], env, check=False
        )
        assert track.returncode == 2 and "not-an-asin" in track.stderr  # bad ASIN named
        track = run(["track", "https://www.amazon.de/dp/B07CLN88MV", "B000000001"], env)
        assert "queued de:B07CLN88MV" in track.stdout
        assert Frontier(client, DEFAULT_KEYS, partitions=4).size() == 2
        # ingest runs inside `up`: an observation becomes a price change, and the
        # API serves it; a later change reaches the served chart at once, through
        # each cache (the chart may be kept for Cache-Control's 60 s otherwise)
        changes = PartitionedStream(DEFAULT_KEYS, PRICE_CHANGES, up.PARTITIONS)
        for expected_changes, price in [(1, 1234), (2, 999)]:
            up.publish_price(client, "B07CLN88MV", price)
            up.wait_until(
                lambda n=expected_changes: changes.length(client) >= n,
                up.SETTLE_S,
                "ingest publishing the change",
                proc,
            )
            up.wait_until(
                lambda p=price: up.chart_price(env, "B07CLN88MV") == p / 100,
                10,
                f"the chart showing {price / 100}",
            )
    finally:
        output = up.stop(proc)
    assert proc.returncode == 0, output
    assert "Pricewatch is up" in output
    assert not up.redis_url_file(env).exists()


def test_up_demo_crawls_the_local_marketplace_into_price_changes(env):
    proc = up.start(env, "--demo", "6", "--crawlers", "1")
    try:
        client = up.redis_client(proc, env)
        changes = PartitionedStream(DEFAULT_KEYS, PRICE_CHANGES, up.PARTITIONS)

        def buybox_changes() -> list[PriceChange]:
            found = [
                change
                for key in changes.stream_keys()
                for _, fields in client.xrange(key)
                for change in decode_many(fields[b"d"], PriceChange)
            ]
            return [change for change in found if change.series is Series.BUYBOX]

        # every demo product crawled, parsed, ingested: a first buy-box price each
        up.wait_until(
            lambda: len({(c.market, c.asin) for c in buybox_changes()}) >= 6,
            up.STARTUP_S,
            "a change a product",
            proc,
        )
        for change in buybox_changes():
            assert change.source == "crawler" and change.new_price is not None
    finally:
        output = up.stop(proc)
    assert proc.returncode == 0, output


def test_up_demo_stops_cleanly_on_one_ctrl_c_and_keeps_its_terminal_quiet(env):
    # a terminal's Ctrl-C reaches the whole foreground process group
    proc = up.start(env, "--demo", "6", "--crawlers", "1", start_new_session=True)
    try:
        client = up.redis_client(proc, env)
        changes = PartitionedStream(DEFAULT_KEYS, PRICE_CHANGES, up.PARTITIONS)
        up.wait_until(lambda: changes.length(client) >= 1, up.STARTUP_S, "a crawled price", proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=up.STARTUP_S)
    assert proc.returncode == 0, output
    assert "forcing unclean shutdown" not in output
    assert "Traceback" not in output
    assert "Running job" not in output and "apscheduler" not in output
    assert "demo marketplace: 6 products" in output
    assert "Try: http://127.0.0.1:" in output and "/p/us/B0" in output
    # where the prices stand, for the next start to carry on from
    assert (Path(env["PRICEWATCH_DATA_DIR"]) / "demo-marketplace.json").exists()
