"""Start-up: ``racetui demo`` from process start to the first drawn leaderboard.

The demo runs as a user would start it, in a pseudo-terminal of 120x36 (benchmarks/ptyterm.py:
its output through a terminal emulator, synchronized output answered): the clock starts
before the process is spawned and stops at the read that ends the first frame showing a
leaderboard row with a bib (the column header of a still empty board comes earlier and is
not what a user waits for). Each run is a fresh process with its own data dir. Several
runs give a median and p95.

Usage: python -m benchmarks.bench_startup [--smoke] [--runs N] [--athletes N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from benchmarks.common import Measurement, print_table, summarize
from benchmarks.ptyterm import Terminal, has_athletes


def one_run(athletes: int, timeout: float = 60.0) -> float:
    """Seconds from spawn to the first leaderboard with athletes on it (nan if it never
    came). The table header of an empty board comes earlier and is not the mark: a user
    waits for names."""
    with tempfile.TemporaryDirectory() as data:
        argv = [sys.executable, "-m", "racetui", "demo", "--athletes", str(athletes), "--countdown", "5"]
        term = Terminal(argv, data)
        try:
            return term.wait(has_athletes, timeout) - term.started
        finally:
            term.close()


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
            f"{len(good)} of {runs} runs, fresh process in a 120x36 pty, to the first row with a bib",
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
