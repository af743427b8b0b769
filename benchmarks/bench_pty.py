"""What a timer feels: key→frame in a real terminal during a live 50,000-athlete race.

``racetui connect`` (journal on, the embedded hub: the default) runs in a pseudo-terminal
of 120x36 whose output feeds a terminal emulator (pyte). The race is ``racetui sim
--athletes 50000 --kind road --speed 60 --skip 7200`` in its own process, over real
sockets. A key press is timed from the write to the pty until the read that completes the
screen it asks for (the Health screen's "Recent rejected input", the leaderboard's
"N athletes" line): the emulator's own work is not counted. Keys are pressed:

* on the **idle** board first (the same dashboard on a 100-athlete race before its gun):
  the baseline, in the same run;
* while the 50,000 athletes **load** (from the first drawn board until the leaderboard
  says 50,000 athletes);
* **live** afterwards (the marathon two hours in: hundreds of passings a second).

Also: the first board with athletes (spawn → a leaderboard row with a bib) and the peak
RSS of the dashboard and of its hub process.

Usage: python -m benchmarks.bench_pty [--smoke] [--athletes N] [--presses N]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import tempfile
import termios
import time
from collections.abc import Callable

import pyte

from benchmarks.common import Measurement, print_table, summarize
from benchmarks.simproc import ROOT, SimProcess, children, peak_rss_mb

ROWS, COLS = 36, 120
ROW_WITH_BIB = re.compile(r"^\s*(\d+|–|-)\s+\d+\s+\S")
COUNT = re.compile(r"([\d,]+) athletes")


class Terminal:
    """racetui in a pty, its output through pyte."""

    def __init__(self, argv: list[str], data_dir: str) -> None:
        env = dict(os.environ, RACETUI_DATA_DIR=data_dir, RACETUI_CONFIG=os.path.join(data_dir, "none.toml"))
        env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT), COLUMNS=str(COLS), LINES=str(ROWS))
        env.pop("TEXTUAL", None)
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(ROOT)
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.hub_pid: int | None = None

    def lines(self) -> list[str]:
        return list(self.screen.display)

    def wait(self, done: Callable[[list[str]], bool], timeout: float) -> float:
        """perf_counter of the read that made ``done`` true (nan on timeout)."""
        deadline = time.perf_counter() + timeout
        if done(self.lines()):
            return time.perf_counter()
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                return float("nan")
            at = time.perf_counter()
            if not chunk:
                return float("nan")
            self.stream.feed(chunk)
            if done(self.lines()):
                return at
        return float("nan")

    def press(self, key: str, done: Callable[[list[str]], bool], timeout: float = 15.0) -> float:
        self.wait(lambda _l: False, 0.0)  # take what is already there
        sent = time.perf_counter()
        os.write(self.fd, key.encode())
        return self.wait(done, timeout) - sent

    def rss(self) -> tuple[float, float]:
        hub = children(self.pid)
        return peak_rss_mb(self.pid), max((peak_rss_mb(p) for p in hub), default=float("nan"))

    def close(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            self.wait(lambda _l: False, 0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def on_health(lines: list[str]) -> bool:
    return any("Recent rejected input" in line for line in lines)


def on_board(lines: list[str]) -> bool:
    return len(lines) > 1 and "athletes" in lines[1] and any("Bib" in line for line in lines[2:4])


def athletes_shown(lines: list[str]) -> int:
    found = COUNT.search(lines[1]) if len(lines) > 1 else None
    return int(found.group(1).replace(",", "")) if found else 0


def has_athletes(lines: list[str]) -> bool:
    return on_board(lines) and any(ROW_WITH_BIB.match(line) for line in lines[3:8])


def press_pair(term: Terminal) -> list[float]:
    """Health and back: two key→frame samples (seconds)."""
    return [term.press("7", on_health), term.press("1", on_board)]


def connect(url: str, data: str) -> Terminal:
    return Terminal([sys.executable, "-m", "racetui", "connect", url], data)


def measure(smoke: bool = False, athletes: int = 50_000, presses: int = 20) -> list[Measurement]:
    if smoke:
        athletes, presses = 300, 2
    idle: list[float] = []
    loading: list[float] = []
    live: list[float] = []
    first = float("nan")
    rss = (float("nan"), float("nan"))
    with tempfile.TemporaryDirectory() as data:
        with SimProcess("--kind", "sprint", "--athletes", "100", "--countdown", "3600") as sim:
            term = connect(sim.base_url, os.path.join(data, "idle"))
            try:
                term.wait(has_athletes, 120)
                for _ in range(presses // 2):
                    idle += press_pair(term)
            finally:
                term.close()
        big = ("--kind", "road", "--athletes", str(athletes), "--speed", "60", "--skip", "7200")
        with SimProcess(*big, "--countdown", "5") as sim:
            term = connect(sim.base_url, os.path.join(data, "big"))
            try:
                at = term.wait(has_athletes, 300)
                first = at - term.started
                while athletes_shown(term.lines()) < athletes and len(loading) < 200:
                    samples = press_pair(term)
                    if athletes_shown(term.lines()) < athletes:
                        loading += samples
                    else:
                        live += samples
                while len(live) < presses:
                    live += press_pair(term)
                rss = term.rss()
            finally:
                term.close()
    rows: list[Measurement] = []
    base = summarize([x for x in idle if x == x] or [float("nan")])
    for label, samples in (("idle", idle), ("loading", loading), ("live", live)):
        good = [x * 1000 for x in samples if x == x]
        if not good:
            continue
        median, p95 = summarize(good)
        ratio = p95 / (base[1] * 1000) if base[1] == base[1] and label != "idle" else None
        rows.append(
            Measurement(
                f"pty: key→frame, {label} ({athletes:,} athletes, journal on)"
                if label != "idle"
                else "pty: key→frame, idle board (baseline, same run)",
                median,
                p95,
                "ms",
                "p95 <= 100 and <= 2x idle" if label != "idle" else "",
                f"{len(good)} of {len(samples)} presses"
                + (f"; p95 {ratio:.2f}x idle" if ratio is not None else ""),
            )
        )
    rows += [
        Measurement(
            f"pty: first board with athletes ({athletes:,}, BBT)", first, None, "s", "<= 3", "from spawn"
        ),
        Measurement(f"pty: peak RSS, dashboard ({athletes:,})", rss[0], None, "MB", "<= 250", ""),
        Measurement(f"pty: peak RSS, its hub ({athletes:,})", rss[1], None, "MB", "<= 250", ""),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--athletes", type=int, default=50_000)
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    print_table(measure(args.smoke, args.athletes, args.presses))


if __name__ == "__main__":
    main()
