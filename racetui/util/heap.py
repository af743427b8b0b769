"""Keeping a big, long-lived heap out of the garbage collector's full passes.

An engine's entries, keys and sorted lists live as long as the race; with 50,000 athletes
a full collection walks millions of objects and stalls the loop for 100 ms or more. Once
the field is big (``minimum`` athletes), the young generations are collected (cheap) and
everything alive is frozen (``gc.freeze()``, itself a constant-time move): later passes
skip it. That is done again when the field grows (by ``step``, or a quarter when that is
less) and, live, every ``every`` seconds: a race's passings keep making new long-lived
objects (times, the tracker's memory, drawn lines), and without it they pile up in the
old generation until a full pass over them takes 150-200 ms again (measured in the
dashboard on a 50,000-athlete marathon, load 5).

Frozen objects are still freed when nothing refers to them; only a reference cycle that
becomes garbage after it was frozen stays (the young collection before each freeze takes
the cycles that die young, which is nearly all of them).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["HeapFreezer"]


class HeapFreezer:
    def __init__(
        self,
        minimum: int = 5000,
        step: int = 2000,
        every: float | None = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.minimum = minimum
        self.step = step
        self.every = every
        self.clock = clock
        self.frozen_at = 0  # the field's size at the last freeze
        self.last = 0.0  # clock() at the last freeze
        self.freezes = 0

    def due(self, total: int) -> bool:
        if total < self.minimum:
            return False
        if total > self.frozen_at + min(self.step, self.frozen_at // 4):
            return True
        return self.every is not None and self.clock() - self.last >= self.every

    def __call__(self, total: int) -> bool:
        """Freeze if the field of ``total`` athletes grew or it is time; True if it did."""
        if not self.due(total):
            return False
        gc.collect(1)
        gc.freeze()
        self.frozen_at = total
        self.last = self.clock()
        self.freezes += 1
        return True
