"""The incident desk in the dashboard (issue 8), driven by keys like an official drives it.

Seeded race festival (tests/fakes/race.py) plus the source penalties these tests act on
(:func:`source_penalties`), fixed clock, the UI tick driven directly, the per-test data dir
(tests/conftest.py) for the desk's SQLite file, no sockets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from racetui.config import Config
from racetui.model import Incident, Passing, Result, Status, TimingPoint
from racetui.publish import opentrack, v11
from racetui.sources.base import Pipeline
from racetui.sources.desk import ActionKind, EventKey, IncidentDesk
from racetui.tui.app import RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.desk import AuditScreen, ConfirmDeskEntry, DeskForm
from racetui.tui.screens.incidents import DeskIncidentsModel, IncidentsScreen, penalty_box_index
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.tracker import IncidentBadge
from racetui.tui.widgets.table import RowTable
from tests.fakes.race import OPEN, RACE_NOW, race_pipeline

SWIM = "cutting the swim course"


def source_penalties(pipeline: Pipeline) -> None:
    """Unserved penalties as the timing source reports them (the festival's own at this
    moment: bib 74's 10 s): bib 6 (on the bike, two points before the penalty box), 43
    and 120."""
    standings = pipeline.engine.races[OPEN]
    for bib, seconds, infringement in (
        ("6", 30, "drafting"),
        ("43", 10, "littering"),
        ("120", 15, "dangerous riding"),
    ):
        entry = standings.entries[bib]
        splits = {
            point.id: t + entry.offset_ms
            for point, t in zip(standings.points, entry.times, strict=True)
            if t is not None
        }
        result = Result(
            race_id=OPEN,
            bib=bib,
            splits=splits,
            status=entry.status,
            incidents=[Incident.penalty(seconds, infringement)],
        )
        pipeline.apply_results(OPEN, [result])


def assert_at_the_bottom(app: RaceApp, bib: str) -> None:
    """A DSQ goes to the bottom of the standings, among the other DSQs."""
    ordered = list(app.pipeline.engine.races[OPEN].ordered())
    tail = [e.bib for e in ordered[[e.bib for e in ordered].index(bib) :]]
    assert all(app.pipeline.engine.races[OPEN].entries[b].status is Status.DSQ for b in tail), tail


def make_app(pipeline: Pipeline | None = None, **kwargs: Any) -> RaceApp:
    if pipeline is None:
        pipeline, feed = race_pipeline(120)
        source_penalties(pipeline)
        sources: list[Any] = [feed]
    else:
        sources = []
    return RaceApp(
        pipeline,
        sources,
        config=Config(operator="TD Jane"),
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        # Slower than the other tests' 0.05 s: with a modal open every tick re-renders the
        # dimmed screen behind it, and at 20 ticks/s that alone filled a loaded machine.
        tick=0.25,
        tracker_budget=None,
        strict=True,
        **kwargs,
    )


async def tick(app: RaceApp, pilot: Any) -> None:
    """One UI tick now (what the 0.25 s timer would do next), then let the screen draw."""
    app.tick()
    await pilot.pause()


def sample_desk(source: str | None = None) -> IncidentDesk:
    """A desk bound to the event the dashboard shows for the sample race (so what is
    recorded before the app starts is that event's, as after a restart)."""
    pipeline, feed = race_pipeline(120)
    kind = source or type(feed).__name__
    return IncidentDesk(operator="TD Jane", event=EventKey.of(pipeline.engine, kind, RACE_NOW.date()))


def texts(app: RaceApp, bib: str, race: str = OPEN) -> list[str]:
    return [i.standard_text() for i in app.pipeline.engine.races[race].entries[bib].incidents]


def status(app: RaceApp, bib: str, race: str = OPEN) -> Status:
    return app.pipeline.engine.races[race].entries[bib].status


def static_text(app: RaceApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def fill(pilot: Any, text: str) -> None:
    """Type into the focused field. Long texts are set in one go (each key press redraws the
    screen stack: key by key, a sentence took most of a minute on a loaded 2-core machine);
    the first character is still typed, so the field is reached and edited by keys."""
    from textual.widgets import Input

    await pilot.press(text[0])
    focused = pilot.app.focused
    if isinstance(focused, Input) and len(text) > 1:
        focused.value = focused.value + text[1:]
        focused.cursor_position = len(focused.value)
    elif len(text) > 1:
        await pilot.press(*text[1:])
    await pilot.pause()


async def confirm(pilot: Any, app: RaceApp, key: str = "enter") -> str:
    """Check the confirmation is up, return its wording, answer with ``key``."""
    await pilot.pause()
    assert isinstance(app.screen, ConfirmDeskEntry), app.screen
    shown = static_text(app, "#wording")
    assert "TD Jane" in static_text(app, "#by")
    await pilot.press(key)
    await pilot.pause()
    return shown


async def open_athlete(pilot: Any, app: RaceApp, bib: str) -> None:
    app.open_athlete((OPEN, bib))
    await pilot.pause()
    assert isinstance(app.screen, AthleteScreen)


async def test_every_kind_from_the_athlete_detail() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "42")
        # penalty: a form, then the confirmation in the guidelines' wording
        await pilot.press("plus")
        await pilot.pause()
        assert isinstance(app.screen, DeskForm)
        await fill(pilot, "15")
        await pilot.press("tab")
        await fill(pilot, SWIM)
        await pilot.press("enter")
        assert await confirm(pilot, app) == "15 second penalty for cutting the swim course"
        assert isinstance(app.screen, AthleteScreen)
        assert texts(app, "42") == ["15 second penalty for cutting the swim course"]
        # served: one unserved penalty, so straight to the confirmation
        await pilot.press("s")
        assert await confirm(pilot, app, "y") == "Served 15 second penalty for cutting the swim course"
        assert texts(app, "42") == ["Served 15 second penalty for cutting the swim course"]
        # DSQ
        await pilot.press("x")
        await pilot.pause()
        await fill(pilot, SWIM)
        await pilot.press("enter")
        assert (await confirm(pilot, app)).startswith("DSQ for cutting the swim course")
        assert status(app, "42") is Status.DSQ
        assert app.pipeline.engine.races[OPEN].view().row(0).bib != "42"
        assert_at_the_bottom(app, "42")
        assert texts(app, "42") == [
            "Served 15 second penalty for cutting the swim course",
            "DSQ for cutting the swim course",
        ]
        facts = static_text(app, "#facts")
        assert "DSQ" in facts and "⌂ desk" in facts
        assert "#3 DSQ for cutting the swim course" in static_text(app, "#incidents")
        # reinstate: the DSQ overturned, back in place
        await pilot.press("i")
        await pilot.pause()
        await fill(pilot, "protest upheld")
        await pilot.press("enter")
        assert "reinstated" in await confirm(pilot, app)
        assert status(app, "42") is Status.OK
        assert app.pipeline.engine.races[OPEN].view().row(0).bib == "42"
        # DNF with a reason, DNS, LAP: the latest status wins
        await pilot.press("n")
        await pilot.pause()
        await fill(pilot, "Withdrew from the race due to bike crash.")
        await pilot.press("enter")
        assert "status DNF" in await confirm(pilot, app)
        assert status(app, "42") is Status.DNF
        assert "Withdrew from the race due to bike crash." in texts(app, "42")
        await pilot.press("S")
        assert await confirm(pilot, app) == "status DNS"
        assert status(app, "42") is Status.DNS
        await pilot.press("L")
        assert await confirm(pilot, app) == "status LAP (lapped)"
        assert status(app, "42") is Status.LAP
        audit = app.desk.audit()  # type: ignore[union-attr]
        assert [a.action for a in audit] == [
            "penalty",
            "serve",
            "dsq",
            "reinstate",
            "dnf",
            "dns",
            "lap",
        ]
        assert {a.operator for a in audit} == {"TD Jane"}
        assert all(a.at.tzinfo is not None for a in audit)


async def test_edit_and_withdraw_with_a_reason() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "31")
        await pilot.press("plus")
        await pilot.pause()
        await fill(pilot, "10")
        await pilot.press("tab")
        await fill(pilot, "drafting")
        await pilot.press("enter")
        await confirm(pilot, app)
        # edit: the form comes filled in with the entry's values
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, DeskForm)
        seconds = app.screen.query_one("#seconds")
        assert seconds.value == "10"  # type: ignore[attr-defined]
        seconds.value = "30"  # type: ignore[attr-defined]
        app.screen.query_one("#reason").value = "video review"  # type: ignore[attr-defined]
        await pilot.press("enter")
        shown = await confirm(pilot, app)
        assert "10 second penalty for drafting → 30 second penalty for drafting" in shown
        assert texts(app, "31") == ["30 second penalty for drafting"]
        # withdraw: a reason is required
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, DeskForm)
        await pilot.press("enter")
        await pilot.pause()
        assert "reason: say why the entry is withdrawn" in static_text(app, "#error")
        await fill(pilot, "wrong athlete")
        await pilot.press("enter")
        assert "withdraw #1 30 second penalty for drafting" in await confirm(pilot, app)
        assert texts(app, "31") == []
        assert app.pipeline.engine.races[OPEN].view().row(1).local is False
        assert [a.action for a in app.desk.audit()] == ["penalty", "edit", "withdraw"]  # type: ignore[union-attr]


