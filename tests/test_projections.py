"""Projections, checked against arithmetic worked out by hand and against the simulator's
truth (the generator's schedule holds every athlete's planned time at every point)."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racetui.engine import Engine, RaceStandings, projections
from racetui.engine.projections import (
    arrivals,
    discipline,
    front_point,
    listing,
    not_through,
    on_course,
    project,
    projected_finish_order,
    unprojected,
)
from racetui.model import Event, Participant, Passing, Race, Result, Status, TimingPoint, Wave
from racetui.sim import RaceSpec, SimConfig, SimState, generate_event
from racetui.sim.generate import PASS

MIN = 60_000


def road(points: int = 4, waves: list[Wave] | None = None) -> Engine:
    """A 5 km-per-point road race: p1 at 5 km ... p4 (the finish) at 20 km."""
    engine = Engine()
    race = Race(
        id="r",
        name="20K",
        points=[
            TimingPoint(
                id=f"p{i}",
                race_id="r",
                name=f"{5 * i} km",
                order=i,
                distance_m=5000.0 * i,
                is_finish=i == points,
            )
            for i in range(1, points + 1)
        ],
        waves=waves or [],
    )
    engine.load_event(Event(id="e", name="E", races=[race]))
    return engine


def athletes(engine: Engine, bibs: list[str], **fields: str) -> None:
    engine.add_participants(Participant(bib=b, race_id="r", name=f"Runner {b}", **fields) for b in bibs)


def passes(engine: Engine, bib: str, times: list[int], race: str = "r", prefix: str = "p") -> None:
    engine.apply_passings(
        [Passing(race_id=race, bib=bib, point_id=f"{prefix}{i}", time_ms=t) for i, t in enumerate(times, 1)]
    )


def test_even_pace_runners_are_projected_exactly_at_every_later_point() -> None:
    engine = road()
    # five runners at an even 20, 22, 24, 26, 28 minutes per 5 km, all through 15 km
    for n, per in enumerate((20, 22, 24, 26, 28), 1):
        passes(engine, str(n), [per * MIN * k for k in (1, 2, 3)])
    passes(engine, "9", [25 * MIN])  # a sixth, 25 min per 5 km, only through 5 km
    standings = engine.race("r")
    (finish,) = project(standings, "1")
    assert (finish.point_index, finish.at_ms, finish.basis) == (3, 80 * MIN, "splits")
    later = project(standings, "9")
    assert [(p.point_index, p.at_ms) for p in later] == [(1, 50 * MIN), (2, 75 * MIN), (3, 100 * MIN)]
    # everyone held their pace: the uncertainty is small, and grows with the distance left
    spreads = [p.spread_ms for p in later]
    assert spreads == sorted(spreads) and 0 < spreads[-1] < 2 * MIN
    assert projected_finish_order(standings) == ["1", "2", "3", "9", "4", "5"]


def test_a_runner_who_slowed_is_projected_on_the_recent_pace_more_than_the_first() -> None:
    engine = road()
    for n, per in enumerate((20, 21, 22, 23), 1):
        passes(engine, str(n), [per * MIN * k for k in (1, 2, 3)])
    # bib 7: 20 min for the first 5 km, 22 for the next, 24 for the third (a fade)
    passes(engine, "7", [20 * MIN, 42 * MIN, 66 * MIN])
    (finish,) = project(engine.race("r"), "7")
    # even pace over the whole race would say 88:00; the last 5 km alone, 90:00
    assert 88 * MIN < finish.at_ms <= 90 * MIN


def test_each_discipline_scales_by_the_athletes_own_pace_in_it() -> None:
    engine = Engine()
    names = ["Swim Exit", "Transition 1", "Bike Lap 1", "Bike End", "Transition 2", "Finish"]
    metres = [1500, 1500, 21500, 41500, 41500, 51500]
    race = Race(
        id="t",
        name="Standard",
        points=[
            TimingPoint(
                id=f"t{i}", race_id="t", name=n, order=i, distance_m=float(m), is_finish=n == "Finish"
            )
            for i, (n, m) in enumerate(zip(names, metres, strict=True), 1)
        ],
    )
    engine.load_event(Event(id="e", name="E", races=[race]))
    # the field: swim 20 min, T1 1 min, each bike lap 30 min, T2 1 min, run 40 min, all alike
    field = [20, 21, 51, 81, 82, 122]
    for n in range(1, 6):
        passes(engine, str(n), [m * MIN for m in field], race="t", prefix="t")
    # bib 8: a strong swimmer (15 min) and a weak rider (36 min for bike lap 1)
    passes(engine, "8", [15 * MIN, 16 * MIN, 52 * MIN], race="t", prefix="t")
    standings = engine.race("t")
    later = {p.point_index: p.at_ms for p in project(standings, "8")}
    # bike lap 2 at their bike pace (+36); T2 and the run, not started, at their speed
    # over everything so far: 52 / 51 of the field's 1 and 40 minutes
    assert later[3] == 88 * MIN
    assert abs(later[4] - (88 * MIN + MIN * 52 / 51)) < 2
    assert abs(later[5] - (88 * MIN + 41 * MIN * 52 / 51)) < 2
    assert [discipline(p) for p in standings.points[:5]] == ["swim", "t1", "bike", "bike", "t2"]
    assert discipline(standings.points[5], "t2") == "run"
    # a relay's points carry their leg: the leg's number is not the transition's
    relay = [
        TimingPoint(id=str(i), race_id="x", name=n, order=i)
        for i, n in enumerate(("Leg 2 Transition 1", "Leg 1 T2", "10 km"))
    ]
    assert [discipline(p) for p in relay] == ["t1", "t2", "course"]


def test_before_the_first_split_the_category_pace_then_the_wave_pace() -> None:
    engine = road(
        waves=[
            Wave(id="w1", race_id="r", name="A", offset_ms=0),
            Wave(id="w2", race_id="r", name="B", offset_ms=10 * MIN),
        ]
    )
    athletes(engine, ["1", "2", "3"], category="M40", wave_id="w1")
    athletes(engine, ["4", "5", "6"], category="M20", wave_id="w1")
    athletes(engine, ["7"], category="M40", wave_id="w2")
    athletes(engine, ["8"], category="F60", wave_id="w2")
    for bib, per in (("1", 24), ("2", 25), ("3", 26), ("4", 20), ("5", 21), ("6", 22)):
        passes(engine, bib, [per * MIN])
    standings = engine.race("r")
    first = project(standings, "7")[0]
    # the M40s' median relative speed is 25 / 21 of the field's median 5 km
    assert first.basis == "category pace"
    assert abs(first.at_ms - 25 * MIN) < 1_000 and first.gun_ms == first.at_ms + 10 * MIN
    # no F60 and no one of wave B on course yet: the field's pace; a W35 of wave A: wave A's
    assert project(standings, "8")[0].basis == "field pace"
    athletes(engine, ["9"], category="W35", wave_id="w1")
    assert project(engine.race("r"), "9")[0].basis == "wave pace"


def test_arrivals_lists_who_is_due_within_the_window_soonest_first_with_places() -> None:
    engine = road()
    for n, per in enumerate((20, 21, 22, 23, 24), 1):
        passes(engine, str(n), [per * MIN * k for k in (1, 2)])
    passes(engine, "1", [20 * MIN, 40 * MIN, 60 * MIN])  # the leader is through 15 km
    standings = engine.race("r")
    # at 62:00, who reaches 15 km (index 2) in the next 5 minutes? 21 -> 63:00, 22 -> 66:00
    due = arrivals(standings, 2, 62 * MIN, 5 * MIN)
    assert [(a.bib, a.eta_ms, a.place, a.current_place) for a in due] == [
        ("2", MIN, 2, 2),
        ("3", 4 * MIN, 3, 3),
    ]
    # at 64:00 bib 2 has not come (due 63:00): still listed as due now, a minute late
    late = arrivals(standings, 2, 64 * MIN, MIN)
    assert [(a.bib, a.eta_ms, a.overdue_ms) for a in late] == [("2", 0, MIN)]
    assert [a.bib for a in arrivals(standings, 2, 64 * MIN, -5)] == ["2"]  # no window: due now
    assert arrivals(standings, 9, 0, MIN) == []
    # the front of the race: the leader's next point (the finish), or where anyone is due
    assert front_point(standings) == 3
    assert front_point(standings, 62 * MIN, 5 * MIN) == 2  # no one at the finish before 80:00
    assert front_point(standings, 75 * MIN, 10 * MIN) == 3


def test_on_course_counts_and_the_athletes_still_to_pass_a_point() -> None:
    waves = [Wave(id="w1", race_id="r", name="A"), Wave(id="w2", race_id="r", name="B", offset_ms=100 * MIN)]
    engine = road(waves=waves)
    athletes(engine, ["1", "2", "3", "4", "5"], wave_id="w1")
    athletes(engine, ["6", "7"], wave_id="w2")
    passes(engine, "1", [20 * MIN, 40 * MIN, 60 * MIN, 80 * MIN])  # finished
    passes(engine, "2", [21 * MIN, 42 * MIN, 63 * MIN])
    engine.apply_results(
        "r",
        [
            Result(race_id="r", bib="5", status=Status.DNS),
            Result(race_id="r", bib="3", status=Status.DNF, splits={"p1": 22 * MIN, "p2": 44 * MIN}),
        ],
    )
    standings = engine.race("r")
    counts = on_course(standings, 90 * MIN)
    # started: 1, 2, 3 and 4 (no split, but wave A went at the gun); on course: 2 and 4;
    # out: 3 (DNF); wave B (6, 7) not started; 5 DNS
    assert (counts.started, counts.on_course, counts.finished, counts.out) == (4, 2, 1, 1)
    assert (counts.not_started, counts.dns, counts.athletes) == (2, 1, 7)
    assert on_course(standings, 101 * MIN).not_started == 0
    still = not_through(standings, 2, 90 * MIN)
    assert [(row.bib, row.running_ms, row.last_point, row.last_ms) for row in still] == [
        ("4", 90 * MIN, -1, None)
    ]
    later = {row.bib: row for row in not_through(standings, 3, 105 * MIN)}
    assert set(later) == {"2", "4", "6", "7"}
    assert (later["6"].running_ms, later["2"].last_point, later["2"].last_ms) == (5 * MIN, 2, 63 * MIN)
    assert later["2"].projection is not None and later["2"].projection.basis == "splits"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(60_000, 3_600_000), min_size=4, max_size=4), min_size=3, max_size=12),
    st.integers(0, 3),
)
def test_projections_run_forward_from_the_last_split_and_grow_less_certain(
    segments: list[list[int]], stop: int
) -> None:
    engine = road()
    for n, seg in enumerate(segments, 1):
        cumulative = [sum(seg[: k + 1]) for k in range(4)]
        passes(engine, str(n), cumulative[: (n % 4) or stop or 1])
    standings = engine.race("r")
    for athlete in standings.athletes():
        later = project(standings, athlete.bib)
        if athlete.last >= 3:
            assert later == []
            continue
        assert [p.point_index for p in later] == list(range(athlete.last + 1, 4))
        base = athlete.times[athlete.last] if athlete.last >= 0 else 0
        ats = [base, *(p.at_ms for p in later)]
        assert ats == sorted(ats) and len(set(ats)) == len(ats)
        spreads = [p.spread_ms for p in later]
        assert spreads == sorted(spreads) and spreads[0] >= 0
    order = projected_finish_order(standings)
    assert sorted(order, key=int) == [str(n) for n in range(1, len(segments) + 1)]


# ---------------------------------------------------------------- the simulator's truth
def _sim(kind: str, entries: int, seed: int = 3) -> tuple[SimState, dict[str, list[int | None]], str]:
    sim = generate_event(
        SimConfig(
            races=(RaceSpec(kind, entries=entries, start_mode="mass"),),
            seed=seed,
            countdown=0,
            clock="manual",
        )
    )
    race = sim.races[0]
    points = [p.id for p in sorted(race.race.points, key=lambda p: p.order)]
    truth: dict[str, list[int | None]] = {}
    for h in sim.schedule:
        if h.kind == PASS and h.bib is not None and h.point_id is not None and h.time_ms is not None:
            truth.setdefault(h.bib, [None] * len(points))[points.index(h.point_id)] = h.time_ms
    return SimState(sim), truth, race.id


def test_finish_projections_of_a_road_race_at_the_last_split_are_within_two_percent() -> None:
    state, truth, race_id = _sim("10k", 400)
    last = len(state.engine.race(race_id).points) - 2
    # the moment the median runner passes the last split before the finish
    times = sorted(t[last] for t in truth.values() if t[last] is not None and t[-1] is not None)
    state.advance_to(times[len(times) // 2])
    standings = state.engine.race(race_id)
    errors = []
    for athlete in standings.athletes():
        if athlete.last != last or truth[athlete.bib][-1] is None:
            continue
        (finish,) = project(standings, athlete.bib)
        actual = truth[athlete.bib][-1]
        assert actual is not None
        errors.append(abs(finish.gun_ms - actual) / actual)
    assert len(errors) > 50
    assert statistics.median(errors) < 0.02
    # the spread is honest: most truths fall within it
    inside = 0
    for athlete in standings.athletes():
        if athlete.last == last and truth[athlete.bib][-1] is not None:
            (finish,) = project(standings, athlete.bib)
            inside += abs(finish.gun_ms - (truth[athlete.bib][-1] or 0)) <= 2 * finish.spread_ms
    assert inside >= 0.8 * len(errors)


def test_who_arrives_in_the_next_minute_matches_the_simulation() -> None:
    state, truth, race_id = _sim("sprint", 200)
    standings = state.engine.race(race_id)
    bike_end = next(i for i, p in enumerate(standings.points) if p.name == "Bike End")
    times = sorted(t[bike_end] for t in truth.values() if t[bike_end] is not None)
    now = times[len(times) // 2]  # half the field is through Bike End
    state.advance_to(now)
    due = arrivals(standings, bike_end, now, MIN)
    actual = {bib for bib, t in truth.items() if (at := t[bike_end]) is not None and now < at <= now + MIN}
    listed = {a.bib for a in due}
    assert actual and listed
    hit = len(listed & actual)
    assert hit / len(listed) > 0.6 and hit / len(actual) > 0.6
    errors = [abs(a.projection.gun_ms - (truth[a.bib][bike_end] or 0)) for a in due if a.bib in actual]
    assert statistics.median(errors) < 20_000
    assert [a.eta_ms for a in due] == sorted(a.eta_ms for a in due)


def _fresh(standings: RaceStandings) -> list[tuple[int, int, str]]:
    """Every projection made from scratch (no cache): what the incremental ones must equal."""
    projections._CACHES.pop(standings, None)
    return [(p.point_index, p.at_ms, p.basis) for bib in standings.bibs() for p in project(standings, bib)]


def test_projections_kept_up_to_date_equal_those_made_from_scratch() -> None:
    state, _, race_id = _sim("10k", 300)
    standings = state.engine.race(race_id)
    gun = state.sim.race(race_id).gun_at_ms
    for minutes in (20, 24, 25, 31, 40):
        state.advance_to(gun + minutes * MIN)
        kept = [
            (p.point_index, p.at_ms, p.basis) for bib in standings.bibs() for p in project(standings, bib)
        ]
        # what the kept cache followed (passings since the last look) against a fresh one
        assert kept == _fresh(standings), f"at {minutes} min"
    # a status change and a removal reach the projections without a new passing
    racing = next(a.bib for a in standings.athletes() if a.status is Status.OK and 0 <= a.last < 5)
    state.engine.apply_results(race_id, [Result(race_id=race_id, bib=racing, status=Status.DNF)])
    assert project(standings, racing) == []
    other = next(a.bib for a in standings.athletes() if a.status is Status.OK and 0 <= a.last < 5)
    state.engine.remove_athletes(race_id, [other])
    assert project(standings, other) == []


def test_riders_together_on_the_bike_are_due_together_keeping_their_gaps() -> None:
    engine = Engine()
    names = ["Swim Exit", "Transition 1", "Bike Lap 1", "Bike Lap 2", "Bike End"]
    metres = [1500, 1500, 11500, 21500, 31500]
    race = Race(
        id="t",
        name="Elite",
        points=[
            TimingPoint(id=f"t{i}", race_id="t", name=n, order=i, distance_m=float(m), is_finish=i == 5)
            for i, (n, m) in enumerate(zip(names, metres, strict=True), 1)
        ],
    )
    engine.load_event(Event(id="e", name="E", races=[race]))
    # a pack of three through Bike Lap 1 within 0.6 s: a fast swimmer who rode lap 1 slower
    # to wait for it, and two who bridged up from behind (their lap 1 was faster)
    for bib, swim, lap1 in (("1", 18, 0), ("2", 20, 200), ("3", 21, 600)):
        t1 = swim * MIN + MIN
        passes(engine, bib, [swim * MIN, t1, 40 * MIN + lap1], race="t", prefix="t")
    for n in range(4, 9):  # the field behind, all alike, already through lap 2
        passes(engine, str(n), [20 * MIN, 21 * MIN, 38 * MIN, 55 * MIN], race="t", prefix="t")
    standings = engine.race("t")
    solo = {bib: project(standings, bib)[0].gun_ms for bib in ("1", "2", "3")}
    assert len({solo[b] - (40 * MIN + g) for b, g in (("1", 0), ("2", 200), ("3", 600))}) == 3  # apart alone
    due = arrivals(standings, 3, 41 * MIN, 30 * MIN)
    at = {a.bib: a.projection.gun_ms for a in due}
    assert [a.bib for a in due] == ["1", "2", "3"]
    assert (at["2"] - at["1"], at["3"] - at["1"]) == (200, 600)  # the gaps they had at lap 1
    assert [a.place for a in due] == [6, 7, 8]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(-3_600_000, 20_000_000)), min_size=4, max_size=4),
        min_size=1,
        max_size=10,
    ),
    st.integers(-3_600_000, 20_000_000),
)
def test_any_times_a_source_sends_project_without_error_and_never_into_the_past(
    rows: list[list[int | None]], now: int
) -> None:
    engine = road()
    for n, times in enumerate(rows, 1):
        engine.apply_passings(
            Passing(race_id="r", bib=str(n), point_id=f"p{i}", time_ms=t)
            for i, t in enumerate(times, 1)
            if t is not None
        )
    standings = engine.race("r")
    for athlete in standings.athletes():
        base = athlete.times[athlete.last] if athlete.last >= 0 else 0
        assert all(p.at_ms >= (base or 0) and p.spread_ms >= 0 for p in project(standings, athlete.bib))
    for index in range(4):
        for arrival in arrivals(standings, index, now, 30 * MIN):
            assert 0 <= arrival.eta_ms <= 30 * MIN and arrival.place >= 1
        not_through(standings, index, now)
    counts = on_course(standings, now)
    assert counts.started + counts.not_started + counts.dns == counts.athletes


def _kept(standings: RaceStandings) -> list[tuple[str, int, int, str]]:
    return [
        (p.bib, p.point_index, p.at_ms, p.basis) for bib in standings.bibs() for p in project(standings, bib)
    ]


def test_a_big_field_is_re_projected_in_steps_that_resume_and_complete() -> None:
    state, _, race_id = _sim("10k", 4 * projections.SMALL_FIELD)
    standings = state.engine.race(race_id)
    gun = state.sim.race(race_id).gun_at_ms
    state.advance_to(gun + 25 * MIN)
    # the first time: a step at a time (the least a step does: one chunk), each resuming
    left = [projections.replan(standings, budget_ms=0)]
    assert 0 < left[0] < len(standings)
    assert unprojected(standings) == left[0]
    while left[-1]:
        left.append(projections.replan(standings, budget_ms=0))
        assert left[-1] < left[-2]  # every step goes on from where the last one stopped
    assert unprojected(standings) == 0
    assert _kept(standings) == _from_scratch(standings)
    # new medians half-way through a re-plan: it goes on, and ends where a fresh start would
    state.advance_to(gun + 31 * MIN)
    before = projections.replan(standings, budget_ms=0)
    assert before > 0
    state.advance_to(gun + 40 * MIN)
    while projections.replan(standings, budget_ms=0):
        pass
    assert _kept(standings) == _from_scratch(standings)


def _from_scratch(standings: RaceStandings) -> list[tuple[str, int, int, str]]:
    """Every projection made from scratch, whole (no cache, no pacing)."""
    projections._CACHES.pop(standings, None)
    assert projections.replan(standings) == 0
    return _kept(standings)


def test_a_big_fields_not_through_list_is_built_over_ticks_then_shown_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(projections, "TICK_S", 0.0)  # every read a tick of its own
    state, _, race_id = _sim("10k", 4 * projections.SMALL_FIELD)
    standings = state.engine.race(race_id)
    gun = state.sim.race(race_id).gun_at_ms
    state.advance_to(gun + 25 * MIN)
    now = 25 * MIN
    assert projections.replan(standings) == 0
    index = len(standings.points) // 2
    whole = not_through(standings, index, now)
    assert len(whole) > projections.CHUNK * 8  # more than one step's worth
    shown = not_through(standings, index, now, paced=True)
    while listing(standings, index):
        assert shown == []  # nothing complete yet: nothing half-built is shown
        shown = not_through(standings, index, now, paced=True)
    assert shown == whole


def _counted_by_scan(standings: RaceStandings, now_ms: int) -> tuple[int, ...]:
    """on_course's figures the slow way: every athlete looked at (what it did per tick)."""
    finish = next((i for i, p in enumerate(standings.points) if p.is_finish), len(standings.points) - 1)
    started = on = finished = out = not_started = dns = 0
    for athlete in standings.athletes():
        if athlete.status is Status.DNS:
            dns += 1
        elif athlete.last < 0 and (now_ms < athlete.offset_ms or not standings.points):
            not_started += 1
        else:
            started += 1
            done = 0 <= finish < len(athlete.times) and athlete.times[finish] is not None
            if done and athlete.status is not Status.DSQ:
                finished += 1
            elif athlete.status is Status.OK:
                on += 1
            else:
                out += 1
    return len(standings), started, on, finished, out, not_started, dns


