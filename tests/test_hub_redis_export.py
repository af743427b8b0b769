"""``racetui export redis://…`` and ``racetui publish … redis://…`` as real processes that
read a replica of a hub's stream (a real redis-server, a hub fed by the real simulator):
what they print and upload is the simulator's truth, with the hub's desk entries."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from racetui.hub.redis import RedisHubWriter, run_hub
from racetui.hub.redis_desk import RemoteDesk
from racetui.sim import RaceSpec, SimConfig, running_sim
from racetui.sources.bbt import BBTSource
from racetui.sources.desk import IncidentDesk
from tests.fakes.asgi import ServerThread
from tests.fakes.bbt import until
from tests.fakes.redis import RedisServer
from tests.fakes.worldtriathlon import WorldTriathlonFake
from tests.test_bbt_client import FAST
from tests.test_bbt_sim import holds_the_truth
from tests.test_hub_redis import stop

ROOT = Path(__file__).resolve().parents[1]
RACES = (RaceSpec(kind="triathlon", variant="sprint", entries=25),)
KEY = "wt-redis-key-5150"


async def racetui(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *(["-m", "racetui"] if not args[0].endswith(".py") else []),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def chips_by_bib(sim: Any, race_id: str, points: list[str]) -> dict[str, dict[str, int]]:
    """The simulator's truth: every athlete's chip time at every point it has passed."""
    out = {}
    for p in sim.event.participants:
        if p.race_id == race_id:
            truth = sim.truth_athlete(race_id, p.bib)
            out[p.bib] = {point: t for point, t in zip(points, truth.chips, strict=False) if t is not None}
    return out


async def test_export_redis_prints_the_hubs_state_with_its_desk_entries(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_server.url
    async with running_sim(SimConfig(races=RACES, clock="manual", countdown=5, seed=11)) as sim:
        hubs: list[Any] = []
        hub_task = asyncio.create_task(
            run_hub(
                [BBTSource(sim.base_url, name="bbt", **FAST)],
                url,
                snapshot_every=0.3,
                desk=IncidentDesk(tmp_path / "hub.sqlite3"),
                started=lambda h, w: hubs.append(h),
            )
        )
        try:
            await until(lambda: bool(hubs), what="the hub")
            hub = hubs[0]
            for _ in range(4):
                await sim.advance(300)
            await until(
                lambda: bool(hub.engine.races) and holds_the_truth(sim, hub.pipeline), what="hub truth"
            )
            race_id = next(iter(hub.engine.races))
            bib = sorted(hub.engine.races[race_id].entries)[0]
            td = RemoteDesk(url, role="td", operator="Jane")
            await td.submit(
                {
                    "race_id": race_id,
                    "bib": bib,
                    "action": "penalty",
                    "seconds": 10,
                    "infringement": "littering",
                }
            )
            await td.close()
            code, out, err = (
                await racetui("/tmp/dbg_scale.py", url)
                if os.environ.get("DBG")
                else await racetui("export", url, "--format", "json")
            )
            print(out, err)
            assert code == 0, err
            assert "Traceback" not in err
            [race] = json.loads(out)["races"]
            points = [p["id"] for p in race["points"]]
            truth = chips_by_bib(sim, race_id, points)
            assert {r["bib"]: r["splits"] for r in race["rows"]} == truth
            [row] = [r for r in race["rows"] if r["bib"] == bib]
            assert row["incidents"] == ["10 second penalty for littering"]
            # csv from the same address: one line per athlete plus the header
            code, out, err = await racetui("export", url)
            assert code == 0, err
            assert len(out.strip().splitlines()) == len(truth) + 1
        finally:
            await stop(hub_task)


async def test_export_redis_says_what_is_wrong(redis_server: RedisServer) -> None:
    code, _out, err = await racetui("export", redis_server.url, "--prefix", "nohub", "--wait", "1")
    assert code == 1 and err.count("\n") == 1, err
    assert "no hub snapshot at redis://127.0.0.1" in err and "prefix nohub" in err
    code, _out, err = await racetui("export", "http://example.invalid/")
    assert code == 2 and err.count("\n") == 1 and "expected redis://host:port/db" in err, err
    closed = RedisServer()  # a port nothing listens on
    code, _out, err = await racetui("export", closed.url, "--wait", "5")
    assert code == 1 and err.count("\n") == 1 and "cannot reach Redis at redis://127.0.0.1" in err, err


@pytest.fixture
def wt(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", KEY)
    fake = WorldTriathlonFake(apikey=KEY)
    with ServerThread(fake.app()) as server:
        fake.url = server.url + "/v1/timing"
        yield fake


async def test_publish_redis_uploads_the_hubs_state_and_follows_it(
    redis_server: RedisServer, wt: WorldTriathlonFake
) -> None:
    url = redis_server.url
    async with running_sim(SimConfig(races=RACES, clock="manual", countdown=5, seed=12)) as sim:
        hubs: list[Any] = []
        writers: list[RedisHubWriter] = []

        def started(h: Any, w: RedisHubWriter) -> None:
            hubs.append(h)
            writers.append(w)

        hub_task = asyncio.create_task(
            run_hub([BBTSource(sim.base_url, name="bbt", **FAST)], url, snapshot_every=0.3, started=started)
        )
        try:
            await until(lambda: bool(hubs), what="the hub")
            hub = hubs[0]
            await sim.advance(600)
            await until(
                lambda: bool(hub.engine.races) and holds_the_truth(sim, hub.pipeline), what="hub truth"
            )
            await until(lambda: writers[0].snapshots >= 1 and not writers[0].queue, what="written")
            race_id = next(iter(hub.engine.races))
            base = ["publish", "triathlon", url, "--api-url", wt.url, "--yes", "--http-timeout", "5"]
            base += ["--prog-id", "654321", "--event-id", "123456"]
            code, out, err = await racetui(*base, "--once")
            assert code == 0, err
            [body] = wt.applied_bodies()
            points = [p.id for p in hub.engine.races[race_id].points]
            truth = chips_by_bib(sim, race_id, points)
            assert {a["start_num"] for a in body["athletes"]} == set(truth)
            assert KEY not in out + err

            # live: a viewer of the hub that uploads again when the race moves on
            env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "racetui",
                *base,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
                cwd=ROOT,
            )
            try:
                before = len(wt.arrivals)
                await sim.advance(600)
                await until(
                    lambda: len(wt.arrivals) > before, timeout=90, what="a new upload from the live run"
                )
                proc.send_signal(signal.SIGTERM)
                _out, err_b = await asyncio.wait_for(proc.communicate(), 30)
                assert proc.returncode == 0, err_b.decode()
                assert "Traceback" not in err_b.decode()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        finally:
            await stop(hub_task)
