"""Chart API under load: 64 concurrent clients over 1,000 products with 2 years of history.

Loads the history into an embedded chDB (columnar inserts through PriceStore), serves
the real app with uvicorn in a thread of this process (the process that owns chDB, as
``pricewatch up`` does), and drives it with ``wrk`` (Debian's; one client thread in its
own process, C, so the load generator takes little CPU from the server). Prints:

1. all-miss: every request names a new window, so each is computed from the rollups;
2. the same 90-day daily chart computed in-process from the rollups and from prices_raw
   without rollups (sequential query latency, no HTTP);
3. cold charts, the browser extension's usual request (a random product page: its
   1-year chart, ``period=1y``): every request names a product nobody asked for yet,
   so nothing is cached anywhere in front of chDB. A separate catalogue of
   ``--cold-products`` products (tracked for 14 days to 2 years, so young products take
   the change-points path) serves it. Each product is asked for once: wrk stops when
   its share is answered. First as fast as 64 connections go (the capacity), then at
   ``--cold-rate`` req/s offered with Poisson arrivals (the latency at that load);
4. a realistic mix: Zipf-popular products, four periods, a warmed cache and price
   changes invalidating one product's cache per second; the hit ratio is printed.

The mix runs twice with wrk: as fast as 64 connections go (throughput; latency there is
just connections / throughput), then at 1,000 req/s offered: requests start at the
times of a Poisson process (independent users), on whichever of the 64 connections is
free (wrk from Debian has no fixed-rate mode; its Lua script keeps the schedule). The
last line is ``history_p50_ms=A history_p99_ms=B req_per_s=C`` for the 1,000 req/s run,
then ``cold_p99_ms=D cold_req_per_s=E``: D is the p99 of the cold run at ``--cold-rate``
offered, E the cold capacity (closed loop). Each cold run also prints what its
ClickHouse queries did: how many of each kind, the misses each answered, how long each
took, and the share of the run a query was running. Like every wrk figure here, latency
is measured from when a request is sent, not from when it was due.

    .venv/bin/python bench/api.py [--products 1000] [--seconds 15] [--connections 64]
                                  [--rate 1000] [--mix-only] [--cold-products 4000]
                                  [--cold-rate 300] [--cold-only]
                                  [--chart-queries 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/api.py`, this file's directory comes first on sys.path and the
# file itself would shadow the `api` package: the repository root takes its place (and
# makes `bench.common` importable).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import dataclasses  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import redis  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402

from api.app import create_app  # noqa: E402
from api.metrics import CACHE_HIT, CACHE_MEMORY, CACHE_MISS  # noqa: E402
from api.server import serve  # noqa: E402
from bench.common import chdb_store, p50_p99, scratch  # noqa: E402
from pricewatch.history import DAY_MS, HOUR_MS, Granularity, RollupRow, fill_buckets  # noqa: E402
from pricewatch.keys import Keys  # noqa: E402
from pricewatch.models import Availability, Product  # noqa: E402
from pricewatch.settings import load_settings  # noqa: E402
from pricewatch.storage.clickhouse import PRICE_COLUMNS, PriceStore  # noqa: E402
from pricewatch.storage.redis import drop_histories  # noqa: E402
from pricewatch.storage.sql import migrate_sql  # noqa: E402

KEYS = Keys(prefix="bench:")
DATABASE = "bench_api"
PERIODS = ("7d", "30d", "90d", "1y")
# the cold catalogue's products, numbered apart from the main catalogue's
COLD_FIRST = 900_000_000


def asin_of(i: int) -> str:
    return f"B{i:09d}"


def load_history(
    store: PriceStore,
    products: int,
    now_ms: int,
    seed: int = 7,
    *,
    first_index: int = 0,
    min_age_days: int = 730,
) -> int:
    """Two years per product (or, with ``min_age_days``, from that many days to two
    years): a crawl every ~8 h with jitter, a price change now and then."""
    rng = random.Random(seed)
    total = 0
    columns: dict[str, list[object]] = {name: [] for name in PRICE_COLUMNS}
    catalogue = []
    for i in range(first_index, first_index + products):
        asin = asin_of(i)
        age_days = 730 if min_age_days >= 730 else rng.randint(min_age_days, 730)
        start = now_ms - age_days * DAY_MS
        price = rng.randint(500, 50_000)
        at = start + rng.randint(0, 8 * HOUR_MS)
        while at < now_ms - HOUR_MS:
            if rng.random() < 0.05:
                price = max(100, int(price * rng.uniform(0.8, 1.2)))
            out = rng.random() < 0.01
            for name, value in zip(
                PRICE_COLUMNS,
                (
                    "us",
                    asin,
                    "buybox",
                    at,
                    None if out else price,
                    "USD",
                    "out_of_stock" if out else "in_stock",
                    "crawler",
                    "",
                ),
                strict=True,
            ):
                columns[name].append(value)
            at += 8 * HOUR_MS + rng.randint(-HOUR_MS, HOUR_MS)
        catalogue.append(
            Product(
                market="us",
                asin=asin,
                title=f"Product {i}",
                currency="USD",
                last_price=price,
                availability=Availability.IN_STOCK,
                first_seen=start,
                last_seen=now_ms - HOUR_MS,
            )
        )
        if len(columns["asin"]) >= 200_000:
            total += store.insert_prices(columns)
            columns = {name: [] for name in PRICE_COLUMNS}
    total += store.insert_prices(columns)
    store.upsert_products(catalogue)
    return total


def merge_parts(store: PriceStore) -> None:
    # a long-running server has merged its parts long ago; a fresh bulk load has not
    for table in ("prices_raw", "prices_hourly", "prices_daily", "prices_latest", "products"):
        store.client.command(f"OPTIMIZE TABLE {store.database}.{table} FINAL")


def raw_history(store: PriceStore, asin: str, start_ms: int, end_ms: int) -> list[object]:
    """The 90-day daily chart straight from prices_raw (no rollups), same semantics."""
    first = start_ms - start_ms % DAY_MS
    result = store.client.query(
        f"""
        SELECT toUInt16(toDate(observed_at)) AS d, min(price), max(price),
               argMax(ifNull(price, -1), observed_at)
        FROM {store.database}.prices_raw
        WHERE market = 'us' AND asin = {{asin:String}} AND series = 'buybox'
          AND observed_at >= fromUnixTimestamp64Milli({{lo:Int64}}, 'UTC')
          AND observed_at < fromUnixTimestamp64Milli({{hi:Int64}}, 'UTC')
        GROUP BY d ORDER BY d
        """,
        parameters={"asin": asin, "lo": first, "hi": end_ms},
    )
    rows = [
        RollupRow(d * DAY_MS, lo, hi, None if last == -1 else last)
        for d, lo, hi, last in result.result_rows
    ]
    opening = store.price_before("us", asin, "buybox", first)
    return fill_buckets(
        rows, start_ms=start_ms, end_ms=end_ms, granularity=Granularity.DAILY, opening=opening
    )


def server_cpu_s() -> float:
    """CPU seconds this process (the API and its embedded chDB) has used so far; wrk
    runs in a process of its own."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_queries(fn, asins: list[str]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for asin in asins:
        t0 = time.perf_counter()
        fn(asin)
        times.append((time.perf_counter() - t0) * 1000)
    return p50_p99(times)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, script: str, seconds: int, connections: int) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests/s) from wrk --latency."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(f.name).unlink()
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))

    def ms(text: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(number) * _UNITS[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{out}")
    return ms(lat["50"]), ms(lat["99"]), rps


def mix_paths(products: int, seed: int = 11, samples: int = 50_000) -> list[str]:
    rng = random.Random(seed)
    weights = [1 / (i + 1) ** 1.1 for i in range(products)]
    picks = rng.choices(range(products), weights=weights, k=samples)
    # most chart loads use the default window; a few switch to another one
    periods = rng.choices(PERIODS, weights=(0.05, 0.7, 0.15, 0.1), k=samples)
    return [
        f"/products/{asin_of(i)}/price?market=us&period={period}"
        for i, period in zip(picks, periods, strict=True)
    ]


def pacing_script(rate: float) -> str:
    """wrk Lua whose ``delay()`` starts requests at the times of a Poisson process of
    ``rate`` per second (independent users), each on a free connection."""
    # wrk's delay() returns whole milliseconds before a connection's next request;
    # the schedule is kept in the one Lua state of wrk's one thread, on a monotonic
    # clock read through LuaJIT's FFI, so truncation and slow responses do not
    # drift the offered rate.
    return f"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} pw_timespec;
int clock_gettime(int clock, pw_timespec *t);
]]
local clock = ffi.new("pw_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local mean_gap_ms = {1000 / rate:.6f}
local due = nil
delay = function()
  local now = now_ms()
  if due == nil then due = now end
  due = due - mean_gap_ms * math.log(1 - math.random())
  local wait = due - now
  if wait < 0 then return 0 end
  return wait
end
"""


def mix_script(paths: list[str], rate: float = 0.0) -> str:
    """Cycles through ``paths``. With ``rate``, requests start at the times of a
    Poisson process of that many per second (``pacing_script``); without it, every
    connection sends its next request at once."""
    table = ",".join(f'"{p}"' for p in paths)
    pacing = pacing_script(rate) if rate else ""
    return f"""{pacing}
local paths = {{{table}}}
local n = #paths
local i = 0
wrk.headers["X-Pricewatch-Client"] = "web"
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i * 7919) % n + 1])
end
"""


def miss_script(products: int, now_ms: int) -> str:
    # a new explicit start on every request: a new cache field, always computed
    return f"""
