"""The simulator under load: a 50,000-athlete marathon at speed 60, served by ``racetui sim``
in its own process, with one push subscriber and one poller attached.

The server is started mid-race (``--skip``, at the busiest time of a big marathon: about
two hours after the gun, when thousands pass a mat every race minute). After a warm-up,
the server process's CPU time (``/proc/<pid>/stat``: user + system, every thread) is read
over a wall-clock window; its share is CPU seconds per wall second. Meanwhile the
subscriber counts push messages (and checks ``seq`` has no gaps) and the poller asks
``/results/latest``, ``/results/toplist`` and ``/timing/raceclock`` once a second each.

Target (issue 3): the server under one core (< 100 %).

Usage: python -m benchmarks.bench_sim [--smoke] [--seconds 25] [--athletes 50000] [--speed 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from benchmarks.common import Measurement, percentile, print_table

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all threads), from /proc; None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


@dataclass
class Load:
    messages: int = 0
    gaps: int = 0
    closed: str = ""
    polls: list[float] = field(default_factory=list)
    poll_errors: int = 0


async def subscribe(url: str, load: Load, stop: asyncio.Event) -> None:
    try:
        async with connect(url, max_queue=None) as ws:
            last = 0
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                seq = json.loads(raw)["seq"]
                if seq != last + 1:
                    load.gaps += 1
                last = seq
                load.messages += 1
    except Exception as exc:  # the benchmark reports it
        load.closed = f"{type(exc).__name__}: {exc}"


def poll(api: str, finish_point: int, load: Load, stop: threading.Event) -> None:
    """The poller, in its own thread (sync httpx): its latencies are not delayed by the
    subscriber's JSON parsing on the benchmark's event loop."""
    paths = [
        ("/results/latest", {"point_id": finish_point, "page_size": 50}),
        ("/results/toplist", {"race_id": 1, "page_size": 50}),
        ("/timing/raceclock", {"race_id": 1}),
    ]
    with httpx.Client(base_url=api, timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            for path, params in paths:
                begin = time.perf_counter()
                try:
                    response = client.get(path, params=params)
                    response.raise_for_status()
                    load.polls.append(time.perf_counter() - begin)
                except httpx.HTTPError:
                    load.poll_errors += 1
            stop.wait(max(0.0, 1.0 - (time.perf_counter() - started)))


def start_server(athletes: int, speed: float, skip: float) -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [
        sys.executable,
        "-m",
        "racetui",
        "sim",
        "--port",
        "0",
        "--kind",
        "marathon",
        "--athletes",
        str(athletes),
        "--speed",
        str(speed),
        "--countdown",
        "0",
        "--skip",
        str(skip),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"racetui sim exited with {process.wait()}")
        if ": " in line:
            key, _, value = line.partition(": ")
            urls[key.strip()] = value.strip()
        if line.startswith("Ctrl-C"):
            return process, urls


async def run_load(
    athletes: int, speed: float, seconds: float, skip: float, warmup: float
) -> list[Measurement]:
    setup_started = time.perf_counter()
    process, urls = start_server(athletes, speed, skip)
    setup = time.perf_counter() - setup_started
    try:
        load = Load()
        stop = asyncio.Event()
        api = urls["API base"]
        async with httpx.AsyncClient(base_url=api, timeout=30) as client:
            points = (await client.get("/timing/points", params={"page_size": 1000})).json()["data"]
        finish = next(p["id"] for p in points if p["is_finish"])
        stop_polling = threading.Event()
        poller = threading.Thread(target=poll, args=(api, finish, load, stop_polling), daemon=True)
        poller.start()
        tasks = [asyncio.create_task(subscribe(urls["push"], load, stop))]
        await asyncio.sleep(warmup)
        cpu_start, wall_start, messages_start = cpu_seconds(process.pid), time.perf_counter(), load.messages
        load.polls.clear()
        await asyncio.sleep(seconds)
        cpu_end, wall_end, messages_end = cpu_seconds(process.pid), time.perf_counter(), load.messages
        stop.set()
        stop_polling.set()
        await asyncio.gather(*tasks)
        await asyncio.to_thread(poller.join, 15)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    wall = wall_end - wall_start
    label = f"{athletes:,} marathon, speed {speed:g}"
    rows = []
    if cpu_start is not None and cpu_end is not None:
        share = 100.0 * (cpu_end - cpu_start) / wall
        rows.append(
            Measurement(
                f"sim server CPU ({label})",
                share,
                None,
                "% of one core",
                "< 100 %",
                f"over {wall:.0f} s, 1 subscriber + 1 poller",
            )
        )
    else:
        rows.append(
            Measurement(
                f"sim server CPU ({label})",
                float("nan"),
                None,
                "% of one core",
                "< 100 %",
                "no /proc on this system",
            )
        )
    rate = (messages_end - messages_start) / wall
    note = f"seq gaps {load.gaps}" + (f"; closed: {load.closed}" if load.closed else "")
    rows.append(Measurement("sim push messages to one subscriber", rate, None, "msg/s", "", note))
    if load.polls:
        polls_ms = [p * 1000 for p in load.polls]
        rows.append(
            Measurement(
                "sim poll latency (latest/toplist/clock)",
                percentile(polls_ms, 50),
                percentile(polls_ms, 95),
                "ms",
                "",
                f"{len(polls_ms)} requests, {load.poll_errors} errors",
            )
        )
    rows.append(Measurement("sim start (generate + skip ahead)", setup, None, "s", "", f"--skip {skip:g} s"))
    return rows


def measure(
    smoke: bool = False, seconds: float | None = None, athletes: int | None = None, speed: float = 60.0
) -> list[Measurement]:
    if smoke:
        return asyncio.run(run_load(athletes or 5_000, speed, seconds or 2.0, skip=5400, warmup=0.5))
    return asyncio.run(run_load(athletes or 50_000, speed, seconds or 25.0, skip=6600, warmup=3.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="5,000 athletes for about two seconds")
    parser.add_argument(
        "--seconds", type=float, default=None, help="measured wall time (default 25; smoke 2)"
    )
    parser.add_argument("--athletes", type=int, default=None, help="default 50,000 (smoke 5,000)")
    parser.add_argument("--speed", type=float, default=60.0, help="race time per real time (default 60)")
    args = parser.parse_args(argv)
    print_table(measure(args.smoke, args.seconds, args.athletes, args.speed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
