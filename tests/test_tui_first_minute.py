"""What a new user meets in the first minute: cheap overlays, a quit that asks while live,
the athlete detail at the latest split, and a help page that explains every symbol.

Deterministic: the seeded sample event, a fixed clock, the built-in themes; the tick is
driven directly (``app.tick()``) instead of waiting for the timer.
"""

from __future__ import annotations

from racetui.model import Status
from racetui.sources.base import FeedState, SourceHealth, SourceMode
from racetui.tui.columns import badge_for
from racetui.tui.models import health_badge
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.help import HELP_TEXT, HelpScreen
from racetui.tui.screens.leaderboard import LeaderboardScreen
from racetui.tui.screens.quit import QuitScreen
from racetui.tui.screens.search import SearchScreen
from racetui.tui.widgets.table import RowTable
from tests.test_tui_app import make_app


async def test_a_modal_pauses_the_board_and_the_board_catches_up_when_it_closes() -> None:
    app, pipeline, feed = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        board = app.screen.query_one(RowTable)
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.screen, SearchScreen)
        fetched = board.rows_fetched
        drawn = board.lines_drawn
        assert feed.step(pipeline, 40)
        app.tick()
        app.tick()
        await pilot.pause()
        # The dimmed board behind the search box did no work at all.
        assert board.rows_fetched == fetched
        assert board.lines_drawn == drawn
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LeaderboardScreen)
        await pilot.pause()
        assert board.rows_fetched > fetched  # caught up on resume


async def test_q_quits_at_once_when_nothing_is_live() -> None:
    app, _, _ = make_app()  # the sample feed is a replay: nothing live
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.quit_reasons() == []
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0  # exit() was called: no question asked


async def test_q_asks_while_a_source_is_live() -> None:
    app, _, feed = make_app()
    feed.health = SourceHealth("master", mode=SourceMode.PUSH, state=FeedState.CONNECTED, clock=lambda: 0.0)
    feed.health.last_message = 0.0
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        shown = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "live (push)" in shown
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, LeaderboardScreen)
        assert app.return_code is None  # still running
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("y")
        await pilot.pause()
    assert app.return_code == 0


async def test_athlete_detail_opens_at_the_latest_split() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)
        await pilot.pause()
        entry = app.state.entry(app.screen.ref)
        assert entry is not None and entry.last > 0
        points = app.screen.query_one("#points", RowTable)
        assert points.cursor == entry.last


async def test_help_explains_every_symbol_the_dashboard_shows() -> None:
    symbols: set[str] = {"▲", "▼", "★", "◆", "⌂", "◷", "⚑", "NEW", "⚑ BOX NEXT"}
    for status in Status:
        badge, _ = badge_for(status, [])
        symbols.add(badge)
    symbols |= {"PEN!", "PEN✓", "FIN"}
    for mode in SourceMode:
        for state in FeedState:
            badge, _ = health_badge(SourceHealth("x", mode=mode, state=state, clock=lambda: 0.0))
            symbols.add(badge.split()[0])
    missing = sorted(s for s in symbols if s and s not in HELP_TEXT)
    assert missing == []
    app, _, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