async def test_bad_input_is_refused_in_the_form_and_cancel_records_nothing() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "42")
        await pilot.press("plus")
        await pilot.pause()
        await pilot.press("enter")  # no seconds
        await pilot.pause()
        assert isinstance(app.screen, DeskForm)
        assert "seconds: a penalty needs a positive number of seconds" in static_text(app, "#error")
        await fill(pilot, "15")
        await pilot.press("enter")  # no infringement
        await pilot.pause()
        assert "infringement: a penalty needs the infringement" in static_text(app, "#error")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")  # empty infringement
        await pilot.pause()
        assert "infringement: a DSQ needs the infringement" in static_text(app, "#error")
        await fill(pilot, "littering")
        await pilot.press("enter")
        await confirm(pilot, app, "escape")  # cancelled at the confirmation
        await pilot.press("escape")
        await pilot.press("S")
        await confirm(pilot, app, "n")
        assert app.desk.audit() == []  # type: ignore[union-attr]
        assert status(app, "42") is Status.OK
        # actions that have nothing to act on say so
        await open_athlete(pilot, app, "42")
        for key in ("s", "e", "delete", "i"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, AthleteScreen), key
        assert app.desk.audit() == []  # type: ignore[union-attr]


def incidents_row(app: RaceApp, bib: str, badge: IncidentBadge) -> int:
    model = app.screen.query_one(RowTable).model
    assert isinstance(model, DeskIncidentsModel)
    return next(i for i, r in enumerate(model.records) if r.bib == bib and r.badge is badge)


