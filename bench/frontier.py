"""Frontier throughput: tasks pushed, popped and acked per second through one Redis.

Starts its own redis-server on a free loopback port (or uses ``--redis-url``, a
Redis Cluster's ``redis+cluster://`` too), pushes N tasks in batches from this
process while several popper processes pop in batches and ack, and checks that
every task was popped exactly once. The last line is ``frontier_tasks_per_s=N``.

    .venv/bin/python bench/frontier.py [--tasks 200000] [--poppers 3] [--batch 500]
        [--partitions 1] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import socket
import subprocess
import tempfile
import time
from multiprocessing.synchronize import Event

import redis

from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.models import CrawlTask, TaskKind
from pricewatch.storage.redis import connect, is_cluster_url

KEYS = Keys(prefix="bench:")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise
            time.sleep(0.05)
    client.close()
    return proc, url


def popper(
    url: str, partitions: int, name: str, batch: int, pushed_all: Event, results: mp.Queue
) -> None:
    client = connect(url)
    frontier = Frontier(client, KEYS, partitions=partitions)
    seen: list[str] = []
    while True:
        tasks = frontier.pop(name, batch)
        if tasks:
            frontier.ack(name, tasks)
            seen += [t.asin or "" for t in tasks]
        elif pushed_all.is_set() and frontier.size() == 0:
            break
        else:
            time.sleep(0.001)
    client.close()
    results.put(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--poppers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="tasks per pop and per push")
    parser.add_argument("--verify-share", type=float, default=0.01)
    parser.add_argument("--partitions", type=int, default=1, help="frontier partitions")
    parser.add_argument(
        "--redis-url", help="an existing Redis or Redis Cluster (emptied of bench: keys)"
    )
    args = parser.parse_args()

    every = max(1, round(1 / args.verify_share)) if args.verify_share > 0 else 0
    tasks = [
        CrawlTask(
            market="us",
            asin=f"B{i:09d}",
            kind=TaskKind.VERIFY if every and i % every == 0 else TaskKind.PRODUCT,
            priority=float(i % 1000),
        )
        for i in range(args.tasks)
    ]
    with tempfile.TemporaryDirectory(prefix="pricewatch-bench-") as workdir:
        proc, url = (None, args.redis_url) if args.redis_url else start_redis(workdir)
        if args.redis_url:
            scratch = connect(url)
            for key in list(scratch.scan_iter(match=f"{KEYS.prefix}*")):
                scratch.delete(key)
            scratch.close()
        try:
            ctx = mp.get_context("spawn")
            pushed_all = ctx.Event()
            results: mp.Queue = ctx.Queue()
            workers = [
                ctx.Process(
                    target=popper,
                    args=(url, args.partitions, f"w{i}", args.batch, pushed_all, results),
                )
                for i in range(args.poppers)
            ]
            for w in workers:
                w.start()
            client = connect(url)
            frontier = Frontier(client, KEYS, partitions=args.partitions)
            frontier.pop("warm-up", 1)  # loads the scripts before the clock starts
            started = time.perf_counter()
            for i in range(0, len(tasks), args.batch):
                frontier.push(tasks[i : i + args.batch])
            pushed_all.set()
            popped = [a for _ in workers for a in results.get(timeout=600)]
            elapsed = time.perf_counter() - started
            for w in workers:
                w.join()
            if len(popped) != args.tasks or len(set(popped)) != args.tasks:
                raise SystemExit(
                    f"lost or duplicated tasks: {len(popped)} popped, "
                    f"{len(set(popped))} distinct, {args.tasks} pushed"
                )
            if frontier.size() or frontier.inflight_size():
                raise SystemExit("frontier not empty after the run")
            client.close()
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    where = "a Redis Cluster" if is_cluster_url(url) else "one Redis"
    print(
        f"{args.tasks} tasks, {args.poppers} poppers, batch {args.batch}, "
        f"{args.partitions} partitions on {where}: "
        f"push+pop+ack in {elapsed:.2f} s"
    )
    print(f"frontier_tasks_per_s={args.tasks / elapsed:.0f}")


if __name__ == "__main__":
    main()
