"""How long the dashboard's event loop stalls: a probe that asks to wake every 20 ms and
records how late it wakes.

A key press waits for the loop like this probe does, so its lateness is what a timer
feels: a loop blocked for 300 ms wakes the probe up to 300 ms late. :class:`LoopLag` keeps
the lateness of the last minute (the longest and the p99) and the longest since start; the
Health screen shows :meth:`LoopLag.line` ("UI loop: longest stall 34 ms (last min),
120 ms since start, p99 8 ms") and ``benchmarks/bench_pty`` reads it from there.

A stall is either a long loop step (the loop thread busy: cut that step) or the loop
thread waiting for a core (2 busy cores, the simulator and the hub on them). So each
wake-up also notes how much CPU the loop thread used since the previous one
(``time.thread_time``: the probe runs on the loop's thread), and :meth:`LoopLag.cpu_line`
gives it for the longest stall of the last minute: "UI loop CPU: the longest stall's
84 ms between wake-ups held 12 ms of the loop thread's CPU" is mostly waiting.

Pure asyncio; the clocks and the timer are injected so that a test can drive it without
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
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        self.interval = interval
        self.window = window
        self.clock = clock  # the loop's own clock (asyncio's is time.monotonic)
        self.schedule = schedule  # None: the running loop's call_later
        self.cpu = cpu  # the loop thread's CPU time
        self.longest_ever = 0.0  # seconds
        self.samples = 0
        # (woke at, seconds late, seconds since the previous wake-up, loop-thread CPU in them)
        self._recent: deque[tuple[float, float, float, float]] = deque()
        self._asked = 0.0
        self._armed_at = 0.0
        self._armed_cpu = 0.0
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
        self._armed_at = self.clock()
        self._armed_cpu = self.cpu()
        self._asked = self._armed_at + self.interval
        self._handle = self.schedule(self.interval, self._woke)

    def _woke(self) -> None:
        now = self.clock()
        self.record(now - self._asked, now, now - self._armed_at, self.cpu() - self._armed_cpu)
        self._arm()

    def record(self, late: float, now: float, span: float = math.nan, cpu: float = math.nan) -> None:
        """One wake-up ``late`` seconds late at ``now``; ``span`` seconds after the previous
        one, ``cpu`` of them on the loop thread's CPU (nan: not known)."""
        late = max(0.0, late)
        self.samples += 1
        self.longest_ever = max(self.longest_ever, late)
        self._recent.append((now, late, span, cpu))
        self._forget(now)

    def _forget(self, now: float) -> None:
        recent = self._recent
        while recent and recent[0][0] < now - self.window:
            recent.popleft()

    def recent(self, now: float | None = None) -> list[float]:
        """Lateness (seconds) of the wake-ups of the last ``window``."""
        self._forget(self.clock() if now is None else now)
        return [sample[1] for sample in self._recent]

    def longest(self, now: float | None = None) -> float:
        """The longest stall of the last ``window`` (seconds; 0 without samples)."""
        return max(self.recent(now), default=0.0)

    def longest_cpu(self, now: float | None = None) -> tuple[float, float, float] | None:
        """The longest stall of the last ``window`` as (seconds late, seconds since the
        wake-up before it, loop-thread CPU in them); None without samples."""
        self._forget(self.clock() if now is None else now)
        if not self._recent:
            return None
        _, late, span, cpu = max(self._recent, key=lambda sample: sample[1])
        return late, span, cpu

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

    def cpu_line(self, now: float | None = None) -> str:
        """The Health screen's second line: was the longest stall the loop thread busy
        (CPU close to the span) or waiting for a core (little CPU)? "" without it."""
        worst = self.longest_cpu(now)
        if worst is None or math.isnan(worst[2]):
            return ""
        _, span, cpu = worst
        return (
            f"UI loop CPU: the longest stall's {span * 1000:.0f} ms between wake-ups "
            f"held {cpu * 1000:.0f} ms of the loop thread's CPU"
        )
