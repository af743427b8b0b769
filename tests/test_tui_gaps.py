"""True gaps on the dashboard: the mark-to-gap line and g, the athlete detail's athletes
ahead and behind and its penalty question (the seconds from the race's desk settings)."""

from __future__ import annotations

from racetui.config import Config, DeskConfig, RaceDeskConfig
from racetui.tui.columns import format_signed_gap
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.widgets.table import RowTable
from tests.dashboard import make_app, messages
from tests.fakes.race import OPEN


def road_gap(standings, ahead: str, behind: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Worked from the athletes' times: at the point the chaser reached last, gun time."""
    a, b = standings.athlete(ahead), standings.athlete(behind)
    at = b.last
    return b.gun_time(at) - a.gun_time(at), standings.points[at].name


async def test_the_athlete_detail_gives_the_gaps_ahead_and_behind_and_the_penalty_answer() -> None:
    desk = DeskConfig(penalties={"drafting": 30}, races={OPEN: RaceDeskConfig(penalties={"drafting": 12})})
    config = Config(desk=desk)
    app, pipeline, _ = make_app(config=config)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)
        standings = pipeline.engine.races[OPEN]
        rows = standings.view().rows(0, 4)
        me, ahead, behind = rows[2].bib, rows[1].bib, rows[3].bib
        assert app.screen.ref == (OPEN, me)
        text = str(app.screen.query_one("#gaps").render())
        lines = text.splitlines()
        gap, where = road_gap(standings, ahead, me)
        assert (
            lines[0].startswith(f"Ahead  #{ahead} ") and f": {format_signed_gap(gap)} at {where}" in lines[0]
        )
        gap, where = road_gap(standings, me, behind)
        assert (
            lines[1].startswith(f"Behind #{behind} ") and f": {format_signed_gap(gap)} at {where}" in lines[1]
        )
        # the race's own penalty time from the config, answered against the athlete behind
        margin = (
            standings.athlete(behind).times[standings.athlete(behind).last]
            - standings.athlete(me).times[standings.athlete(behind).last]
        )
        expected = "yes" if margin > 12_000 else "no"
        assert lines[2].startswith(f"Can serve 12 s without losing a place: {expected}"), lines[2]


async def test_mark_and_g_give_the_true_gap_with_its_trend() -> None:
    app, pipeline, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("m", "down", "down", "down")
        await pilot.pause()
        standings = pipeline.engine.races[OPEN]
        mark = app.state.mark
        cursor = app.screen.query_one(RowTable).current_key()
        assert mark is not None and cursor is not None
        gap, where = road_gap(standings, mark[1], cursor[1])
        info = str(app.screen.query_one("#info").render())
        assert f"{format_signed_gap(gap)} at {where}, " in info, info
        assert any(word in info for word in ("closing", "opening", "steady")), info
        await pilot.press("g")
        await pilot.pause()
        said = [m for m in messages(app) if m.startswith(f"#{mark[1]} → #{cursor[1]}: ")]
        assert said and f"{format_signed_gap(gap)} at {where}" in said[-1], messages(app)
