"""Start-up: ``racetui demo`` from process start to the first drawn leaderboard.

The demo runs as a user would start it, in a pseudo-terminal of 120x36 (``pty``): the
clock starts before the process is spawned and stops when the leaderboard's column header
("Bib" next to "Name") has been written to the terminal. Each run is a fresh process with
its own data dir. Several runs give a median and p95.

Usage: python -m benchmarks.bench_startup [--smoke] [--runs N] [--athletes N]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import tempfile
import termios
import time

from benchmarks.common import Measurement, print_table, summarize

MARKER = b"Bib"


def one_run(athletes: int, timeout: float = 30.0) -> float:
    """Seconds from spawn to the first leaderboard frame (nan if it never came)."""
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, RACETUI_DATA_DIR=data, RACETUI_CONFIG=os.path.join(data, "none.toml"))
        env["TERM"] = "xterm-256color"
        env.pop("TEXTUAL", None)
        argv = [sys.executable, "-m", "racetui", "demo", "--athletes", str(athletes), "--countdown", "5"]
        started = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: become racetui demo in the terminal
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
        seen = b""
        elapsed = float("nan")
        try:
            while time.perf_counter() - started < timeout:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen = (seen + chunk)[-4096:]
                if MARKER in seen and b"Name" in seen:
                    elapsed = time.perf_counter() - started
                    break
        finally:
            os.kill(pid, signal.SIGTERM)
            deadline = time.perf_counter() + 5
            while time.perf_counter() < deadline:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                try:  # drain so the child is never blocked writing
                    os.read(fd, 65536)
                except OSError:
                    pass
                time.sleep(0.02)
            else:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)
        return elapsed


def measure(smoke: bool = False, runs: int = 5, athletes: int = 2000) -> list[Measurement]:
    if smoke:
        runs, athletes = 1, 60
    times = [one_run(athletes) for _ in range(runs)]
    good = [t for t in times if t == t]
    if not good:
        raise RuntimeError("racetui demo never drew a leaderboard")
    median, p95 = summarize(good)
    return [
        Measurement(
            f"start-up: racetui demo to first leaderboard ({athletes:,} athletes)",
            median,
            p95,
            "s",
            "< 1.5",
            f"{len(good)} of {runs} runs, fresh process in a 120x36 pty",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--athletes", type=int, default=2000)
    args = parser.parse_args()
    print_table(measure(args.smoke, args.runs, args.athletes))


if __name__ == "__main__":
    main()
