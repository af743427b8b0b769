"""The dashboard driven like a user drives it (Textual's Pilot): every screen and key.

Deterministic: a seeded race festival (tests/fakes/race.py), a fixed clock, the built-in
themes only, no sockets; the UI tick is driven directly where a test waits for one.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from textual.css.stylesheet import Stylesheet

from racetui.config import Config
from racetui.model import Incident, Passing, Result
from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode
from racetui.tui.app import SCREENS, RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.clock import ClockScreen, RaceClockPanel
from racetui.tui.screens.health import HealthScreen
from racetui.tui.screens.help import HelpScreen
from racetui.tui.screens.incidents import IncidentsScreen
from racetui.tui.screens.leaderboard import LeaderboardScreen
from racetui.tui.screens.passes import PassesScreen
from racetui.tui.screens.publish import PublishPanel, PublishScreen
from racetui.tui.screens.search import SearchScreen
from racetui.tui.screens.splits import SplitsScreen
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.widgets.header import RaceHeader
from racetui.tui.widgets.table import RowTable
from tests.dashboard import header_text, make_app, messages, press, shown, table, tick
from tests.fakes.race import LATER, OPEN, RACE_NOW, WAVES, race_pipeline
from tests.support import async_wait_until


async def test_number_keys_switch_every_screen() -> None:
    app, _, _ = make_app()
    expected = {
        "1": LeaderboardScreen,
        "2": SplitsScreen,
        "3": ClockScreen,
        "4": IncidentsScreen,
        "5": PassesScreen,
        "6": PublishScreen,
        "7": HealthScreen,
    }
    async with app.run_test(size=(120, 36)) as pilot:
        for key, kind in [*expected.items(), ("1", LeaderboardScreen)]:
            await press(pilot, key)
            assert isinstance(app.screen, kind), key
            assert app.current_mode == next(m for m, k, _, _ in SCREENS if k == key)


async def test_command_palette_offers_every_screen() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for _mode, key, title, _ in SCREENS:
            assert f"{key} {title}" in titles
        assert {"Search athlete", "Next race", "Next theme", "Help"} <= set(titles)
        await press(pilot, "ctrl+p")
        assert app.screen.__class__.__name__ == "CommandPalette"


async def test_leaderboard_and_header_at_a_glance() -> None:
    app, pipeline, feed = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        board = table(app)
        leader = pipeline.engine.races[OPEN].view().row(0)
        assert board.row_at(0).key == (OPEN, leader.bib)  # type: ignore[union-attr]
        text = header_text(app)
        assert "Harbour City Triathlon Festival" in text and "Age Group Sprint" in text
        assert "◷ 45:00" in text and "08:45:00" in text and "▶ replay" in text
        assert "new" in text  # incidents not looked at yet
        assert "loading" not in text
        feed.health.progress = "loading 14,000 of 50,000 athletes"  # a source's first load
        await tick(app, pilot)
        assert "loading 14,000 of 50,000 athletes" in header_text(app)


async def test_enter_opens_the_athlete_and_escape_closes() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "down", "down", "enter")
        assert isinstance(app.screen, AthleteScreen)
        third = pipeline.engine.races[OPEN].view().row(2)
        assert app.screen.ref == (OPEN, third.bib)
        who = str(app.screen.query_one("#who").render())
        assert third.bib in who and third.name in who
        points = app.screen.query_one(RowTable)
        assert len(points.model) == len(pipeline.engine.races[OPEN].points)
        await press(pilot, "escape")
        assert isinstance(app.screen, LeaderboardScreen)


async def test_search_by_bib_opens_the_athlete() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "slash")
        assert isinstance(app.screen, SearchScreen)
        await pilot.press("4", "2", "enter")  # digits go to the search box, not to the screens
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen) and app.screen.ref == (OPEN, "42")


async def test_search_by_name_lists_matches() -> None:
    app, pipeline, _ = make_app()
    name = pipeline.engine.races[OPEN].entries["7"].participant.last_name  # type: ignore[union-attr]
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "slash", *name[:4].lower())
        options = app.screen.query_one("#results")
        assert options.option_count >= 1  # type: ignore[attr-defined]
        await pilot.press("enter")  # several matches: the list takes focus
        await pilot.pause()
        await press(pilot, "enter")
        assert isinstance(app.screen, AthleteScreen)


async def test_watched_athlete_is_marked_and_notified_on_passing() -> None:
    app, pipeline, feed = make_app(config=Config(bell=True))
    rang: list[bool] = []
    app.bell = lambda: rang.append(True)  # type: ignore[method-assign]
    upcoming = next(p for p in feed.upcoming() if p.race_id == OPEN)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        board = table(app)
        assert board.move_to_key((OPEN, upcoming.bib))
        await press(pilot, "w")
        assert (OPEN, upcoming.bib) in app.state.watch
        row = board.row_at(board.cursor)
        assert row is not None and str(row.cells[2][0]).startswith("★")
        pipeline.apply_passings([upcoming])
        await tick(app, pilot)
        assert any(f"#{upcoming.bib}" in m and "passed" in m for m in messages(app))
        assert rang


async def test_mark_then_gap_to_another_athlete() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "m", "down", "down", "down")
        info = str(app.screen.query_one("#info").render())
        rows = pipeline.engine.races[OPEN].view().rows(0, 4)
        gap_at = app.state.gap((OPEN, rows[0].bib), (OPEN, rows[3].bib))
        assert gap_at is not None
        assert (
            f"◆ #{rows[0].bib}" in info and f"→ #{rows[3].bib}" in info and f" at {gap_at.point_name}" in info
        )
        await press(pilot, "g")
        gap = rows[3].time_ms - rows[0].time_ms  # type: ignore[operator]
        assert any(m.startswith(f"#{rows[0].bib} → #{rows[3].bib}: +") for m in messages(app)), gap


async def test_race_wave_point_and_filters() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "r")
        assert app.state.race_id == WAVES
        assert table(app).row_at(0).key[0] == WAVES  # type: ignore[union-attr,index]
        assert "Age Group Standard" in header_text(app)
        await press(pilot, "v", "v")
        men_40 = pipeline.engine.races[WAVES].race.waves[1]
        assert app.state.wave_id == men_40.id
        assert men_40.name in header_text(app) and "◷ 30:00" in header_text(app)
        board = table(app)
        assert all(
            pipeline.engine.races[WAVES].entries[r.key[1]].participant.wave_id == men_40.id  # type: ignore[union-attr,index]
            for r in board.model.fetch(0, len(board.model))
        )
        await press(pilot, "p")
        first = pipeline.engine.races[WAVES].points[0]
        assert app.state.point_id == first.id
        assert f"at {first.name}" in str(app.screen.query_one("#info").render())
        await press(pilot, "l", "v", "v", "f")
        assert app.state.point_id is None and app.state.gender == "F" and app.state.wave_id is None
        await press(pilot, "c")
        assert app.state.category is not None
        rows = table(app).model.fetch(0, 100)
        assert rows and all(
            pipeline.engine.races[WAVES].entries[r.key[1]].participant.category == app.state.category  # type: ignore[union-attr,index]
            for r in rows
        )
        await press(pilot, "R")
        assert app.state.race_id == OPEN and app.state.wave_id is None


async def test_theme_key_cycles_and_a_bad_theme_falls_back() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "racetui-dark"
        seen = []
        for _ in range(5):
            await press(pilot, "t")
            seen.append(app.theme)
        assert seen == ["racetui-light", "high-contrast", "colour-blind", "monochrome", "racetui-dark"]
    app, _, _ = make_app(theme="no-such-theme")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "racetui-dark"
        assert any("no-such-theme" in m for m in messages(app))


async def test_a_first_switch_styles_the_new_screen_without_restyling_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first visit to a screen does not re-parse the app's stylesheets (Textual does,
    twice, for a screen it has never styled); the new screen still wears the theme in
    force, also one chosen before it was first shown."""
    reparses: list[int] = []
    reparse = Stylesheet.reparse

    def counted(self: Stylesheet) -> None:
        reparses.append(1)
        reparse(self)

    monkeypatch.setattr(Stylesheet, "reparse", counted)
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        dark = app.screen.query_one(RaceHeader).styles.background
        reparses.clear()
        await press(pilot, "2")
        assert isinstance(app.screen, SplitsScreen)
        assert reparses == []
        assert app.screen.query_one(RaceHeader).styles.background == dark
        await press(pilot, "1", "t")
        await pilot.pause()
        assert app.theme == "racetui-light"
        light = app.screen.query_one(RaceHeader).styles.background
        assert light != dark
        for key, kind in (("3", ClockScreen), ("7", HealthScreen), ("2", SplitsScreen)):
            await press(pilot, key)
            assert isinstance(app.screen, kind)
            assert app.screen.query_one(RaceHeader).styles.background == light, key


