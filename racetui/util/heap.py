"""Keeping a big, long-lived heap out of the garbage collector's full passes.

An engine's entries, keys and sorted lists live as long as the race; with 50,000 athletes
a full collection walks millions of objects and stalls the loop for 100 ms or more. Once
the field is big (``minimum`` athletes), the young generations are collected (cheap) and
everything alive is frozen (``gc.freeze()``, itself a constant-time move): later passes
skip it. That is done again when the field grows (by ``step``, or a quarter when that is
less) and after a full pass that was slow (``slow_ms``): live, a race's passings replace
the frozen times and the tracker's memory with new objects, which pile up unfrozen in the
old generation until a full pass over them takes 150-200 ms again (measured in the
dashboard on a 50,000-athlete marathon, load 5). Freezing right after a full pass keeps
the least garbage: it has just been collected.

Frozen objects are still freed when nothing refers to them; only a reference cycle that
becomes garbage after it was frozen stays. So freezing is done on those two signs only,
never on a timer: a hub frozen every 5 s grew from 244 to 333 MB during one 50,000-athlete
v1.1 load (the cycles of its requests and messages, frozen alive).
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

__all__ = ["FullPassHold", "HeapFreezer", "collector_paused"]


class HeapFreezer:
    # Set by the collector's callback when a full pass took longer than ``slow_ms``:
    # one flag per process (the collector is), taken by the next freeze.
    slow_pass: ClassVar[bool] = False
    slow_ms: ClassVar[float] = 10.0
    _started: ClassVar[float] = 0.0
    _watching: ClassVar[bool] = False

    def __init__(self, minimum: int = 5000, step: int = 2000) -> None:
        self.minimum = minimum
        self.step = step
        self.frozen_at = 0  # the field's size at the last freeze
        self.freezes = 0
        HeapFreezer._watch()

    @classmethod
    def _watch(cls) -> None:
        if not cls._watching:
            cls._watching = True
            gc.callbacks.append(cls._on_gc)

    @classmethod
    def _on_gc(cls, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            cls._started = time.perf_counter()
        else:
            cls.note_pass((time.perf_counter() - cls._started) * 1000)

    @classmethod
    def note_pass(cls, ms: float) -> None:
        """A full pass took ``ms``: if slow, the next call freezes."""
        if ms > cls.slow_ms:
            cls.slow_pass = True

    def due(self, total: int) -> bool:
        if total < self.minimum:
            return False
        return HeapFreezer.slow_pass or total > self.frozen_at + min(self.step, self.frozen_at // 4)

    def __call__(self, total: int) -> bool:
        """Freeze if the field of ``total`` athletes grew or a full pass was slow; True if it did."""
        if not self.due(total):
            return False
        gc.collect(1)
        gc.freeze()
        HeapFreezer.slow_pass = False
        self.frozen_at = total
        self.freezes += 1
        return True


class _Pause:
    depth = 0
    was_on = True
    lock = threading.Lock()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection while inside (nested, and from several threads: the last
    one out turns it back on, if it was on). For a worker thread that builds a big message:
    its young objects die young (reference counting frees them), but the snapshot it reads
    lives through the build, and every full pass the churn sets off walks it holding the
    GIL, so the UI loop waits (75-120 ms a pass at 50,000 athletes, one to three a
    message). Reference cycles made meanwhile wait for the next pass after it."""
    with _Pause.lock:
        if _Pause.depth == 0:
            _Pause.was_on = gc.isenabled()
            gc.disable()
        _Pause.depth += 1
    try:
        yield
    finally:
        with _Pause.lock:
            _Pause.depth -= 1
            if _Pause.depth == 0 and _Pause.was_on:
                gc.enable()


class FullPassHold:
    """Full collections held off while a viewer's first load arrives; young ones still run.

    A 50,000-athlete load replaces every athlete's times point by point: the new objects
    outlive the young generations and pile up in the old one, which is never frozen in
    time (the field does not grow, so :class:`HeapFreezer` waits for a slow pass), and the
    collector walked them in a full pass every few seconds: 30-60 ms each, in the middle
    of whatever the dashboard's loop was doing. Held, the young generations keep
    collecting what dies young; at the end of the load everything alive is frozen at once
    (a constant-time move), the heap's long-lived part the load built. Reference cycles
    that became garbage in the old generation meanwhile stay (a viewer's frames and
    records make none; it is the same trade as :class:`HeapFreezer`'s)."""

    HELD = 1 << 30  # full passes every this many young ones: never, in practice
    # One collector per process: the thresholds are saved by the first hold and put back
    # by the last one let go (two viewers in one process, each with its own load).
    _holders: ClassVar[int] = 0
    _saved: ClassVar[tuple[int, int, int] | None] = None

    def __init__(self, most: float = 180.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.most = most  # a load that never says it ended is let go after this (seconds)
        self.clock = clock
        self.held = False
        self._since = 0.0
        self._spent = False  # held for ``most`` already: not again until a load ends

    def _take(self) -> None:
        cls = FullPassHold
        if cls._holders == 0:
            saved = cls._saved = gc.get_threshold()
            gc.set_threshold(saved[0], saved[1], self.HELD)
        cls._holders += 1
        self.held = True
        self._since = self.clock()

    def release(self) -> None:
        """Let go (the thresholds back once no one holds), nothing frozen: a viewer that
        stops following mid-load leaves the process's collector as it was."""
        if not self.held:
            return
        cls = FullPassHold
        self.held = False
        cls._holders -= 1
        if cls._holders == 0 and cls._saved is not None:
            gc.set_threshold(*cls._saved)
            cls._saved = None

    def __call__(self, loading: bool) -> bool:
        """Hold while ``loading``; True when a load has just ended (and the heap is frozen)."""
        if not loading:
            self._spent = False
        elif self.held and self.clock() - self._since > self.most:
            self._spent = True
            loading = False
        if loading and not self.held and not self._spent:
            self._take()
        elif not loading and self.held:
            self.release()
            gc.collect(1)
            gc.freeze()
            HeapFreezer.slow_pass = False
            return True
        return False
