"""Groups on the leaderboard at a timing point: separators where an athlete is more than
the group time behind the one ahead, G and T, a cursor that steps over separators and
stays on its athlete."""

from __future__ import annotations

from typing import Any

from racetui.config import Config, LeaderboardConfig
from racetui.model.times import format_gap
from racetui.tui.widgets.table import RowTable
from tests.fakes.race import OPEN
from tests.test_tui_app import make_app, tick


def busiest_point(pipeline: Any) -> str:
    standings = pipeline.engine.races[OPEN]
    return max(standings.points, key=lambda p: len(standings.view(point_id=p.id))).id


def expected_lines(pipeline: Any, point_id: str, within_ms: int) -> list[str | None]:
    """The board worked out from the rows: a bib per athlete, None per separator (between
    two groups when either has two athletes or more)."""
    rows = pipeline.engine.races[OPEN].view(point_id=point_id)
    rows = rows.rows(0, len(rows))
    groups: list[list[str]] = []
    for before, row in zip([None, *rows], rows, strict=False):
        if before is None or row.time_ms - before.time_ms > within_ms:
            groups.append([])
        groups[-1].append(row.bib)
    out: list[str | None] = []
    for k, group in enumerate(groups):
        if k and (len(group) > 1 or len(groups[k - 1]) > 1):
            out.append(None)
        out += group
    return out


async def open_at(pilot: Any, app: Any, point_id: str) -> RowTable:
    app.state.point_id = point_id
    app.screen.reload()
    await pilot.pause()
    return app.screen.query_one(RowTable)


async def test_separators_go_between_groups_and_say_the_gap() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        point = busiest_point(pipeline)
        board = await open_at(pilot, app, point)
        expected = expected_lines(pipeline, point, 1_000)
        assert None in expected, "the seeded race has no groups at its busiest point"
        assert len(board.model) == len(expected)
        shown = [row.key[1] if row.key else None for row in board.model.fetch(0, len(expected))]
        assert shown == expected
        first = board.model.fetch(0, len(expected))[expected.index(None)]
        rows = pipeline.engine.races[OPEN].view(point_id=point).rows(0, 3)
        text = first.cells[0][0]
        lead = expected.index(None)  # athletes in the lead group
        assert text.startswith(f"lead group {lead} · " if lead > 1 else f"leader #{rows[0].bib} · "), text
        gap = rows[lead].time_ms - rows[0].time_ms
        assert f" · {format_gap(gap)} · " in text, text
        info = str(app.screen.query_one("#info").render())
        assert "groups 1 s" in info, info


async def test_the_cursor_steps_over_separators_and_stays_on_its_athlete() -> None:
    app, pipeline, feed = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        point = busiest_point(pipeline)
        board = await open_at(pilot, app, point)
        expected = expected_lines(pipeline, point, 1_000)
        sep = expected.index(None)
        board.move_cursor(sep - 1)
        await pilot.press("down")
        await pilot.pause()
        assert board.cursor == sep + 1 and board.current_key() == (OPEN, expected[sep + 1])
        await pilot.press("up")
        await pilot.pause()
        assert board.cursor == sep - 1 and board.current_key() == (OPEN, expected[sep - 1])
        await pilot.press("end", "home")
        await pilot.pause()
        assert board.current_key() == (OPEN, expected[0])
        # T widens the groups: 1 s → 2 s → 5 s → 10 s → 1 s, the same athlete under the cursor
        board.move_cursor(len(expected) - 1)
        who = board.current_key()
        for within in (2_000, 5_000, 10_000, 1_000):
            await pilot.press("T")
            await pilot.pause()
            assert app.state.group_ms == within
            assert [r.key[1] if r.key else None for r in board.model.fetch(0, len(board.model))] == (
                expected_lines(pipeline, point, within)
            )
            assert board.current_key() == who
        # G: no separators, the athlete still under the cursor
        await pilot.press("G")
        await pilot.pause()
        assert not app.state.groups and len(board.model) == len(expected) - expected.count(None)
        assert board.current_key() == who
        await pilot.press("G")
        await pilot.pause()
        assert board.current_key() == who and board.row_at(board.cursor).key == who  # type: ignore[union-attr]
        # new passings at the point regroup the board; the cursor keeps its athlete
        feed.step(pipeline, 40)
        await tick(app, pilot)
        assert board.current_key() == who
        assert [r.key[1] if r.key else None for r in board.model.fetch(0, len(board.model))] == (
            expected_lines(pipeline, point, 1_000)
        )


async def test_the_group_time_and_groups_come_from_the_config() -> None:
    config = Config(leaderboard=LeaderboardConfig(groups=False, group_seconds=3))
    app, pipeline, _ = make_app(config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        point = busiest_point(pipeline)
        board = await open_at(pilot, app, point)
        assert app.state.group_ms == 3_000 and not app.state.groups
        assert None not in [r.key for r in board.model.fetch(0, len(board.model)) if r.span]
        assert len(board.model) == len(pipeline.engine.races[OPEN].view(point_id=point))
        await pilot.press("T")  # from 3 s the next one up
        await pilot.pause()
        assert app.state.group_ms == 5_000 and app.state.groups
