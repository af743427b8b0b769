"""Run ``racetui serve`` as a real process on a free loopback port, for tests.

:class:`ServeProcess` starts it, reads the URL it prints (with the token), keeps its stderr,
and ends it with SIGINT (as Ctrl+C would), measuring how long it took.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.fakes.asgi import free_port

__all__ = ["ServeProcess"]

_URL = re.compile(r"(http://\S+/\?token=\S+)")
ROOT = Path(__file__).resolve().parents[2]


class ServeProcess:
    def __init__(self, target: list[str], *, extra: list[str] | None = None, deadline: float = 60.0) -> None:
        self.port = free_port()
        self.target = target
        self.extra = extra or []
        self.deadline = deadline
        self.url = ""
        self.token = ""
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.stop_seconds: float | None = None
        self._found = threading.Event()

    def __enter__(self) -> ServeProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        command = [sys.executable, "-m", "racetui", "serve", "--port", str(self.port), *self.extra]
        self.process = subprocess.Popen(
            [*command, "--", *self.target],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for stream, lines, look in (
            (self.process.stdout, self.stdout, True),
            (self.process.stderr, self.stderr, False),
        ):
            threading.Thread(target=self._read, args=(stream, lines, look), daemon=True).start()
        if not self._found.wait(self.deadline):
            self.__exit__()
            raise AssertionError(f"racetui serve printed no URL: {self.stdout} {self.stderr}")
        self.token = parse_qs(urlsplit(self.url).query)["token"][0]
        return self

    def _read(self, stream: object, lines: list[str], look: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line)
            if look and not self.url and (match := _URL.search(line)):
                self.url = match.group(1)
                self._found.set()

    @property
    def base(self) -> str:
        return f"http://localhost:{self.port}"

    def interrupt(self, deadline: float = 30.0) -> float:
        """SIGINT (Ctrl+C); seconds until the process ended."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        self.process.wait(deadline)
        self.stop_seconds = time.monotonic() - started
        return self.stop_seconds

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
