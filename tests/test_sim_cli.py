"""``racetui sim``: serves, prints the URLs to connect to, stops on Ctrl-C; bad options exit 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from tests.support import wait_until

COMMAND = [sys.executable, "-m", "racetui", "sim", "--port", "0"]


def test_sim_prints_its_urls_and_serves() -> None:
    args = ["--races", "10k:100,sprint:30@1", "--speed", "50", "--countdown", "1", "--seed", "4"]
    process = subprocess.Popen(
        COMMAND + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else "no output"
            lines.append(line.strip())
            if line.startswith("Ctrl-C"):
                break
        urls = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in lines if ": " in line}
        api = urls["API base"]
        assert api.startswith("http://127.0.0.1:") and api.endswith("/api/1.1")
        assert urls["push"] == api.replace("http://", "ws://") + "/push?events=results,eventdata"
        feeds = [line.split(": ", 1)[1] for line in lines if line.startswith("v1.1 feed")]
        assert feeds == [api.removesuffix("/api/1.1") + "/feeds/v1.1/2.json"]
        races = httpx.get(api + "/event/races", timeout=10).json()
        assert races["data"][0]["name"] == "10K Run"

        def clock_state() -> str:
            return str(
                httpx.get(api + "/timing/raceclock", params={"race_id": 1}, timeout=10).json()["state"]
            )

        wait_until(lambda: clock_state() == "live", what="the gun (1 s of countdown at 50x)")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) in (0, 130)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sim_rejects_bad_options() -> None:
    for args in (["--kind", "swimrun"], ["--athletes", "0"], ["--races", "marathon:lots"], ["--speed", "-1"]):
        done = subprocess.run(COMMAND + args, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, args
        assert done.stderr.startswith("racetui sim: ") and "Traceback" not in done.stderr
