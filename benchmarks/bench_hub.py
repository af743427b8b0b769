"""The viewer's loop while a hub ingests a 50,000-athlete race: the longest stall.

A 50,000-athlete marathon two hours in (``racetui sim --kind road --speed 60 --skip
7200``, its own process) feeds an embedded hub (a forked child, BBT push, journal on);
the viewer's loop holds the replica and a UI tick (``pipeline.drain()`` every 0.15 s,
what the dashboard does before drawing) and a loop-lag probe: a task that asks to wake
every 5 ms and records how late it wakes. The same for a 50,000-athlete v1.1 feed
(``--kind triathlon``, journal on), polled once a second: each poll is a full message.

Reported: the longest stall and p99 while loading and while live, the time to the first
athletes and to the whole field in the replica (wall clock, and the CPU seconds the hub
and the viewer had used by then: on a shared machine the wall clock is mostly waiting for
a CPU), the frames and athletes per second the replica applies, and the peak RSS of the
viewer and of the hub. Drawing is not included (bench_pty measures key→frame in a real
terminal).

Usage: python -m benchmarks.bench_hub [--smoke] [--athletes N] [--live S]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Measurement, in_fresh_interpreter, percentile, print_table
from benchmarks.simproc import SimProcess, peak_rss_mb

PROBE = 0.005


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (nan when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LagProbe:
    """How late the loop wakes a 5 ms sleeper, and how much of that lateness was this
    thread's own CPU work (the rest is the OS running other processes: on a shared
    2-core machine that is most of the wall-clock lateness)."""

    def __init__(self) -> None:
        self.phase = "loading"
        self.by_phase: dict[str, list[float]] = {"loading": [], "live": []}
        self.cpu_by_phase: dict[str, list[float]] = {"loading": [], "live": []}
        # the garbage collector's passes in this process (CPU time, generation): part of a stall
        self.gc_by_phase: dict[str, list[tuple[float, int]]] = {"loading": [], "live": []}
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self.gc_by_phase[self.phase].append((time.thread_time() - self._gc_started, info["generation"]))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            cpu = time.thread_time()
            await asyncio.sleep(PROBE)
            late = loop.time() - start - PROBE
            self.by_phase[self.phase].append(max(0.0, late))
            self.cpu_by_phase[self.phase].append(time.thread_time() - cpu)


async def follow(
    make_sources: Any, athletes: int, live: float, journal_dir: Path, feeder: int | None = None
) -> dict[str, Any]:
    """``feeder``: the pid of the process that stands in for the timing system (the
    simulator, the v1.1 file's writer), whose CPU from the spawn to the whole field is
    reported: on this machine it competes with the hub and the viewer for the two cores."""
    from racetui.hub.local import LocalHub
    from racetui.hub.replica import ReplicaPipeline

    started = time.perf_counter()
    cpu_started = time.process_time()
    feeder_started = nan = float("nan")
    if feeder is not None:
        feeder_started = cpu_seconds(feeder)
    hub = LocalHub.start(make_sources)
    pipeline = ReplicaPipeline()
    probe = LagProbe()
    result: dict[str, Any] = {
        "first": nan,
        "full": nan,
        "first_cpu": (nan, nan),
        "full_cpu": (nan, nan),
        "feeder_cpu": nan,
    }

    def count() -> int:
        return sum(len(s.entries) for s in pipeline.engine.races.values())

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.15)
            pipeline.drain()

    gc.callbacks.append(probe.on_gc)
    tasks = [
        asyncio.create_task(probe.run()),
        asyncio.create_task(tick()),
        asyncio.create_task(hub.run(pipeline)),
    ]
    try:
        deadline = time.perf_counter() + 600
        said = time.perf_counter()
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            n = count()
            if time.perf_counter() - said > 5:
                said = time.perf_counter()
                health = hub.sources[0].health
                frames = hub.replica.frames if hub.replica else 0
                print(f"  … {n:,} athletes, {frames} frames, {health.messages} messages", file=sys.stderr)
            if n and result["first"] != result["first"]:
                result["first"] = time.perf_counter() - started
                result["first_cpu"] = (cpu_seconds(hub.process.pid), time.process_time() - cpu_started)
            if n >= athletes:
                result["full"] = time.perf_counter() - started
                result["full_cpu"] = (cpu_seconds(hub.process.pid), time.process_time() - cpu_started)
                if feeder is not None:
                    result["feeder_cpu"] = cpu_seconds(feeder) - feeder_started
                break
        probe.phase = "live"
        frames_before = hub.replica.frames if hub.replica else 0
        await asyncio.sleep(live)
        result["live_frames_per_s"] = ((hub.replica.frames if hub.replica else 0) - frames_before) / live
        result["viewer_rss"] = peak_rss_mb(os.getpid())
        result["hub_rss"] = peak_rss_mb(hub.process.pid)
        result["probe"] = probe.by_phase
        result["cpu"] = probe.cpu_by_phase
        result["gc"] = probe.gc_by_phase
        result["errors"] = list(pipeline.errors[-3:])
    finally:
        gc.callbacks.remove(probe.on_gc)
        for task in tasks:
            task.cancel()
        hub.close()
    return result


def scenario(kind: str, athletes: int, live: float) -> list[Measurement]:
    from racetui.sources.journal import Journal

    if kind == "v1.1" and athletes > 5000:
        return file_feed_scenario(athletes, live)
    sim_kind = "road" if kind == "bbt" else "triathlon"
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimProcess(
            "--kind",
            sim_kind,
            "--athletes",
            str(athletes),
            "--speed",
            "60",
            "--skip",
            "7200",
            "--countdown",
            "5",
        ) as sim,
    ):
        journal_dir = Path(tmp)

        def make_sources() -> list[Any]:
            journal = Journal(journal_dir / f"{kind}.jsonl.gz", source=kind)
            if kind == "bbt":
                from racetui.sources.bbt import BBTSource

                return [BBTSource(sim.base_url, journal=journal)]
            from racetui.sources.feed import FeedSource

            return [FeedSource(sim.feed_url, interval=1.0, journal=journal)]

        r = asyncio.run(follow(make_sources, athletes, live, journal_dir, sim.proc.pid))
    return rows_of(r, f"{kind} {athletes:,}")


def file_feed_scenario(athletes: int, live: float) -> list[Measurement]:
    """The simulator's triathlons stop at 5,000 athletes: a bigger v1.1 feed is a file that
    another process keeps replacing with the next message each second (``bench_v11
    --write-feed``), read by ``racetui feed``'s source like any feed, journal on."""

    from benchmarks.simproc import v11_feed
    from racetui.sources.feed import FeedSource
    from racetui.sources.journal import Journal

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.json"
        with v11_feed(path, athletes) as writer:

            def make_sources() -> list[Any]:
                journal = Journal(Path(tmp) / "v11.jsonl.gz", source="v1.1")
                return [FeedSource(str(path), interval=1.0, journal=journal)]

            r = asyncio.run(follow(make_sources, athletes, live, Path(tmp), writer.pid))
    return rows_of(r, f"v1.1 file {athletes:,}")


def rows_of(r: dict[str, Any], label: str) -> list[Measurement]:
    rows = []
    for phase in ("loading", "live"):
        lags = [x * 1000 for x in r["probe"][phase]]
        cpu = [x * 1000 for x in r["cpu"][phase]]
        if lags:
            rows.append(
                Measurement(
                    f"hub: viewer loop stall while {phase} ({label}, journal on), wall",
                    max(lags),
                    percentile(lags, 99),
                    "ms (max, p99)",
                    "",
                    f"{len(lags)} probes of {PROBE * 1000:.0f} ms; includes waiting for a CPU",
                )
            )
            rows.append(
                Measurement(
                    f"hub: viewer loop stall while {phase} ({label}, journal on), own CPU",
                    max(cpu),
                    percentile(cpu, 99),
                    "ms (max, p99)",
                    "<= 50",
                    "the loop's own work between two probe wake-ups",
                )
            )
            passes = r["gc"][phase]
            longest = max(passes, default=(0.0, -1))
            spent = sum(took for took, _ in passes)
            rows.append(
                Measurement(
                    f"hub: viewer's longest garbage collection while {phase} ({label})",
                    longest[0] * 1000,
                    None,
                    "ms",
                    "",
                    f"generation {longest[1]}, CPU time; {len(passes)} passes, {spent * 1000:.0f} ms in all",
                )
            )
    rows += [
        Measurement(f"hub: first athletes in the replica ({label})", r["first"], None, "s", "", "from spawn"),
        Measurement(
            f"hub: CPU by the first athletes, hub / viewer ({label})",
            r["first_cpu"][0],
            r["first_cpu"][1],
            "s (hub, viewer)",
            "",
            "CPU seconds each process used from spawn",
        ),
        Measurement(f"hub: whole field in the replica ({label})", r["full"], None, "s", "", "from spawn"),
        Measurement(
            f"hub: CPU by the whole field, hub / viewer ({label})",
            r["full_cpu"][0],
            r["full_cpu"][1],
            "s (hub, viewer)",
            "",
            "CPU seconds each process used from spawn",
        ),
        Measurement(
            f"hub: the feeding process's CPU by the whole field ({label})",
            r["feeder_cpu"],
            None,
            "s",
            "",
            "the timing system's stand-in, from spawn: not the hub's, but on the same cores",
        ),
        Measurement(f"hub: peak RSS, viewer ({label})", r["viewer_rss"], None, "MB", "<= 250", ""),
        Measurement(f"hub: peak RSS, hub process ({label})", r["hub_rss"], None, "MB", "<= 250", ""),
    ]
    if r["errors"]:
        rows.append(
            Measurement(f"hub: errors shown ({label})", len(r["errors"]), None, "", "", r["errors"][-1][:60])
        )
    return rows


def measure(smoke: bool = False, athletes: int = 50_000, live: float = 20.0) -> list[Measurement]:
    """Each kind in a fresh interpreter: the peak RSS is a high-water mark, and a v1.1 run
    after the BBT one in the same process (its hub forked from it) counted the BBT field's
    pages too (viewer 268 / hub 333 MB against 177 / 241 alone)."""
    if smoke:
        athletes, live = 300, 2.0
    rows: list[Measurement] = []
    for kind in ("bbt", "v1.1"):
        rows += in_fresh_interpreter(scenario, kind, athletes, live)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--athletes", type=int, default=50_000)
    parser.add_argument("--live", type=float, default=20.0)
    parser.add_argument("--only", choices=["bbt", "v1.1"])
    args = parser.parse_args()
    if args.only:
        athletes, live = (300, 2.0) if args.smoke else (args.athletes, args.live)
        print_table(scenario(args.only, athletes, live))
    else:
        print_table(measure(args.smoke, args.athletes, args.live))


if __name__ == "__main__":
    main()
