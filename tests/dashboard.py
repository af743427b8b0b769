"""What the dashboard tests share: the app on the seeded race (or on any sources) with a
fixed clock and the built-in themes, a UI tick driven directly, a key pressed and handled,
and what the screen shows."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from racetui.config import Config
from racetui.sources.base import Pipeline
from racetui.tui.app import RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.widgets.header import RaceHeader
from racetui.tui.widgets.table import RowTable
from tests.fakes.race import RACE_NOW, RaceFeed, race_pipeline
from tests.support import DEADLINE

__all__ = ["dashboard", "header_text", "make_app", "messages", "press", "shown", "table", "tick"]


def dashboard(pipeline: Pipeline, sources: Sequence[Any], **kwargs: Any) -> RaceApp:
    """The dashboard at the race's fixed moment, built-in themes, strict (a screen error fails)."""
    return RaceApp(
        pipeline,
        list(sources),
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tick=0.05,
        strict=True,
        **kwargs,
    )


def make_app(
    athletes: int = 120, *, config: Config | None = None, kind: str = "sprint", **kwargs: Any
) -> tuple[RaceApp, Pipeline, RaceFeed]:
    """The dashboard on the seeded race (tests/fakes/race.py) and the feed that moves it."""
    pipeline, feed = race_pipeline(athletes, kind=kind)
    app = dashboard(pipeline, [feed], config=config, tracker_budget=None, **kwargs)
    return app, pipeline, feed


async def tick(app: RaceApp, pilot: Any) -> None:
    """One UI tick now (what the 0.05 s timer would do next), then let the screen draw."""
    app.tick()
    await pilot.pause()


async def press(pilot: Any, *keys: str) -> None:
    """Press ``keys`` and let the app handle them before the test looks."""
    await pilot.press(*keys)
    await pilot.pause()


async def shown(pilot: Any, check: Callable[[], object], *, what: str, deadline: float = DEADLINE) -> None:
    """Let the app run (its own workers and timers) until ``check()`` holds; fail naming
    ``what`` after a generous deadline. For what a real socket or worker brings."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:g} s waiting for {what}")
        await pilot.pause(0.05)


def table(app: RaceApp) -> RowTable:
    return app.screen.query_one(RowTable)


def messages(app: RaceApp) -> list[str]:
    return [n.message for n in app._notifications]


def header_text(app: RaceApp) -> str:
    return str(app.screen.query_one(RaceHeader).render())