async def test_help_and_quit() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, LeaderboardScreen)
        await press(pilot, "q")
    assert app.return_code == 0


async def test_incidents_new_marks_unserved_filter_and_acknowledge() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "4")
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        counts = screen.model.counts()
        assert counts["new"] > 0 and counts["unserved"] > 0
        first = table(app).row_at(0)
        assert first is not None and first.cells[0][0] == "NEW"
        await press(pilot, "u")
        assert len(screen.model) == counts["unserved"]
        await press(pilot, "a")
        assert screen.model.counts()["new"] == 0
        assert table(app).row_at(0).cells[0][0] == ""  # type: ignore[union-attr]
        assert "new" not in header_text(app)


async def test_leaving_incidents_counts_as_looked() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4", "1")
        # the incidents screen hears it is suspended by its own message: wait for that
        await async_wait_until(
            lambda: app.state.incidents_seen == app.state.tracker.seq > 0, what="the incidents seen"
        )
        await tick(app, pilot)
        assert "⚑" not in header_text(app)


async def test_a_dialog_over_incidents_is_not_leaving_them() -> None:
    """Help (or search, or a desk form) over Incidents keeps them in view: nothing is marked
    read until the timer really leaves the screen."""
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "4")
        incidents = app.screen
        assert isinstance(incidents, IncidentsScreen)
        seen, updates = app.state.incidents_seen, incidents.stack_updates
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        # Textual counts a screen's suspensions as it handles them: wait for this one
        await async_wait_until(lambda: incidents.stack_updates > updates, what="the incidents suspended")
        assert app.state.incidents_seen == seen < app.state.tracker.seq
        await press(pilot, "escape")
        assert app.screen is incidents and incidents.model.counts()["new"] > 0
        await press(pilot, "1")
        await async_wait_until(
            lambda: app.state.incidents_seen == app.state.tracker.seq, what="the incidents seen on leaving"
        )


