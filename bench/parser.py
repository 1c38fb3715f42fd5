"""Parser throughput on one core: every corpus page, over and over.

    python bench/parser.py [CORPUS_DIR] [--seconds N]

Then the peak memory one parse takes, page by page: each page is parsed in a
child forked for it, and the child's peak resident size above what it held
before parsing is that page's cost (the HTML engine allocates outside Python,
where tracemalloc cannot see). The last line is ``parser_pages_per_s=N``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DEFAULT_CORPUS, corpus_pages, parse_rate  # noqa: E402
from crawler.parsing import parse_page  # noqa: E402


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _parse_once(body: bytes, url: str, out: mp.SimpleQueue) -> None:  # type: ignore[type-arg]
    before = _peak_kib()
    parse_page(body, url)
    out.put(_peak_kib() - before)


def peak_mib_per_page(pages: list[tuple[bytes, str]]) -> list[float]:
    """Peak memory of one parse for each page, in MiB."""
    context = mp.get_context("fork")
    # touch the parser once so that imports and caches are not counted
    parse_page(pages[0][0], pages[0][1])
    peaks = []
    for body, url in pages:
        out = context.SimpleQueue()
        child = context.Process(target=_parse_once, args=(body, url, out))
        child.start()
        child.join()
        peaks.append(out.get() / 1024)
    return peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    try:
        corpus = corpus_pages(args.corpus)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pages = [(page.body, page.url) for page in corpus]
    megabytes = sum(len(body) for body, _ in pages) / 1e6
    peaks = peak_mib_per_page(pages)
    rate, parsed = parse_rate(corpus, args.seconds)
    elapsed = parsed / rate
    print(f"pages={len(pages)} corpus_mb={megabytes:.1f} rounds={parsed // len(pages)}")
    print(f"seconds={elapsed:.2f} mb_per_s={megabytes * parsed / len(pages) / elapsed:.1f}")
    print(
        f"peak_mib_per_page median={statistics.median(peaks):.1f} max={max(peaks):.1f}"
        f" page_mb_max={max(len(body) for body, _ in pages) / 1e6:.1f}"
    )
    print(f"parser_pages_per_s={rate:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
