"""The capacity model's arithmetic (bench/capacity.py), on small hand-computed cases."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.capacity import Load, Model, Units, derive, main, read_units

UNITS = Units(
    parser_pages_per_s=100.0,
    page_wire_bytes=100_000.0,
    series_per_page=5.0,
    bytes_per_point=10.0,
    bytes_per_product=100.0,
    insert_rows_per_s=1_000_000.0,
    ingest_obs_per_s=10_000.0,
    frontier_bytes_per_task=300.0,
    stream_bytes_per_entry=1_000.0,
    frontier_tasks_per_s=50_000.0,
    api_req_per_s=1_000.0,
    api_miss_req_per_s=100.0,
    sql_bytes_per_subscription=200.0,
    sql_bytes_per_user=500.0,
)
# Round numbers: each tier costs one crawl a second for 1,000 users and PRODUCTS products.
MODEL = Model(
    proxy_interval_s=1.0,
    politeness_margin_s=0.0,
    verify_share=0.25,
    frontier_window_s=3_600.0,
    tail_interval_s=2_592_000.0,
    crawl_concurrency=8,
    stream_maxlen=1_000,
    subscribed_interval_s=5_000.0,
    viewed_interval_s=15_000.0,
    subscriptions_per_user=10.0,
    subscribers_per_product=2.0,
    viewed_products_per_user=15.0,
    chart_loads_per_user_day=86.4,
    reports_per_user_day=86.4,
    peak_to_mean=5.0,
    api_miss_share=0.5,
    response_s=1.0,
    retry_share=0.5,
    scrapy_s_per_page=0.002,
    wire_overhead=0.0,
    core_utilisation=0.5,
    replicas=2,
    retention_years=3.0,
    clickhouse_node_tb=4.0,
    redis_node_gb=25.0,
)
# 5,000 subscribed + 15,000 viewed + a tail of 2,592,000
PRODUCTS = 2_612_000


def test_hand_computed_case() -> None:
    needs = derive(UNITS, Load(PRODUCTS, 1_000), MODEL)
    # tiers: 10,000 subscriptions / 2 = 5,000 products; 15 x 1,000 viewed; the rest
    assert (needs.subscribed_products, needs.viewed_products) == (5_000, 15_000)
    assert needs.tail_products == 2_592_000
    # 5,000 / 5,000 s + 15,000 / 15,000 s + 2,592,000 / 30 d
    assert needs.scheduled_crawls_per_s == pytest.approx(3.0)
    # a quarter kept for verification -> 4 pages/s; half as much again retried -> 6/s
    assert needs.requests_per_s == pytest.approx(6.0)
    # each IP sends once per 1 s round trip + 1 s interval
    assert needs.ips == 12
    # 6 x (10 ms parse + 2 ms Scrapy) = 0.072 cores, at 50 % -> 0.144 -> 1
    assert needs.crawler_cores == 1
    assert needs.crawler_processes_at_concurrency == 1
    # 6 pages/s x 100 kB x 8 bits
    assert needs.bandwidth_gbps == pytest.approx(0.0048)
    # (4 pages + 1 report)/s x 5 series
    assert needs.observations_per_s == pytest.approx(25.0)
    assert needs.clickhouse_tb_per_year == pytest.approx(25 * 86_400 * 365 * 10 / 1e12)
    assert needs.clickhouse_catalogue_tb == pytest.approx(PRODUCTS * 100 / 1e12)
    assert (needs.clickhouse_shards, needs.clickhouse_nodes) == (1, 2)
    assert needs.ingest_cores == 1
    # 3/s x 1 h of tasks x 300 B + 4 partitions x 1,000 entries x 1,000 B
    assert needs.frontier_tasks == pytest.approx(10_800)
    assert needs.stream_partitions == 4
    assert needs.redis_gb == pytest.approx((10_800 * 300 + 4_000_000) / 1e9)
    assert needs.redis_nodes == 1
    # 10,000 x 200 B + 1,000 x 500 B
    assert needs.postgres_gb == pytest.approx(0.0025)
    # 1,000 users x 172.8 requests a day = 2/s, x5 at peak; half of them at 1 ms, half
    # computed at 10 ms: 10 x 5.5 ms = 0.055 cores at 50 % -> 1
    assert needs.api_req_per_s_mean == pytest.approx(2.0)
    assert needs.api_req_per_s_peak == pytest.approx(10.0)
    assert needs.api_processes == 1


def test_doubling_the_load_doubles_the_crawl() -> None:
    one = derive(UNITS, Load(PRODUCTS, 1_000), MODEL)
    two = derive(UNITS, Load(2 * PRODUCTS, 2_000), MODEL)
    assert two.requests_per_s == pytest.approx(2 * one.requests_per_s)
    assert two.ips == 2 * one.ips
    assert two.bandwidth_gbps == pytest.approx(2 * one.bandwidth_gbps)
    assert two.clickhouse_tb_per_year == pytest.approx(2 * one.clickhouse_tb_per_year)
    assert two.postgres_gb == pytest.approx(2 * one.postgres_gb)


def test_doubling_products_alone_doubles_ips_of_a_catalogue_nobody_watches() -> None:
    one = derive(UNITS, Load(2_592_000, 0), MODEL)
    two = derive(UNITS, Load(5_184_000, 0), MODEL)
    # 2,592,000 products monthly = 1/s, 2/s of requests, 4 IPs
    assert one.ips == 4
    assert two.ips == 8
    assert two.api_processes == one.api_processes == 0


def test_the_politeness_cycle_sets_the_ips() -> None:
    slower = dataclasses.replace(MODEL, proxy_interval_s=3.0)
    # 6 requests/s, each IP once per 1 s round trip + 3 s interval
    assert derive(UNITS, Load(PRODUCTS, 1_000), slower).ips == 24


def test_a_catalogue_smaller_than_the_users_interest() -> None:
    needs = derive(UNITS, Load(10_000, 1_000), MODEL)
    # 5,000 subscribed, the other 5,000 viewed, no tail
    assert (needs.subscribed_products, needs.viewed_products, needs.tail_products) == (
        5_000,
        5_000,
        0,
    )
    assert needs.scheduled_crawls_per_s == pytest.approx(1 + 5_000 / 15_000)


def test_many_cores_and_nodes_round_up() -> None:
    slow = dataclasses.replace(UNITS, parser_pages_per_s=1.0, insert_rows_per_s=10.0)
    needs = derive(slow, Load(PRODUCTS, 1_000), MODEL)
    # 6 x (1 s + 2 ms) = 6.012 busy cores at 50 % -> 12.024 -> 13
    assert needs.crawler_cores == 13
    # 25 observations/s x 5 at peak / 10 rows/s per node -> 12.5 -> 13 shards, 26 nodes
    assert (needs.clickhouse_shards, needs.clickhouse_nodes) == (13, 26)


def test_computed_charts_weigh_on_the_api() -> None:
    needs = derive(UNITS, Load(PRODUCTS, 100_000), MODEL)
    # 1,000 req/s at peak x 5.5 ms = 5.5 cores at 50 % -> 11
    assert needs.api_req_per_s_peak == pytest.approx(1_000.0)
    assert needs.api_processes == 11
    all_cached = derive(
        UNITS, Load(PRODUCTS, 100_000), dataclasses.replace(MODEL, api_miss_share=0)
    )
    # 1,000 x 1 ms at 50 % -> 2
    assert all_cached.api_processes == 2


def test_no_load_needs_nothing() -> None:
    needs = derive(UNITS, Load(0, 0), MODEL)
    assert (needs.ips, needs.crawler_cores, needs.api_processes, needs.ingest_cores) == (0,) * 4
    assert needs.redis_gb == pytest.approx(4 * 1_000 * 1_000 / 1e9)  # the kept stream entries


def test_negative_load_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        derive(UNITS, Load(-1, 0), MODEL)


@pytest.mark.parametrize(
    "change",
    [
        {"verify_share": 1.0},
        {"api_miss_share": 1.5},
        {"core_utilisation": 0.0},
        {"subscribers_per_product": 0.0},
        {"crawl_concurrency": 0},
        # the scorer crawls nothing more often than hourly
        {"subscribed_interval_s": 1_800.0},
    ],
)
def test_a_model_that_cannot_be_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(change))):
        dataclasses.replace(MODEL, **change)


def test_assumptions_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = str(_units_file(tmp_path / "units.json"))
    # the target load: enough IPs that rounding up does not blur the ratio
    args = ["--products", "500000000", "--users", "1000000", "--units", units]
    main(args)
    before = capsys.readouterr().out.splitlines()
    main([*args, "--assume", "response_s=3"])
    after = capsys.readouterr().out.splitlines()
    assert "  response_s = 3  [" in "\n".join(after)
    assert any(line.endswith("(set by --assume)") for line in after)
    ips_before = int(before[-1].split()[0].removeprefix("ips="))
    ips_after = int(after[-1].split()[0].removeprefix("ips="))
    # one request per 3 + 1 + 0.05 s instead of 1 + 1 + 0.05 s
    assert ips_after / ips_before == pytest.approx(4.05 / 2.05, rel=0.01)


@pytest.mark.parametrize("pair", ["ips=3", "response_s", "response_s=fast", "verify_share=1"])
def test_bad_assumptions_are_refused(
    tmp_path: Path, pair: str, capsys: pytest.CaptureFixture[str]
) -> None:
    units = str(_units_file(tmp_path / "units.json"))
    with pytest.raises(SystemExit) as exited:
        main(["--units", units, "--assume", pair])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--assume" in err or "verify_share must be in [0, 1)" in err


def _units_file(path: Path, **overrides: object) -> Path:
    entries: dict[str, object] = {
        f.name: {"value": getattr(UNITS, f.name), "source": "a test"}
        for f in dataclasses.fields(Units)
    }
    entries.update(overrides)
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_units_from_a_file_give_the_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = _units_file(tmp_path / "units.json")
    assert main(["--products", str(PRODUCTS), "--users", "1000", "--units", str(units)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "from " + str(units) + ": a test" in "\n".join(lines)
    assert re.fullmatch(
        r"ips=\d+ crawler_cores=\d+ bandwidth_gbps=[\d.]+ clickhouse_tb_per_year=[\d.]+ "
        r"redis_gb=[\d.]+ api_processes=\d+",
        lines[-1],
    ), lines[-1]


def test_a_units_file_missing_a_figure_is_refused(tmp_path: Path) -> None:
    path = _units_file(tmp_path / "units.json")
    entries = json.loads(path.read_text(encoding="utf-8"))
    del entries["api_req_per_s"]
    path.write_text(json.dumps(entries), encoding="utf-8")
    with pytest.raises(ValueError, match="api_req_per_s"):
        read_units(path)


def test_a_units_file_with_a_bad_value_is_refused(tmp_path: Path) -> None:
    path = _units_file(tmp_path / "units.json", ips={"value": "many"})
    with pytest.raises(ValueError, match="ips needs a numeric"):
        read_units(path)
