"""A one-shot export of a 50,000-athlete BBT race: the source in-process, or through a hub.

``racetui export --connect URL`` loads the master once over REST into its own engine and
prints the csv (what the command does). The other way runs the BBT source in an embedded
hub (a forked child, as the dashboard does: the same REST sync, then push) and exports
from a replica fed by its frames, until the replica holds every athlete. (The polling
source, ``poll=True``, refuses a 50,000-athlete field mid-race: ``/results/latest`` has
more than the 5,000 pages it reads.) Both against one ``racetui sim --kind road
--athletes N`` (its own process), each in a fresh process of its own; the wall time is
from spawning that process to its exit (csv to /dev/null), the peak RSS is VmHWM (for the
hub way: the exporting process and the hub child).

Usage: python -m benchmarks.bench_export [--smoke] [--athletes N] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import Measurement, print_table
from benchmarks.simproc import ROOT, SimProcess, peak_rss_mb


def via_hub(url: str, athletes: int) -> dict[str, float]:
    """The hub way, in this process: returns its figures (the csv goes to /dev/null)."""
    from racetui.commands.export import _csv
    from racetui.config import load_config
    from racetui.hub.local import LocalHub
    from racetui.hub.replica import ReplicaPipeline
    from racetui.sources.build import SourceKind, build_source

    config = load_config(None)
    hub = LocalHub.start(lambda: [build_source(SourceKind.BBT, url, config, journal=False)])
    pipeline = ReplicaPipeline()

    async def follow() -> None:
        task = asyncio.create_task(hub.run(pipeline))
        try:
            while sum(len(s.entries) for s in pipeline.engine.races.values()) < athletes:
                if task.done():
                    raise RuntimeError("the hub ended")
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(follow())
        hub_rss = peak_rss_mb(hub.process.pid)
    finally:
        hub.close()
    with open(os.devnull, "w") as out:
        out.write(_csv(list(pipeline.engine.races.values()), None))
    return {"rss": peak_rss_mb(os.getpid()), "hub_rss": hub_rss}


def timed(args: list[str]) -> tuple[float, str]:
    """(wall seconds from spawn to exit, the child's last stdout line)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        timeout=900,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} exited {proc.returncode}")
    lines = proc.stdout.strip().splitlines()
    return wall, lines[-1] if lines else ""


def measure(smoke: bool = False, athletes: int = 50_000, runs: int = 3) -> list[Measurement]:
    if smoke:
        athletes, runs = 300, 1
    rows: list[Measurement] = []
    with SimProcess(
        "--kind", "road", "--athletes", str(athletes), "--speed", "1", "--skip", "900", "--countdown", "5"
    ) as sim:
        rss = json.loads(timed(["-m", "benchmarks.bench_export", "--direct", sim.base_url])[1])["rss"]
        direct: list[float] = []
        hubbed: list[tuple[float, dict[str, Any]]] = []
        for _ in range(runs):
            wall, _last = timed(["-m", "racetui", "export", "--connect", sim.base_url, "--format", "csv"])
            direct.append(wall)
            wall, last = timed(
                ["-m", "benchmarks.bench_export", "--via-hub", sim.base_url, "--athletes", str(athletes)]
            )
            hubbed.append((wall, json.loads(last)))
    label = f"BBT {athletes:,}"
    walls = sorted(direct)
    rows.append(
        Measurement(
            f"export: in-process source ({label}), wall",
            walls[len(walls) // 2],
            walls[-1],
            "s (median, max)",
            "",
            "spawn to exit, csv",
        )
    )
    rows.append(Measurement(f"export: in-process source ({label}), peak RSS", rss, None, "MB", "", "VmHWM"))
    walls = sorted(w for w, _ in hubbed)
    rows.append(
        Measurement(
            f"export: through an embedded hub ({label}), wall",
            walls[len(walls) // 2],
            walls[-1],
            "s (median, max)",
            "",
            "spawn to exit, csv",
        )
    )
    figures = hubbed[-1][1]
    rows.append(
        Measurement(
            f"export: through an embedded hub ({label}), peak RSS",
            figures["rss"],
            None,
            "MB",
            "",
            f"the exporting process; its hub child {figures['hub_rss']:.0f} MB more",
        )
    )
    return rows


def direct_rss(url: str) -> dict[str, float]:
    """The in-process way, in this process (for its VmHWM): what racetui export does."""
    from racetui.commands.export import _csv
    from racetui.config import load_config
    from racetui.sources.base import Pipeline
    from racetui.sources.build import SourceKind, build_source

    pipeline = Pipeline()
    bbt = build_source(SourceKind.BBT, url, load_config(None), poll=True)
    asyncio.run(bbt.sync_once(pipeline))
    with open(os.devnull, "w") as out:
        out.write(_csv(list(pipeline.engine.races.values()), None))
    return {"rss": peak_rss_mb(os.getpid())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--athletes", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--via-hub", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--direct", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.via_hub:
        print(json.dumps(via_hub(args.via_hub, args.athletes)))
        return
    if args.direct:
        print(json.dumps(direct_rss(args.direct)))
        return
    print_table(measure(args.smoke, args.athletes, args.runs))


if __name__ == "__main__":
    main()
