"""Many viewers on one hub over Redis: delay, a late joiner, Redis memory, the hub's CPU.

A 50,000-athlete marathon 20 minutes in, at ten times real speed (``racetui sim --kind
road --skip 1200 --speed 10``, its own process: the field reaching the 5 km point, about
300 passings a second) feeds one
``racetui hub bbt:… --redis …`` (its own process, journal off) writing to a real
``redis-server`` (its own process, no persistence). ``--viewers`` headless viewers (200)
follow it, spread over ``--procs`` processes (4: the machine has 2 cores): each viewer is
a :class:`~racetui.hub.redis.RedisChannel` of its own (its own two Redis connections, the
snapshot, then ``XREAD BLOCK``) that decodes every frame; ``--full`` of them per process
(1) also apply every frame to a replica engine of the whole field, as a dashboard does
(200 full 50,000-athlete replicas would need ~30 GB and more CPU than two cores have).

Reported:
- hub→viewer delay p50/p95: from the hub's ``XADD`` (the stream entry id's milliseconds,
  Redis's clock, the same machine) to the viewer having decoded the frame, or, for the
  full replicas, applied it; over ``--live`` seconds once every viewer holds the snapshot;
- the passings per second the hub sent in that window (counted from the frames);
- a late joiner's time to the whole 50,000-athlete state (``Replica`` through
  ``RedisChannel``, while the hub goes on), split into the snapshot read from Redis, the
  decoding, and applying it to the engine (as the dashboard does, in steps that give the
  loop a turn; and in one held bulk load, as ``export`` does);
- Redis ``used_memory`` / ``used_memory_peak`` (``INFO memory``) and the stream's length;
- the hub's CPU, % of one core (``/proc/<pid>/stat`` over the live window).

Usage: python -m benchmarks.bench_scale [--smoke] [--viewers 200] [--procs 4] [--live 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Measurement, percentile, print_table
from benchmarks.simproc import ROOT, SimProcess, peak_rss_mb

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ processes
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="racetui-bench-redis-")
        self.proc = subprocess.Popen(
            [
                *(exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--dir", self.dir, "--maxclients", "10000"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def info(self) -> dict[str, Any]:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=10)
        try:
            memory = client.info("memory")
            memory["stream_length"] = client.xlen("racetui:stream")
            memory["clients"] = client.info("clients").get("connected_clients")
            return dict(memory)
        finally:
            client.close()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.PIPE,
        text=True,
    )


# ------------------------------------------------------------------ viewers
def timed_channel(url: str) -> Any:
    """A RedisChannel that remembers each frame's XADD time (its stream id's ms)."""
    from racetui.hub.redis import RedisChannel

    class TimedChannel(RedisChannel):
        def __init__(self) -> None:
            super().__init__(url)
            self.stamps: dict[int, int] = {}

        def took(self, entry_id: str, frame: bytes) -> None:
            self.stamps[id(frame)] = int(entry_id.split("-")[0])

        def lost(self) -> None:
            self.stamps.clear()

    return TimedChannel()


async def viewer_worker(url: str, count: int, full: int, live: float) -> dict[str, Any]:
    from racetui.hub.records import ApplyPassings, decode_frame
    from racetui.hub.replica import Replica, ReplicaPipeline

    channels = [timed_channel(url) for _ in range(count)]
    replicas = [Replica(ReplicaPipeline()) if i < full else None for i in range(count)]
    ready = [False] * count
    last = [0] * count  # the XADD time of each viewer's latest frame
    window: dict[str, Any] = {"on": False, "since": 0}  # frames XADDed in the window count
    delays: dict[str, list[float]] = {"full": [], "light": []}
    passings = [0]
    errors: list[str] = []

    async def follow(i: int) -> None:
        channel, replica = channels[i], replicas[i]
        started = time.perf_counter()
        while True:
            data = await channel.receive()
            if data is None:
                return
            stamp = channel.stamps.pop(id(data), None)
            if stamp is not None:
                last[i] = stamp
            if replica is not None:
                for _ in replica.steps(data):
                    if time.perf_counter() - started > 0.01:
                        await asyncio.sleep(0)
                        started = time.perf_counter()
                if replica.take_snapshot_request():
                    from racetui.hub.records import Request, encode_request

                    await channel.send(encode_request(Request("snapshot")))
                ready[i] = replica.synced
            else:
                try:
                    frame = decode_frame(data)
                except Exception as exc:  # counted, never fatal
                    errors.append(str(exc)[:80])
                    continue
                if frame.snapshot:
                    ready[i] = ready[i] or not channel.pending
                elif i == full and window["on"] and (stamp or 0) >= window["since"]:  # one counts passings
                    passings[0] += sum(len(c.items) for c in frame.changes if isinstance(c, ApplyPassings))
                if not ready[i] and channel.snapshots and not channel.pending:
                    ready[i] = True
            if stamp is not None and window["on"] and stamp >= window["since"]:
                delays["full" if replica is not None else "light"].append(time.time() * 1000 - stamp)

    tasks = [asyncio.create_task(follow(i)) for i in range(count)]
    t0 = time.perf_counter()
    while not all(ready):
        await asyncio.sleep(0.05)
        if time.perf_counter() - t0 > 900:
            raise RuntimeError(f"only {sum(ready)} of {count} viewers synced in 900 s")
    synced = time.perf_counter() - t0
    # then caught up: each viewer's latest frame written less than a second ago (or 120 s)
    while time.perf_counter() - t0 < synced + 120 and not all(
        time.time() * 1000 - last[i] < 1000 for i in range(count)
    ):
        await asyncio.sleep(0.05)
    print(json.dumps({"ready": synced, "caught_up": time.perf_counter() - t0}), flush=True)
    # the parent says go once every process is ready (read off the loop: viewers go on)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    window["since"] = time.time() * 1000
    window["on"] = True
    began = time.perf_counter()
    await asyncio.sleep(live)
    window["on"] = False
    elapsed = time.perf_counter() - began
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    return {
        "delays": delays,
        "passings_per_s": passings[0] / elapsed,
        "errors": errors[:5],
        "rss": peak_rss_mb(os.getpid()),
    }


# ------------------------------------------------------------------ the late joiner
async def late_joiner(url: str) -> dict[str, float]:
    """Where a late joiner's time goes: the read, the decoding, applying (stepped and bulk)."""
    import redis.asyncio as aioredis

    from racetui.hub.records import decode_frame
    from racetui.hub.redis import keys, load_replica
    from racetui.hub.replica import Replica, ReplicaPipeline, follow

    out: dict[str, float] = {}
    client = aioredis.from_url(url, socket_timeout=30)
    _stream, snapshot_key, meta_key = keys("racetui")
    t = time.perf_counter()
    pipe = client.pipeline(transaction=True)
    pipe.hgetall(meta_key)
    pipe.lrange(snapshot_key, 0, -1)
    _meta, frames = await pipe.execute()
    out["read"] = time.perf_counter() - t
    out["bytes"] = sum(len(f) for f in frames)
    t = time.perf_counter()
    for f in frames:
        decode_frame(f)
    out["decode"] = time.perf_counter() - t
    await client.aclose()

    # as the dashboard does: steps of SLICE athletes, the loop gets a turn every 10 ms
    from racetui.hub.redis import RedisChannel

    replica = Replica(ReplicaPipeline())
    channel = RedisChannel(url)
    t = time.perf_counter()
    task = asyncio.create_task(follow(channel, replica))
    while not replica.synced:
        await asyncio.sleep(0.01)
    out["stepped"] = time.perf_counter() - t
    out["athletes"] = sum(len(s.entries) for s in replica.pipeline.engine.races.values())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await channel.close()

    t = time.perf_counter()
    bulk = await load_replica(url, timeout=300)
    out["bulk"] = time.perf_counter() - t
    out["bulk_athletes"] = sum(len(s.entries) for s in bulk.pipeline.engine.races.values())
    return out