def test_on_course_counts_follow_the_changes_like_a_scan_of_the_field() -> None:
    waves = [Wave(id="w1", race_id="r", name="A"), Wave(id="w2", race_id="r", name="B", offset_ms=30 * MIN)]
    engine = road(waves=waves)
    athletes(engine, [str(n) for n in range(1, 21)], wave_id="w1")
    athletes(engine, [str(n) for n in range(21, 31)], wave_id="w2")
    standings = engine.race("r")

    def same(now: int) -> None:
        c = on_course(standings, now)
        got = (c.athletes, c.started, c.on_course, c.finished, c.out, c.not_started, c.dns)
        assert got == _counted_by_scan(standings, now)

    for now in (0, 29 * MIN, 30 * MIN, 31 * MIN):
        same(now)
    for n in range(1, 16):  # one by one, read in between: each read follows the log
        passes(engine, str(n), [20 * MIN + n * 1000, 40 * MIN + n * 1000][: 1 + n % 2])
        same(45 * MIN)
    passes(engine, "22", [50 * MIN])  # wave B: started by its passing
    engine.apply_results(
        "r",
        [
            Result(race_id="r", bib="2", status=Status.DNF, splits={"p1": 20 * MIN + 2000}),
            Result(race_id="r", bib="25", status=Status.DNS),
            Result(race_id="r", bib="26", status=Status.DSQ),  # no passing: out once wave B goes
        ],
    )
    for now in (25 * MIN, 35 * MIN):
        same(now)
    passes(engine, "1", [20 * MIN + 1000, 40 * MIN + 1000, 60 * MIN, 80 * MIN])  # finished
    passes(engine, "3", [20 * MIN + 3000, 40 * MIN + 3000, 60 * MIN, 81 * MIN])
    engine.apply_results("r", [Result(race_id="r", bib="3", status=Status.DSQ)])  # finished, then DSQ
    same(90 * MIN)
    engine.apply_results("r", [Result(race_id="r", bib="25", status=Status.OK)])  # the DNS taken back
    same(10 * MIN)
    same(90 * MIN)
