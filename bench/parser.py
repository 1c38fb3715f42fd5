"""Parser throughput on one core: every corpus page, over and over.

    python bench/parser.py [CORPUS_DIR] [--seconds N]

The last line is ``parser_pages_per_s=N``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.parsing import parse_page  # noqa: E402

DEFAULT_CORPUS = Path(
    os.environ.get("PRICEWATCH_CORPUS")
    or Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "amazon"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    truth_path = args.corpus / "truth.json"
    if not truth_path.is_file():
        print(f"error: {truth_path} not found", file=sys.stderr)
        return 2
    pages = [
        ((args.corpus / e["file"]).read_bytes(), f"https://www.{e['marketplace']}/")
        for e in json.loads(truth_path.read_text(encoding="utf-8"))
    ]
    megabytes = sum(len(body) for body, _ in pages) / 1e6
    parsed = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        for body, url in pages:
            parse_page(body, url)
        parsed += len(pages)
    elapsed = time.perf_counter() - start
    print(f"pages={len(pages)} corpus_mb={megabytes:.1f} rounds={parsed // len(pages)}")
    print(f"seconds={elapsed:.2f} mb_per_s={megabytes * parsed / len(pages) / elapsed:.1f}")
    print(f"parser_pages_per_s={parsed / elapsed:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
