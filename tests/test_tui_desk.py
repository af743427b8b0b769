"""The incident desk in the dashboard (issue 8), driven by keys like an official drives it.

Seeded sample event, fixed clock, the per-test data dir (tests/conftest.py) for the desk's
SQLite file, no sockets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from racetui.config import Config
from racetui.model import Incident, Passing, Result, Status, TimingPoint
from racetui.publish import opentrack, v11
from racetui.sources.base import Pipeline
from racetui.sources.desk import ActionKind, IncidentDesk
from racetui.tui.app import RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.sample import SAMPLE_NOW, sample_pipeline
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.desk import AuditScreen, ConfirmDeskEntry, DeskForm
from racetui.tui.screens.incidents import DeskIncidentsModel, IncidentsScreen, penalty_box_index
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.tracker import IncidentBadge
from racetui.tui.widgets.table import RowTable

SWIM = "cutting the swim course"


def make_app(pipeline: Pipeline | None = None, **kwargs: Any) -> RaceApp:
    if pipeline is None:
        pipeline, feed = sample_pipeline(120)
        sources: list[Any] = [feed]
    else:
        sources = []
    return RaceApp(
        pipeline,
        sources,
        config=Config(operator="TD Jane"),
        clock=fixed_clock(SAMPLE_NOW),
        theme_dirs=[builtin_theme_dir()],
        # Slower than the other tests' 0.05 s: with a modal open every tick re-renders the
        # dimmed screen behind it, and at 20 ticks/s that alone filled a loaded machine.
        tick=0.25,
        tracker_budget=None,
        strict=True,
        **kwargs,
    )


def texts(app: RaceApp, bib: str, race: str = "elite") -> list[str]:
    return [i.standard_text() for i in app.pipeline.engine.races[race].entries[bib].incidents]


def status(app: RaceApp, bib: str, race: str = "elite") -> Status:
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
    app.open_athlete(("elite", bib))
    await pilot.pause()
    assert isinstance(app.screen, AthleteScreen)


async def test_every_kind_from_the_athlete_detail() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "44")
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
        assert texts(app, "44") == ["15 second penalty for cutting the swim course"]
        # served: one unserved penalty, so straight to the confirmation
        await pilot.press("s")
        assert await confirm(pilot, app, "y") == "Served 15 second penalty for cutting the swim course"
        assert texts(app, "44") == ["Served 15 second penalty for cutting the swim course"]
        # DSQ
        await pilot.press("x")
        await pilot.pause()
        await fill(pilot, SWIM)
        await pilot.press("enter")
        assert (await confirm(pilot, app)).startswith("DSQ for cutting the swim course")
        assert status(app, "44") is Status.DSQ
        assert app.pipeline.engine.races["elite"].view().row(0).bib != "44"
        assert list(app.pipeline.engine.races["elite"].ordered_entries())[-1].bib == "44"
        assert texts(app, "44") == [
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
        assert status(app, "44") is Status.OK
        assert app.pipeline.engine.races["elite"].view().row(0).bib == "44"
        # DNF with a reason, DNS, LAP: the latest status wins
        await pilot.press("n")
        await pilot.pause()
        await fill(pilot, "Withdrew from the race due to bike crash.")
        await pilot.press("enter")
        assert "status DNF" in await confirm(pilot, app)
        assert status(app, "44") is Status.DNF
        assert "Withdrew from the race due to bike crash." in texts(app, "44")
        await pilot.press("S")
        assert await confirm(pilot, app) == "status DNS"
        assert status(app, "44") is Status.DNS
        await pilot.press("L")
        assert await confirm(pilot, app) == "status LAP (lapped)"
        assert status(app, "44") is Status.LAP
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
        await open_athlete(pilot, app, "72")
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
        assert texts(app, "72") == ["30 second penalty for drafting"]
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
        assert texts(app, "72") == []
        assert app.pipeline.engine.races["elite"].view().row(1).local is False
        assert [a.action for a in app.desk.audit()] == ["penalty", "edit", "withdraw"]  # type: ignore[union-attr]


async def test_bad_input_is_refused_in_the_form_and_cancel_records_nothing() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "44")
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
        assert status(app, "44") is Status.OK
        # actions that have nothing to act on say so
        await open_athlete(pilot, app, "44")
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
        source = incidents_row(app, "25", IncidentBadge.PENALTY)
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
        assert all("TD Jane" in line and line.startswith("Elite Men & Women") for line in lines)
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, IncidentsScreen)


async def test_a_restart_keeps_the_desk() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "44")
        await pilot.press("x")
        await pilot.pause()
        await fill(pilot, SWIM)
        await pilot.press("enter")
        await confirm(pilot, app)
    again = make_app()
    async with again.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert status(again, "44") is Status.DSQ
        assert texts(again, "44") == ["DSQ for cutting the swim course"]
        assert list(again.pipeline.engine.races["elite"].ordered_entries())[-1].bib == "44"
        await pilot.press("4")
        await pilot.pause()
        assert "⌂" in row_cells(again, incidents_row(again, "44", IncidentBadge.DSQ))


async def test_overrides_reach_a_race_that_appears_later() -> None:
    desk = IncidentDesk(operator="TD Jane")
    desk.record("elite", "44", ActionKind.DSQ, infringement=SWIM)
    _, feed = sample_pipeline(120)
    empty = Pipeline()
    app = make_app(empty)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        feed.load(empty)  # the source's races arrive after start-up
        for _ in range(40):  # the next tick applies the desk (tick 0.25 s): wait for it, bounded
            if status(app, "44") is Status.DSQ:
                break
            await pilot.pause(0.1)
        assert status(app, "44") is Status.DSQ


async def test_a_source_update_does_not_undo_a_desk_entry() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_athlete(pilot, app, "44")
        await pilot.press("x")
        await pilot.pause()
        await fill(pilot, SWIM)
        await pilot.press("enter")
        await confirm(pilot, app)
        entry = app.pipeline.engine.races["elite"].entries["44"]
        app.pipeline.apply_results(
            "elite",
            [
                Result(
                    race_id="elite",
                    bib="44",
                    participant=entry.participant,
                    status=Status.OK,
                    splits={"elite-swim": 600_000},
                    incidents=[Incident.penalty(10, "littering")],
                )
            ],
        )
        await pilot.pause(0.6)  # over two 0.25 s ticks: the screen has redrawn
        assert status(app, "44") is Status.DSQ
        facts = static_text(app, "#facts")
        assert "DSQ" in facts and "⌂ desk" in facts
        assert "DSQ for cutting the swim course" in static_text(app, "#incidents")
        await pilot.press("escape", "4")
        await pilot.pause()
        assert "⌂" in row_cells(app, incidents_row(app, "44", IncidentBadge.DSQ))


def test_published_messages_and_exports_carry_the_desk(tmp_path: Any) -> None:
    pipeline, _ = sample_pipeline(120)
    desk = IncidentDesk(tmp_path / "desk.sqlite3", operator="TD Jane")
    pen = desk.record("elite", "44", "penalty", seconds=15, infringement=SWIM)
    desk.record("elite", "72", "penalty", seconds=15, infringement=SWIM)
    desk.record("elite", "72", "serve", target=pen.id + 1)
    desk.record("elite", "72", "dsq", infringement=SWIM)
    desk.record("elite", "115", "penalty", seconds=15, infringement=SWIM)
    desk.record("elite", "115", "penalty", seconds=30, infringement="drafting")
    desk.record("elite", "21", "dnf", reason="Withdrew from the race due to bike crash.")
    desk.record("elite", "53", "dns")
    desk.apply(pipeline)
    standings = pipeline.engine.races["elite"]
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
    assert by_bib["44"]["incidents"] == "15 second penalty for cutting the swim course"
    assert by_bib["72"]["incidents"] == (
        "Served 15 second penalty for cutting the swim course, DSQ for cutting the swim course"
    )
    assert by_bib["72"]["status"] == "DSQ"
    assert by_bib["115"]["incidents"] == (
        "15 second penalty for cutting the swim course, 30 second penalty for drafting"
    )
    assert by_bib["21"]["status"] == "DNF"
    assert by_bib["21"]["incidents"] == "Withdrew from the race due to bike crash."
    assert by_bib["53"]["status"] == "DNS"
    assert message["athletes"][-1]["start_num"] == "72"  # DSQ at the bottom
    rows = dict(opentrack.race_rows(standings))
    assert rows["72"] == "DQ" and rows["21"] == "DNF" and rows["53"] == "DNS"


async def test_an_unserved_penalty_approaching_the_penalty_box_is_highlighted() -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        index = incidents_row(app, "6", IncidentBadge.PENALTY)
        assert not any("BOX NEXT" in c for c in row_cells(app, index))
        entry = app.pipeline.engine.races["elite"].entries["6"]
        chip = entry.times[1] or 0
        app.pipeline.apply_passings(
            [Passing(race_id="elite", bib="6", point_id="elite-bike", time_ms=chip + 1_800_000)]
        )
        await pilot.pause(0.6)  # over two 0.25 s ticks: the screen has redrawn
        index = incidents_row(app, "6", IncidentBadge.PENALTY)
        assert any(c.startswith("⚑ BOX NEXT · NOT SERVED") for c in row_cells(app, index))
        others = [incidents_row(app, b, IncidentBadge.PENALTY) for b in ("43", "120")]
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
    desk = IncidentDesk(operator="TD Jane")
    pen = desk.record("elite", "44", "penalty", seconds=15, infringement=SWIM)
    desk.record("elite", "72", "dsq", infringement=SWIM)
    desk.record("elite", "6", "penalty", seconds=30, infringement="drafting")
    desk.record("elite", "6", "serve", target=pen.id + 2)
    desk.record("elite", "21", "dnf", reason="Withdrew from the race due to bike crash.")
    return make_app(desk=desk)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "small"])
def test_snapshot_incidents_with_desk_entries(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(desk_app(), press=["4"], terminal_size=size)
