"""Capacity model: what a load of products and extension users needs, from unit costs.

    python bench/capacity.py --products 500000000 --users 1000000
    python bench/capacity.py --products 500000000 --users 1000000 --units units.json
    python bench/capacity.py ... --save-units units.json

The unit costs are measured here with short runs of the other benchmarks' code (about
a minute and a half on two cores; ``--full`` runs them longer): parser pages/s
(``crawler.parsing`` over the page corpus), gzip bytes of a page and series stored per
page (the corpus, through the crawler's own ``observations_for``), ClickHouse bytes
per price point and per product (the project's migrations on chDB, ``system.parts``
after merging), frontier and stream bytes (a real Redis filled through
``pricewatch.frontier`` and the observations stream), ingest observations/s
(``bench/ingest.py``), chart requests/s of one API process, from its caches and
computing every chart (``bench/api.py``, closed loop), frontier tasks/s
(``bench/frontier.py``) and PostgreSQL bytes per subscription and account (the tests'
PostgreSQL, else SQLite). ``--units`` takes them from a previous run's
``--save-units`` file instead, and ``--assume NAME=VALUE`` changes an assumption (any
field of :class:`Model`).

Everything else is a stated assumption or a value read from the code (settings,
scoring clamps, politeness). The arithmetic is :func:`derive`, a pure function. The
last line is ``ips=… crawler_cores=… bandwidth_gbps=… clickhouse_tb_per_year=…
redis_gb=… api_processes=…``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# Run as a script, this file's folder (bench/) comes first on sys.path: the repository
# root takes its place, so that ``bench.common`` imports.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

DAY_S = 86_400.0
YEAR_DAYS = 365.0


# --- the model ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Units:
    """Unit costs, measured (or read from a previous run)."""

    # crawler: product pages parsed per second on one core
    parser_pages_per_s: float
    # bytes of a product page on the wire (gzip)
    page_wire_bytes: float
    # price series a product page stores (rows in prices_raw per crawled page)
    series_per_page: float
    # ClickHouse bytes on disk per price point: prices_raw, its rollups and the price
    # changes ingest writes, merged
    bytes_per_point: float
    # ClickHouse bytes on disk per product: catalogue, schedule, latest price per series
    bytes_per_product: float
    # rows/s one ClickHouse node inserts (chDB here: a server does at least as well)
    insert_rows_per_s: float
    # observations one ingest process stores per second
    ingest_obs_per_s: float
    # Redis bytes per queued crawl task (the task and the scheduler's pushed record)
    frontier_bytes_per_task: float
    # Redis bytes per observations stream entry (one crawled page's series)
    stream_bytes_per_entry: float
    # frontier tasks pushed, popped and acked per second by one Redis
    frontier_tasks_per_s: float
    # chart requests per second one API process serves: a realistic mix with a warm
    # cache, and every chart computed from ClickHouse
    api_req_per_s: float
    api_miss_req_per_s: float
    # PostgreSQL bytes per subscription row and per account, indexes included
    sql_bytes_per_subscription: float
    sql_bytes_per_user: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Model:
    """What is not measured: values read from the code, and assumptions (their
    reasons are in :data:`ASSUMPTIONS`)."""

    # --- from the code
    # politeness: seconds between two requests through one IP, plus the margin
    proxy_interval_s: float = 1.0
    politeness_margin_s: float = 0.05
    # share of the crawl budget kept for verification crawls
    verify_share: float = 0.1
    # the frontier holds what is due within this window
    frontier_window_s: float = 3_600.0
    # shortest and longest crawl intervals the scorer allows: the tail's freshness is
    # the longest
    min_interval_s: float = 3_600.0
    tail_interval_s: float = 30 * DAY_S
    # requests one crawler process keeps in flight
    crawl_concurrency: int = 8
    # observations stream: entries kept per partition (XADD MAXLEN ~)
    stream_maxlen: int = 1_000_000
    # --- freshness asked of each tier (seconds between crawls)
    subscribed_interval_s: float = 4 * 3_600.0
    viewed_interval_s: float = DAY_S
    # --- the users
    subscriptions_per_user: float = 10.0
    subscribers_per_product: float = 2.0
    viewed_products_per_user: float = 15.0
    chart_loads_per_user_day: float = 20.0
    reports_per_user_day: float = 20.0
    peak_to_mean: float = 6.5
    api_miss_share: float = 0.2
    # --- the wire and the machines
    response_s: float = 1.0
    retry_share: float = 0.1
    scrapy_s_per_page: float = 0.002
    wire_overhead: float = 0.05
    core_utilisation: float = 0.7
    replicas: int = 2
    retention_years: float = 3.0
    clickhouse_node_tb: float = 4.0
    redis_node_gb: float = 25.0

    def __post_init__(self) -> None:
        # the verification share comes off the budget: all of it would leave none
        if not 0 <= self.verify_share < 1:
            raise ValueError(f"verify_share must be in [0, 1), got {self.verify_share}")
        if not 0 <= self.api_miss_share <= 1:
            raise ValueError(f"api_miss_share must be in [0, 1], got {self.api_miss_share}")
        if not 0 < self.core_utilisation <= 1:
            raise ValueError(f"core_utilisation must be in (0, 1], got {self.core_utilisation}")
        positive = (
            "proxy_interval_s", "tail_interval_s", "subscribed_interval_s", "viewed_interval_s",
            "subscribers_per_product", "crawl_concurrency", "replicas", "clickhouse_node_tb",
            "redis_node_gb",
        )  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        # the scorer clamps every product's interval to these
        for name in ("subscribed_interval_s", "viewed_interval_s"):
            if not self.min_interval_s <= getattr(self, name) <= self.tail_interval_s:
                raise ValueError(
                    f"{name} must lie between min_interval_s ({self.min_interval_s:g}) and "
                    f"tail_interval_s ({self.tail_interval_s:g}), got {getattr(self, name):g}"
                )


# Why each assumption holds; printed with the figures.
ASSUMPTIONS: Mapping[str, str] = {
    "subscribed_interval_s": "DESIGN: subscribed products every 2-6 h (the scorer's floor is "
    "1 h); the middle, 4 h",
    "viewed_interval_s": "DESIGN: products someone viewed, daily",
    "subscriptions_per_user": "DESIGN: ~10 M subscriptions for 1 M users",
    "subscribers_per_product": "DESIGN: ~5 M subscribed products for ~10 M subscriptions",
    "viewed_products_per_user": "distinct products a user viewed in 30 days beyond the "
    "subscribed ones, after overlap between users (Zipf); gives DESIGN's 50-80 M crawls/day",
    "chart_loads_per_user_day": "DESIGN: ~20 M chart loads/day for 1 M users",
    "reports_per_user_day": "DESIGN: ~20 M extension reports/day for 1 M users; a report "
    "costs the API about a chart load (not measured) and stores a page's series",
    "peak_to_mean": "DESIGN: ~3k/s peak over ~460/s mean API requests",
    "api_miss_share": "requests that compute a chart from ClickHouse: a price change evicts "
    "a product's charts and most of the 20 M viewed products are seen too rarely to stay "
    "cached (the measured mix, 300 products, hits its cache almost always)",
    "response_s": "an Amazon product page through a proxy; the IP is held from grant "
    "until the response is back (crawler/slots.py), so it adds to every cycle",
    "retry_share": "robot checks and proxy failures retried (crawler/bans.py); not "
    "measurable without Amazon",
    "scrapy_s_per_page": "Scrapy's engine, download, middlewares and the stream publish "
    "per page beyond parsing (Scrapy moves ~500 simple pages/s per core)",
    "wire_overhead": "request, response headers and TLS records on top of the body",
    "core_utilisation": "cores sized to run at 70 %: bursts, GC, a lost node",
    "replicas": "DESIGN: ClickHouse 2 replicas per shard",
    "retention_years": "ClickHouse disk sized for three years of history",
    "clickhouse_node_tb": "usable disk per ClickHouse node",
    "redis_node_gb": "usable memory per Redis node (a 32 GB machine)",
}

# Where each value of the code comes from.
CODE_SOURCES: Mapping[str, str] = {
    "proxy_interval_s": "PRICEWATCH_PROXY_INTERVAL_S (pricewatch/settings.py)",
    "politeness_margin_s": "PRICEWATCH_POLITENESS_MARGIN_S (crawler/settings.py)",
    "verify_share": "PRICEWATCH_SCHEDULER_VERIFY_SHARE (pricewatch/settings.py)",
    "frontier_window_s": "PRICEWATCH_SCHEDULER_WINDOW_S (pricewatch/settings.py)",
    "min_interval_s": "PRICEWATCH_SCHEDULER_MIN_INTERVAL_S: no product more often",
    "tail_interval_s": "PRICEWATCH_SCHEDULER_MAX_INTERVAL_S: every product at least monthly",
    "crawl_concurrency": "PRICEWATCH_CRAWL_CONCURRENCY (pricewatch/settings.py)",
    "stream_maxlen": "PRICEWATCH_STREAM_MAXLEN (pricewatch/settings.py)",
}


@dataclasses.dataclass(frozen=True)
class Load:
    products: int
    users: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class Needs:
    """What a load needs; rates per second, sizes in the unit their name says."""

    subscribed_products: float
    viewed_products: float
    tail_products: float
    scheduled_crawls_per_s: float
    requests_per_s: float
    ips: int
    crawler_cores: int
    crawler_processes_at_concurrency: int
    bandwidth_gbps: float
    observations_per_s: float
    clickhouse_tb_per_year: float
    clickhouse_catalogue_tb: float
    clickhouse_shards: int
    clickhouse_nodes: int
    ingest_cores: int
    frontier_tasks: float
    stream_partitions: int
    redis_gb: float
    redis_nodes: int
    subscriptions: float
    postgres_gb: float
    api_req_per_s_mean: float
    api_req_per_s_peak: float
    api_processes: int


def derive(units: Units, load: Load, model: Model = Model()) -> Needs:
    """Needs of ``load`` from unit costs and the model (pure)."""
    if load.products < 0 or load.users < 0:
        raise ValueError("products and users must not be negative")
    # --- who needs how fresh a price: three tiers, each product in its freshest one
    subscriptions = load.users * model.subscriptions_per_user
    subscribed = min(load.products, subscriptions / model.subscribers_per_product)
    viewed = min(load.products - subscribed, load.users * model.viewed_products_per_user)
    tail = load.products - subscribed - viewed
    scheduled = (
        subscribed / model.subscribed_interval_s
        + viewed / model.viewed_interval_s
        + tail / model.tail_interval_s
    )
    # verification crawls take their share of the budget on top; failed fetches retry
    pages_per_s = scheduled / (1.0 - model.verify_share)
    requests = pages_per_s * (1.0 + model.retry_share)

    # --- crawling: an IP sends once per hold (round trip) + interval + margin
    cycle_s = model.response_s + model.proxy_interval_s + model.politeness_margin_s
    ips = math.ceil(requests * cycle_s)
    core_s_per_request = 1.0 / units.parser_pages_per_s + model.scrapy_s_per_page
    crawler_cores = _cores(requests * core_s_per_request, model)
    processes = math.ceil(requests * model.response_s / model.crawl_concurrency)
    bandwidth = requests * units.page_wire_bytes * (1 + model.wire_overhead) * 8 / 1e9

    # --- history: every crawled page and every report stores a page's series
    reports_per_s = load.users * model.reports_per_user_day / DAY_S
    observations = (pages_per_s + reports_per_s) * units.series_per_page
    tb_per_year = observations * DAY_S * YEAR_DAYS * units.bytes_per_point / 1e12
    catalogue_tb = load.products * units.bytes_per_product / 1e12
    shards_for_disk = (
        tb_per_year * model.retention_years + catalogue_tb
    ) / model.clickhouse_node_tb
    shards_for_inserts = observations * model.peak_to_mean / units.insert_rows_per_s
    shards = max(1, math.ceil(max(shards_for_disk, shards_for_inserts)))
    ingest_cores = _cores(observations / units.ingest_obs_per_s, model)

    # --- Redis: the due-soon window of the frontier, and the streams' kept entries
    frontier_tasks = scheduled * model.frontier_window_s
    # one ingest consumer per partition: as many partitions as ingest cores (4 at least)
    partitions = max(4, ingest_cores)
    stream_entries = partitions * model.stream_maxlen
    redis_bytes = (
        frontier_tasks * units.frontier_bytes_per_task
        + stream_entries * units.stream_bytes_per_entry
    )
    redis_gb = redis_bytes / 1e9
    redis_nodes = max(
        1,
        math.ceil(redis_gb / model.redis_node_gb),
        math.ceil(requests / (units.frontier_tasks_per_s * model.core_utilisation)),
    )

    # --- accounts and their alerts
    postgres_gb = (
        subscriptions * units.sql_bytes_per_subscription + load.users * units.sql_bytes_per_user
    ) / 1e9

    # --- API: chart loads and reports, sized for the peak
    api_mean = load.users * (model.chart_loads_per_user_day + model.reports_per_user_day) / DAY_S
    api_peak = api_mean * model.peak_to_mean
    core_s_per_api_request = (
        1.0 - model.api_miss_share
    ) / units.api_req_per_s + model.api_miss_share / units.api_miss_req_per_s
    api_processes = _cores(api_peak * core_s_per_api_request, model)

    return Needs(
        subscribed_products=subscribed,
        viewed_products=viewed,
        tail_products=tail,
        scheduled_crawls_per_s=scheduled,
        requests_per_s=requests,
        ips=ips,
        crawler_cores=crawler_cores,
        crawler_processes_at_concurrency=processes,
        bandwidth_gbps=bandwidth,
        observations_per_s=observations,
        clickhouse_tb_per_year=tb_per_year,
        clickhouse_catalogue_tb=catalogue_tb,
        clickhouse_shards=shards,
        clickhouse_nodes=shards * model.replicas,
        ingest_cores=ingest_cores,
        frontier_tasks=frontier_tasks,
        stream_partitions=partitions,
        redis_gb=redis_gb,
        redis_nodes=redis_nodes,
        subscriptions=subscriptions,
        postgres_gb=postgres_gb,
        api_req_per_s_mean=api_mean,
        api_req_per_s_peak=api_peak,
        api_processes=api_processes,
    )


def _cores(busy_cores: float, model: Model) -> int:
    """Whole cores for ``busy_cores`` of work at the target utilisation (0 for none)."""
    return math.ceil(busy_cores / model.core_utilisation - 1e-9) if busy_cores > 0 else 0


def last_line(needs: Needs) -> str:
    return (
        f"ips={needs.ips} crawler_cores={needs.crawler_cores} "
        f"bandwidth_gbps={needs.bandwidth_gbps:.2f} "
        f"clickhouse_tb_per_year={needs.clickhouse_tb_per_year:.2f} "
        f"redis_gb={needs.redis_gb:.1f} api_processes={needs.api_processes}"
    )


def model_from_code() -> Model:
    """The model with every value the code sets read from it (the environment's
    ``PRICEWATCH_*`` variables included, as a deployment would have them)."""
    from crawler.settings import PRICEWATCH_POLITENESS_MARGIN_S
    from pricewatch.settings import load_settings

    settings = load_settings()
    return Model(
        proxy_interval_s=settings.proxy_interval_s,
        politeness_margin_s=PRICEWATCH_POLITENESS_MARGIN_S,
        verify_share=settings.scheduler_verify_share,
        frontier_window_s=settings.scheduler_window_s,
        min_interval_s=settings.scheduler_min_interval_s,
        tail_interval_s=settings.scheduler_max_interval_s,
        crawl_concurrency=settings.crawl_concurrency,
        stream_maxlen=settings.stream_maxlen,
    )


# --- measuring the unit costs ----------------------------------------------------------------

# a unit cost and where it comes from
Figure = tuple[float, str]


def measure_corpus(seconds: float) -> tuple[dict[str, Figure], list[tuple[str, str, bytes]]]:
    """Parser pages/s, gzip bytes and stored series of the corpus's product pages; and
    each product page's observations as the crawler publishes them (for the stream)."""
    import gzip
    import statistics
    import time

    from bench.common import DEFAULT_CORPUS, corpus_pages, parse_rate
    from crawler.observations import observations_for
    from crawler.parsing import PageKind, parse_page
    from pricewatch.models import CrawlTask, Series, encode

    pages = corpus_pages()
    rate, parsed = parse_rate(pages, seconds)
    now_ms = int(time.time() * 1000)
    wire, series, payloads = [], [], []
    for page in pages:
        parsed_page = parse_page(page.body, page.url)
        if parsed_page.page_kind is not PageKind.PRODUCT or not parsed_page.asin:
            continue
        task = CrawlTask(market=parsed_page.market or "us", asin=parsed_page.asin)
        observations = observations_for(task, parsed_page, 200, now_ms) or []
        # ingest keeps a series once the product has shown it (the buy box always)
        series.append(
            sum(1 for o in observations if o.price is not None or o.series is Series.BUYBOX)
        )
        wire.append(len(gzip.compress(page.body, 6)))
        payloads.append((task.market, task.asin or "", encode(observations)))
    where = f"{len(pages)} pages of {DEFAULT_CORPUS}"
    return {
        "parser_pages_per_s": (
            rate,
            f"measured here: crawler.parsing.parse_page, {where}, {parsed} parses in {seconds:g} s",
        ),
        "page_wire_bytes": (
            statistics.mean(wire),
            f"measured here: mean gzip -6 size of the {len(wire)} product pages of the "
            f"corpus (median {statistics.median(wire) / 1e3:.0f} kB, raw mean "
            f"{statistics.mean(len(p.body) for p in pages) / 1e3:.0f} kB); Amazon serves "
            "gzip or brotli (a little smaller)",
        ),
        "series_per_page": (
            statistics.mean(series),
            f"measured here: series shown per product page (crawler.observations), "
            f"{len(series)} corpus pages",
        ),
    }, payloads