def row_cells(app: RaceApp, index: int) -> list[str]:
    table = app.screen.query_one(RowTable)
    row = table.model.fetch(index, index + 1)[0]
    return [c[0] for c in row.cells if isinstance(c[0], str)]


async def test_incidents_screen_rows_keys_filter_and_audit() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.screen, IncidentsScreen)
        table = app.screen.query_one(RowTable)
        # a source's unserved penalty: serving it takes it onto the desk
        index = incidents_row(app, "6", IncidentBadge.PENALTY)
        table.move_cursor(index)
        assert "NOT SERVED" in " ".join(row_cells(app, index))
        await pilot.press("s")
        assert await confirm(pilot, app) == "Served 30 second penalty for drafting"
        assert texts(app, "6") == ["Served 30 second penalty for drafting"]
        index = incidents_row(app, "6", IncidentBadge.PENALTY)
        cells = row_cells(app, index)
        assert "PEN✓" in cells and "⌂" in cells
        # a DSQ from the selected row's athlete
        table.move_cursor(incidents_row(app, "43", IncidentBadge.PENALTY))
        await pilot.press("x")
        await pilot.pause()
        await fill(pilot, "dangerous riding")
        await pilot.press("enter")
        await confirm(pilot, app)
        assert status(app, "43") is Status.DSQ
        dsq = incidents_row(app, "43", IncidentBadge.DSQ)
        assert "⌂" in row_cells(app, dsq)
        # rows from the source carry no desk mark
        source = incidents_row(app, "74", IncidentBadge.PENALTY)
        assert "⌂" not in row_cells(app, source)
        # filter by kind: f cycles all → PEN → DSQ → …
        model = table.model
        assert isinstance(model, DeskIncidentsModel)
        await pilot.press("f")
        await pilot.pause()
        assert model.kind is IncidentBadge.PENALTY and model.records
        assert {r.badge for r in model.records} == {IncidentBadge.PENALTY}
        await pilot.press("f")
        await pilot.pause()
        assert {r.badge for r in model.records} == {IncidentBadge.DSQ}
        assert "DSQ only" in str(app.screen.query_one("#info").render())
        for _ in range(4):
            await pilot.press("f")
        await pilot.pause()
        assert model.kind is None
        # withdraw the DSQ from its row
        table.move_cursor(incidents_row(app, "43", IncidentBadge.DSQ))
        await pilot.press("backspace")
        await pilot.pause()
        await fill(pilot, "wrong bib")
        await pilot.press("enter")
        assert "withdraw #3 DSQ for dangerous riding" in await confirm(pilot, app)
        assert status(app, "43") is Status.OK
        # the audit trail, oldest first
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, AuditScreen)
        lines = static_text(app, "#trail").splitlines()
        assert len(lines) == 4
        assert "bib 6: 30 second penalty for drafting" in lines[0]
        assert "penalty #1 served" in lines[1]
        assert "bib 43: DSQ for dangerous riding" in lines[2]
        assert "#3 withdrawn — wrong bib" in lines[3]
        assert all("TD Jane" in line and line.startswith("Age Group Sprint") for line in lines)
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, IncidentsScreen)