async def test_passes_filter_by_point_and_location() -> None:
    app, pipeline, feed = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "5")
        screen = app.screen
        assert isinstance(screen, PassesScreen)
        before = len(screen.model)
        assert before > 0
        await press(pilot, "p")
        points = pipeline.engine.races[OPEN].points
        assert {r.point_id for r in screen.model.records} == {points[0].id}
        for _ in range(len(points)):  # past every timing point: the first location
            await press(pilot, "p")
        assert screen.model.filter is not None and screen.model.filter[0] == "location"
        location = screen.model.filter[1]
        assert location == points[0].location_id  # the swim exit, shared by both triathlons
        assert {r.race_id for r in screen.model.records} == {OPEN, WAVES}
        for _ in range(len(points) + 1):
            await press(pilot, "P")
        assert screen.model.filter is None
        upcoming = next(p for p in feed.upcoming() if p.race_id == OPEN)
        pipeline.apply_passings([upcoming])
        await tick(app, pilot)
        top = table(app).row_at(0)
        assert top is not None and top.key == (OPEN, upcoming.bib)


async def test_splits_scroll_points() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "2")
        screen = app.screen
        assert isinstance(screen, SplitsScreen)
        assert screen.model.first_point == 0
        await press(pilot, "right", "right")
        assert screen.model.first_point == 2
        titles = [c.title for c in screen.model.columns()]
        third = pipeline.engine.races[OPEN].points[2].name
        assert titles[3].startswith("‹ ") and third in titles[3]
        await press(pilot, "left")
        assert screen.model.first_point == 1


