"""Publishing from the dashboard: the longest event-loop stall while a v1.1 message is built.

The dashboard's live publisher (``TriathlonPublisher.run``, started by the Publish screen's
first confirmed publish) builds a message of the whole race on every change. A probe task
on the same asyncio loop wakes every 5 ms; its longest gap while one message is built and
queued is the stall a key press would wait for. Two ways:

* ``preview_off_loop`` (the Publish screen's ``p``: the message built and compared with the
  last upload, for the question it asks) and ``publish_off_loop`` (the live publisher): the
  engine read on the loop 2,000 athletes a step (``SnapshotReader``), the message
  formatted, encoded, hashed (and compared or queued) in a worker thread;
* ``publish`` (``Publishing.publish_now`` and ``publish --once``): all of it on the loop.

The engine is ``bench_v11``'s mid-race field (50,000 athletes x 10 points; athletes spread
over the course), its heap frozen as the dashboard freezes a big field's; the outbox is a
temporary one, nothing is sent. Beside each figure the CPU time of the build
(``process_time``: the loop's and the thread's), the loop thread's own CPU time
(``thread_time``: what no other process on a shared machine adds to), the longest pass of
the garbage collector meanwhile (it holds the GIL, so one in the worker thread stalls the
loop too) and the load average.

Usage: python -m benchmarks.bench_publish [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

from benchmarks.bench_v11 import fill
from benchmarks.common import Measurement, print_table
from racetui.util.heap import HeapFreezer


class _Collector:
    """The longest garbage-collector pass while armed (any thread's)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._start = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, _info: dict[str, object]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._start = now
        else:
            self.longest = max(self.longest, now - self._start)

    def close(self) -> None:
        gc.callbacks.remove(self._on_gc)


async def _longest_stall(work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Seconds of the longest gap between a 5 ms probe's wake-ups while ``work`` runs, and
    the CPU seconds the loop's thread spent meanwhile (``time.thread_time``)."""
    longest = 0.0
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.02)
    start = time.thread_time()
    try:
        await work()
    finally:
        loop_cpu = time.thread_time() - start
        done.set()
        await task
    return longest, loop_cpu


def measure_size(athletes: int, points: int, reps: int) -> list[Measurement]:
    from racetui.publish.outbox import Outbox, PublishService
    from racetui.publish.triathlon import TriathlonPublisher

    label = f"{athletes:,}x{points}"
    engine, _upcoming = fill(athletes, points)
    engine.settle()
    # the dashboard's heap once a big field loaded (RaceApp's HeapFreezer): the engine out
    # of the collector's full passes, which otherwise walk it in the middle of a build
    HeapFreezer()(athletes)
    rows = []
    with tempfile.TemporaryDirectory() as data:
        os.environ["RACETUI_DATA_DIR"] = data
        outbox = Outbox()
        try:
            publisher = TriathlonPublisher(
                engine, PublishService(outbox, []), event_id="1", programs={"r": "900"}
            )

            async def preview() -> None:
                await publisher.preview_off_loop(["r"], resend_failed=True)

            async def off_loop() -> None:
                await publisher.publish_off_loop("r")

            async def on_loop() -> None:
                publisher.publish(["r"], force=True)

            for name, work in (
                ("preview_off_loop (the Publish screen's p)", preview),
                ("publish_off_loop (live publisher)", off_loop),
                ("publish (on the loop)", on_loop),
            ):
                stalls, cpu, loop_cpu, passes = [], [], [], []
                for _ in range(reps):
                    publisher._last_hash.clear()  # each build is queued: the full path
                    collector = _Collector()
                    start = time.process_time()
                    try:
                        stall, own = asyncio.run(_longest_stall(work))
                    finally:
                        collector.close()
                    passes.append(collector.longest * 1e3)
                    cpu.append((time.process_time() - start) * 1e3)
                    stalls.append(stall * 1e3)
                    loop_cpu.append(own * 1e3)
                rows.append(
                    Measurement(
                        f"publish {label}: longest loop stall, {name}",
                        statistics.median(stalls),
                        None,
                        "ms",
                        "<= 50" if "off_loop" in name else "",
                        f"longest {max(stalls):.0f} ms; build {statistics.median(cpu):.0f} ms CPU, "
                        f"{statistics.median(loop_cpu):.0f} ms of it the loop's thread; "
                        f"longest gc pass {max(passes):.0f} ms; "
                        f"{reps} builds; load {os.getloadavg()[0]:.1f}",
                    )
                )
        finally:
            outbox.close()
    return rows


def measure(smoke: bool = False) -> list[Measurement]:
    if smoke:
        return measure_size(300, 5, reps=2)
    return measure_size(2_000, 17, reps=7) + measure_size(50_000, 10, reps=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    print_table(measure(args.smoke))


if __name__ == "__main__":
    main()
