"""Every labelled page of the shared Amazon corpus, every field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.parsing import parse_page
from crawler.parsing.evaluate import compare
from tests.conftest import CORPUS_DIR


def _entries() -> list[dict]:
    truth = CORPUS_DIR / "truth.json"
    if not truth.exists():
        return []
    return json.loads(truth.read_text(encoding="utf-8"))


@pytest.mark.corpus
@pytest.mark.parametrize("entry", _entries(), ids=lambda e: Path(e["file"]).stem)
def test_corpus_page(corpus_dir: Path, entry: dict) -> None:
    body = (corpus_dir / entry["file"]).read_bytes()
    page = parse_page(body, f"https://www.{entry['marketplace']}/")
    wrong = [(field, expected, got) for field, expected, got, ok in compare(entry, page) if not ok]
    assert wrong == []
