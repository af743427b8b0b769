"""Projections against the simulator's truth, and what arrivals() costs at 50,000 athletes.

The generator knows every athlete's planned time at every point (its schedule); the race is
replayed into the product's engine (``SimState``) and, as it runs, what the engine projects
is compared with what then happens:

* **finish error at the last split**: when an athlete passes the last timing point before
  the finish, |projected finish - their actual finish| as a share of their actual finish
  time (chip, since their own start); median and p95 over every finisher; and how many
  actual finishes fell within the projection's ± spread;
* **"next 60 s" lists**: every 5 minutes of race time, at every timing point, the athletes
  :func:`~racetui.engine.projections.arrivals` lists for the next 60 s against those who
  really pass in that minute: precision (listed who came), recall (came who were listed),
  each a median over the (moment, point) pairs with anyone due; and the median |projected
  - actual| arrival time of those listed who came;
* **cost**: ``arrivals()`` at one point of a 50,000-athlete marathon two hours in, as a UI
  tick calls it: after ~300 new passings (a busy tick), and with nothing new;
* **the Coming tick**: the reads one tick of the Coming screen makes (both views), 300
  passings/s, first visit and live (with the re-plans after new medians).

Usage: python -m benchmarks.bench_projections [--smoke] [--tick]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.common import Measurement, percentile, print_table, summarize
from racetui.engine.projections import (
    _CACHES,
    arrivals,
    front_point,
    not_through,
    on_course,
    project,
    replan,
    unprojected,
)
from racetui.engine.standings import RaceStandings
from racetui.model import Passing
from racetui.sim import RaceSpec, SimConfig, SimState, generate_event
from racetui.sim.generate import PASS

STEP_MS = 30_000  # replay step between looks at who just passed the last split
LIST_EVERY_MS = 5 * 60_000
WINDOW_MS = 60_000


@dataclass
class Accuracy:
    kind: str
    finish_errors: list[float]
    inside: int
    mid_errors: list[float]
    mid_name: str
    precision: list[float]
    recall: list[float]
    eta_errors: list[float]


def _race(
    kind: str, entries: int, start_mode: str, seed: int
) -> tuple[SimState, str, dict[str, list[int | None]]]:
    sim = generate_event(
        SimConfig(
            races=(RaceSpec(kind, entries=entries, start_mode=start_mode),),
            seed=seed,
            countdown=0,
            clock="manual",
        )
    )
    race = sim.races[0]
    ids = [p.id for p in sorted(race.race.points, key=lambda p: p.order)]
    where = {pid: i for i, pid in enumerate(ids)}
    truth: dict[str, list[int | None]] = {}
    for h in sim.schedule:
        if h.kind == PASS and h.bib is not None and h.point_id is not None and h.time_ms is not None:
            truth.setdefault(h.bib, [None] * len(ids))[where[h.point_id]] = h.time_ms
    return SimState(sim), race.id, truth


def accuracy(label: str, kind: str, entries: int, start_mode: str, seed: int = 11) -> Accuracy:
    state, race_id, truth = _race(kind, entries, start_mode, seed)
    sim_race = state.sim.race(race_id)
    gun = sim_race.gun_at_ms
    standings = state.engine.race(race_id)
    n = len(standings.points)
    last = n - 2
    offsets = {w.id: w.offset_ms for w in standings.race.waves}
    offset_of = {
        p.bib: offsets.get(p.wave_id or "", 0) for p in state.sim.participants if p.race_id == race_id
    }
    done: set[str] = set()
    errors: list[float] = []
    inside = 0
    precision: list[float] = []
    recall: list[float] = []
    eta_errors: list[float] = []
    end = state.sim.end_ms
    next_list = gun + LIST_EVERY_MS
    at = gun
    last_id = standings.points[last].id
    mid = (n - 1) // 2
    mid_id = standings.points[mid].id
    mid_errors: list[float] = []
    while at < end and not state.finished:
        at += STEP_MS
        before = state.cursor
        state.advance_to(at)
        now = at - gun  # race time since the gun
        for h in state.sim.schedule[before : state.cursor]:
            bib = h.bib
            if h.kind == PASS and h.point_id == mid_id and bib is not None:
                finish = truth.get(bib, [None])[-1]
                later = project(standings, bib)
                if finish is not None and later and later[-1].point_index == n - 1:
                    mid_errors.append(abs(later[-1].gun_ms - finish) / (finish - offset_of.get(bib, 0)))
            if h.kind != PASS or h.point_id != last_id or bib is None or bib in done:
                continue
            done.add(bib)
            finish = truth.get(bib, [None])[-1]
            later = project(standings, bib)
            if finish is None or not later:
                continue
            chip_finish = finish - offset_of.get(bib, 0)
            error = later[-1].gun_ms - finish
            errors.append(abs(error) / chip_finish)
            inside += abs(error) <= later[-1].spread_ms
        if at >= next_list:
            next_list += LIST_EVERY_MS
            for index in range(n):
                listed = {a.bib: a for a in arrivals(standings, index, now, WINDOW_MS)}
                actual = {
                    b
                    for b, t in truth.items()
                    if (t[index] is not None and now < t[index] <= now + WINDOW_MS)
                }  # type: ignore[operator]
                if not listed and not actual:
                    continue
                hit = set(listed) & actual
                if listed:
                    precision.append(len(hit) / len(listed))
                if actual:
                    recall.append(len(hit) / len(actual))
                for bib in hit:
                    eta_errors.append(abs(listed[bib].projection.gun_ms - (truth[bib][index] or 0)) / 1000)
    return Accuracy(
        label, errors, inside, mid_errors, standings.points[mid].name, precision, recall, eta_errors
    )


def _passings(state: SimState, race_id: str, start_ms: int, count: int) -> list[Passing]:
    out = []
    for h in state.sim.schedule[state.cursor :]:
        if h.kind == PASS and h.race_id == race_id:
            out.append(h.passing())
            if len(out) == count:
                break
    return out


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, own CPU ms) of one call: on a shared machine the wall clock includes
    waiting for a CPU; the CPU time is the work itself."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


def cost(athletes: int, minutes: int, rounds: int) -> list[Measurement]:
    state, race_id, _ = _race("marathon" if athletes > 5_000 else "half", athletes, "mass", 7)
    gun = state.sim.race(race_id).gun_at_ms
    state.advance_to(gun + minutes * 60_000)
    engine = state.engine
    standings = engine.race(race_id)
    index = len(standings.points) // 2
    now = minutes * 60_000
    engine.settle()  # the bulk load's re-sort is the engine's, not the projections'
    gc.collect()
    gc.freeze()  # as the dashboard does once a big field has loaded (RaceApp._freeze_big_field)
    replan(standings)  # the first visit's ticks are Coming tick's rows
    warm: list[tuple[float, float]] = []
    busy: list[tuple[float, float]] = []
    stream = _passings(state, race_id, now, 300 * rounds)
    for r in range(rounds):
        warm.append(_timed(lambda at=now: arrivals(standings, index, at, WINDOW_MS)))
        batch = stream[r * 300 : (r + 1) * 300]
        engine.apply_passings(batch)
        engine.settle()
        now = max([now, *(p.time_ms for p in batch)])  # the clock follows the passings
        busy.append(_timed(lambda at=now: arrivals(standings, index, at, WINDOW_MS)))
    listed = len(arrivals(standings, index, now, WINDOW_MS))
    size = f"{len(standings):,}"
    note = f"{size} athletes × {len(standings.points)} points, {minutes} min in, {listed} listed"
    rows = []
    for label, values, target in (("after 300 passings", busy, "≤ 50 ms"), ("nothing new", warm, "")):
        cpu_median, cpu_p95 = summarize([c for _, c in values])
        wall_median, wall_p95 = summarize([w for w, _ in values])
        rows.append(
            Measurement(
                f"arrivals() {size}: {label}, own CPU",
                cpu_median,
                cpu_p95,
                "ms",
                target,
                f"{note}; wall clock {wall_median:.1f} / {wall_p95:.1f} ms",
            )
        )
    return rows


TICK_S = 0.15  # the dashboard's UI tick
TICK_PASSINGS = 45  # 300 passings/s at that tick
COMING_WINDOW_MS = 5 * 60_000  # the Coming screen's default window


def _coming_reads(standings: RaceStandings, now: int, view_on_course: bool) -> None:
    """The engine reads of one Coming tick as the screen makes them (ComingScreen._prepare
    and update_info): the front point (up to three arrivals() looks), then the list shown
    (the arrivals there, or On course's athletes not through it and the race's counts)."""
    index = max(0, front_point(standings, now, COMING_WINDOW_MS))
    if view_on_course:
        not_through(standings, index, now, paced=True)  # as NotThroughModel reads it
        on_course(standings, now)
    else:
        arrivals(standings, index, now, COMING_WINDOW_MS)
    unprojected(standings)


def coming_tick(
    athletes: int, minutes: int, ticks: int, views: tuple[bool, ...] = (False, True)
) -> list[Measurement]:
    """The Coming screen's tick at ``athletes`` live: every tick applies 45 passings (300/s at
    0.15 s a tick), the clock following them, then makes the screen's reads, a tick every
    0.15 s of wall clock as the dashboard does (the re-plan's share is per tick); the first
    visit (athletes still to project) apart from the live ticks after it, which include the
    field's re-plans when the medians are re-taken. The Coming view, then On course on the
    same race from scratch (its projections dropped)."""
    state, race_id, _ = _race("marathon" if athletes > 5_000 else "half", athletes, "mass", 7)
    gun = state.sim.race(race_id).gun_at_ms
    state.advance_to(gun + minutes * 60_000)
    engine = state.engine
    standings = engine.race(race_id)
    now = minutes * 60_000
    engine.settle()
    gc.collect()
    gc.freeze()
    stream = _passings(state, race_id, now, 2 * TICK_PASSINGS * ticks)
    rows = []
    for view_on_course in views:
        view = "on course" if view_on_course else "coming"
        _CACHES.pop(standings, None)
        first: list[float] = []
        live: list[float] = []
        versions = set()
        for _ in range(ticks):
            batch, stream = stream[:TICK_PASSINGS], stream[TICK_PASSINGS:]
            if not batch:
                break
            started = time.perf_counter()
            engine.apply_passings(batch)
            engine.settle()
            now = max([now, *(p.time_ms for p in batch)])
            cold = unprojected(standings) > 0
            _, cpu = _timed(lambda at=now, on=view_on_course: _coming_reads(standings, at, on))
            (first if cold else live).append(cpu)
            versions.add(_CACHES[standings].version)
            time.sleep(max(0.0, TICK_S - (time.perf_counter() - started)))
        size = f"{len(standings):,}"
        note = (
            f"{size} athletes, {minutes} min in, {TICK_PASSINGS} passings a tick, "
            f"{len(versions)} sets of medians"
        )
        for label, values in (("live", live), ("first visit", first)):
            if not values:
                continue
            median, p95 = summarize(values)
            rows.append(
                Measurement(
                    f"Coming tick {size}, {view}: {label}, own CPU",
                    median,
                    p95,
                    "ms",
                    "p95 ≤ 25, max ≤ 50 ms",
                    f"{note}; max {max(values):.1f} ms over {len(values)} ticks",
                )
            )
    gc.unfreeze()
    return rows


def report(result: Accuracy) -> list[Measurement]:
    rows = []
    errors = [e * 100 for e in result.finish_errors]
    if errors:
        share = 100 * result.inside / len(errors)
        rows.append(
            Measurement(
                f"projection {result.kind}: finish error at the last split",
                statistics.median(errors),
                percentile(errors, 95),
                "% of time",
                "road ≤ 2 %" if result.kind.startswith("road") else "",
                f"{len(errors)} finishers; {share:.0f} % within ± spread",
            )
        )
    if result.mid_errors:
        mid = [e * 100 for e in result.mid_errors]
        rows.append(
            Measurement(
                f"projection {result.kind}: finish error at {result.mid_name}",
                statistics.median(mid),
                percentile(mid, 95),
                "% of time",
                "",
                f"{len(mid)} finishers, projected when they passed {result.mid_name}",
            )
        )
    if result.precision and result.recall:
        rows.append(
            Measurement(
                f"projection {result.kind}: next-60 s list precision",
                100 * statistics.median(result.precision),
                100 * percentile(result.precision, 5),
                "% (p5)",
                "",
                f"listed who came, {len(result.precision)} (moment, point) lists",
            )
        )
        rows.append(
            Measurement(
                f"projection {result.kind}: next-60 s list recall",
                100 * statistics.median(result.recall),
                100 * percentile(result.recall, 5),
                "% (p5)",
                "",
                "came who were listed",
            )
        )
    if result.eta_errors:
        median, p95 = summarize(result.eta_errors)
        rows.append(
            Measurement(
                f"projection {result.kind}: next-60 s arrival error",
                median,
                p95,
                "s",
                "",
                "listed and came: |projected - actual|",
            )
        )
    return rows


def measure(smoke: bool = False) -> list[Measurement]:
    rows: list[Measurement] = []
    if smoke:
        races = [("road 10K", "10k", 200, "mass"), ("triathlon sprint", "sprint", 60, "mass")]
        rows += [r for spec in races for r in report(accuracy(*spec))]
        return rows + cost(2_000, 30, 3) + coming_tick(2_000, 30, 20)
    races = [
        ("road marathon", "marathon", 3_000, "waves"),
        ("road 10K", "10k", 2_000, "mass"),
        ("triathlon elite", "standard", 60, "mass"),
        ("triathlon age group", "standard", 800, "waves"),
    ]
    for spec in races:
        rows += report(accuracy(*spec))
    return rows + cost(50_000, 120, 20) + coming_tick(50_000, 120, 400)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--tick", action="store_true", help="only the Coming tick at 50,000")
    args = parser.parse_args()
    if args.tick:
        print_table(
            coming_tick(2_000 if args.smoke else 50_000, 30 if args.smoke else 120, 20 if args.smoke else 400)
        )
        return
    print_table(measure(args.smoke))


if __name__ == "__main__":
    main()
