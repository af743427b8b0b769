"""The start-list screen driven like a timer drives it (Textual's Pilot), against the
RaceEntry stand-in over a real socket: a walk-up entry added from the dashboard is
confirmed on screen, shown at once as pending, sent through the outbox, and named on the
leaderboard when that bib first passes a timing point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from racetui.model import Passing
from racetui.publish.outbox import ItemState, Outbox
from racetui.sources.startlist import RaceEntryClient, RaceEntryStartList, StartListCache, sync_once
from racetui.sources.startlist.writeback import StartListWriter
from racetui.tui.app import RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.screens.startlist import ConfirmScreen, EntryFormScreen, StartListScreen
from racetui.tui.startlist_changes import StartListChanges
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.widgets.table import RowTable
from tests.fakes.race import OPEN, RACE_NOW, race_pipeline
from tests.fakes.raceentry import FakeRaceEntry
from tests.support import async_wait_until


@pytest.fixture
def fake() -> Iterator[tuple[FakeRaceEntry, str]]:
    fake = FakeRaceEntry()
    fake.add_race("21", events=(16,))
    fake.add(race="21", event="16", registration=30, bib=1, first="John", last="Doe")
    fake.add(race="21", event="16", registration=31, bib=10, first="Ten", last="Tens")
    fake.add(race="21", event="16", registration=32, bib=9, first="Nine", last="Nines")
    with fake.serve() as url:
        yield fake, url


async def test_walk_up_entry_added_from_the_dashboard_shows_on_the_leaderboard(
    fake: tuple[FakeRaceEntry, str], tmp_path: Path
) -> None:
    stand_in, url = fake
    cache = StartListCache(tmp_path / "startlists.sqlite3")
    source = RaceEntryStartList(
        RaceEntryClient(url, stand_in.key, stand_in.secret, timeout=10), "21", race_id=OPEN
    )
    await sync_once(source, cache)
    await source.aclose()

    pipeline, _ = race_pipeline(40)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    writer = StartListWriter(RaceEntryClient(url, stand_in.key, stand_in.secret, timeout=10), cache)
    changes = StartListChanges({"raceentry": writer}, outbox=outbox, cache=cache)
    app = RaceApp(
        pipeline,
        [],
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tick=0.05,
        tracker_budget=None,
        strict=True,
        startlists=changes,
    )
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            await pilot.press("L")
            await async_wait_until(lambda: isinstance(app.screen, StartListScreen), what="the start list")
            shown_bibs = [entry.bib for _, entry in app.screen.rows]
            assert shown_bibs == ["1", "9", "10"]  # by start number, as everywhere else
            await pilot.press("a")
            await async_wait_until(lambda: isinstance(app.screen, EntryFormScreen), what="the form")
            for text in ("9999", "Walk", "Up", "F", "1990-04-06", "16"):
                await pilot.press(*text, "enter")
            await async_wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
            shown = str(app.screen.query_one("#confirm").render())
            assert "Add Walk Up (bib 9999) to event 16?" in shown
            assert stand_in.named("21", "Walk", "Up") == []  # nothing sent before the timer confirms
            await pilot.press("enter")

            # shown at once (pending until the service answers), then sent and confirmed
            await async_wait_until(
                lambda: any(e.bib == "9999" for e in cache.entries()), what="the staged entry"
            )
            await async_wait_until(lambda: len(stand_in.named("21", "Walk", "Up")) == 1, what="the creation")
            await async_wait_until(
                lambda: all(e.pending is None for e in cache.entries() if e.bib == "9999"), what="the answer"
            )
            (item,) = outbox.items(target="startlist.raceentry")
            assert item.state is ItemState.SENT
            await async_wait_until(
                lambda: any(
                    "add Walk Up (bib 9999) to event 16: done" in n.message for n in app._notifications
                ),
                what="the notification",
            )
            await pilot.press("escape")
            await async_wait_until(
                lambda: not isinstance(app.screen, StartListScreen), what="the leaderboard"
            )

            # the bib's first passing: the leaderboard names the walk-up athlete
            standings = pipeline.engine.race(OPEN)
            first_point = (
                standings.points[0].id if hasattr(standings.points[0], "id") else standings.race.points[0].id
            )
            pipeline.apply_passings(
                [Passing(race_id=OPEN, bib="9999", point_id=first_point, time_ms=600_000)]
            )
            board = app.screen.query_one(RowTable)

            def named_on_board() -> bool:
                if not board.move_to_key((OPEN, "9999")):
                    return False
                row = board.row_at(board.cursor)
                return row is not None and "Up" in " ".join(str(c[0]) for c in row.cells)

            await async_wait_until(named_on_board, what="bib 9999 named on the leaderboard")
            entry = app.state.entry((OPEN, "9999"))
            assert entry is not None and entry.participant is not None
            assert (entry.participant.first_name, entry.participant.last_name, entry.participant.gender) == (
                "Walk",
                "Up",
                "F",
            )
    finally:
        await writer.aclose()
        outbox.close()


def test_dashboard_wires_start_list_fixes_for_configured_services(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from racetui.config import load_config
    from racetui.tui.launch import build_startlist_changes

    assert build_startlist_changes(argparse.Namespace(startlist=False), load_config(None)) is None
    # --startlist without any credentials: read-only names, no writers
    assert build_startlist_changes(argparse.Namespace(startlist=True), load_config(None)) is None
    monkeypatch.setenv("RACETUI_RACEENTRY_KEY", "re-key-123")
    monkeypatch.setenv("RACETUI_RACEENTRY_SECRET", "re-secret-456")
    changes = build_startlist_changes(argparse.Namespace(startlist=True), load_config(None))
    assert isinstance(changes, StartListChanges)
    try:
        assert set(changes.writers) == {"raceentry"}
        assert changes.service.sender("startlist.raceentry") is not None
    finally:
        changes.close()
