"""Fixtures for the tests of the ``pricewatch`` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import up


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment the command runs in: a data dir under tmp_path, a free API port,
    and no PRICEWATCH_ settings of the machine's."""
    return up.environment(tmp_path / "data")
