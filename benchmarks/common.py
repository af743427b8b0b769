"""Shared helpers for benchmark scripts: timing stats and one result format.

Every ``benchmarks/bench_*.py`` exposes ``measure(smoke: bool) -> list[Measurement]`` and a
``main()`` that prints them; ``benchmarks/run.py`` (``make bench``) collects them all into
one table and ``benchmarks/results/latest.json``. :func:`race_in_progress` gives the UI
benchmarks a seeded race from the product's own simulator.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Measurement:
    name: str
    median: float
    p95: float | None
    unit: str
    target: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), percentile(values, 95)


def in_fresh_interpreter(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a newly spawned interpreter: peak-RSS figures are
    high-water marks, so a run must not start from a process other benchmarks grew (a
    forked child's, and ``wait4``'s, peak includes its parent's at the fork)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def repeat(fn: Callable[[], object], times: int) -> list[float]:
    """Seconds per call, ``times`` calls."""
    out = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def print_table(rows: list[Measurement]) -> None:
    width = max((len(r.name) for r in rows), default=10)
    print(f"{'measure':<{width}}  {'median':>12}  {'p95':>12}  {'unit':<14} {'target':<16} note")
    for r in rows:
        p95 = "" if r.p95 is None else f"{r.p95:12.4g}"
        print(f"{r.name:<{width}}  {r.median:12.4g}  {p95:>12}  {r.unit:<14} {r.target:<16} {r.note}")


# ------------------------------------------------------------ a race in progress
@dataclass
class RaceInProgress:
    """A field loaded into a pipeline at ``now``, the passings still to come (the stream a
    benchmark feeds) and a source that stands for the timing system."""

    pipeline: Any
    source: Any
    passings: list[Any]
    now: datetime


class _Loaded:
    """A source whose data is loaded already: connected, and nothing more arrives by
    itself (the benchmark feeds the stream)."""

    def __init__(self, name: str) -> None:
        from racetui.sources.base import FeedState, SourceHealth, SourceMode

        self.name = name
        self.health = SourceHealth(
            name=name, mode=SourceMode.REPLAY, state=FeedState.CONNECTED, clock=lambda: 0.0
        )
        self.health.last_message = 0.0

    async def run(self, pipeline: Any) -> None:
        import asyncio

        await asyncio.Event().wait()


def race_in_progress(
    athletes: int, *, stream: int, minutes: float = 45.0, seed: int = 7, variant: str = "half"
) -> RaceInProgress:
    """The simulator's seeded race (one mass start, ``athletes`` strong) ``minutes`` after
    the gun: every passing up to then applied to a fresh pipeline, the next ``stream``
    passings kept for the benchmark. Only passings and the race clock go in (no statuses or
    incidents): what the dashboard does with a stream of passings is what is measured."""
    from racetui.model import ClockState
    from racetui.sim import RaceSpec, SimConfig, generate_event
    from racetui.sim.generate import PASS
    from racetui.sources.base import Pipeline

    config = SimConfig(
        races=(RaceSpec(variant, entries=athletes, start_mode="mass"),),
        seed=seed,
        countdown=0,
        clock="manual",
    )
    sim = generate_event(config)
    now_ms = int(minutes * 60_000)
    races = []
    for sim_race in sim.races:
        race = sim_race.race
        assert race.clock is not None
        clock = race.clock.model_copy(
            update={"state": ClockState.LIVE, "gun_time": sim.time_of_day(sim_race.gun_at_ms)}
        )
        races.append(race.model_copy(update={"clock": clock}))
    pipeline = Pipeline()
    pipeline.load_event(sim.event.model_copy(update={"races": races}))
    pipeline.add_participants(sim.participants)
    passes = [h for h in sim.schedule if h.kind == PASS]
    done = next((i for i, h in enumerate(passes) if h.at_ms > now_ms), len(passes))
    pipeline.apply_passings(h.passing(sim.epoch) for h in passes[:done])
    upcoming = [h.passing(sim.epoch) for h in passes[done : done + stream]]
    return RaceInProgress(pipeline, _Loaded("sim"), upcoming, sim.time_of_day(now_ms))
