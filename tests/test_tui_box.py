"""The penalty-box screen (9), driven by keys as a box official and a technical delegate
drive it: the desk's lifecycle underneath (racetui.sources.desk), the seeded race festival
(tests/fakes/race.py), a driven clock for the countdown, the UI tick called directly."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from textual.widgets import DataTable, Digits

from racetui.config import Config, Role
from racetui.engine.projections import project
from racetui.model import TimingPoint
from racetui.sources.desk import ActionKind, EntryState, EventKey, IncidentDesk
from racetui.tui.app import RaceApp
from racetui.tui.screens.box import BoxScreen, box_point
from racetui.tui.themes import builtin_theme_dir
from tests.fakes.race import OPEN, RACE_NOW, race_pipeline


class DrivenClock:
    def __init__(self, at: datetime = RACE_NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def make_app(role: Role | None = Role.TD, clock: DrivenClock | None = None) -> tuple[RaceApp, IncidentDesk]:
    """The festival with desk entries for the open race's bike box (all bibs on the bike):
    3 assigned there (30 s drafting), 5 with two penalties on no box yet (10 s + 15 s),
    7 reported only, 8 assigned to the run box, 9 declined. The timing source reports 74's
    10 s penalty (the festival's own), not on the desk."""
    pipeline, feed = race_pipeline(120)
    clock = clock or DrivenClock()
    event = EventKey.of(pipeline.engine, type(feed).__name__, RACE_NOW.date())
    desk = IncidentDesk(operator="Ann", event=event, clock=clock)
    three = desk.record(OPEN, "3", "penalty", seconds=30, infringement="drafting")
    desk.assign(OPEN, "3", three.id, box="bike box")
    desk.record(OPEN, "5", "penalty", seconds=10, infringement="littering")
    desk.record(OPEN, "5", "penalty", seconds=15, infringement="dangerous riding")
    desk.report(OPEN, "7", seconds=30, infringement="drafting")
    eight = desk.record(OPEN, "8", "penalty", seconds=15, infringement="helmet unfastened")
    desk.assign(OPEN, "8", eight.id, box="run box")
    nine = desk.report(OPEN, "9", seconds=30, infringement="drafting")
    desk.decline(OPEN, "9", nine.id, reason="not seen by a second official")
    app = RaceApp(
        pipeline,
        [feed],
        config=Config(operator="Ann", role=role),
        clock=clock,
        theme_dirs=[builtin_theme_dir()],
        tick=0.25,
        tracker_budget=None,
        strict=True,
        desk=desk,
    )
    return app, desk


async def tick(app: RaceApp, pilot: Any) -> None:
    app.tick()
    await pilot.pause()


def lines(app: RaceApp) -> list[list[str]]:
    table = app.screen.query_one("#box-list", DataTable)
    return [[str(cell).strip() for cell in table.get_row_at(i)] for i in range(table.row_count)]


def info(app: RaceApp) -> str:
    return str(app.screen.query_one("#info").render())


def notices(app: RaceApp) -> list[str]:
    return [n.message for n in app._notifications]


async def highlight(app: RaceApp, pilot: Any, bib: str) -> None:
    table = app.screen.query_one("#box-list", DataTable)
    index = next(i for i, row in enumerate(lines(app)) if row[1] == bib)
    table.move_cursor(row=index)
    await pilot.pause()


def state_of(desk: IncidentDesk, bib: str) -> list[EntryState]:
    return [e.state for e in desk.history(OPEN, bib) if e.kind is ActionKind.PENALTY]


async def test_due_in_the_box_with_a_countdown_then_served() -> None:
    clock = DrivenClock()
    app, desk = make_app(clock=clock)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("9")
        await tick(app, pilot)
        assert isinstance(app.screen, BoxScreen)
        assert info(app) == "bike box (1/3) · 0 in · 3 due · 0 served"
        shown = lines(app)
        # only confirmed penalties for this box (or no box yet): not 7 (reported), 8 (run
        # box), 9 (declined); and the source's unserved one (74), marked as the source's
        assert sorted(row[1] for row in shown) == ["3", "5", "74"]
        by_bib = {row[1]: row for row in shown}
        assert by_bib["5"][0] == "DUE" and by_bib["5"][3] == "×2"
        assert by_bib["5"][5] == "10 s littering + 15 s dangerous riding"
        assert by_bib["74"][0] == "DUE" and by_bib["74"][5] == "src 10 s dismount line infringement"
        # soonest first: the projected arrival at the bike box's point (Bike End)
        standings = app.pipeline.engine.races[OPEN]
        now_ms = int((RACE_NOW - standings.race.clock.gun_time).total_seconds() * 1000)  # type: ignore[union-attr]
        point = box_point(standings.points, "bike box")
        assert point is not None and standings.points[point].name == "Bike End"
        etas = {
            bib: next(p.gun_ms for p in project(standings, bib) if p.point_index == point) - now_ms
            for bib in ("3", "5", "74")
        }
        assert [row[1] for row in shown] == sorted(etas, key=lambda b: etas[b])
        for row in by_bib.values():
            assert row[4].startswith("in ") and row[4].endswith("· Bike End"), row

        # 3 enters: the time starts on entering, from the dashboard's clock
        await highlight(app, pilot, "3")
        await pilot.press("B")
        await tick(app, pilot)
        assert state_of(desk, "3") == [EntryState.IN_BOX]
        (entry,) = desk.history(OPEN, "3")
        assert entry.entered == RACE_NOW and entry.box == "bike box"
        assert lines(app)[0][:2] == ["IN", "3"] and lines(app)[0][4] == "0:30 left"
        clock.advance(12)
        await tick(app, pilot)
        assert lines(app)[0][4] == "0:18 left"
        # leaving early asks again first
        await highlight(app, pilot, "3")
        await pilot.press("O")
        await tick(app, pilot)
        assert "#3 still has 0:18 to serve: O again to release now." in notices(app)
        assert state_of(desk, "3") == [EntryState.IN_BOX]
        clock.advance(18)
        await tick(app, pilot)
        assert lines(app)[0][4] == "TIME UP"
        await pilot.press("O")
        await tick(app, pilot)
        assert state_of(desk, "3") == [EntryState.SERVED]
        served = [i.standard_text() for i in app.pipeline.engine.races[OPEN].entries["3"].incidents]
        assert "Served 30 second penalty for drafting" in served
        assert [row[:2] for row in lines(app)] == [["DUE", "5"], ["DUE", "74"], ["SERVED", "3"]]

        # 5 serves both penalties at once: they add up
        await highlight(app, pilot, "5")
        await pilot.press("B")
        await tick(app, pilot)
        assert state_of(desk, "5") == [EntryState.IN_BOX, EntryState.IN_BOX]
        assert lines(app)[0][:5] == ["IN", "5", app.state.entry((OPEN, "5")).name(), "×2", "0:25 left"]  # type: ignore[union-attr]
        clock.advance(25)
        await tick(app, pilot)
        await highlight(app, pilot, "5")
        await pilot.press("O")  # time up: no second press
        await tick(app, pilot)
        assert state_of(desk, "5") == [EntryState.SERVED, EntryState.SERVED]
        assert info(app) == "bike box (1/3) · 0 in · 1 due · 2 served"
        assert lines(app)[1][:4] == ["SERVED", "5", lines(app)[1][2], "×2"]
        # undo takes the last box step back: 5 is in the box again
        await highlight(app, pilot, "5")
        await pilot.press("z")
        await tick(app, pilot)
        assert state_of(desk, "5") == [EntryState.IN_BOX, EntryState.IN_BOX]
    steps = [a for a in desk.audit(OPEN) if a.action in (ActionKind.ENTER, ActionKind.LEAVE)]
    assert steps and {a.operator for a in steps} == {"Ann"}


async def test_a_penalty_the_source_reports_is_due_and_adopted_on_entering() -> None:
    """The source's unserved penalties are due at the box as the desk's are (a box official
    needs every one the athlete must serve); entering records it on the desk first, as the
    desk's serve key does, and never counts one the desk already adopted twice."""
    clock = DrivenClock()
    app, desk = make_app(clock=clock)
    standings = app.pipeline.engine.races[OPEN]
    # the festival's truth: 74's 10 s, unserved, from the timing source only
    (source,) = standings.entries["74"].source_incidents
    assert (source.seconds, source.infringement, source.served) == (10, "dismount line infringement", False)
    assert desk.history(OPEN, "74") == []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("9")
        await tick(app, pilot)
        row = next(r for r in lines(app) if r[1] == "74")
        assert row[0] == "DUE" and row[5].startswith("src 10 s")
        await highlight(app, pilot, "74")
        await pilot.press("B")
        await tick(app, pilot)
        (entry,) = desk.history(OPEN, "74")  # adopted: one desk penalty, now in the box
        assert (entry.kind, entry.seconds, entry.infringement) == (
            ActionKind.PENALTY,
            10,
            "dismount line infringement",
        )
        assert entry.state is EntryState.IN_BOX and entry.box == "bike box" and entry.action.operator == "Ann"
        inside = [r for r in lines(app) if r[1] == "74"]
        assert [r[:2] for r in inside] == [["IN", "74"]]  # once: not also due as the source's
        assert inside[0][4] == "0:10 left" and "src" not in inside[0][5]
        clock.advance(10)
        await tick(app, pilot)
        await highlight(app, pilot, "74")
        await pilot.press("O")
        await tick(app, pilot)
        assert state_of(desk, "74") == [EntryState.SERVED]
        assert [r[:2] for r in lines(app) if r[1] == "74"] == [["DONE", "74"]]  # 80 columns: DONE
        served = [i.standard_text() for i in standings.entries["74"].incidents]
        assert served == ["Served 10 second penalty for dismount line infringement"]


async def test_the_board_and_the_boxes() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("9")
        await tick(app, pilot)
        await highlight(app, pilot, "3")
        await pilot.press("B")
        await tick(app, pilot)
        await pilot.press("space")
        await tick(app, pilot)
        digits = list(app.screen.query(Digits))
        assert [(d.value, d.has_class("-in")) for d in digits] == [("3", True), ("5x2", False), ("74", False)]
        title = str(app.screen.query_one("#board-title").render())
        assert title == "PENALTY BOX · BIKE BOX · 3 to serve"
        await pilot.press("b")  # the run box: only 8's penalty, and 5's and 74's (no box yet)
        await tick(app, pilot)
        assert [d.value for d in app.screen.query(Digits)] == ["5x2", "8", "74"]
        await pilot.press("space")
        await tick(app, pilot)
        assert info(app).startswith("run box (2/3)")
        assert sorted(row[1] for row in lines(app)) == ["5", "74", "8"]
        await pilot.press("b")
        await tick(app, pilot)
        assert info(app) == "stop-and-go (3/3) · 0 in · 2 due · 0 served"


@pytest.mark.parametrize("role", [Role.COMMENTATOR, Role.TIMER])
async def test_only_a_td_moves_athletes_through_the_box(role: Role) -> None:
    app, desk = make_app(role)
    before = len(desk.audit())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("9")
        await tick(app, pilot)
        from racetui.tui.widgets.footer import RaceFooter

        shown = [item.description for item in app.screen.query_one(RaceFooter).items]
        assert "In" not in shown and "Out" not in shown and "Board" in shown
        await highlight(app, pilot, "3")
        for key in ("B", "O", "z"):
            await pilot.press(key)
            await tick(app, pilot)
        expected = "read-only: commentator role" if role is Role.COMMENTATOR else "not for the timer role"
        assert any(n.startswith(expected) for n in notices(app))
    assert len(desk.audit()) == before


async def test_without_a_desk_the_screen_says_so() -> None:
    pipeline, feed = race_pipeline(120)
    app = RaceApp(pipeline, [feed], config=Config(role=Role.TD), clock=DrivenClock(), strict=True)
    app.desk = None
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("9")
        await tick(app, pilot)
        assert info(app) == "The incident desk is not available (see the start-up notice)."
        await pilot.press("B")
        await tick(app, pilot)


@pytest.mark.parametrize(
    ("names", "box", "expected"),
    [
        (["Swim Exit", "T1", "Bike End", "T2", "Run Lap 1", "Finish"], "bike box", 2),
        (["Swim Exit", "T1", "Bike Lap", "T2", "Run Lap 1", "Finish"], "bike box", 3),
        (["Swim Exit", "T1", "Bike End", "T2", "Run Lap 1", "Finish"], "run box", 4),
        (["Swim Exit", "Run Penalty Box", "Run Lap 1", "Finish"], "run penalty box", 1),
        (["Swim Exit", "T1", "Penalty Tent", "Finish"], "stop-and-go", 2),
        (["5 km", "10 km", "Finish"], "stop-and-go", None),
    ],
)
def test_box_point(names: list[str], box: str, expected: int | None) -> None:
    points = [TimingPoint(id=str(n), race_id="r", name=name, order=n) for n, name in enumerate(names)]
    assert box_point(points, box) == expected


# -- snapshots (fixed clock) -----------------------------------------------------------------


def snapshot_app() -> RaceApp:
    """3 in the bike box 10 s into 30, 5 due there ×2, 4 served there five minutes ago."""
    clock = DrivenClock(RACE_NOW - timedelta(minutes=5))
    app, desk = make_app(clock=clock)
    four = desk.record(OPEN, "4", "penalty", seconds=10, infringement="drafting")
    desk.enter_box(OPEN, "4", four.id, box="bike box", seen_at=clock() - timedelta(seconds=10))
    desk.leave_box(OPEN, "4", four.id, seen_at=clock())
    clock.at = RACE_NOW
    (three,) = desk.history(OPEN, "3")
    desk.enter_box(OPEN, "3", three.id, box="bike box", seen_at=RACE_NOW - timedelta(seconds=10))
    return app


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "small"])
@pytest.mark.parametrize("view", ["list", "board"])
def test_snapshot_box(snap_compare: Any, size: tuple[int, int], view: str) -> None:
    press = ["9"] if view == "list" else ["9", "space"]
    assert snap_compare(snapshot_app(), press=press, terminal_size=size)
