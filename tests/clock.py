"""A clock a test moves by hand, read by the code under test in the unit it wants."""

from __future__ import annotations


class ManualClock:
    """Now is ``ms`` (epoch milliseconds) until the test changes it; calling the clock
    gives ms, ``seconds()`` gives seconds (like ``time.time``)."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def seconds(self) -> float:
        return self.ms / 1000
