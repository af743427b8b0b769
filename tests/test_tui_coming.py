"""The Coming screen (8) driven like a user drives it, and its snapshots.

Deterministic: the seeded race festival (tests/fakes/race.py), a clock the test moves
itself, no sockets; every row is checked against the engine's projections.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from racetui.engine import Engine
from racetui.engine.groups import group_times
from racetui.engine.projections import arrivals, not_through, on_course
from racetui.model import ClockState, Event, Participant, Passing, Race, RaceClock, TimingPoint
from racetui.sources.base import Pipeline
from racetui.tui.app import RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.rows import ComingModel, NotThroughModel
from racetui.tui.screens.coming import ComingScreen, RaceCounts
from racetui.tui.state import UiState
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.widgets.table import RowTable
from tests.fakes.race import OPEN, RACE_EPOCH, RACE_NOW, RaceFeed, race_pipeline


class Clock:
    """A clock the test moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def make_app(clock: Any = None) -> tuple[RaceApp, Pipeline, RaceFeed]:
    pipeline, feed = race_pipeline(120)
    app = RaceApp(
        pipeline,
        [feed],
        clock=clock or fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tick=0.05,
        tracker_budget=None,
        strict=True,
    )
    return app, pipeline, feed


def race_ms(moment: datetime) -> int:
    """Race time of the open race (its gun is the festival's first, at RACE_EPOCH)."""
    return int((moment - RACE_EPOCH) / timedelta(milliseconds=1))


def shown(app: RaceApp) -> list[tuple[str, ...]]:
    table = app.screen.query_one(RowTable)
    rows = table.model.fetch(0, len(table.model))
    return [tuple(cell[0] if isinstance(cell[0], str) else "" for cell in row.cells) for row in rows]


async def test_key_8_lists_the_projected_arrivals_soonest_first_with_places() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("8")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ComingScreen)
        standings = pipeline.engine.race(OPEN)
        index = screen.point_index(standings)
        expected = arrivals(standings, index, race_ms(RACE_NOW), 5 * 60_000)
        assert expected, "the festival has athletes due in the next 5 minutes"
        rows = [r for r in shown(app) if r[1]]  # athlete lines (group lines have no bib)
        assert [r[1] for r in rows] == [a.bib for a in expected]
        first = rows[0]
        assert first[5] == str(expected[0].place)
        assert first[6] == (str(expected[0].current_place) if expected[0].current_place else "–")
        info = str(screen.query_one("#info").render())
        # no point chosen yet: the front of the race, where the leaders are due next
        assert f"due at {standings.points[index].name} (front) in the next 5 min: {len(expected)}" in info
        # a longer window lists at least as many, the same soonest first
        await pilot.press("greater_than_sign")
        await pilot.pause()
        assert screen.window_min == 10
        longer = [r[1] for r in shown(app) if r[1]]
        assert longer[: len(rows)] == [r[1] for r in rows] and len(longer) >= len(rows)
        # another point
        await pilot.press("p")
        await pilot.pause()
        assert screen.point_index(standings) == (index + 1) % len(standings.points)
        chosen = standings.points[(index + 1) % len(standings.points)].name
        assert str(screen.query_one("#info").render()).startswith(f"due at {chosen} in the next 10 min")


async def test_the_countdown_runs_with_the_clock_and_brightens_over_the_last_15_seconds() -> None:
    clock = Clock(RACE_NOW)
    app, pipeline, _ = make_app(clock)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("8")
        await pilot.pause()
        standings = pipeline.engine.race(OPEN)
        screen = app.screen
        assert isinstance(screen, ComingScreen)
        model = screen.query_one(RowTable).model
        assert isinstance(model, ComingModel)
        # at Bike Lap 3 (two points back from the leaders' next), one whose next point is
        # this one, due in more than 20 s
        await pilot.press("P", "P")
        await pilot.pause()
        assert screen.point_index(standings) == 4
        model = screen.query_one(RowTable).model
        assert isinstance(model, ComingModel)
        index = model.point_index
        first = next(a for a in model.arrivals if a.eta_ms > 20_000 and a.current_point == index - 1)
        # move the clock to 10 s before it is due (no passing meanwhile: no one is late yet)
        clock.at = RACE_NOW + timedelta(milliseconds=first.eta_ms - 10_000)
        app.tick()
        await pilot.pause()
        lines = model.fetch(0, len(model))
        line = next(row for row in lines if row.key == (OPEN, first.bib))
        assert line.cells[0][0] == "00:10"
        assert line.style == "rt--soon"
        # one not due within 15 s stays plain
        later = [row for row in lines if row.key is not None and row.style != "rt--soon"]
        assert all(
            int(row.cells[0][0].split(":")[0]) * 60 + int(row.cells[0][0].split(":")[1]) > 15 for row in later
        )
        assert standings.race.id == OPEN


