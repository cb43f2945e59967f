"""Time as a dependency, so every expiry boundary can be tested with a frozen clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> float: ...


# The builtin itself, not a function around it: every token check reads the clock,
# and a Python frame costs about as much as the revocation feed's whole lookup.
# time-machine freezes it all the same (it patches the C function, not the name).
system_clock: Clock = time.time


class FrozenClock:
    """A clock that only moves when told to (tests, benchmarks)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
