"""World Triathlon v1.1: read (parse + validate + diff) against ``orjson.loads``, and build.

The messages are generated with racetui's own builder from an engine filled mid-race
(athletes spread over the course). Two successive messages differ by a pack of athletes
crossing their next timing point; the reader alternates between them, so every timed read
parses a whole message, validates and diffs it, and builds Result objects for the pack only
(what a live feed costs every couple of seconds). gc stays enabled, as in the app.

Target (issue 9): read within 1.5x of ``orjson.loads`` of the same bytes.

Usage: python -m benchmarks.bench_v11 [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from benchmarks.common import Measurement, percentile, print_table, summarize
from racetui.engine import Engine, Pipeline, RaceStandings
from racetui.model import Participant, Passing, Race, RaceKind, Result, TimingPoint
from racetui.publish.v11 import build_bytes
from racetui.sources.v11 import SLICE, V11Reader

PACK = 20  # athletes crossing a point between two messages


def _times(rng: random.Random, points: int) -> list[int]:
    pace = rng.uniform(240_000, 600_000)
    total = 0
    out = []
    for _ in range(points):
        total += int(pace * rng.uniform(0.9, 1.15))
        out.append(total)
    return out


def fill(athletes: int, points: int, seed: int = 11) -> tuple[Engine, list[tuple[int, str, int]]]:
    """An engine mid-race at a race clock where the field is spread over the course.

    Returns the engine and the passings still to come, in time order.
    """
    rng = random.Random(seed)
    race = Race(
        id="r",
        name="Elite",
        kind=RaceKind.TRIATHLON,
        points=[
            TimingPoint(id=str(i), race_id="r", name=f"Point {i}", order=i) for i in range(1, points + 1)
        ],
        external_id="900",
    )
    engine = Engine()
    engine.upsert_race(race)
    plans = {str(n): _times(rng, points) for n in range(1, athletes + 1)}
    clock = statistics.median(plan[-1] for plan in plans.values()) * 0.6
    results = []
    upcoming: list[tuple[int, str, int]] = []
    for n, (bib, plan) in enumerate(plans.items(), 1):
        passed = [t for t in plan if t <= clock]
        upcoming.extend((t, bib, i) for i, t in enumerate(plan) if t > clock)
        results.append(
            Result(
                race_id="r",
                bib=bib,
                participant=Participant(
                    bib=bib, race_id="r", id=str(100_000 + n), name=f"Athlete {n}", country="NOR"
                ),
                splits={str(i + 1): t for i, t in enumerate(passed)},
            )
        )
    engine.apply_results("r", results)
    upcoming.sort()
    return engine, upcoming


def advance(engine: Engine, upcoming: list[tuple[int, str, int]]) -> None:
    """The next pack of athletes crosses their next point (in race-clock order)."""
    pack, upcoming[:] = upcoming[:PACK], upcoming[PACK:]
    engine.apply_passings(Passing(race_id="r", bib=bib, point_id=str(i + 1), time_ms=t) for t, bib, i in pack)


def message(standings: RaceStandings) -> bytes:
    return build_bytes(
        standings,
        event_id="1",
        event_name="Bench",
        prog_id="900",
        prog_name="Elite",
        status="live",
        sandbox=True,
        date=datetime.now(UTC),
        start_time=datetime(2024, 6, 1, 8, 0, tzinfo=UTC),
        wetsuit=False,
        air_temp=21.0,
        water_temp=19.5,
    )


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_size(athletes: int, points: int, reps: int) -> list[Measurement]:
    label = f"{athletes:,}x{points}"
    engine, upcoming = fill(athletes, points)
    standings = engine.race("r")
    builds = []
    for _ in range(max(1, min(reps, 5))):
        builds.append(_timed(lambda: message(standings)))
    first = message(standings)
    advance(engine, upcoming)
    second = message(standings)

    reader = V11Reader()
    start, start_cpu = time.perf_counter(), time.process_time()
    update = reader.read(first)
    cold, cold_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    start_cpu = time.process_time()
    Engine().apply_snapshot(update.race, update.results)
    snapshot_cpu = time.process_time() - start_cpu
    del update
    # The feed source's way: the same message handed to an engine in slices (leaders first);
    # the first board needs only the first slice in the engine.
    pipeline = Pipeline()
    marks: list[float] = []
    pipeline.listeners.append(lambda _changes: marks.append(time.process_time()))
    start_cpu = time.process_time()
    asyncio.run(V11Reader().feed(first, pipeline))
    sliced_cpu = time.process_time() - start_cpu
    first_slice_cpu = marks[0] - start_cpu
    del pipeline
    loads: list[float] = []
    reads: list[float] = []
    ratios: list[float] = []
    changed: list[int] = []
    for i in range(reps):
        data = second if i % 2 == 0 else first
        start = time.perf_counter()
        orjson.loads(data)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        update = reader.read(data)
        took = time.perf_counter() - start
        loads.append(loaded)
        reads.append(took)
        ratios.append(took / loaded)
        changed.append(len(update.changed))
    load_med, load_p95 = summarize(loads)
    read_med, read_p95 = summarize(reads)
    build_med, build_p95 = summarize(builds)
    size = f"{len(second) / 1e6:.1f} MB"
    return [
        Measurement(f"v1.1 orjson.loads {label}", load_med * 1e3, load_p95 * 1e3, "ms", note=size),
        Measurement(
            f"v1.1 read (parse+validate+diff) {label}",
            read_med * 1e3,
            read_p95 * 1e3,
            "ms",
            note=f"{statistics.median(changed):.0f} athletes changed per message",
        ),
        Measurement(
            f"v1.1 read / orjson.loads {label}",
            read_med / load_med,
            percentile(ratios, 95),
            "x",
            target="<= 1.5",
        ),
        Measurement(
            f"v1.1 first message (every athlete) {label}",
            cold * 1e3,
            None,
            "ms",
            note=f"once per feed; {cold_cpu * 1e3:.0f} ms of CPU",
        ),
        Measurement(
            f"v1.1 first message into an engine {label}, CPU",
            snapshot_cpu * 1e3,
            None,
            "ms",
            note="apply_snapshot of every athlete read",
        ),
        Measurement(
            f"v1.1 first message in slices {label}: first slice in an engine, CPU",
            first_slice_cpu * 1e3,
            None,
            "ms",
            note=f"V11Reader.feed, {SLICE:,} athletes a slice: the first board's share",
        ),
        Measurement(
            f"v1.1 first message in slices {label}: all of it in an engine, CPU",
            sliced_cpu * 1e3,
            None,
            "ms",
            note="read + apply of every slice, no Result kept",
        ),
        Measurement(
            f"v1.1 build_bytes {label}", build_med * 1e3, build_p95 * 1e3, "ms", target="< 50 (2,000x17)"
        ),
    ]


def measure(smoke: bool = False) -> list[Measurement]:
    if smoke:
        return measure_size(300, 5, reps=6)
    return measure_size(2_000, 17, reps=41) + measure_size(50_000, 10, reps=9)


def write_feed(path: Path, athletes: int, points: int = 10, every: float = 1.0) -> None:
    """Keep ``path`` a live v1.1 message of ``athletes`` (the simulator's triathlons stop at
    5,000): written whole, then every ``every`` seconds the next pack crosses a point and
    the file is replaced at once (a reader never sees half a message). Runs until killed."""
    engine, upcoming = fill(athletes, points)
    standings = engine.race("r")
    part = path.with_suffix(".part")
    while True:
        part.write_bytes(message(standings))
        os.replace(part, path)
        print("written", flush=True)
        time.sleep(every)
        if upcoming:
            advance(engine, upcoming)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny run of about two seconds")
    parser.add_argument("--write-feed", type=Path, help="keep this file a live v1.1 message (until killed)")
    parser.add_argument("--athletes", type=int, default=50_000)
    args = parser.parse_args()
    if args.write_feed:
        write_feed(args.write_feed, args.athletes)
        return
    print_table(measure(args.smoke))


if __name__ == "__main__":
    main()
