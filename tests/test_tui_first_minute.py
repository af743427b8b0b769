"""What a new user meets in the first minute: cheap overlays, a quit that asks while live,
the athlete detail at the latest split, and a help page that explains every symbol.

Deterministic: the seeded race festival (tests/fakes/race.py), a fixed clock, the built-in themes; the tick is
driven directly (``app.tick()``) instead of waiting for the timer.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from textual.widgets import Static

from racetui.model import Status
from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode
from racetui.sources.feed import FeedSource
from racetui.tui.app import RaceApp
from racetui.tui.columns import badge_for
from racetui.tui.rows import health_badge
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.health import HealthScreen, SourceStory, recent_problems, source_story
from racetui.tui.screens.help import HELP_TEXT, HelpScreen
from racetui.tui.screens.leaderboard import LeaderboardScreen
from racetui.tui.screens.quit import QuitScreen
from racetui.tui.screens.search import SearchScreen
from racetui.tui.widgets.table import RowTable
from racetui.util.logs import dashboard_logging
from tests.dashboard import dashboard, make_app, press, shown
from tests.fakes.asgi import LoopServer, free_port


async def test_a_modal_pauses_the_board_and_the_board_catches_up_when_it_closes() -> None:
    app, pipeline, feed = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        board = app.screen.query_one(RowTable)
        await press(pilot, "slash")
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
        await press(pilot, "escape")
        assert isinstance(app.screen, LeaderboardScreen)
        await pilot.pause()
        assert board.rows_fetched > fetched  # caught up on resume


async def test_q_quits_at_once_when_nothing_is_live() -> None:
    app, _, _ = make_app()  # the festival's feed is a replay: nothing live
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.quit_reasons() == []
        await press(pilot, "q")
        assert app.return_code == 0  # exit() was called: no question asked


async def test_q_asks_while_a_source_is_live() -> None:
    app, _, feed = make_app()
    feed.health = SourceHealth("master", mode=SourceMode.PUSH, state=FeedState.CONNECTED, clock=lambda: 0.0)
    feed.health.last_message = 0.0
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "q")
        assert isinstance(app.screen, QuitScreen)
        shown = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "live (push)" in shown
        await press(pilot, "n")
        assert isinstance(app.screen, LeaderboardScreen)
        assert app.return_code is None  # still running
        await press(pilot, "q")
        assert isinstance(app.screen, QuitScreen)
        await press(pilot, "y")
    assert app.return_code == 0


async def test_athlete_detail_opens_at_the_latest_split() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "enter")
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
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)


# ---------------------------------------------------------------- an empty board says why
def _feed_app(target: str) -> tuple[RaceApp, FeedSource]:
    source = FeedSource(target, interval=0.2, timeout=5.0)
    return dashboard(Pipeline(), [source]), source


async def _board_says(app: RaceApp, pilot: Any, *words: str) -> str:
    """Wait (generous deadline) until the empty board's text has every word; return it."""

    def text() -> str:
        return app.screen.query_one(RowTable).empty_text

    await shown(pilot, lambda: all(word in text() for word in words), what=f"the board to say {words!r}")
    return text()


def _stand_in(status: int, body: bytes, media_type: str) -> Starlette:
    async def feed(_request: Request) -> Response:
        return Response(body, status_code=status, media_type=media_type)

    return Starlette(routes=[Route("/feed.json", feed)])


async def test_a_dead_port_says_cannot_reach_and_when_it_retries() -> None:
    port = free_port()
    app, _ = _feed_app(f"http://127.0.0.1:{port}/feed.json")
    async with app.run_test(size=(80, 24)) as pilot:
        text = await _board_says(app, pilot, f"can't reach 127.0.0.1:{port}", "retrying in")
        assert "No athletes" not in text


