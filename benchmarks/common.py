"""Shared helpers for benchmark scripts: timing stats and one result format.

Every ``benchmarks/bench_*.py`` exposes ``measure(smoke: bool) -> list[Measurement]`` and a
``main()`` that prints them; ``benchmarks/run.py`` (``make bench``) collects them all into
one table and ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


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
