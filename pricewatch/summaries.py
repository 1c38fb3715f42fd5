"""Counts a role sums up in one log line now and then, rather than a line per event (pure).

A busy role that logged every batch or every push would bury the lines that matter;
one that logged nothing would leave a terminal silent while work flows. A
:class:`Tally` adds counts as they happen and hands them back at most once per
``every_s`` seconds, and only when something was counted.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(eq=False)
class Tally:
    every_s: float = 60.0
    _counts: dict[str, int] = dataclasses.field(default_factory=dict)
    _since: float | None = None

    def add(self, now: float, **counts: int) -> dict[str, int] | None:
        """Count ``counts`` at ``now`` (seconds); the totals since the last report
        when one is due (then counting starts again), else None."""
        if self._since is None:
            self._since = now
        for name, n in counts.items():
            self._counts[name] = self._counts.get(name, 0) + n
        if now - self._since < self.every_s:
            return None
        if not any(self._counts.values()):
            # a quiet stretch is not part of the next report's minute
            self._counts, self._since = {}, now
            return None
        due, self._counts, self._since = self._counts, {}, now
        return due