async def test_a_404_and_html_say_what_they_are_and_health_tells_the_story() -> None:
    async with LoopServer(_stand_in(404, b'{"message": "no such race"}', "application/json")) as server:
        app, source = _feed_app(server.url + "/feed.json")
        async with app.run_test(size=(100, 30)) as pilot:
            await _board_says(app, pilot, "HTTP 404", server.url + "/feed.json")
            await press(pilot, "7")
            assert isinstance(app.screen, HealthScreen)
            app.tick()
            await pilot.pause()
            listed = str(app.screen.query_one("#errors", Static).render())
            assert "HTTP 404" in listed and "no such race" in listed
            await press(pilot, "enter")
            assert isinstance(app.screen, SourceStory)
            story = source_story(source)
            assert "HTTP 404: no such race" in story and "journal" in story and "rejected 0" in story
            # the same reason on every poll is one line with a count, not one line per poll
            await shown(pilot, lambda: source.health.problems[-1].count >= 2, what="the reason seen twice")
            assert len(source.health.problems) == 1 and source.health.problems[0].count >= 2
    async with LoopServer(_stand_in(200, b"<html>maintenance</html>", "text/html")) as server:
        app, source = _feed_app(server.url + "/feed.json")
        async with app.run_test(size=(80, 24)) as pilot:
            await _board_says(app, pilot, "not JSON")
            assert source.health.rejected >= 1
            problems = recent_problems([source], [])
            assert problems and "rejected" in problems[0] and "not JSON" in problems[0]


# ----------------------------------------------------------- logs never write under Textual
def test_dashboard_logging_goes_to_a_file_and_health_not_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    terminal = logging.StreamHandler(sys.stderr)
    root.addHandler(terminal)
    try:
        with dashboard_logging(tmp_path / "logs") as logs:
            logging.getLogger("racetui.sources.feed").warning("http://x/feed.json: HTTP 404")
            assert terminal not in root.handlers
        assert logs.path == tmp_path / "logs" / "racetui.log"
        assert "HTTP 404" in logs.path.read_text()
        assert (logs.path.stat().st_mode & 0o777) == 0o600
        assert any("HTTP 404" in line for line in logs.recent.lines)
        assert "HTTP 404" not in capsys.readouterr().err
        assert terminal in root.handlers  # headless again: stderr
    finally:
        root.removeHandler(terminal)


# ------------------------------------------------------------ footers fit, ? and q always
@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 36)])
async def test_footers_fit_and_keep_help_and_quit(size: tuple[int, int]) -> None:
    from rich.cells import cell_len

    from racetui.tui.widgets.footer import RaceFooter

    app, _, _ = make_app()
    async with app.run_test(size=size) as pilot:
        for key in "1234567":
            await press(pilot, key)
            await pilot.pause()
            footer = app.screen.query_one(RaceFooter)
            keys = [(item.key_display, item.description) for item in footer.items]
            shown = [f"{k} {d}".strip() for k, d in keys]
            assert "? Help" in shown and "q Quit" in shown, (key, size, shown)
            used = sum(cell_len(k) + cell_len(d) + 2 for k, d in keys)
            assert used <= size[0], (key, size, shown)


async def test_a_footer_key_clicked_runs_it_and_a_switch_keeps_the_footer_as_drawn() -> None:
    from racetui.tui.screens.health import HealthScreen
    from racetui.tui.widgets.footer import RaceFooter

    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        footer = app.screen.query_one(RaceFooter)
        seven = next(i for i, item in enumerate(footer.items) if item.key == "7")
        x = next(first for first, _, index in footer._spans if index == seven)
        assert footer.item_at(x) == seven and footer.item_at(footer.size.width - 1) is None
        await pilot.click(RaceFooter, offset=(x, 0))
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen)
        items = footer.items
        await press(pilot, "1")
        assert isinstance(app.screen, LeaderboardScreen)
        # The same keys as when it was last shown: not worked out and drawn again.
        assert app.screen.query_one(RaceFooter).items is items
        # The switch held the frame only until the screen caught up, not for a fixed time.
        assert app._holds == () and app._batch_count == 0


# ------------------------------------------------------------------- the README's config
def test_the_readme_example_config_has_every_key_and_loads(tmp_path: Path) -> None:
    import re

    from racetui.config import Config, load_config

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert block is not None, "the README shows no example config"
    path = tmp_path / "config.toml"
    path.write_text(block.group(1))
    path.chmod(0o600)
    config = load_config(path)
    assert config.triathlon.event_id == "123456" and config.opentrack.events == {"1": "10K"}
    shown = set(re.findall(r"^\s*([a-z_]+)\s*=", block.group(1), re.M))
    from pydantic import BaseModel

    sections = {name for name in Config.model_fields if isinstance(getattr(config, name), BaseModel)}
    fields = set(Config.model_fields) - {"path", "warnings"} - sections
    for section in sections:
        fields |= set(type(getattr(config, section)).model_fields)
    assert fields - shown == set()


