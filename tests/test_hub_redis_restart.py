"""Two viewers and a browser tab follow one hub through a hub restart, with nothing lost.

A real ``racetui hub`` process reads the spec's v1.1 example (a file it polls) into a real
redis-server; two headless viewers (replicas, on an event loop of their own) and a tab of
``racetui serve -- view redis://…`` in headless Chromium follow it. The test kills the hub
(``kill -9``), changes the race while it is down (a new athlete, a new time), starts it
again and waits until both viewers hold exactly the file's athletes with the new values and
the tab shows the new athlete. Every wait is on a condition, with a generous deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from racetui.hub.records import HealthRec
from racetui.hub.redis import RedisViewer
from tests.fakes.bbt import engine_state
from tests.fakes.redis import RedisServer
from tests.fakes.serve import ServeProcess
from tests.support import INDIVIDUAL, wait_until

ROOT = Path(__file__).resolve().parents[1]
NEW_NAME = "Zoltan Quimby"
NEW_TIME = "00:19:01.250"  # bib 26's Swim Exit after the restart
NEW_MS = 19 * 60_000 + 1_250


def start_hub(url: str, feed: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["RACETUI_SOURCES_POLL_INTERVAL"] = "0.2"
    return subprocess.Popen(
        [sys.executable, "-m", "racetui", "hub", f"feed:{feed}", "--redis", url, "--no-journal"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


class Viewers:
    """Headless viewers of the hub on an event loop in a thread of their own; their state is
    read on that loop (never while it applies a frame)."""

    def __init__(self, url: str, count: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.links = [RedisViewer(url, [HealthRec("feed", "poll", "connecting", None)]) for _ in range(count)]
        self.pipelines = [link.pipeline() for link in self.links]
        self.tasks: list[asyncio.Task[Any]] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Viewers:
        self.thread.start()

        async def start() -> None:
            for link, pipeline in zip(self.links, self.pipelines, strict=True):
                self.tasks.append(asyncio.create_task(link.run(pipeline)))

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        return self

    def states(self) -> list[dict[Any, Any]]:
        async def read() -> list[dict[Any, Any]]:
            return [engine_state(p) for p in self.pipelines]

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(30)

    def names(self) -> list[set[str]]:
        async def read() -> list[set[str]]:
            return [
                {e.name() for s in p.engine.races.values() for e in s.entries.values()}
                for p in self.pipelines
            ]

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(30)

    def snapshots(self) -> list[int]:
        return [0 if link.channel is None else link.channel.snapshots for link in self.links]

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def bibs_of(state: dict[Any, Any]) -> set[str]:
    return {bib for _race, bib in state}


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "results.json"
    path.write_text(INDIVIDUAL.read_text())
    yield path


def test_two_viewers_and_a_tab_follow_a_hub_through_a_kill_and_restart(
    redis_server: RedisServer, feed: Path
) -> None:
    from tests.test_web_serve import CHROMIUM, CHROMIUM_FLAGS, _playwright, _pump_until, _text

    sync_playwright = _playwright()
    example = json.loads(feed.read_text())
    first_bibs = {str(a["start_num"]) for a in example["athletes"]}
    url = redis_server.url
    hub = start_hub(url, feed)
    try:
        with (
            Viewers(url, 2) as viewers,
            ServeProcess(["view", url]) as server,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 700})
                frames: list[bytes] = []
                page.on(
                    "websocket",
                    lambda ws: ws.on(
                        "framereceived", lambda d: frames.append(d if isinstance(d, bytes) else b"")
                    ),
                )
                page.goto(server.url)
                page.wait_for_selector("body.-first-byte", timeout=90_000)
                first = str(example["athletes"][0]["name"]).split()[-1]
                _pump_until(page, lambda: first in _text(frames), f"{first} on the tab")
                wait_until(
                    lambda: all(bibs_of(s) == first_bibs for s in viewers.states()),
                    deadline=90,
                    what="both viewers hold the example",
                )
                before = viewers.snapshots()

                # kill -9 the hub; the race moves on while it is down
                hub.kill()
                hub.wait(30)
                changed = json.loads(feed.read_text())
                athlete = next(a for a in changed["athletes"] if a["start_num"] == "26")
                athlete["splits"][-1]["total_time"] = NEW_TIME
                athlete["time"] = NEW_TIME
                newcomer = json.loads(json.dumps(changed["athletes"][-1]))
                newcomer.update(
                    id="99999", start_num="999", name=NEW_NAME, position=str(len(changed["athletes"]) + 1)
                )
                changed["athletes"].append(newcomer)
                changed["num_athletes"] = len(changed["athletes"])
                feed.write_text(json.dumps(changed))
                all_bibs = first_bibs | {"999"}

                seen = len(frames)
                hub = start_hub(url, feed)
                wait_until(
                    lambda: all(
                        bibs_of(s) == all_bibs
                        and any(NEW_MS in times.values() for _st, times in [s[k] for k in s if k[1] == "26"])
                        for s in viewers.states()
                    ),
                    deadline=120,
                    what="both viewers hold the new state",
                )
                states = viewers.states()
                assert states[0] == states[1]
                assert all(NEW_NAME in names for names in viewers.names()), viewers.names()
                assert all(now > was for now, was in zip(viewers.snapshots(), before, strict=True)), (
                    viewers.snapshots(),
                    before,
                )
                surname = NEW_NAME.split()[-1]
                _pump_until(page, lambda: surname in _text(frames[seen:]), "the new athlete on the tab", 120)
            finally:
                browser.close()
    finally:
        hub.kill()
        _out, err = hub.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode(errors="replace")
