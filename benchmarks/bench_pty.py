"""What a timer feels: key→frame in a real terminal during a live 50,000-athlete race.

``racetui connect`` (journal on, the embedded hub: the default) runs in a pseudo-terminal
whose output feeds a terminal emulator (benchmarks/ptyterm.py: pyte, synchronized output
answered, so a screen is judged only where a frame ends). The race is ``racetui sim
--athletes 50000 --kind road --speed 60 --skip 7200`` in its own process, over real
sockets. Before each key everything pending is read (until the pty is quiet for 20 ms);
key→frame is from the write of the key to the read holding the end of the first frame
that shows what the key asks for: Health (7), the leaderboard (1) with rows, Splits (2),
the board's cursor on another athlete (down, up). The emulator's own work is not counted.
Each cycle presses 7 1 2 1 (four screen switches) and down up (two cursor moves), in:

* **idle**: the same dashboard on a 100-athlete race before its gun, once its first board
  has settled (no frame for 0.5 s, or 2 s after the first board): the baseline, same run;
* **loading**: from the first drawn board until the leaderboard says 50,000 athletes and
  its header no longer says "loading" (the times come point by point after the start list);
* **live** afterwards (the marathon two hours in: hundreds of passings a second), for
  a minute at least, so that the UI-loop figure read at its end is of live stalls only.

At the end of each phase the Health screen's "UI loop" line (racetui/tui/lag.py: a 20 ms
wake-up inside the dashboard and how late it comes) gives the longest UI-loop stall of
the last minute, and its "UI loop CPU" line how much of that stall's span the loop
thread spent on a core (close to the span: a long step; little: waiting for a core).
Also: the first board with athletes (spawn → a leaderboard row with a bib) and the peak
RSS of the dashboard and of its hub process.

Both terminal sizes by default: 120x36 and 80x24 (timers watch over SSH in 80x24), about
3.5-4 minutes for both on the 2-core machine at load 5 (the 50,000 athletes loading and
the live minute); ``make bench`` runs both (``--smoke``: no live minute). ``--size`` picks one.

``--sim-nice N`` runs the big race's simulator at nice N: on these two cores it stands
for a timing master that has a PC of its own (the default, 0, is the figure reported).

Usage: python -m benchmarks.bench_pty [--smoke] [--athletes N] [--cycles N] [--size 80x24]
       [--sim-nice N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.common import Measurement, print_table, summarize
from benchmarks.ptyterm import (
    KEYS,
    Terminal,
    athletes_shown,
    cursor_bib,
    has_athletes,
    loop_lag,
    on_board,
    on_health,
    on_splits,
    parse_size,
)
from benchmarks.simproc import SimProcess

SIZES = ((120, 36), (80, 24))
# a first load's progress in the header, long or (on a narrow screen) short
LOADING = re.compile(r"loading|\btimes \d+/\d+|\d[\d,]*/\d[\d,]*")
LIVE_MINUTE_S = 61  # the live phase lasts the probe's window (a minute) and a second
# the Health screen's second UI-loop line (racetui/tui/lag.py): was the longest stall busy?
LOOP_CPU = re.compile(r"UI loop CPU: the longest stall's (\d+) ms between wake-ups held (\d+) ms")
# key, what it shows, the label of its samples (1 from Health and 1 from Splits apart)
SCREEN_KEYS = (
    ("7", on_health, "1→7"),
    ("1", on_board, "7→1"),
    ("2", on_splits, "1→2"),
    ("1", on_board, "2→1"),
)


@dataclass
class Phase:
    """One phase's key→frame samples (seconds, nan for a key that never showed) and its
    UI-loop figures read from Health at its end (ms: last minute, since start, p99)."""

    screen: list[float] = field(default_factory=list)
    cursor: list[float] = field(default_factory=list)
    lag: tuple[int, int, int] | None = None
    lag_cpu: tuple[int, int] | None = None  # the longest stall's span and its loop-thread CPU (ms)
    by_key: dict[str, list[float]] = field(default_factory=dict)  # the screen keys, each

    def key_medians(self) -> str:
        """Each screen key's p50 (ms), for the note: which switch costs what."""
        parts = []
        for key, samples in self.by_key.items():
            good = [x * 1000 for x in samples if x == x]
            if good:
                parts.append(f"{key}: {statistics.median(good):.0f}")
        return f"p50 by key {', '.join(parts)} ms" if parts else ""


