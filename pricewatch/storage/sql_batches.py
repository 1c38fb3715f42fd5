"""Long lists of keys split into statements that each stay under the bind-parameter
limit of both drivers (SQLite's and asyncpg's 32,767)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

# bind parameters per statement: well under 32,767, and short statements
_PARAMETERS = 5_000


def in_batches(keys: Iterable[K], *, parameters_per_key: int = 1) -> Iterator[list[K]]:
    """``keys`` without repeats, in their order, in lists small enough for one ``IN``."""
    unique = list(dict.fromkeys(keys))
    size = max(1, _PARAMETERS // parameters_per_key)
    for start in range(0, len(unique), size):
        yield unique[start : start + size]
