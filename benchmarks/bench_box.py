"""The penalty-box screen's work per UI tick on a busy race: what ``box_rows`` costs.

A generated standard triathlon (``--athletes``, default 2,000) advanced to 70 minutes after
the gun (the field on the bike), and a desk (SQLite in a temporary dir, WAL) with
``--penalised`` athletes' confirmed penalties (default 200): each assigned to the bike box;
a third of them in the box, a third served there. Timed one call at a time: the desk read
(the race's entries, SQLite and the fold: the screen does it at most once a second and
after its own keys), and ``box_rows`` with new projections (after a passing) and with the
kept ones (a plain tick: countdowns, ETAs, the sort), and that tick with every athlete
checked for the timing source's unserved penalties (the screen checks only those the
tracker lists as unserved: this is the bound). Drawing (the table, the board) is not
included.

Usage: python -m benchmarks.bench_box [--smoke] [--athletes N] [--penalised N]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import Measurement, print_table, repeat, summarize
from racetui.sim import RaceSpec, SimConfig, SimState, generate_event
from racetui.sources.desk import EventKey, IncidentDesk
from racetui.tui.screens.box import box_rows

EVENT = EventKey("BBTSource", "bench", "2026-12-02")


def measure(smoke: bool = False, athletes: int = 2_000, penalised: int = 200) -> list[Measurement]:
    if smoke:
        athletes, penalised = 120, 12
    sim = generate_event(
        SimConfig(races=(RaceSpec("standard", entries=athletes),), seed=5, countdown=0, clock="manual")
    )
    state = SimState(sim)
    race_id = sim.races[0].id
    gun = sim.races[0].gun_at_ms
    now_ms = 70 * 60_000
    state.advance_to(gun + now_ms)
    standings = state.engine.race(race_id)
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        desk = IncidentDesk(Path(tmp) / "incidents.sqlite3", operator="TD", event=EVENT)
        bibs = [a.bib for a in standings.athletes()][:penalised]
        for n, bib in enumerate(bibs):
            pen = desk.record(race_id, bib, "penalty", seconds=30, infringement="drafting")
            desk.assign(race_id, bib, pen.id, box="bike box")
            if n % 3 == 1:
                desk.enter_box(race_id, bib, pen.id, seen_at=now - timedelta(seconds=n % 30))
            elif n % 3 == 2:
                desk.enter_box(race_id, bib, pen.id, seen_at=now - timedelta(minutes=5))
                desk.leave_box(race_id, bib, pen.id, seen_at=now - timedelta(minutes=4))
        actions = len(desk.audit())
        times = 10 if smoke else 60
        read = repeat(lambda: desk.history(race_id), times)
        entries = desk.history(race_id)
        cold = repeat(lambda: box_rows(entries, standings, "bike box", now, now_ms), times)
        arrivals: dict[tuple[str, int, int], int | None] = {}
        box_rows(entries, standings, "bike box", now, now_ms, arrivals)
        warm = repeat(lambda: box_rows(entries, standings, "bike box", now, now_ms, arrivals), times)
        # the timing source's penalties: each athlete the tracker names is read from the
        # engine; the worst case, every athlete named
        everyone = [a.bib for a in standings.athletes()]
        named = repeat(
            lambda: box_rows(entries, standings, "bike box", now, now_ms, arrivals, everyone), times
        )
        shown = len(box_rows(entries, standings, "bike box", now, now_ms))
    label = f"box {athletes:,} athletes, {penalised} penalised ({actions} desk actions, {shown} lines)"
    out = []
    for name, values, note in (
        ("desk read", read, "desk.history(race): SQLite + fold; the screen does it at most once a second"),
        ("lines, new projections", cold, "every due athlete projected to the box's point, the sort"),
        ("lines, a plain tick", warm, "projections kept (nobody passed a point): countdowns, ETAs, sort"),
        (
            "lines, a plain tick, every athlete checked for source penalties",
            named,
            "as above, each athlete read",
        ),
    ):
        median, p95 = summarize(values)
        out.append(Measurement(f"{label}: {name}", median * 1000, p95 * 1000, "ms", "", note))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--athletes", type=int, default=2_000)
    parser.add_argument("--penalised", type=int, default=200)
    args = parser.parse_args()
    print_table(measure(args.smoke, args.athletes, args.penalised))


if __name__ == "__main__":
    main()
