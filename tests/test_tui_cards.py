"""Athlete cards in the dashboard: the athlete detail shows the card, a note added there is
saved (and where is said), a card pops up for a top athlete projected at the chosen point
within a minute without taking the keyboard, one at a time, queued, dismissed by Esc or
time; bad rows of the notes file show on Health."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from racetui.engine.projections import arrivals
from racetui.sources.notes import NotesBook
from racetui.tui.app import RaceApp
from racetui.tui.cards import Popup
from racetui.tui.clock import fixed_clock
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.health import HealthScreen
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.widgets.card import AthleteCard, CardPopup, NoteScreen
from racetui.tui.widgets.table import RowTable
from tests.fakes.race import OPEN, RACE_EPOCH, RACE_NOW, RaceFeed, race_pipeline
from tests.support import DATA


def cards_app(notes: NotesBook, **kwargs: Any) -> tuple[RaceApp, RaceFeed]:
    pipeline, feed = race_pipeline()
    app = RaceApp(
        pipeline,
        [feed],
        clock=feed.clock,  # moves with the festival's race time
        theme_dirs=[builtin_theme_dir()],
        tick=60,  # the test ticks
        tracker_budget=None,
        strict=True,
        notes=notes,
        **kwargs,
    )
    return app, feed


def write_notes(path: Path, rows: dict[str, str]) -> Path:
    born = RACE_EPOCH.date().replace(year=1996).isoformat()  # 30 on the race day
    lines = ["bib,bio,birthday"] + [f"{bib},{bio},{born}" for bib, bio in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def popup_text(app: RaceApp) -> str:
    popup = app.screen.query_one(CardPopup)
    if not popup.display:
        return ""
    return f"{popup.border_title}\n{popup.render()}"


async def test_the_athlete_detail_shows_the_card_and_saves_a_note(tmp_path: Path) -> None:
    notes = write_notes(tmp_path / "cards.csv", {"12": "Three-time winner here"})
    app, _ = cards_app(NotesBook([notes]))  # no note column: notes go to the event's file
    async with app.run_test(size=(100, 36)) as pilot:
        app.tick()
        app.open_athlete((OPEN, "12"))
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)
        card = app.screen.query_one("#card", AthleteCard)
        shown = str(card.render())
        assert card.display and "Three-time winner here" in shown and "Birthday today" in shown
        await pilot.press("N")
        assert isinstance(app.screen, NoteScreen)
        where = app.notes_target()
        assert where is not None and where != notes and where.suffix == ".csv"
        assert str(where) in str(app.screen.query_one("#where").render())  # says where
        await pilot.press(*"Flat tyre at km 12", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)
        assert "note: Flat tyre at km 12" in str(app.screen.query_one("#card", AthleteCard).render())
        assert any(str(where) in n.message for n in app._notifications)
        assert "Flat tyre at km 12" in where.read_text() and "Flat" not in notes.read_text()
    again = NotesBook([notes, where])
    card_again = again.card("12")
    assert card_again is not None and card_again.notes == ["Flat tyre at km 12"]


def _due_soon(app: RaceApp, feed: RaceFeed) -> tuple[int, list[str]]:
    """Move race time until a top-10 athlete is projected at their next point within a
    minute; (that point, those athletes)."""
    standings = app.state.engine.races[OPEN]
    for _ in range(400):
        top = [row.bib for row in standings.view().rows(0, 10)]
        leader = standings.athlete(top[0])
        assert leader is not None
        point = leader.last + 1
        clock = app.state.race_clock(standings.race)
        assert clock is not None and clock.elapsed_ms is not None
        soon = [a.bib for a in arrivals(standings, point, clock.elapsed_ms, 60_000) if a.bib in top]
        if soon:
            return point, soon
        feed.step(app.pipeline, 5)
        app.pipeline.drain()
    raise AssertionError("no top athlete due anywhere")


async def test_a_card_pops_up_for_a_top_athlete_due_within_a_minute(tmp_path: Path) -> None:
    app, feed = cards_app(NotesBook())
    async with app.run_test(size=(120, 36)) as pilot:
        app.tick()
        point, soon = _due_soon(app, feed)
        standings = app.state.engine.races[OPEN]
        app.state.point_id = standings.points[point].id  # the chosen point
        notes = write_notes(tmp_path / "cards.csv", {soon[0]: "Olympic finalist"})
        app.notes.paths.append(notes)
        app.notes.reload()
        focused = app.focused
        app.tick()
        await pilot.pause()
        text = popup_text(app)
        assert f"#{soon[0]} " in text and "Olympic finalist" in text
        at = standings.points[point].name
        assert f"at {at} in " in text or f"at {at}: due now" in text
        assert "Birthday today (30)" in text
        assert app.focused is focused and isinstance(focused, RowTable)  # never takes the keyboard
        before = app.state.point_id
        await pilot.press("p")  # keys still go to the board
        assert app.state.point_id != before
        app.state.point_id = before
        app.tick()
        await pilot.pause()
        assert popup_text(app) == text  # once per athlete and point: no second card
        await pilot.press("escape")
        await pilot.pause()
        assert popup_text(app) == ""
        assert len(app.cards.waiting) == 0


async def test_cards_wait_their_turn_and_go_by_time_or_esc() -> None:
    app, feed = cards_app(NotesBook(), config=None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.tick()
        for bib in ("1", "2", "3"):
            app.cards.offer(Popup((OPEN, bib), 3, f"#{bib} Someone", "at Finish in 00:40", (f"card {bib}",)))
        app.tick()
        await pilot.pause()
        assert "#1 Someone" in popup_text(app)  # at most one at a time
        assert [p.ref[1] for p in app.cards.waiting] == ["2", "3"]
        await pilot.press("escape")  # Esc: the next one
        app.tick()
        await pilot.pause()
        assert "#2 Someone" in popup_text(app)
        feed.advance_to(app.pipeline, feed.now + timedelta(seconds=10))  # shown for 10 s (cards.show_for)
        app.tick()
        await pilot.pause()
        assert "#3 Someone" in popup_text(app)
        popup = app.screen.query_one(CardPopup)
        assert popup.region.right <= 80 and popup.region.bottom <= 23  # above the footer at 80x24
        feed.advance_to(app.pipeline, feed.now + timedelta(seconds=10))
        app.tick()
        await pilot.pause()
        assert popup_text(app) == ""


async def test_bad_rows_of_the_notes_file_show_on_health(tmp_path: Path) -> None:
    notes = tmp_path / "notes.csv"
    shutil.copy(DATA / "notes.csv", notes)
    app, _ = cards_app(NotesBook([notes], writable=notes))  # notes added go to the user's file
    async with app.run_test(size=(120, 36)) as pilot:
        app.tick()
        await pilot.press("7")
        app.tick()
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen)
        errors = str(app.screen.query_one("#errors").render())
        assert "notes.csv line 3: birthday: '1999-13-01' is not a date" in errors
        extras = str(app.screen.query_one("#extras").render())
        assert "3 rows rejected" in extras and str(notes) in extras
        assert "no such file" not in errors  # the event's own notes file comes with a first note


def test_cards_come_once_per_athlete_and_point() -> None:
    from racetui.tui.cards import CardQueue

    queue = CardQueue(show_for=5)
    popup = Popup((OPEN, "1"), 2, "#1", "at Finish in 00:10", ())
    assert queue.offer(popup) and not queue.offer(popup)
    now = RACE_EPOCH
    assert queue.shown(now) == popup
    assert queue.shown(now + timedelta(seconds=4.9)) == popup
    assert queue.shown(now + timedelta(seconds=5)) is None


# ------------------------------------------------------------------ snapshots
def snapshot_app(tmp_path: Path) -> tuple[RaceApp, list[str]]:
    """The snapshots' race (fixed clock) with cards for its first three athletes."""
    pipeline, feed = race_pipeline(120)
    bibs = [row.bib for row in pipeline.engine.races[OPEN].view().rows(0, 3)]
    notes = tmp_path / "cards.csv"
    notes.write_text(
        "bib,bio,previous,pronunciation,birthday,coach\n"
        f'{bibs[0]},Olympic finalist,"2025 World Cup: 1st; 2024: 3rd",YOO-kee,1996-11-23,Jane Roe\n'
        f"{bibs[1]},Lives by the lake,,,,\n"
        f"{bibs[2]},Three-time winner here,2025: 2nd,,03-14,Sam Poe\n"
    )
    app = RaceApp(
        pipeline,
        [feed],
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tracker_budget=None,
        strict=True,
        notes=NotesBook([notes]),
    )
    return app, bibs


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "small"])
def test_snapshot_athlete_card(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app, _ = snapshot_app(tmp_path)
    assert snap_compare(app, press=["1", "enter"], terminal_size=size)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "small"])
def test_snapshot_card_popup(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """At the fixed moment #31 (2nd, with a card) is due at the leaders' next point: the
    card is up over the board's corner, the board keeps the keyboard."""
    app, _ = snapshot_app(tmp_path)

    async def settle(pilot: Any) -> None:
        app.tick()
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, press=["1"], terminal_size=size, run_before=settle)