def measure_clickhouse(products: int, days: int, series_per_page: float) -> dict[str, Figure]:
    """Bytes per price point: bench/storage.py's synthetic histories into the project's
    migrated tables on chDB, merged, from ``system.parts``; and bytes per product of the
    tables that hold a row per product (catalogue, schedule, latest price per series)."""
    import tempfile
    from decimal import Decimal

    import numpy as np

    from bench.common import chdb_store, corpus_pages
    from bench.storage import generate_batch, store_changes, table_size
    from pricewatch.models import Availability, Product

    # the price changes ingest writes are history too (the home page's drops read them)
    history = ("prices_raw", "prices_hourly", "prices_daily", "price_changes")
    per_product = ("prices_latest", "products", "crawl_schedule")
    words = [w for p in corpus_pages() for w in (p.truth.get("title") or "").split()]
    # enough rows that a part's fixed costs do not count
    catalogue = max(products, 20_000)
    with tempfile.TemporaryDirectory(prefix="pricewatch-capacity-") as tmp:
        store = chdb_store(Path(tmp) / "ch", "capacity")
        rng = np.random.default_rng(7)
        for first in range(0, products, 500):
            batch = generate_batch(rng, first, min(500, products - first), days)
            store.insert_prices(batch)
            store_changes(store, batch)
        # the catalogue: titles of 8-20 words drawn from the corpus's titles
        store.upsert_products(
            [
                Product(
                    market="us",
                    asin=f"B{i:09d}",
                    title=" ".join(rng.choice(words, int(rng.integers(8, 21)))),
                    image=f"https://m.media-amazon.com/images/I/{i:011d}L._AC_SX679_.jpg",
                    sold_by="Amazon.com",
                    rating=Decimal(int(rng.integers(10, 50))) / 10,
                    review_count=int(rng.integers(0, 50_000)),
                    currency="USD",
                    last_price=int(rng.integers(100, 100_000)),
                    availability=Availability.IN_STOCK,
                    first_seen=1_700_000_000_000 + i,
                    last_seen=1_760_000_000_000 + i,
                )
                for i in range(catalogue)
            ]
        )
        # the schedule as a scoring pass writes it: floats that do not compress
        store.client.command(
            "INSERT INTO capacity.crawl_schedule SELECT 'us', "
            "concat('B', leftPad(toString(number), 9, '0')), randCanonical() * 100, "
            "randCanonical(), randCanonical() / 3600, "
            "fromUnixTimestamp64Milli(toInt64(1760000000000 - rand() % 2592000000), 'UTC'), "
            "fromUnixTimestamp64Milli(toInt64(1760000000000 + rand() % 2592000000), 'UTC'), "
            f"now64(3, 'UTC') FROM numbers({catalogue})"
        )
        for table in history + per_product:
            store.client.command(f"OPTIMIZE TABLE capacity.{table} FINAL")
        sizes = {table: table_size(store, table) for table in history + per_product}
        compressed = store.client.query(
            "SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = 'capacity'"
            f" AND active AND table IN {history}"
        ).result_rows[0][0]
        store.client.close()
    points = sizes["prices_raw"][0]
    per_point = {t: sizes[t][1] / points for t in history}
    per_row = {t: sizes[t][1] / max(1, sizes[t][0]) for t in per_product}
    return {
        "bytes_per_point": (
            sum(per_point.values()),
            f"measured here: {points:,} points ({products} products x {days} days, "
            "bench/storage.py's histories, a crawl every 3-8 h) through the ClickHouse "
            "migrations on chDB, merged; system.parts bytes_on_disk per point: "
            + ", ".join(f"{t} {b:.2f}" for t, b in per_point.items())
            + f" (column data alone, without marks and index: {compressed / points:.2f})",
        ),
        "bytes_per_product": (
            per_row["products"]
            + per_row["crawl_schedule"]
            + per_row["prices_latest"] * series_per_page,
            f"measured here: {catalogue:,} products, bytes_on_disk per row: products "
            f"{per_row['products']:.1f}, crawl_schedule {per_row['crawl_schedule']:.1f}, "
            f"prices_latest {per_row['prices_latest']:.1f} x {series_per_page:.2f} series "
            "(titles drawn from the corpus's words)",
        ),
    }