def cursor_colour(term: Terminal) -> str:
    """The cursor row's background: the board's first row when it first shows."""
    return str(term.screen.buffer[3][2].bg)


def cursor_moved(term: Terminal, colour: str) -> Callable[[Terminal], bool]:
    before = cursor_bib(term, colour)
    return lambda t: on_board(t) and cursor_bib(t, colour) not in (None, before)


def cycle(term: Terminal, colour: str, phase: Phase | Callable[[], Phase]) -> None:
    """7 1 2 1, then down and up, each sample into the phase it was pressed in."""

    def current() -> Phase:
        return phase if isinstance(phase, Phase) else phase()

    for key, done, label in SCREEN_KEYS:
        into = current()
        took = term.press(key, done)
        into.screen.append(took)
        into.by_key.setdefault(label, []).append(took)
    for key in ("down", "up"):
        into = current()
        into.cursor.append(term.press(KEYS[key], cursor_moved(term, colour)))


def read_lag(term: Terminal, phase: Phase) -> None:
    """The phase's longest UI-loop stall, from the Health screen, then back to the board."""
    term.press("7", on_health)
    phase.lag = loop_lag(term)
    for line in term.lines():
        found = LOOP_CPU.search(line)
        if found:
            phase.lag_cpu = int(found.group(1)), int(found.group(2))
    term.press("1", on_board)


def connect(url: str, data: str, size: tuple[int, int]) -> Terminal:
    return Terminal([sys.executable, "-m", "racetui", "connect", url], data, *size)


@dataclass
class Run:
    size: tuple[int, int]
    idle: Phase = field(default_factory=Phase)
    loading: Phase = field(default_factory=Phase)
    live: Phase = field(default_factory=Phase)
    first: float = float("nan")
    rss: tuple[float, float] = (float("nan"), float("nan"))
    synced: bool = True
    settled: bool = True


def run(
    size: tuple[int, int],
    athletes: int,
    cycles: int,
    data: str,
    live_s: float = LIVE_MINUTE_S,
    sim_nice: int = 0,
) -> Run:
    out = Run(size)
    tag = f"{size[0]}x{size[1]}"
    with SimProcess("--kind", "sprint", "--athletes", "100", "--countdown", "3600") as sim:
        term = connect(sim.base_url, os.path.join(data, f"idle-{tag}"), size)
        try:
            term.wait(has_athletes, 120)
            out.settled = term.settle(0.5, 2.0)
            colour = cursor_colour(term)
            for _ in range(cycles):
                cycle(term, colour, out.idle)
            read_lag(term, out.idle)
            out.synced = out.synced and term.synced
        finally:
            term.close()
    big = ("--kind", "road", "--athletes", str(athletes), "--speed", "60", "--skip", "7200")
    with SimProcess(*big, "--countdown", "5", nice=sim_nice) as sim:
        term = connect(sim.base_url, os.path.join(data, f"big-{tag}"), size)
        try:
            at = term.wait(has_athletes, 300)
            out.first = at - term.started
            colour = cursor_colour(term)
            shown = [athletes_shown(term)]

            # Loading lasts until the board counts the whole field and the header no
            # longer says "loading": the start list comes first ("50,000 athletes"), then
            # the times point by point ("loading the times at 5 of 10 timing points").
            loaded = [False]

            def phase() -> Phase:
                if on_board(term):
                    shown[0] = athletes_shown(term)
                    loaded[0] = shown[0] >= athletes and not LOADING.search(term.lines()[0])
                return out.live if loaded[0] else out.loading

            deadline = time.perf_counter() + 300
            while not loaded[0] and time.perf_counter() < deadline:
                cycle(term, colour, phase)
            read_lag(term, out.loading)
            # The probe's figure is the last minute: the live one is read once a whole
            # minute of it is live (before, the loading's stalls were read as live ones).
            live_from = time.perf_counter()
            done = 0
            while done < cycles or time.perf_counter() - live_from < live_s:
                cycle(term, colour, out.live)
                done += 1
            read_lag(term, out.live)
            out.rss = term.rss()
            out.synced = out.synced and term.synced
        finally:
            term.close()
    return out