local i = 0
request = function()
  i = i + 1
  local asin = string.format("B%09d", i % {products})
  local start = {now_ms - 90 * DAY_MS} + i
  return wrk.format("GET", "/products/" .. asin .. "/price?granularity=daily&start=" .. start)
end
"""


def cold_script(first: int, count: int, spare: int, rate: float = 0.0) -> str:
    """Asks for the 1-year chart of products ``first``.. once each, as the extension
    does on a product page, and ends wrk when ``count`` are answered. The ``spare``
    products after them are what connections still send before the end (at most one
    request in flight per connection): cold too, so nothing warm enters the figures.
    With ``rate``, Poisson arrivals (``pacing_script``)."""
    pacing = pacing_script(rate) if rate else ""
    # wrk's main thread sleeps for the whole --duration and then reports; a SIGINT to
    # it (its thread id is the process id) wakes it to report at once, over the time
    # actually taken
    return f"""{pacing}
local ffi = require("ffi")
ffi.cdef[[
int getpid(void);
int tgkill(int tgid, int tid, int sig);
]]
local i = 0
local answered = 0
wrk.headers["X-Pricewatch-Client"] = "extension"
request = function()
  local n = {first} + i % {count + spare}
  i = i + 1
  return wrk.format("GET", string.format("/products/B%09d/price?market=us&period=1y", n))