async def test_a_restart_keeps_the_desk() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "42")
        await pilot.press("x")
        await pilot.pause()
        await fill(pilot, SWIM)
        await pilot.press("enter")
        await confirm(pilot, app)
    again = make_app()
    async with again.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert status(again, "42") is Status.DSQ
        assert texts(again, "42") == ["DSQ for cutting the swim course"]
        assert_at_the_bottom(again, "42")
        await pilot.press("4")
        await pilot.pause()
        assert "⌂" in row_cells(again, incidents_row(again, "42", IncidentBadge.DSQ))


async def test_overrides_reach_a_race_that_appears_later() -> None:
    desk = sample_desk("racetui")  # the app below has no sources of its own
    desk.record(OPEN, "42", ActionKind.DSQ, infringement=SWIM)
    _, feed = race_pipeline(120)
    empty = Pipeline()
    app = make_app(empty)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        feed.load(empty)  # the source's races arrive after start-up
        await tick(app, pilot)  # the next tick applies the desk
        assert status(app, "42") is Status.DSQ


async def test_a_source_update_does_not_undo_a_desk_entry() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "42")
        await pilot.press("x")
        await pilot.pause()
        await fill(pilot, SWIM)
        await pilot.press("enter")
        await confirm(pilot, app)
        entry = app.pipeline.engine.races[OPEN].entries["42"]
        app.pipeline.apply_results(
            OPEN,
            [
                Result(
                    race_id=OPEN,
                    bib="42",
                    participant=entry.participant,
                    status=Status.OK,
                    splits={"elite-swim": 600_000},
                    incidents=[Incident.penalty(10, "littering")],
                )
            ],
        )
        await tick(app, pilot)
        assert status(app, "42") is Status.DSQ
        facts = static_text(app, "#facts")
        assert "DSQ" in facts and "⌂ desk" in facts
        assert "DSQ for cutting the swim course" in static_text(app, "#incidents")
        await pilot.press("escape", "4")
        await pilot.pause()
        assert "⌂" in row_cells(app, incidents_row(app, "42", IncidentBadge.DSQ))