def rows_of(result: Run, athletes: int) -> list[Measurement]:
    tag = f"pty {result.size[0]}x{result.size[1]}"
    rows: list[Measurement] = []
    how = "" if result.synced else "; UNSYNCED: no synchronized output, judged after every read"
    base: dict[str, float] = {}
    for label, phase in (("idle", result.idle), ("loading", result.loading), ("live", result.live)):
        for kind, samples in (("screen keys 7 1 2 1", phase.screen), ("cursor down/up", phase.cursor)):
            good = [x * 1000 for x in samples if x == x]
            if not good:
                continue
            median, p95 = summarize(good)
            if label == "idle":
                base[kind] = p95
                name = f"{tag}: key→frame, idle board, {kind} (baseline)"
                note = f"{len(good)} of {len(samples)} presses"
                if not result.settled:
                    note += "; board still drawing 2 s after it came"
            else:
                name = f"{tag}: key→frame, {label} ({athletes:,} athletes), {kind}"
                note = f"{len(good)} of {len(samples)} presses"
                if kind in base:
                    note += f"; p95 {p95 / base[kind]:.2f}x idle"
            if phase.screen is samples and phase.key_medians():
                note += f"; {phase.key_medians()}"
            target = "" if label == "idle" else "p95 <= 100 and <= 2x idle"
            rows.append(Measurement(name, median, p95, "ms", target, note + how))
        if phase.lag is not None:
            last_min, ever, p99 = phase.lag
            cpu = ""
            if phase.lag_cpu is not None:
                span, held = phase.lag_cpu
                cpu = f"; the longest's {span} ms between wake-ups held {held} ms of loop CPU"
            rows.append(
                Measurement(
                    f"{tag}: longest UI-loop stall, {label}",
                    last_min,
                    None,
                    "ms",
                    "<= 50",
                    f"last minute at the phase's end; {ever} ms since start, p99 {p99} ms{cpu}",
                )
            )
    rows += [
        Measurement(
            f"{tag}: first board with athletes ({athletes:,}, BBT)",
            result.first,
            None,
            "s",
            "<= 3",
            "from spawn",
        ),
        Measurement(f"{tag}: peak RSS, dashboard ({athletes:,})", result.rss[0], None, "MB", "<= 250", ""),
        Measurement(f"{tag}: peak RSS, its hub ({athletes:,})", result.rss[1], None, "MB", "<= 250", ""),
    ]
    return rows


def measure(
    smoke: bool = False,
    athletes: int = 50_000,
    cycles: int = 5,
    sizes: tuple[tuple[int, int], ...] = SIZES,
    sim_nice: int = 0,
) -> list[Measurement]:
    if smoke:
        athletes, cycles, sizes = 300, 1, sizes[:1]
    rows: list[Measurement] = []
    with tempfile.TemporaryDirectory() as data:
        for size in sizes:
            live_s = 0.0 if smoke else LIVE_MINUTE_S
            rows += rows_of(run(size, athletes, cycles, data, live_s, sim_nice), athletes)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--athletes", type=int, default=50_000)
    parser.add_argument("--cycles", type=int, default=5, help="cycles of 7 1 2 1 down up per phase")
    parser.add_argument(
        "--size", action="append", type=parse_size, help="COLSxROWS (default: 120x36 and 80x24)"
    )
    parser.add_argument(
        "--sim-nice",
        type=int,
        default=0,
        help="run the 50,000-athlete simulator at this nice level (default 0): a timing master "
        "has a PC of its own, here it shares the dashboard's cores",
    )
    args = parser.parse_args()
    print_table(measure(args.smoke, args.athletes, args.cycles, tuple(args.size or SIZES), args.sim_nice))


if __name__ == "__main__":
    main()