end
response = function(status, headers, body)
  answered = answered + 1
  if answered == {count} then
    wrk.thread:stop()
    local pid = ffi.C.getpid()
    ffi.C.tgkill(pid, pid, 2)
  end
end
"""


def invalidate(url: str, products: int, per_s: float, stop: threading.Event) -> None:
    """Price changes: what ingest does to the changed product's cached histories."""
    client = redis.Redis.from_url(url)
    rng = random.Random(3)
    while not stop.wait(1 / per_s):
        pipe = client.pipeline()
        drop_histories(pipe, KEYS, [("us", asin_of(rng.randrange(products)))])
        pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="offered requests/s of the open-loop run (the last line)",
    )
    parser.add_argument(
        "--mix-only",
        action="store_true",
        help="skip the all-miss, in-process and cold measures (steps 1 to 3)",
    )
    parser.add_argument(
        "--cold-only",
        action="store_true",
        help="only the cold measures (step 3): no main catalogue, all-miss or mix",
    )
    parser.add_argument(
        "--cold-products",
        type=int,
        default=4000,
        help="products of the cold catalogue: about a third for the capacity run, "
        "the rest for the run at --cold-rate (each product is asked for once)",
    )
    parser.add_argument(
        "--cold-rate",
        type=float,
        default=300.0,
        help="offered requests/s of the cold run with Poisson arrivals",
    )
    parser.add_argument(
        "--chart-queries",
        type=int,
        default=1,
        help="chart queries that run at once (PRICEWATCH_API_CHART_QUERIES), each on a "
        "chDB handle of its own",
    )
    # price changes across the 1,000 products: one a second is each product changing
    # every ~17 minutes, far above what shops do
    parser.add_argument("--changes-per-s", type=float, default=1.0)
    args = parser.parse_args()
    if args.mix_only and args.cold_only:
        raise SystemExit("--mix-only and --cold-only exclude each other")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    with scratch() as (tmp, redis_url):
        now = time.time_ns() // 1_000_000
        store = chdb_store(tmp / "chdb", DATABASE)
        client = store.client
        t0 = time.perf_counter()
        main_products = 0 if args.cold_only else args.products
        rows = load_history(store, main_products, now) if main_products else 0
        print(
            f"loaded {rows} prices for {main_products} products in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        cold = 0 if args.mix_only else args.cold_products
        if cold:
            t0 = time.perf_counter()
            rows = load_history(store, cold, now, seed=13, first_index=COLD_FIRST, min_age_days=14)
            print(
                f"loaded {rows} prices for {cold} cold products (tracked 14 days to "
                f"2 years) in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        merge_parts(store)

        if not (args.mix_only or args.cold_only):
            sample = [asin_of(i) for i in random.Random(5).sample(range(args.products), 200)]
            lo = now - 90 * DAY_MS
            roll = time_queries(
                lambda a: store.history("us", a, "buybox", lo, now, Granularity.DAILY), sample
            )
            raw = time_queries(lambda a: raw_history(store, a, lo, now), sample)
            print(
                f"90d daily chart in-process, sequential: rollups p50={roll[0]:.2f} ms "
                f"p99={roll[1]:.2f} ms; prices_raw without rollups p50={raw[0]:.2f} ms "
                f"p99={raw[1]:.2f} ms",
                flush=True,
            )

        settings = dataclasses.replace(
            load_settings({"PRICEWATCH_DATA_DIR": str(tmp)}),
            key_prefix=KEYS.prefix,
            log_level="WARNING",
            api_chart_queries=args.chart_queries,
            api_clickhouse_threads=max(4, args.chart_queries),
        )
        migrate_sql(settings.database_url)
        port = 18000 + random.randrange(1000)
        app = create_app(
            settings,
            redis_url=redis_url,
            clickhouse_client=client,
            clickhouse_database=DATABASE,
            keys=KEYS,
        )
        stop = threading.Event()
        server = threading.Thread(
            target=serve, args=(app, "127.0.0.1", port, stop, "warning"), daemon=True
        )
        server.start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                redis.Redis.from_url(redis_url).ping()
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)

        if not (args.mix_only or args.cold_only):
            p50, p99, rps = run_wrk(
                base, miss_script(args.products, now), args.seconds, args.connections
            )
            print(
                f"all-miss (computed from rollups): p50={p50:.2f} ms p99={p99:.2f} ms "
                f"req_per_s={rps:.0f}",
                flush=True,
            )

        cold_p99 = cold_rps = float("nan")
        if cold:
            # a third of the cold products measure the capacity, the rest the latency at
            # --cold-rate; each run keeps `connections` spare products for its stop
            spare = args.connections
            first_run = max(1, cold // 3 - spare)
            second_run = cold - first_run - 2 * spare
            if second_run < 1:
                raise SystemExit(f"--cold-products must exceed {4 * spare}")
            cap = 600  # wrk ends itself when its products are answered
            cold_rps = run_cold(
                base,
                f"cold 1y charts, closed loop (wrk, {args.connections} connections, as fast "
                f"as it goes, {first_run} products once each)",
                cold_script(COLD_FIRST, first_run, spare),
                first_run + spare,
                cap,
                args.connections,
            )[2]
            cold_p99 = run_cold(
                base,
                f"cold 1y charts at {args.cold_rate:g} req/s offered (wrk, "
                f"{args.connections} connections, Poisson arrivals, {second_run} products "
                f"once each)",
                cold_script(COLD_FIRST + first_run + spare, second_run, spare, args.cold_rate),
                second_run + spare,
                cap,
                args.connections,
            )[1]

        history = (float("nan"),) * 3 if args.cold_only else measure_mix(base, redis_url, args)
        stop.set()
        server.join(15)
        client.close()
        # the last line; with --cold-only, the history figures are nan
        p50, p99, rps = history
        print(
            f"history_p50_ms={p50:.2f} history_p99_ms={p99:.2f} req_per_s={rps:.0f} "
            f"cold_p99_ms={cold_p99:.2f} cold_req_per_s={cold_rps:.0f}"
        )


def chart_queries() -> dict[str, tuple[float, float, float]]:
    """(queries, misses answered, seconds) so far of each kind of chart-miss query of
    the server in this process (api.metrics)."""

    def total(name: str, kind: str) -> float:
        found = REGISTRY.get_sample_value(f"pricewatch_api_chart_query_{name}", {"kind": kind})
        return found or 0.0

    return {
        kind: (total("reads_count", kind), total("reads_sum", kind), total("seconds_sum", kind))
        for kind in ("lines", "changes", "product")
    }


def run_cold(
    base: str, label: str, script: str, charts: int, cap: int, connections: int
) -> tuple[float, float, float]:
    """One cold run: prints its latency, the server's CPU per chart and what its
    ClickHouse queries did (how many of each kind, the misses each answered, how long
    each took, and the share of the run a query was running: near 100 % the misses
    queue for the store). Returns wrk's (p50 ms, p99 ms, req/s)."""
    cpu, queries, started = server_cpu_s(), chart_queries(), time.perf_counter()
    p50, p99, rps = run_wrk(base, script, cap, connections)
    wall = time.perf_counter() - started
    cpu = server_cpu_s() - cpu
    print(
        f"{label}: p50={p50:.2f} ms p99={p99:.2f} ms req_per_s={rps:.0f}; "
        f"{cpu * 1000 / charts:.2f} ms of server CPU per chart",
        flush=True,
    )
    parts, busy = [], 0.0
    for kind, now in chart_queries().items():
        count, reads, seconds = (n - b for n, b in zip(now, queries[kind], strict=True))
        busy += seconds
        if count:
            parts.append(
                f"{kind} {count:.0f} {'query' if count == 1 else 'queries'} of "
                f"{reads / count:.1f} misses, "
                f"{seconds * 1000 / count:.1f} ms each"
            )
    print(f"  ClickHouse: {'; '.join(parts)}; a query running {busy / wall:.0%} of the run")
    return p50, p99, rps


def measure_mix(base: str, redis_url: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """Step 4, the realistic mix: (p50 ms, p99 ms, req/s) of the run at ``args.rate``."""
    # steady state: every variant computed once (a server that has been up a while)
    redis.Redis.from_url(redis_url).flushdb()
    paths = mix_paths(args.products)
    t0 = time.perf_counter()
    distinct = sorted(set(paths))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: urllib.request.urlopen(base + p, timeout=60).read(), distinct))
    print(f"warmed {len(distinct)} chart variants in {time.perf_counter() - t0:.1f} s", flush=True)

    stop_changes = threading.Event()
    changer = threading.Thread(
        target=invalidate,
        args=(redis_url, args.products, args.changes_per_s, stop_changes),
        daemon=True,
    )
    changer.start()
    p50, p99, rps = run_wrk(base, mix_script(paths), args.seconds, args.connections)
    print(
        f"mix, closed loop (wrk 4.1, 1 thread, {args.connections} connections, as fast "
        f"as it goes): p50={p50:.2f} ms p99={p99:.2f} ms req_per_s={rps:.0f}",
        flush=True,
    )
    counters = (CACHE_MEMORY, CACHE_HIT, CACHE_MISS)
    before = [c._value.get() for c in counters]
    p50, p99, rps = run_wrk(base, mix_script(paths, args.rate), args.seconds, args.connections)
    stop_changes.set()
    memory, hits, misses = (c._value.get() - b for c, b in zip(counters, before, strict=True))
    print(
        f"mix at {args.rate:g} req/s offered (wrk, {args.connections} connections, "
        f"Poisson arrivals): warm cache, "
        f"{args.changes_per_s:g} price changes/s, "
        f"hit ratio {(memory + hits) / max(1, memory + hits + misses):.3f} "
        f"({memory:.0f} from memory, {hits:.0f} from Redis, {misses:.0f} computed)",
        flush=True,
    )
    return p50, p99, rps


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
