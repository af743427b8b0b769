"""What the TV delay costs the viewer: frames through a replica directly, and through the
delay's follower (decode once, note the latest passings, hold, apply) with and without the
live replica publishing reads.

An in-process hub (``racetui.hub.core.Hub``) loads a field and emits a snapshot, then one
frame per passing batch (a 300-passings-a-second push is a handful of frames a second).
Measured: CPU time per frame applied (snapshot and live frames), the follower's overhead
over the plain replica, and the memory the second (live) replica adds (tracemalloc, the
engines' Python objects only). No sockets and no drawing: the UI tick and the terminal
are measured by bench_hub and bench_pty.

Usage: python -m benchmarks.bench_tv_delay [--smoke] [--athletes N]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import UTC, datetime

from benchmarks.common import Measurement, print_table
from racetui.hub.core import Hub
from racetui.hub.delay import DelayedFollower, TvDelay
from racetui.hub.replica import Replica, ReplicaPipeline
from racetui.model import Event, Participant, Passing, Race, TimingPoint

T0 = datetime(2026, 6, 6, 9, 0, tzinfo=UTC)


def _frames(athletes: int, batches: int, batch: int) -> tuple[list[bytes], list[bytes]]:
    frames: list[bytes] = []
    hub = Hub([], frames.append)
    points = [TimingPoint(id=f"p{i}", race_id="r", name=f"km {i}", order=i) for i in range(1, 6)]
    hub.pipeline.load_event(Event(id="e", name="bench", races=[Race(id="r", name="10k", points=points)]))
    hub.pipeline.add_participants(
        Participant(bib=str(n), race_id="r", first_name="A", last_name=f"N{n}")
        for n in range(1, athletes + 1)
    )
    hub.flush()
    snapshot = list(hub.snapshot())
    frames.clear()
    for b in range(batches):
        start = (b * batch) % athletes
        point = f"p{1 + (b * batch) // athletes % 5}"
        hub.pipeline.apply_passings(
            Passing(race_id="r", bib=str(start + k + 1), point_id=point, time_ms=600_000 + b * 1000 + k)
            for k in range(min(batch, athletes - start))
        )
        hub.flush()
    return snapshot, list(frames)


def _plain(snapshot: list[bytes], live: list[bytes]) -> tuple[float, float]:
    replica = Replica()
    t = time.process_time()
    for data in snapshot:
        replica.handle(data)
    loaded = time.process_time() - t
    t = time.process_time()
    for data in live:
        replica.handle(data)
    return loaded, time.process_time() - t


def _delayed(snapshot: list[bytes], live: list[bytes], *, with_live: bool) -> tuple[float, float]:
    delay = TvDelay(lambda: T0)
    follower = DelayedFollower(Replica(), delay, live=Replica() if with_live else None)

    def through(frames: list[bytes]) -> float:
        t = time.process_time()
        for data in frames:
            for _ in follower.live_steps(follower.push(data)):
                pass
            follower.pump()
        return time.process_time() - t

    return through(snapshot), through(live)


def _replica_mb(snapshot: list[bytes]) -> float:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    replica = Replica(ReplicaPipeline())
    for data in snapshot:
        replica.handle(data)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / 1e6


def measure(smoke: bool = False, athletes: int | None = None) -> list[Measurement]:
    athletes = athletes or (500 if smoke else 10_000)
    batches, batch = (20, 50) if smoke else (400, 100)
    snapshot, live = _frames(athletes, batches, batch)
    plain = _plain(snapshot, live)
    held = _delayed(snapshot, live, with_live=False)
    both = _delayed(snapshot, live, with_live=True)
    per = 1000 / len(live)
    rows = [
        Measurement(f"snapshot of {athletes:,}: plain replica", plain[0] * 1000, None, "ms CPU"),
        Measurement(f"snapshot of {athletes:,}: through the delay", held[0] * 1000, None, "ms CPU"),
        Measurement(f"snapshot of {athletes:,}: delay + live replica", both[0] * 1000, None, "ms CPU"),
        Measurement(f"live frame ({batch} passings): plain replica", plain[1] * per, None, "ms CPU"),
        Measurement(f"live frame ({batch} passings): through the delay", held[1] * per, None, "ms CPU"),
        Measurement(f"live frame ({batch} passings): delay + live replica", both[1] * per, None, "ms CPU"),
        Measurement(f"memory of the live replica ({athletes:,} athletes)", _replica_mb(snapshot), None, "MB"),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--athletes", type=int)
    args = parser.parse_args()
    print_table(measure(args.smoke, args.athletes))


if __name__ == "__main__":
    main()
