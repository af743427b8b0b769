"""The race simulator as its own process (``racetui sim``), as a timing PC would be: the
benchmarks' dashboards and hubs reach it over real sockets only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SimProcess:
    def __init__(self, *args: str, timeout: float = 300.0, nice: int = 0) -> None:
        """``nice``: the simulator's scheduling priority below ours (a timing master has a
        PC of its own; here it shares our cores)."""
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "racetui", "sim", "--port", "0", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
        self.base_url = ""
        self.feed_url = ""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("racetui sim ended before printing its URLs")
            found = re.search(r"API base:\s+(\S+)/api/1\.1", line)
            if found:
                self.base_url = found.group(1)
            found = re.search(r"v1\.1 feed:\s+(\S+)", line)
            if found and not self.feed_url:
                self.feed_url = found.group(1)
            if "Ctrl-C stops" in line:
                return
        raise RuntimeError("racetui sim did not start in time")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process, in MB (nan when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@contextmanager
def v11_feed(path: Path, athletes: int) -> Iterator[subprocess.Popen[str]]:
    """``bench_v11 --write-feed`` in its own process (rewriting ``path`` with the next
    message every second), once its first message is written."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_v11",
            "--write-feed",
            str(path),
            "--athletes",
            str(athletes),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "written":
            raise RuntimeError("bench_v11 --write-feed ended before writing a message")
        yield proc
    finally:
        proc.kill()
        proc.wait(10)
