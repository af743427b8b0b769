"""Leaderboard groups at 50,000 athletes: what the separators cost the UI tick.

The simulator's seeded road race (one mass start) is loaded 45 minutes in; the board is
viewed at its busiest timing point (nearly the whole field). With groups on, each change
of the field means working out where the groups start over the whole view (the display
index of a row is its view index plus the separators above it, and the scroll length
needs them all), then building the 40 rows in view. Measured, per call, in-process (no
terminal; the frame is what bench_ui measures):

* ``groups: regroup + 40 rows`` — after a change of the field: the times read from the
  ordering, the group starts, then one screen of rows (top, middle and bottom of the board);
* ``groups: 40 rows (cached)`` — a redraw with no change: only the rows;
* ``no groups: 40 rows`` — the same screen without separators (the baseline);
* ``results label`` — the PROVISIONAL/OFFICIAL label the leaderboard line shows every
  tick (no athlete read); ``results with counts`` — the O dialog's who-is-still-out count.

Usage: python -m benchmarks.bench_groups [--smoke]
"""

from __future__ import annotations

import argparse

from benchmarks.common import Measurement, print_table, race_in_progress, repeat, summarize


def measure(smoke: bool = False, athletes: int = 50_000) -> list[Measurement]:
    from racetui.engine.official import results_state
    from racetui.tui.rows import LeaderboardModel
    from racetui.tui.state import UiState

    if smoke:
        athletes = 2_000
    times = 3 if smoke else 20
    race = race_in_progress(athletes, stream=0)
    engine = race.pipeline.engine
    standings = next(iter(engine.races.values()))
    point = max(standings.points, key=lambda p: len(standings.view(point_id=p.id)))
    state = UiState(engine)
    state.race_id = standings.race.id
    state.point_id = point.id
    model = LeaderboardModel(state)
    count = len(model)  # the first read settles the engine
    at = [0, count // 2, max(0, count - 40)]

    def regroup() -> None:
        for start in at:
            model._groups = None  # what a change of the field does
            len(model)
            model.fetch(start, start + 40)

    def cached() -> None:
        for start in at:
            len(model)
            model.fetch(start, start + 40)

    out: list[Measurement] = []
    n = f"{athletes:,}"
    seen = len(standings.view(point_id=point.id))
    note = (
        f"{seen:,} athletes at {point.name}, {model.groups().separators if model.groups() else 0} separators"  # type: ignore[union-attr]
    )
    for name, fn in (("groups: regroup + 40 rows", regroup), ("groups: 40 rows (cached)", cached)):
        median, p95 = summarize([s / len(at) * 1000 for s in repeat(fn, times)])
        out.append(Measurement(f"{name} ({n})", median, p95, "ms", "< 50 ms (the UI loop)", note))
    state.groups = False
    median, p95 = summarize([s / len(at) * 1000 for s in repeat(cached, times)])
    out.append(Measurement(f"no groups: 40 rows ({n})", median, p95, "ms", "", "the baseline"))
    label = repeat(lambda: results_state(standings, counts=False), times)
    median, p95 = summarize([s * 1000 for s in label])
    out.append(Measurement(f"results label ({n})", median, p95, "ms", "", "every tick"))
    full = repeat(lambda: results_state(standings), times)
    median, p95 = summarize([s * 1000 for s in full])
    out.append(Measurement(f"results with counts ({n})", median, p95, "ms", "", "on O only"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    print_table(measure(args.smoke))


if __name__ == "__main__":
    main()
