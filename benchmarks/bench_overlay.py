"""Overlays: terminal bytes per second with search, help or a confirmation open over a live board.

A timer on SSH over a slow link pays for every byte the dashboard writes. ``racetui demo``
runs in a real pseudo-terminal (``pty``) as a user starts it; once the leaderboard is drawn
the benchmark counts the bytes the app writes during equal windows: the board alone, then
with ``/`` (search), ``?`` (help) and ``q`` (the quit confirmation) open, each closed with
Escape before the next. The windows alternate with board-alone windows so that the race's
own activity (passings flow at ``--speed``) weighs on both sides alike. Reported: bytes/s
of each, and each overlay's ratio to the board alone (target: at most 2x).

Usage: python -m benchmarks.bench_overlay [--smoke] [--window S] [--rounds N] [--size COLSxROWS]
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

from benchmarks.common import Measurement, print_table

OVERLAYS: dict[str, bytes] = {"search": b"/", "help": b"?", "quit confirmation": b"q"}
ESCAPE = b"\x1b"


class Terminal:
    """A child process in a pty of a given size; :meth:`count` reads and counts its output."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int, rows: int) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.tail = b""

    def count(self, seconds: float) -> int:
        """Bytes written by the child during ``seconds`` (reading all the while)."""
        total = 0
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.05))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                total += len(chunk)
                self.tail = (self.tail + chunk)[-8192:]
        return total

    def wait_for(self, *markers: bytes, timeout: float = 60.0) -> bool:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            self.count(0.1)
            if all(marker in self.tail for marker in markers):
                return True
        return False

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            self.count(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def measure(
    smoke: bool = False, window: float = 8.0, rounds: int = 3, cols: int = 120, rows: int = 36
) -> list[Measurement]:
    if smoke:
        window, rounds = 1.5, 1
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, RACETUI_DATA_DIR=data, RACETUI_CONFIG=os.path.join(data, "none.toml"))
        env["TERM"] = "xterm-256color"
        env.pop("TEXTUAL", None)
        term = Terminal([sys.executable, "-m", "racetui", "demo"], env, cols, rows)
        try:
            if not term.wait_for(b"Bib", b"Name"):
                raise RuntimeError("racetui demo never drew a leaderboard")
            term.count(2.0)  # the first sync's redraws settle
            alone: list[int] = []
            over: dict[str, list[int]] = {name: [] for name in OVERLAYS}
            for _ in range(rounds):
                for name, key in OVERLAYS.items():
                    alone.append(term.count(window))
                    term.send(key)
                    term.count(0.5)  # the overlay's own first paint is not the steady cost
                    over[name].append(term.count(window))
                    term.send(ESCAPE)
                    term.count(0.5)
        finally:
            term.close()
    seconds = window * len(alone)
    base = sum(alone) / seconds
    note = f"racetui demo in a {cols}x{rows} pty, {rounds} x {window:g} s windows"
    out = [Measurement("overlay: board alone, terminal output", base / 1024, None, "KiB/s", "", note)]
    for name, counts in over.items():
        rate = sum(counts) / (window * len(counts))
        out.append(
            Measurement(f"overlay: {name} open, terminal output", rate / 1024, None, "KiB/s", "", note)
        )
        out.append(
            Measurement(
                f"overlay: {name} open / board alone",
                rate / max(base, 1.0),  # bytes/s: a silent board in a smoke run is not a division by zero
                None,
                "x",
                "<= 2",
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="120x36", help="COLSxROWS")
    args = parser.parse_args()
    cols, _, rows = args.size.partition("x")
    print_table(measure(args.smoke, args.window, args.rounds, int(cols), int(rows)))


if __name__ == "__main__":
    main()
