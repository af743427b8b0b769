"""``racetui hub … --redis`` as a real process on the spec's v1.1 example, followed by a
viewer channel, and a browser tab of ``racetui serve -- view redis://…`` (each tab a
viewer: no tab opens a timing connection)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from racetui.hub.redis import RedisChannel
from racetui.hub.replica import Replica, ReplicaPipeline
from tests.fakes.redis import RedisServer
from tests.fakes.serve import ServeProcess
from tests.support import INDIVIDUAL

ROOT = Path(__file__).resolve().parents[1]


def start_hub(url: str, *sources: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "racetui", "hub", *sources, "--redis", url, "--no-journal"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def end(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        _out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate(timeout=10)
    return err


async def test_hub_command_streams_the_spec_example_to_a_viewer(redis_server: RedisServer) -> None:
    example = json.loads(INDIVIDUAL.read_text())
    bibs = {str(a["start_num"]) for a in example["athletes"]}
    hub = start_hub(redis_server.url, f"feed:{INDIVIDUAL}")
    channel = RedisChannel(redis_server.url)
    replica = Replica(ReplicaPipeline())

    def athletes() -> int:
        return sum(len(s.entries) for s in replica.pipeline.engine.races.values())

    try:

        async def follow() -> None:
            while not (replica.synced and athletes() == len(example["athletes"])):
                data = await channel.receive()
                assert data is not None
                replica.handle(data)

        await asyncio.wait_for(follow(), 60)
        held = {bib for s in replica.pipeline.engine.races.values() for bib in s.entries}
        assert held == bibs
    finally:
        await channel.close()
        err = end(hub)
    assert "Traceback" not in err, err


def test_bad_source_and_bad_address_are_one_line(redis_server: RedisServer) -> None:
    for args in (["nonsense", "--redis", redis_server.url], [f"feed:{INDIVIDUAL}", "--redis", "http://x"]):
        out = subprocess.run(
            [sys.executable, "-m", "racetui", "hub", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
        assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.count("\n") == 1, (
            out.stderr
        )


def test_browser_tab_is_a_viewer_of_the_hub(redis_server: RedisServer) -> None:
    from tests.test_web_serve import CHROMIUM, CHROMIUM_FLAGS, _playwright, _pump_until, _text

    sync_playwright = _playwright()
    example = json.loads(INDIVIDUAL.read_text())
    hub = start_hub(redis_server.url, f"feed:{INDIVIDUAL}")
    try:
        with ServeProcess(["view", redis_server.url]) as server, sync_playwright() as pw:
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
                name = str(example["athletes"][0]["name"]).split()[-1]
                _pump_until(page, lambda: str(name) in _text(frames), f"{name} on the viewer's board")
            finally:
                browser.close()
    finally:
        err = end(hub)
    assert "Traceback" not in err, err