async def test_clock_screen_shows_every_race_side_by_side() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await tick(app, pilot)

        # A first visit builds the screen: its panels mount their digits as it is shown, and
        # the app's own ticks set them.
        def digits() -> list[str]:
            return [str(d.value) for d in app.screen.query("RaceClockPanel Digits")]  # type: ignore[attr-defined]

        await shown(pilot, lambda: digits() == ["45:00", "35:00", "-55:00"], what="the three races' clocks")
        panels = list(app.screen.query(RaceClockPanel))
        assert [p.race_id for p in panels] == [OPEN, WAVES, LATER]
        waves = str(panels[1].query_one(".waves").render())
        assert pipeline.engine.races[WAVES].race.waves[1].name in waves and "30:00" in waves
        assert len({p.region.y for p in panels}) == 1  # side by side


async def test_a_tick_while_the_clock_panels_mount_waits_for_them() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await tick(app, pilot)
        screen = app.screen
        assert isinstance(screen, ClockScreen)
        grid = screen.query_one("#clocks")
        # Being removed (their children go first): where an app tick can land too.
        removing = grid.remove_children()
        screen._show()
        await removing
        # In the DOM, not yet composed: this is where an app tick can land (it failed a
        # snapshot with NoMatches on the panel's title).
        mounting = grid.mount(RaceClockPanel(OPEN))
        assert not grid.query_one(RaceClockPanel).is_mounted
        screen._show()
        await mounting
        screen._show()
        digits = grid.query_one("RaceClockPanel Digits")
        assert str(digits.value) == "45:00"  # type: ignore[attr-defined]


async def test_publish_placeholder_and_health() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "6")
        off = app.screen.query_one(PublishPanel).query_one("#publish-off")
        assert "--publish-triathlon" in str(off.render())
        await press(pilot, "7")
        row = table(app).row_at(0)
        assert row is not None and row.cells[0][0] == "sim" and row.cells[1][0] == "▶ replay"


class _FailingSource:
    name = "broken"

    def __init__(self) -> None:
        self.health = SourceHealth("broken", mode=SourceMode.PUSH)

    async def run(self, pipeline: Pipeline) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("peer sent nonsense")


class _LiveSource:
    """Applies passings as it runs: the app must run it as a worker."""

    name = "live"

    def __init__(self, passings: list[Passing]) -> None:
        self.passings = passings
        self.health = SourceHealth("live", mode=SourceMode.PUSH, clock=lambda: 0.0)

    async def run(self, pipeline: Pipeline) -> None:
        for passing in self.passings:
            pipeline.apply_passings([passing])
            self.health.received()
            await asyncio.sleep(0)
        await asyncio.Event().wait()


async def test_sources_run_as_workers_and_failures_show_in_health() -> None:
    pipeline, feed = race_pipeline(120)
    upcoming = list(itertools.islice(feed.upcoming(), 10))
    live, broken = _LiveSource(upcoming), _FailingSource()
    app = RaceApp(
        pipeline, [live, broken], clock=fixed_clock(RACE_NOW), theme_dirs=[builtin_theme_dir()], tick=0.05
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_until(
            lambda: live.health.messages == 10 and any("broken stopped" in m for m in messages(app)),
            what="both workers to have run",
        )
        await tick(app, pilot)
        assert live.health.messages == 10
        entry = pipeline.engine.races[upcoming[-1].race_id].entries[upcoming[-1].bib]
        assert upcoming[-1].time_ms - entry.offset_ms in entry.times
        assert broken.health.state is FeedState.ERROR
        assert "peer sent nonsense" in (broken.health.last_error or "")
        assert any("broken stopped" in m for m in messages(app))
        assert "✕ error" in header_text(app)
        await press(pilot, "7")
        rows = table(app).model.fetch(0, 2)
        assert rows[1].cells[1][0] == "✕ error" and "peer sent nonsense" in str(rows[1].cells[6][0])


async def test_mouse_click_selects_and_double_click_opens() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        board = table(app)
        await pilot.click(RowTable, offset=(10, 4))  # header line, then rows 0, 1, 2
        await pilot.pause()
        assert board.cursor == 3
        await pilot.click(RowTable, offset=(10, 4), times=2)
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)
        assert app.screen.ref[1] == pipeline.engine.races[OPEN].view().row(3).bib