def measure_redis(tasks: int, payloads: list[tuple[str, str, bytes]]) -> dict[str, Figure]:
    """Bytes per frontier task and per observations stream entry in a real Redis."""
    import redis

    from bench.common import scratch, used_memory
    from pricewatch.frontier import Frontier
    from pricewatch.keys import OBSERVATIONS, Keys
    from pricewatch.models import CrawlTask
    from pricewatch.storage.streams import PartitionedStream

    keys = Keys()
    with scratch() as (_, url):
        client = redis.Redis.from_url(url)
        frontier = Frontier(client, keys, partitions=1)
        before = used_memory(client)
        for start in range(0, tasks, 10_000):
            batch = [
                # what the scheduler's refill pushes: a product with its priority
                CrawlTask(market="us", asin=f"B{i:09d}", priority=(i * 7919 % 10_000) / 10.0)
                for i in range(start, min(tasks, start + 10_000))
            ]
            frontier.push(batch)
            # and the record of what it pushed, kept while the crawl is pending
            client.zadd(keys.scheduler_pushed, {t.product_key: 1_700_000_000_000 for t in batch})
        frontier_bytes = (used_memory(client) - before) / tasks
        queued = frontier.size()

        entries = tasks // 4
        stream = PartitionedStream(keys, OBSERVATIONS, 4, maxlen=entries * 2)
        before = used_memory(client)
        for start in range(0, entries, 2_000):
            stream.publish(
                client,
                [payloads[i % len(payloads)] for i in range(start, min(entries, start + 2_000))],
            )
        stream_bytes = (used_memory(client) - before) / entries
        client.close()
    return {
        "frontier_bytes_per_task": (
            frontier_bytes,
            f"measured here: {queued:,} tasks pushed through pricewatch.frontier plus the "
            "scheduler's pushed record (ZADD), INFO used_memory delta",
        ),
        "stream_bytes_per_entry": (
            stream_bytes,
            f"measured here: {entries:,} corpus pages' observations XADDed to the "
            "observations stream, INFO used_memory delta",
        ),
    }


