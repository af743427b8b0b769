"""Engine ingest: passings/second into a 50,000-athlete x 10-point field, and one passing's cost.

Usage: python -m benchmarks.bench_engine [--smoke] [--athletes N] [--points N]
"""

from __future__ import annotations

import argparse
import gc
import random
import time

from benchmarks.common import Measurement, print_table, summarize
from racetui.engine import Engine
from racetui.model import Event, Participant, Passing, Race, TimingPoint


def build_field(athletes: int, points: int, seed: int = 7) -> tuple[Engine, list[Passing]]:
    rng = random.Random(seed)
    race = Race(
        id="m",
        name="Marathon",
        points=[TimingPoint(id=f"p{i}", race_id="m", name=f"P{i}", order=i) for i in range(1, points + 1)],
    )
    engine = Engine()
    engine.load_event(Event(id="e", name="Bench", races=[race]))
    engine.add_participants(
        Participant(
            bib=str(b), race_id="m", name=f"Runner {b}", gender="MF"[b % 2], category=f"M{30 + b % 6 * 5}"
        )
        for b in range(1, athletes + 1)
    )
    passings: list[Passing] = []
    for b in range(1, athletes + 1):
        pace = rng.uniform(180_000, 420_000)  # ms per segment
        t = 0.0
        for i in range(1, points + 1):
            t += pace * rng.uniform(0.95, 1.12)
            passings.append(
                Passing.model_construct(race_id="m", bib=str(b), point_id=f"p{i}", time_ms=int(t))
            )
    passings.sort(key=lambda p: p.time_ms)  # arrival order, as at a race
    engine.settle()  # the start list went in as one bulk batch: sort it before the race
    # The loaded field (and here the input) is long-lived: out of the collector's passes,
    # as the hub and the dashboard do once a big field has loaded.
    gc.collect()
    gc.freeze()
    return engine, passings


def _ingest(
    engine: Engine, passings: list[Passing], *, every: float | None = None, batch: int | None = None
) -> tuple[float, float, list[float]]:
    """Apply ``passings`` one push message (one passing) at a time, as the hub's pipeline
    does. ``every``: ``settle(place=False)`` every that many seconds, the hub's
    housekeeping; ``batch``: every that many passings a viewer's UI tick (``settle()``,
    which re-places the passers overall, then one screenful of leaderboard rows).
    Returns (wall s, this process's CPU s, each apply's s)."""
    per_call: list[float] = []
    clock = time.perf_counter
    view = engine.race("m").view()
    start, cpu = clock(), time.process_time()
    last_settle = start
    for n, passing in enumerate(passings, 1):
        t0 = clock()
        engine.apply_passings([passing])
        t1 = clock()
        per_call.append(t1 - t0)
        if every is not None and t1 - last_settle >= every:
            engine.settle(place=False)
            last_settle = clock()
        elif batch is not None and n % batch == 0:
            engine.settle()
            view.rows(0, 36)
    engine.settle(place=every is None)
    return clock() - start, time.process_time() - cpu, per_call


def measure(smoke: bool = False, athletes: int = 50_000, points: int = 10) -> list[Measurement]:
    if smoke:
        athletes, points = 2_000, 5
    label = f"{athletes:,}x{points}"
    engine, passings = build_field(athletes, points)
    wall, cpu, per_call = _ingest(engine, passings, every=0.2)
    median, p95 = summarize(per_call)
    # Rows read per frame: what a leaderboard screen costs once the field is full (the
    # first read also re-places every passer the hub left for it: one merge).
    view = engine.race("m").view()
    t0 = time.perf_counter()
    view.rows(0, 36)
    first_read = time.perf_counter() - t0
    frames = []
    for offset in range(0, len(view), max(1, len(view) // 200)):
        t0 = time.perf_counter()
        view.rows(offset, offset + 36)
        frames.append(time.perf_counter() - t0)
    rows_median, rows_p95 = summarize(frames)
    count = len(passings)
    del engine, passings, view
    # A viewer's replica at 300 passings/s: a UI tick (settle + a screenful) every 60.
    live_engine, live_passings = build_field(athletes, points)
    _, live_cpu, _ = _ingest(live_engine, live_passings, batch=60)
    return [
        Measurement(
            f"engine ingest {label}",
            count / wall,
            None,
            "passings/s",
            ">= 100,000",
            "wall clock; apply_passings per passing, settle every 0.2 s, as the hub",
        ),
        Measurement(
            f"engine ingest {label}, CPU",
            count / cpu,
            None,
            "passings/s",
            ">= 100,000",
            "the same per CPU second of this process (robust to a shared machine)",
        ),
        Measurement(
            f"engine ingest {label}, viewer ticks",
            len(live_passings) / live_cpu,
            None,
            "passings/s",
            "",
            "per CPU second; every 60 passings settle + 36 rows read (a replica at 300/s)",
        ),
        Measurement(
            f"engine one passing {label}", median * 1e6, p95 * 1e6, "µs", "<= 10", "apply_passings only"
        ),
        Measurement(
            f"engine first read after {label}",
            first_read * 1e3,
            None,
            "ms",
            "",
            "36 rows, re-placing every passer the hub's settles left (a snapshot's read)",
        ),
        Measurement(f"engine 36 visible rows {label}", rows_median * 1e3, rows_p95 * 1e3, "ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that takes a second")
    parser.add_argument("--athletes", type=int, default=50_000)
    parser.add_argument("--points", type=int, default=10)
    args = parser.parse_args()
    print_table(measure(args.smoke, args.athletes, args.points))


if __name__ == "__main__":
    main()