async def test_o_shows_who_is_on_course_per_race_and_who_is_not_through_the_point() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("8", "o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ComingScreen)
        model = screen.query_one(RowTable).model
        assert isinstance(model, NotThroughModel)
        standings = pipeline.engine.race(OPEN)
        now = race_ms(RACE_NOW)
        index = screen.point_index(standings)
        assert [row.bib for row in model.rows] == [r.bib for r in not_through(standings, index, now)]
        counts = str(screen.query_one(RaceCounts).render())
        c = on_course(standings, now)
        line = next(text for text in counts.splitlines() if text.startswith(standings.race.name[:17]))
        assert line.split()[-6:] == [
            str(v) for v in (c.started, c.on_course, c.finished, c.out, c.not_started, c.dns)
        ]
        # the relay has not started: everyone still to start
        relay = pipeline.engine.race("3")
        assert counts.splitlines()[3].split()[-2:] == [str(len(relay)), "0"]
        first = shown(app)[0]
        assert (
            first[0] == model.rows[0].bib and first[4] == f"{(now - 0) // 60_000:02d}:{now // 1000 % 60:02d}"
        )
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(screen.query_one(RowTable).model, ComingModel)
        assert not screen.query_one(RaceCounts).display


async def test_enter_on_an_arrival_opens_the_athlete_and_w_watches() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("8")
        await pilot.pause()
        table = app.screen.query_one(RowTable)
        key = table.current_key()
        if key is None:  # a group line first: its first athlete is next
            await pilot.press("down")
            key = table.current_key()
        assert key is not None
        await pilot.press("w")
        await pilot.pause()
        assert key in app.state.watch
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "AthleteScreen"


def test_athletes_due_together_show_as_one_block_led_by_the_first() -> None:
    engine = Engine()
    gun = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    race = Race(
        id="r",
        name="10K",
        points=[
            TimingPoint(
                id=f"p{i}", race_id="r", name=f"{5 * i} km", order=i, distance_m=5000.0 * i, is_finish=i == 2
            )
            for i in (1, 2)
        ],
        clock=RaceClock(race_id="r", state=ClockState.LIVE, gun_time=gun),
    )
    engine.load_event(Event(id="e", name="E", races=[race]))
    engine.add_participants(Participant(bib=str(b), race_id="r", name=f"Runner {b}") for b in range(1, 8))
    # a pack of four through 5 km within a second, then one alone, two more later
    times = {"12": 0, "3": 300, "4": 700, "5": 1_200, "6": 20_000, "7": 60_000, "1": 60_200}
    engine.add_participants([Participant(bib="12", race_id="r", name="Ana Leader")])
    engine.apply_passings(
        Passing(race_id="r", bib=b, point_id="p1", time_ms=20 * 60_000 + t) for b, t in times.items()
    )
    state = UiState(engine, fixed_clock(gun + timedelta(minutes=35)))
    model = ComingModel(state)
    model.now_ms = 35 * 60_000
    model.window_ms = 10 * 60_000
    model.point_index = 1
    model.reload()
    lines = model.fetch(0, len(model))
    groups = group_times((a.bib, a.projection.gun_ms) for a in model.arrivals)
    assert [g.size for g in groups] == [4, 1, 2]
    assert lines[0].key is None and lines[0].cells[2][0] == "group of 4, led by #12"
    assert [row.key[1] for row in lines[1:5] if row.key] == ["12", "3", "4", "5"]
    assert lines[5].key == ("r", "6")
    assert lines[6].cells[2][0] == "group of 2, led by #7"


def test_coming_snapshot_wide(snap_compare: Any) -> None:
    assert snap_compare(make_app()[0], press=["8"], terminal_size=(120, 36))


def test_coming_snapshot_small(snap_compare: Any) -> None:
    assert snap_compare(make_app()[0], press=["8"], terminal_size=(80, 24))


def test_on_course_snapshot_small(snap_compare: Any) -> None:
    assert snap_compare(make_app()[0], press=["8", "o"], terminal_size=(80, 24))