# ------------------------------------------------------------------ the run
def run(
    viewers: int, procs: int, full: int, live: float, athletes: int, speed: float, skip: float = 1200
) -> list[Measurement]:
    redis_server = RedisProcess()
    workers: list[subprocess.Popen[str]] = []
    hub = None
    try:
        with SimProcess(
            "--kind",
            "road",
            "--athletes",
            str(athletes),
            "--speed",
            str(speed),
            "--skip",
            str(skip),
            "--countdown",
            "5",
        ) as sim:
            hub = spawn(
                "-m", "racetui", "hub", f"bbt:{sim.base_url}", "--redis", redis_server.url, "--no-journal"
            )
            # the hub holds the whole field once its snapshot names every athlete
            t0 = time.perf_counter()
            while True:
                joined = asyncio.run(late_joiner_count(redis_server.url))
                if joined >= athletes:
                    break
                if hub.poll() is not None or time.perf_counter() - t0 > 900:
                    raise RuntimeError(f"the hub did not load {athletes} athletes ({joined})")
                time.sleep(1.0)
            print(
                f"  hub holds {athletes:,} athletes after {time.perf_counter() - t0:.1f} s", file=sys.stderr
            )
            share = [viewers // procs + (1 if i < viewers % procs else 0) for i in range(procs)]
            for n in share:
                workers.append(
                    spawn(
                        "-m",
                        "benchmarks.bench_scale",
                        "--worker",
                        "--url",
                        redis_server.url,
                        "--count",
                        str(n),
                        "--full",
                        str(min(full, n)),
                        "--live",
                        str(live),
                    )
                )
            ready = []
            for w in workers:
                assert w.stdout is not None
                line = w.stdout.readline()
                if not line:
                    raise RuntimeError("a viewer process ended before its viewers synced")
                ready.append(json.loads(line))
            slowest = max(r["ready"] for r in ready)
            caught = max(r["caught_up"] for r in ready)
            print(
                f"  {viewers} viewers synced in {slowest:.1f} s, caught up in {caught:.1f} s", file=sys.stderr
            )
            cpu0, wall0 = cpu_seconds(hub.pid), time.perf_counter()
            for w in workers:
                assert w.stdin is not None
                w.stdin.write("go\n")
                w.stdin.flush()
            results = []
            for w in workers:
                assert w.stdout is not None
                results.append(json.loads(w.stdout.readline()))
            hub_cpu = (cpu_seconds(hub.pid) - cpu0) / (time.perf_counter() - wall0) * 100
            hub_rss = peak_rss_mb(hub.pid)
            memory = redis_server.info()
            late = asyncio.run(late_joiner(redis_server.url))
    finally:
        for w in workers:
            w.kill()
            w.wait()
        if hub is not None:
            hub.terminate()
            try:
                hub.wait(20)
            except subprocess.TimeoutExpired:
                hub.kill()
        redis_server.close()
    full_d = [d for r in results for d in r["delays"]["full"]]
    light_d = [d for r in results for d in r["delays"]["light"]]
    rate = sum(r["passings_per_s"] for r in results if r["passings_per_s"]) / max(
        1, sum(1 for r in results if r["passings_per_s"])
    )
    label = f"{viewers} viewers in {procs} processes, {athletes:,} athletes"
    errors = [e for r in results for e in r["errors"]]
    rows = [
        Measurement(
            f"scale: hub→viewer delay, decoded ({label})",
            percentile(light_d, 50),
            percentile(light_d, 95),
            "ms (p50, p95)",
            "<= 1000",
            f"{len(light_d)} frames; XADD to decoded; {rate:.0f} passings/s",
        ),
        Measurement(
            f"scale: hub→viewer delay, applied to a full replica ({procs * full} of them)",
            percentile(full_d, 50),
            percentile(full_d, 95),
            "ms (p50, p95)",
            "<= 1000",
            f"{len(full_d)} frames; XADD to applied",
        ),
        Measurement(
            "scale: passings per second sent by the hub", rate, None, "/s", "300", "counted in frames"
        ),
        Measurement(
            f"scale: late joiner to {late['athletes']:,.0f} athletes, stepped (dashboard)",
            late["stepped"],
            None,
            "s",
            "",
            "snapshot then stream; loop turn every 10 ms",
        ),
        Measurement(
            f"scale: late joiner to {late['bulk_athletes']:,.0f} athletes, one bulk load (export)",
            late["bulk"],
            None,
            "s",
            "",
            "load_replica: the engine held, indexed once",
        ),
        Measurement(
            "scale: late joiner, snapshot read from Redis",
            late["read"] * 1000,
            None,
            "ms",
            "",
            f"{late['bytes'] / 1e6:.1f} MB",
        ),
        Measurement("scale: late joiner, snapshot decode", late["decode"] * 1000, None, "ms", "", "msgspec"),
        Measurement(
            "scale: Redis used_memory (peak)",
            memory["used_memory"] / 1e6,
            memory["used_memory_peak"] / 1e6,
            "MB (now, peak)",
            "",
            f"stream {memory['stream_length']} entries, {memory['clients']} clients",
        ),
        Measurement(
            "scale: hub CPU over the live window",
            hub_cpu,
            None,
            "% of one core",
            "",
            f"peak RSS {hub_rss:.0f} MB",
        ),
        Measurement(
            "scale: viewer process peak RSS (max)",
            max(r["rss"] for r in results),
            None,
            "MB",
            "",
            f"{full} full replica(s) + the rest decode only, per process",
        ),
    ]
    if errors:
        rows.append(Measurement("scale: viewer errors", len(errors), None, "", "0", errors[0][:60]))
    return rows


async def late_joiner_count(url: str) -> int:
    """Athletes the hub's current snapshot announces (its Reset record), 0 without one."""
    import redis.asyncio as aioredis

    from racetui.hub.records import Reset, decode_frame
    from racetui.hub.redis import keys

    client = aioredis.from_url(url, socket_timeout=10)
    try:
        first = await client.lindex(keys("racetui")[1], 0)
    finally:
        await client.aclose()
    if not first:
        return 0
    head = decode_frame(first).changes
    return head[0].athletes if head and isinstance(head[0], Reset) else 0


def measure(smoke: bool = False) -> list[Measurement]:
    if smoke:
        return run(viewers=8, procs=2, full=1, live=2.0, athletes=300, speed=60)
    return run(viewers=200, procs=4, full=1, live=30.0, athletes=50_000, speed=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--full", type=int, default=1, help="full replicas per process")
    parser.add_argument("--live", type=float, default=30.0)
    parser.add_argument("--athletes", type=int, default=50_000)
    parser.add_argument("--speed", type=float, default=10.0, help="simulator speed (sets the passing rate)")
    parser.add_argument("--skip", type=float, default=1200, help="race seconds already run at the start")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = asyncio.run(viewer_worker(args.url, args.count, args.full, args.live))
        print(json.dumps(result), flush=True)
        return
    if args.smoke:
        print_table(measure(True))
        return
    print_table(run(args.viewers, args.procs, args.full, args.live, args.athletes, args.speed, args.skip))


if __name__ == "__main__":
    main()