# ------------------------------------------------- publishing warns about placeholders
async def test_publish_screen_warns_of_placeholder_event_id_and_name_before_sending(tmp_path: Path) -> None:
    from racetui.config import Config, TriathlonConfig
    from racetui.publish.session import PublishingOptions, build_publishing
    from racetui.tui.screens.publish import ConfirmPublish
    from tests.fakes.race import race_pipeline
    from tests.test_tui_publish import make_app as publish_app
    from tests.test_tui_publish import options, screen_text

    pipeline, feed = race_pipeline(12)
    target = tmp_path / "{prog_id}.json"
    publishing = build_publishing(
        PublishingOptions.from_args(options("--publish-triathlon", "--file", str(target))),
        Config(),
        pipeline.engine,
    )
    assert publishing is not None and publishing.triathlon is not None
    event = pipeline.engine.event
    assert event is not None
    app = publish_app(publishing, pipeline, [feed])
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "6")
        text = screen_text(app)
        assert f"event_id {event.id!r} is the source's placeholder" in text
        assert f"event_name {event.name!r} comes from the source" in text
        await press(pilot, "p")
        assert isinstance(app.screen, ConfirmPublish)
        assert "event_id" in " ".join(str(s.render()) for s in app.screen.query(Static))
        await press(pilot, "n")
    assert publishing.outbox.items() == []
    publishing.close()

    configured = Config(triathlon=TriathlonConfig(event_id="107158", event_name="Lakeside 2026"))
    publishing = build_publishing(
        PublishingOptions.from_args(options("--publish-triathlon", "--file", str(target))),
        configured,
        pipeline.engine,
    )
    assert publishing is not None and publishing.triathlon is not None
    assert publishing.triathlon.placeholders() == []
    publishing.close()


async def test_a_watched_athlete_at_80x24_shows_in_the_header_not_over_the_board() -> None:
    from textual.widgets._toast import Toast

    from racetui.tui.widgets.header import RaceHeader
    from tests.fakes.race import OPEN

    app, pipeline, feed = make_app()
    upcoming = next(p for p in feed.upcoming() if p.race_id == OPEN)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        board = app.screen.query_one(RowTable)
        assert board.move_to_key((OPEN, upcoming.bib))
        await press(pilot, "w")
        app.clear_notifications()
        pipeline.apply_passings([upcoming])
        app.tick()
        await pilot.pause()
        header = app.screen.query_one(RaceHeader)
        assert f"★ #{upcoming.bib}" in str(header.render()) and "passed" in str(header.render())
        # No notification covers the board: its rows (position, bib, name, time, gap).
        for toast in app.screen.query(Toast):
            assert not toast.region.overlaps(board.region), (toast.region, board.region)
        assert not header.region.overlaps(board.region)


async def test_the_mark_to_gap_line_names_the_point_viewed_and_fits_80_columns() -> None:
    from rich.cells import cell_len

    from racetui.tui.columns import format_signed_gap
    from tests.fakes.race import OPEN

    app, pipeline, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "m", "down", "down", "down", "p")
        state = app.state
        standings = pipeline.engine.races[OPEN]
        assert state.point_id is not None and state.point_id != standings.points[-1].id
        at = standings.point_index[state.point_id]
        mark, cursor = state.mark, app.screen.query_one(RowTable).current_key()
        assert mark is not None and cursor is not None and mark != cursor
        a, b = standings.entries[mark[1]].times[at], standings.entries[cursor[1]].times[at]
        assert a is not None and b is not None  # both passed the point viewed
        info = str(app.screen.query_one("#info").render())
        expected = f"#{cursor[1]} {format_signed_gap(b - a)} at {standings.points[at].name}"
        assert expected in info, info
        assert cell_len(info) <= 78, info  # 80 columns less the bar's padding