def measure_ingest(observations: int, per_message: int) -> dict[str, Figure]:
    figures, _ = _bench(
        "ingest.py", "--observations", str(observations), "--per-message", str(per_message)
    )
    return {
        "ingest_obs_per_s": (
            figures["ingest_obs_per_s"],
            f"measured here: bench/ingest.py --observations {observations} --per-message "
            f"{per_message} (one ingest process, chDB)",
        ),
        "insert_rows_per_s": (
            figures["raw_insert_rows_per_s"],
            "measured here: bench/ingest.py's raw columnar insert into chDB (embedded, on "
            "this machine; a ClickHouse server node does at least as well)",
        ),
    }


def measure_api(seconds: int, products: int) -> dict[str, Figure]:
    args = ("--seconds", str(seconds), "--products", str(products))
    _, output = _bench("api.py", *args)

    def rate(marker: str) -> float:
        lines = [line for line in output.splitlines() if marker in line]
        if not lines:
            raise RuntimeError(f"bench/api.py printed no {marker!r} figure:\n{output}")
        return float(lines[-1].rsplit("req_per_s=", 1)[1].split()[0])

    run = f"bench/api.py {' '.join(args)}: one API process, wrk closed loop"
    return {
        "api_req_per_s": (
            rate("closed loop"),
            f"measured here: {run}, Zipf mix of chart loads, warm cache, price changes "
            "invalidating",
        ),
        "api_miss_req_per_s": (
            rate("all-miss"),
            f"measured here: {run}, every request a new window computed from the rollups",
        ),
    }