async def test_live_tick_redraws_only_what_changed() -> None:
    app, pipeline, feed = make_app(2000)
    async with app.run_test(size=(120, 36)) as pilot:
        await tick(app, pilot)
        board = table(app)
        view = pipeline.engine.races[OPEN].view()
        visible = {r.bib for r in view.rows(0, board.visible_rows)}
        # A passing far down the field: the rows in view are not touched, nothing is re-read.
        far = next(
            p for p in feed.upcoming()
            if p.race_id == OPEN and p.bib not in visible and (view.index_of(p.bib) or 0) > 500
        )  # fmt: skip
        fetched = board.rows_fetched
        old_index = view.index_of(far.bib)
        pipeline.apply_passings([far])
        new_index = view.index_of(far.bib)
        await tick(app, pilot)
        if min(old_index or 0, new_index or 0) > board.first_row + board.visible_rows:
            assert board.rows_fetched == fetched
        # A new leader at the top: the rows in view are re-read and redrawn.
        standings = pipeline.engine.races[OPEN]
        finish = standings.points[-1].id
        winner = view.row(0).bib
        pipeline.apply_passings([Passing(race_id=OPEN, bib=winner, point_id=finish, time_ms=50 * 60_000)])
        refreshed = board.update_rows(pipeline.drain())
        assert refreshed >= 1
        await pilot.pause()
        row = board.row_at(0)
        assert row is not None and row.key == (OPEN, winner) and "Finish" in str(row.cells[5][0])


async def test_big_field_opens_reading_only_visible_rows() -> None:
    app, _, _ = make_app(8000, kind="half")
    async with app.run_test(size=(120, 36)) as pilot:
        await tick(app, pilot)
        board = table(app)
        assert len(board.model) == 8000
        assert board.rows_fetched <= 3 * board.visible_rows  # not the field
        await press(pilot, "end")
        assert board.cursor == 7999
        assert board.first_row >= 8000 - board.visible_rows
        await press(pilot, "pageup", "home")
        assert board.cursor == 0 and board.first_row == 0
        assert board.rows_fetched < 12 * board.visible_rows


async def test_hidden_screens_do_no_work() -> None:
    app, pipeline, feed = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "2")
        splits = table(app)
        await press(pilot, "1")
        fetched = splits.rows_fetched
        for _ in range(3):
            feed.step(pipeline, 5)
            await tick(app, pilot)
        assert splits.rows_fetched == fetched  # the splits screen was not visible
        await press(pilot, "2")
        assert splits.rows_fetched > fetched  # and catches up when shown


async def test_a_screen_shown_again_redraws_only_the_rows_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, pipeline, feed = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        board = table(app)
        drawn: list[object] = []  # the regions of the board asked to be drawn again
        original = RowTable.refresh

        def counting(self: RowTable, *regions: Any, **kwargs: Any) -> Any:
            if self is board:
                drawn.extend(regions or ["all of it"])
            return original(self, *regions, **kwargs)

        monkeypatch.setattr(RowTable, "refresh", counting)
        await press(pilot, "7")
        await press(pilot, "1")
        assert drawn == []  # nothing changed while it was hidden: nothing drawn again
        await press(pilot, "7")
        feed.step(pipeline, 20)
        await tick(app, pilot)
        await press(pilot, "1")
        # what the passings changed, line by line, not the whole board
        assert drawn and "all of it" not in drawn and len(drawn) <= board.visible_rows