def test_published_messages_and_exports_carry_the_desk(tmp_path: Any) -> None:
    pipeline, _ = race_pipeline(120)
    desk = IncidentDesk(tmp_path / "desk.sqlite3", operator="TD Jane")
    pen = desk.record(OPEN, "42", "penalty", seconds=15, infringement=SWIM)
    desk.record(OPEN, "31", "penalty", seconds=15, infringement=SWIM)
    desk.record(OPEN, "31", "serve", target=pen.id + 1)
    desk.record(OPEN, "31", "dsq", infringement=SWIM)
    desk.record(OPEN, "115", "penalty", seconds=15, infringement=SWIM)
    desk.record(OPEN, "115", "penalty", seconds=30, infringement="drafting")
    desk.record(OPEN, "21", "dnf", reason="Withdrew from the race due to bike crash.")
    desk.record(OPEN, "53", "dns")
    desk.apply(pipeline)
    standings = pipeline.engine.races[OPEN]
    message = v11.build_message(
        standings,
        event_id="1",
        event_name="Lakeside",
        prog_id="2",
        prog_name="Elite",
        status="live",
        sandbox=True,
        date=datetime(2025, 6, 1, 7, 45, tzinfo=UTC),
        start_time=datetime(2025, 6, 1, 7, 0, tzinfo=UTC),
        wetsuit=None,
        air_temp=None,
        water_temp=None,
    )
    by_bib = {a["start_num"]: a for a in message["athletes"]}
    assert by_bib["42"]["incidents"] == "15 second penalty for cutting the swim course"
    assert by_bib["31"]["incidents"] == (
        "Served 15 second penalty for cutting the swim course, DSQ for cutting the swim course"
    )
    assert by_bib["31"]["status"] == "DSQ"
    assert by_bib["115"]["incidents"] == (
        "15 second penalty for cutting the swim course, 30 second penalty for drafting"
    )
    assert by_bib["21"]["status"] == "DNF"
    assert by_bib["21"]["incidents"] == "Withdrew from the race due to bike crash."
    assert by_bib["53"]["status"] == "DNS"
    statuses = [a["status"] for a in message["athletes"]]
    first_dsq = statuses.index("DSQ")
    assert set(statuses[first_dsq:]) == {"DSQ"} and by_bib["31"] in message["athletes"][first_dsq:]
    rows = dict(opentrack.race_rows(standings))
    assert rows["31"] == "DQ" and rows["21"] == "DNF" and rows["53"] == "DNS"


async def test_an_unserved_penalty_approaching_the_penalty_box_is_highlighted() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        index = incidents_row(app, "6", IncidentBadge.PENALTY)
        assert not any("BOX NEXT" in c for c in row_cells(app, index))
        standings = app.pipeline.engine.races[OPEN]
        entry = standings.entries["6"]
        box = penalty_box_index(standings.points)
        assert box is not None and entry.last == box - 2
        chip = entry.times[entry.last] or 0
        before_box = standings.points[box - 1].id
        app.pipeline.apply_passings(
            [Passing(race_id=OPEN, bib="6", point_id=before_box, time_ms=chip + 600_000)]
        )
        await tick(app, pilot)
        index = incidents_row(app, "6", IncidentBadge.PENALTY)
        assert any(c.startswith("⚑ BOX NEXT · NOT SERVED") for c in row_cells(app, index))
        others = [incidents_row(app, b, IncidentBadge.PENALTY) for b in ("74", "120")]
        assert not any("BOX NEXT" in c for i in others for c in row_cells(app, i))


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Swim", "T1", "Bike 20k", "T2", "Finish"], 3),
        (["Swim", "Penalty Box", "T2", "Finish"], 1),
        (["Swim", "T1", "Bike End", "Run Lap 1", "Finish"], 2),
        (["Swim", "T1", "Bike", "Run Lap 1", "Finish"], 3),
        (["5 km", "10 km", "Finish"], None),
    ],
)
def test_penalty_box_point(names: list[str], expected: int | None) -> None:
    points = [TimingPoint(id=f"p{i}", race_id="r", name=n, order=i) for i, n in enumerate(names)]
    assert penalty_box_index(points) == expected


def desk_app() -> RaceApp:
    desk = sample_desk()
    pen = desk.record(OPEN, "42", "penalty", seconds=15, infringement=SWIM)
    desk.record(OPEN, "31", "dsq", infringement=SWIM)
    desk.record(OPEN, "6", "penalty", seconds=30, infringement="drafting")
    desk.record(OPEN, "6", "serve", target=pen.id + 2)
    desk.record(OPEN, "21", "dnf", reason="Withdrew from the race due to bike crash.")
    return make_app(desk=desk)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "small"])
def test_snapshot_incidents_with_desk_entries(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(desk_app(), press=["4"], terminal_size=size)