def measure_frontier(tasks: int) -> dict[str, Figure]:
    figures, _ = _bench("frontier.py", "--tasks", str(tasks), "--poppers", "2")
    return {
        "frontier_tasks_per_s": (
            figures["frontier_tasks_per_s"],
            f"measured here: bench/frontier.py --tasks {tasks} --poppers 2 (push + pop + "
            "ack through one Redis)",
        )
    }


def measure_sql(rows: int) -> dict[str, Figure]:
    """Bytes per subscription and per account on the tests' PostgreSQL (initdb in a temp
    dir); on SQLite when PostgreSQL cannot start here."""
    import asyncio

    try:
        return asyncio.run(_measure_postgres(rows))
    except (OSError, RuntimeError, TimeoutError, KeyError) as exc:
        print(f"  PostgreSQL did not start ({exc}); measuring on SQLite", flush=True)
        return asyncio.run(_measure_sqlite(rows))


async def _measure_postgres(rows: int) -> dict[str, Figure]:
    from argon2 import PasswordHasher
    from sqlalchemy import text

    from bench.common import seed_subscriptions
    from pricewatch.devtools.services import postgres_server, private_dir
    from pricewatch.storage import sql

    accounts = max(1, rows // 10)
    sizes = "SELECT pg_total_relation_size('{0}'), (SELECT count(*) FROM {0})"
    with private_dir("capacity") as workdir, postgres_server(workdir) as url:
        # the first account and row fill the empty tables' first pages: deltas from there
        await seed_subscriptions(url, "seed@example.com", ["B000000000"], threshold=1)
        engine = sql.create_engine(url)
        try:

            async def size(table: str) -> tuple[int, int]:
                async with engine.connect() as conn:
                    found = (await conn.execute(text(sizes.format(table)))).one()
                return int(found[0]), int(found[1])

            subs0, rows0 = await size("subscriptions")
            for n in range(rows // 500):
                await seed_subscriptions(
                    url,
                    f"user{n}@example.com",
                    [f"B{(n * 500 + i) * 7919 % 10**9:09d}" for i in range(500)],
                    threshold=1999,
                )
            subs1, rows1 = await size("subscriptions")
            users0, accounts0 = await size("users")
            # an argon2 hash as the API stores it (the same one: only its length matters)
            password_hash = PasswordHasher().hash("a password")
            for n in range(accounts):
                await sql.create_user(engine, f"account{n}@example.org", password_hash)
            users1, accounts1 = await size("users")
        finally:
            await engine.dispose()
    return {
        "sql_bytes_per_subscription": (
            (subs1 - subs0) / (rows1 - rows0),
            f"measured here: {rows1 - rows0:,} subscriptions (Alembic migrations, PostgreSQL "
            "from pricewatch/devtools/services.py), pg_total_relation_size delta, indexes included",
        ),
        "sql_bytes_per_user": (
            (users1 - users0) / (accounts1 - accounts0),
            f"measured here: {accounts1 - accounts0:,} accounts with argon2 hashes, same "
            "PostgreSQL, pg_total_relation_size delta",
        ),
    }


async def _measure_sqlite(rows: int) -> dict[str, Figure]:
    import tempfile

    from bench.common import seed_subscriptions

    with tempfile.TemporaryDirectory(prefix="pricewatch-capacity-") as tmp:
        path = Path(tmp) / "pw.db"
        url = f"sqlite+aiosqlite:///{path}"
        await seed_subscriptions(url, "seed@example.com", ["B000000000"], threshold=1)
        empty = path.stat().st_size
        for n in range(rows // 500):
            await seed_subscriptions(
                url,
                f"user{n}@example.com",
                [f"B{n * 500 + i:09d}" for i in range(500)],
                threshold=1999,
            )
        per_row = (path.stat().st_size - empty) / (rows // 500 * 500)
    return {
        "sql_bytes_per_subscription": (
            per_row,
            "measured here on SQLite (PostgreSQL could not start): file size delta per "
            "subscription, accounts included",
        ),
        "sql_bytes_per_user": (0.0, "counted in the SQLite subscription figure"),
    }


def _bench(script: str, *args: str) -> tuple[dict[str, float], str]:
    from bench.common import run_bench

    return run_bench(script, *args)


@dataclasses.dataclass(frozen=True)
class Plan:
    """How long the measuring runs are (``--quick`` or not)."""

    parse_seconds: float
    clickhouse_products: int
    clickhouse_days: int
    frontier_tasks: int
    ingest_observations: int
    api_seconds: int
    api_products: int
    sql_rows: int


QUICK = Plan(3.0, 1_000, 365, 100_000, 100_000, 5, 300, 10_000)
FULL = Plan(10.0, 10_000, 730, 500_000, 500_000, 15, 1_000, 50_000)


def measure(plan: Plan) -> dict[str, Figure]:
    """Every unit cost, each step timed on stdout."""
    import time

    figures: dict[str, Figure] = {}
    steps: list[tuple[str, Callable[[], dict[str, Figure]]]] = []
    payloads: list[tuple[str, str, bytes]] = []

    def corpus() -> dict[str, Figure]:
        found, pages = measure_corpus(plan.parse_seconds)
        payloads.extend(pages)
        return found

    steps = [
        ("corpus: parser, page bytes, series", corpus),
        (
            "ClickHouse bytes per point and per product",
            lambda: measure_clickhouse(
                plan.clickhouse_products, plan.clickhouse_days, figures["series_per_page"][0]
            ),
        ),
        ("Redis bytes per task and entry", lambda: measure_redis(plan.frontier_tasks, payloads)),
        (
            "ingest",
            lambda: measure_ingest(
                plan.ingest_observations, max(1, round(figures["series_per_page"][0]))
            ),
        ),
        ("frontier throughput", lambda: measure_frontier(plan.frontier_tasks // 2)),
        ("API", lambda: measure_api(plan.api_seconds, plan.api_products)),
        ("PostgreSQL bytes per row", lambda: measure_sql(plan.sql_rows)),
    ]
    for name, step in steps:
        started = time.perf_counter()
        print(f"measuring {name} ...", flush=True)
        figures.update(step())
        print(f"  {time.perf_counter() - started:.1f} s", flush=True)
    return figures


def units_of(figures: Mapping[str, Figure]) -> Units:
    missing = [f.name for f in dataclasses.fields(Units) if f.name not in figures]
    if missing:
        raise ValueError(f"unit costs missing: {', '.join(missing)}")
    return Units(**{f.name: float(figures[f.name][0]) for f in dataclasses.fields(Units)})


def read_units(path: Path) -> dict[str, Figure]:
    """Figures saved by ``--save-units``: ``{name: {"value": x, "source": "..."}}``."""
    raw: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object of unit costs")
    figures: dict[str, Figure] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), int | float):
            raise ValueError(f"{path}: {name} needs a numeric 'value'")
        source = str(entry.get("source", "no source given"))
        figures[name] = (float(entry["value"]), f"from {path}: {source}")
    units_of(figures)
    return figures


def with_assumptions(model: Model, pairs: list[str]) -> tuple[Model, list[str]]:
    """``model`` with ``NAME=VALUE`` pairs replacing its fields; returns the names set."""
    fields = {f.name: f for f in dataclasses.fields(Model)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in fields:
            raise ValueError(
                f"--assume {pair!r}: expected NAME=VALUE, NAME one of {', '.join(fields)}"
            )
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"--assume {pair!r}: {text!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"--assume {pair!r}: must be a finite number >= 0")
        changes[name] = int(value) if fields[name].type in ("int", int) else value
    return dataclasses.replace(model, **changes), list(changes)


# --- the report -------------------------------------------------------------------------------


def report(
    figures: Mapping[str, Figure], model: Model, load: Load, needs: Needs, loadavg: str
) -> list[str]:
    lines = [f"load: {load.products:,} products, {load.users:,} extension users"]
    lines.append(f"machine: {os.cpu_count()} cores shared with other work; load average {loadavg}")
    lines.append("unit costs:")
    for f in dataclasses.fields(Units):
        value, source = figures[f.name]
        lines.append(f"  {f.name} = {value:,.3f}  [{source}]")
    lines.append("from the code:")
    for name, source in CODE_SOURCES.items():
        lines.append(f"  {name} = {getattr(model, name):g}  [{source}]")
    lines.append("assumed:")
    for name, reason in ASSUMPTIONS.items():
        lines.append(f"  {name} = {getattr(model, name):g}  [{reason}]")
    n = needs
    lines += [
        "needs:",
        f"  tiers: {n.subscribed_products / 1e6:,.1f} M subscribed every "
        f"{model.subscribed_interval_s / 3600:g} h, {n.viewed_products / 1e6:,.1f} M viewed "
        f"every {model.viewed_interval_s / 3600:g} h, {n.tail_products / 1e6:,.1f} M tail "
        f"every {model.tail_interval_s / DAY_S:g} d",
        f"  crawls: {n.scheduled_crawls_per_s:,.0f}/s scheduled "
        f"({n.scheduled_crawls_per_s * DAY_S / 1e6:,.1f} M/day), {n.requests_per_s:,.0f} "
        "requests/s with verification and retries",
        f"  proxy IPs: {n.ips:,} (one request per "
        f"{model.response_s + model.proxy_interval_s + model.politeness_margin_s:g} s each: "
        "round trip held + interval + margin) -- limited by politeness",
        f"  crawler cores: {n.crawler_cores:,} (parse + Scrapy per page); at "
        f"PRICEWATCH_CRAWL_CONCURRENCY={model.crawl_concurrency} that is "
        f"{n.crawler_processes_at_concurrency:,} processes, mostly waiting: raise the "
        "concurrency so that cores, not slots, bound the fleet",
        f"  bandwidth: {n.bandwidth_gbps:.2f} Gbit/s in (gzip pages) -- limited by pages/s",
        f"  observations: {n.observations_per_s:,.0f}/s "
        f"({n.observations_per_s * DAY_S / 1e6:,.0f} M/day), ingest cores {n.ingest_cores}",
        f"  ClickHouse: {n.clickhouse_tb_per_year:.2f} TB/year of history per copy, plus "
        f"{n.clickhouse_catalogue_tb:.2f} TB of per-product rows; {n.clickhouse_shards} "
        f"shard(s) x {model.replicas} replicas = {n.clickhouse_nodes} nodes (disk for "
        f"{model.retention_years:g} years at {model.clickhouse_node_tb:g} TB/node, or peak "
        "inserts, whichever needs more)",
        f"  Redis: {n.redis_gb:.1f} GB = frontier window {n.frontier_tasks / 1e6:,.2f} M tasks "
        f"({model.frontier_window_s / 3600:g} h of work; PRICEWATCH_SCHEDULER_FRONTIER_MAX must "
        f"allow it) + {n.stream_partitions} stream partitions x {model.stream_maxlen:,} kept "
        f"entries; {n.redis_nodes} node(s)",
        f"  PostgreSQL: {n.subscriptions / 1e6:,.1f} M subscriptions, {n.postgres_gb:.1f} GB; "
        "a primary and a replica",
        f"  API: {n.api_req_per_s_mean:,.0f} req/s mean, {n.api_req_per_s_peak:,.0f} peak -> "
        f"{n.api_processes} processes (one core each; {model.api_miss_share:.0%} of charts "
        "computed)",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=500_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--units", type=Path, help="unit costs from a previous --save-units")
    parser.add_argument("--save-units", type=Path, help="write the unit costs used here")
    parser.add_argument(
        "--assume",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another value for an assumption or a value of the code (a field of Model)",
    )
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument(
        "--quick", action="store_true", default=True, help="short runs (default, ~3 min)"
    )
    speed.add_argument("--full", action="store_true", help="the benchmarks' own run lengths")
    args = parser.parse_args(argv)
    if args.products < 0 or args.users < 0:
        parser.error("--products and --users must not be negative")

    if args.units:
        try:
            figures = read_units(args.units)
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
        loadavg = "(not measured: figures from a file)"
    else:
        at_start = os.getloadavg()
        figures = measure(FULL if args.full else QUICK)
        loadavg = (
            f"(1, 5, 15 min) {' '.join(f'{x:.2f}' for x in at_start)} at the start, "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end"
        )
    if args.save_units:
        args.save_units.write_text(
            json.dumps({k: {"value": v, "source": s} for k, (v, s) in figures.items()}, indent=2)
            + "\n",
            encoding="utf-8",
        )
    try:
        model, overridden = with_assumptions(model_from_code(), args.assume)
    except ValueError as exc:
        parser.error(str(exc))
    load = Load(args.products, args.users)
    needs = derive(units_of(figures), load, model)
    lines = report(figures, model, load, needs, loadavg)
    for name in overridden:
        lines = [
            f"{line}  (set by --assume)" if line.startswith(f"  {name} = ") else line
            for line in lines
        ]
    print("\n".join(lines))
    print(last_line(needs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
