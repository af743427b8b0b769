"""How long the dashboard's event loop stalls: a probe that asks to wake every 20 ms and
records how late it wakes.

A key press waits for the loop like this probe does, so its lateness is what a timer
feels: a loop blocked for 300 ms wakes the probe up to 300 ms late. :class:`LoopLag` keeps
the lateness of the last minute (the longest and the p99) and the longest since start; the
Health screen shows :meth:`LoopLag.line` ("UI loop: longest stall 34 ms (last min),
120 ms since start, p99 8 ms") and ``benchmarks/bench_pty`` reads it from there.

Pure asyncio; the clock and the timer are injected so that a test can drive it without
waiting. Its own cost is one timer callback and a deque append per 20 ms; the loop's
wake-up for it is most of that (about 0.4 % of a core in the dashboard on the 2-core
development machine at load 5: docs/performance.md).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["LoopLag"]


class Handle(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Handle]  # loop.call_later's shape


class LoopLag:
    """Lateness of a periodic wake-up: the loop's stalls, as seen from inside it."""

    def __init__(
        self,
        interval: float = 0.02,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        schedule: Schedule | None = None,
    ) -> None:
        self.interval = interval
        self.window = window
        self.clock = clock  # the loop's own clock (asyncio's is time.monotonic)
        self.schedule = schedule  # None: the running loop's call_later
        self.longest_ever = 0.0  # seconds
        self.samples = 0
        self._recent: deque[tuple[float, float]] = deque()  # (woke at, seconds late)
        self._asked = 0.0
        self._handle: Handle | None = None

    async def run(self) -> None:
        """Wake every ``interval`` until cancelled, recording each lateness. A timer callback
        rather than a sleeping task: no task step and no future per wake-up."""
        loop = asyncio.get_running_loop()
        if self.schedule is None:
            self.schedule = loop.call_later
        self._arm()
        try:
            await loop.create_future()
        finally:
            if self._handle is not None:
                self._handle.cancel()

    def _arm(self) -> None:
        assert self.schedule is not None
        self._asked = self.clock() + self.interval
        self._handle = self.schedule(self.interval, self._woke)

    def _woke(self) -> None:
        now = self.clock()
        self.record(now - self._asked, now)
        self._arm()

    def record(self, late: float, now: float) -> None:
        late = max(0.0, late)
        self.samples += 1
        self.longest_ever = max(self.longest_ever, late)
        self._recent.append((now, late))
        self._forget(now)

    def _forget(self, now: float) -> None:
        recent = self._recent
        while recent and recent[0][0] < now - self.window:
            recent.popleft()

    def recent(self, now: float | None = None) -> list[float]:
        """Lateness (seconds) of the wake-ups of the last ``window``."""
        self._forget(self.clock() if now is None else now)
        return [late for _, late in self._recent]

    def longest(self, now: float | None = None) -> float:
        """The longest stall of the last ``window`` (seconds; 0 without samples)."""
        return max(self.recent(now), default=0.0)

    def p99(self, now: float | None = None) -> float:
        """The 99th percentile of the last ``window``'s lateness (seconds; nan without)."""
        ordered = sorted(self.recent(now))
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]

    def line(self, now: float | None = None) -> str:
        """The Health screen's line."""
        if not self.samples:
            return "UI loop: no stall measured yet"
        now = self.clock() if now is None else now
        minutes = "last min" if self.window == 60 else f"last {self.window:g} s"
        return (
            f"UI loop: longest stall {self.longest(now) * 1000:.0f} ms ({minutes}), "
            f"{self.longest_ever * 1000:.0f} ms since start, p99 {self.p99(now) * 1000:.0f} ms"
        )