async def test_80x24_keeps_the_essential_columns() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        board = table(app)
        line = board.render_line(0).text
        for title in ("Pos", "Bib", "Name", "Time", "Gap", "St"):
            assert title in line, title
        assert len(line) <= 80
        first = board.render_line(1).text
        leader = board.row_at(0)
        assert leader is not None and leader.key[1] in first  # type: ignore[index]


async def test_a_display_error_is_reported_and_the_dashboard_keeps_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, feed = race_pipeline(120)
    app = RaceApp(pipeline, [feed], clock=fixed_clock(RACE_NOW), theme_dirs=[builtin_theme_dir()], tick=0.05)
    calls = []

    def broken(self: LeaderboardScreen, changes: object) -> None:
        calls.append(changes)
        raise ZeroDivisionError("bad row")

    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        monkeypatch.setattr(LeaderboardScreen, "on_changes", broken)
        feed.step(pipeline, 5)
        await tick(app, pilot)
        assert calls and app.tick_errors >= 1
        assert any("display error (ZeroDivisionError: bad row)" in m for m in messages(app))
        await press(pilot, "2")
        assert isinstance(app.screen, SplitsScreen)  # still running


async def test_screens_ask_the_app_by_typed_messages() -> None:
    from textual.message import Message

    from racetui.tui.messages import OpenAthlete, ToggleMark, ToggleWatch, WorkerFailed

    seen: list[Message] = []

    def hook(message: Message) -> None:  # once per message, though it bubbles screen → app
        if all(message is not other for other in seen):
            seen.append(message)

    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36), message_hook=hook) as pilot:
        await press(pilot, "down", "w", "m")
        second = (OPEN, pipeline.engine.races[OPEN].view().row(1).bib)
        asked = [m for m in seen if isinstance(m, ToggleWatch | ToggleMark)]
        assert [(type(m), m.ref) for m in asked] == [(ToggleWatch, second), (ToggleMark, second)]
        assert second in app.state.watch and app.state.mark == second  # the app did it
        await press(pilot, "enter")
        assert [m.ref for m in seen if isinstance(m, OpenAthlete)] == [second]
        assert isinstance(app.screen, AthleteScreen) and app.screen.ref == second

        async def publisher_crashes() -> None:
            raise RuntimeError("outbox disk full")

        app.run_worker(publisher_crashes(), name="publish", exit_on_error=False)
        # the failure is reported by messages: wait for the notice
        await async_wait_until(lambda: any("outbox disk full" in m for m in messages(app)), what="the notice")
        failed = [m for m in seen if isinstance(m, WorkerFailed)]
        assert [(m.name, str(m.error)) for m in failed] == [("publish", "outbox disk full")]
        assert "publish stopped: outbox disk full" in messages(app)


async def test_incidents_cursor_stays_on_its_incident_while_ten_more_arrive() -> None:
    """Newest incidents go on top: the highlighted incident (and the athlete Enter, +, x, s
    act on) must not change under the cursor as they arrive."""
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "4")
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        await press(pilot, "down", "down")
        rows = table(app)
        chosen = rows.row_at(rows.cursor)
        assert chosen is not None and rows.cursor == 2
        race_id = chosen.key[0]  # type: ignore[index]
        standings = pipeline.engine.race(race_id)
        clean = [a for a in standings.athletes() if not a.incidents and a.status.value == "OK"][:10]
        assert len(clean) == 10
        for number, athlete in enumerate(clean, start=1):
            held = standings.held(athlete.bib)
            assert held is not None
            before = len(screen.model)
            pipeline.apply_results(
                race_id,
                [
                    Result(
                        race_id=race_id,
                        bib=athlete.bib,
                        participant=athlete.participant,
                        splits=held.splits,
                        incidents=[Incident.penalty(10 + number, "drafting")],
                    )
                ],
            )
            await tick(app, pilot)  # the next UI tick picks it up
            assert len(screen.model) == before + 1
            now = rows.row_at(rows.cursor)
            assert now is not None and now.ident == chosen.ident and now.key == chosen.key
        assert rows.cursor == 12  # ten rows above it now
        assert rows.current_key() == chosen.key
