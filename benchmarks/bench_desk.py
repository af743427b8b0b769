"""The incident desk on a busy race day: what a desk key, the Incidents bar and the reports
cost once the desk holds a whole day's decisions.

The desk (SQLite in a temporary data dir, WAL, as in the data dir) is filled with one
event's lifecycle: for every penalised athlete a report, a confirmation, a box, entered,
left; every fifth one declined instead; plus DNF/DNS entries. Then, timed one call at a
time: recording one more action (validation against the athlete's entries, the insert and
its commit), an athlete's entries (what a desk key reads before its form), the race's
pending reports (the Incidents bar, every few seconds), the engine override of every
athlete (start-up, ``desk.apply``) and the three reports (``racetui desk report`` without
the process start).

Usage: python -m benchmarks.bench_desk [--smoke] [--athletes N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import Measurement, print_table, repeat, summarize
from racetui.sources.desk import EventKey, IncidentDesk
from racetui.sources.desk.reports import announcer, board, violations

EVENT = EventKey("BBTSource", "bench", "2026-12-02")


def fill(desk: IncidentDesk, athletes: int) -> int:
    """One race day's decisions for ``athletes`` penalised athletes; the number of actions."""
    for n in range(1, athletes + 1):
        bib = str(n)
        rep = desk.report("r", bib, seconds=30, infringement="drafting", location=f"bike lap {n % 4 + 1}")
        if n % 5 == 0:
            desk.decline("r", bib, rep.id, reason="not seen on the video")
            continue
        desk.confirm("r", bib, rep.id)
        desk.assign("r", bib, rep.id, box="bike box")
        if n % 3:
            desk.enter_box("r", bib, rep.id)
            desk.leave_box("r", bib, rep.id)
        if n % 7 == 0:
            desk.record("r", bib, "dnf", reason="Withdrew from the race due to bike crash.")
    return len(desk.audit())


def measure(smoke: bool = False, athletes: int = 2_000) -> list[Measurement]:
    if smoke:
        athletes = 60
    with tempfile.TemporaryDirectory() as tmp:
        desk = IncidentDesk(Path(tmp) / "incidents.sqlite3", operator="TD", event=EVENT)
        actions = fill(desk, athletes)
        label = f"{actions:,} actions"
        times = 10 if smoke else 50
        bibs = iter(range(athletes + 1, athletes + 1 + times))
        record = repeat(
            lambda: desk.report("r", str(next(bibs)), seconds=10, infringement="littering"), times
        )
        entries = repeat(lambda: desk.entries_of("r", str(athletes // 2)), times)
        pending = repeat(lambda: desk.pending("r"), max(3, times // 10))
        overrides = repeat(desk.overrides, 3)
        entries_all = desk.history()
        reports = repeat(
            lambda: (
                board(entries_all, {}, desk.boxes),
                violations(entries_all, {}),
                announcer(entries_all, {}),
            ),
            3,
        )
    rows = []
    for name, values, note in (
        ("record one action", record, "validate on the athlete's entries, insert, commit (WAL)"),
        ("an athlete's entries", entries, "what a desk key reads before its form"),
        ("pending reports of a race", pending, "the Incidents bar's count (read every few seconds)"),
        ("every athlete's override", overrides, "start-up / a new event: desk.apply"),
        ("board + violations + announcer", reports, "the three reports from the folded entries"),
    ):
        median, p95 = summarize(values)
        rows.append(Measurement(f"desk {label}: {name}", median * 1000, p95 * 1000, "ms", "", note))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--athletes", type=int, default=2_000)
    args = parser.parse_args()
    print_table(measure(args.smoke, args.athletes))


if __name__ == "__main__":
    main()
