"""Snapshots of every screen at 120x36, 100x30 and 80x24, with and without an overlay
(SVGs in tests/__snapshots__/).

Seeded race festival (tests/fakes/race.py), fixed clock, built-in themes, no sockets, no wall clock: the same
screen every run. Update with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from racetui.tui.app import RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.lag import LoopLag
from racetui.tui.themes import builtin_theme_dir
from tests.fakes.race import RACE_NOW, race_pipeline

SIZES = {"wide": (120, 36), "medium": (100, 30), "small": (80, 24)}


class _Never:
    """A timer that never fires."""

    def __call__(self, delay: float, callback: Callable[[], None]) -> _Never:
        return self

    def cancel(self) -> None:
        pass


def make_app(theme: str | None = None) -> RaceApp:
    pipeline, feed = race_pipeline(120)
    app = RaceApp(
        pipeline,
        [feed],
        clock=fixed_clock(RACE_NOW),
        theme=theme,
        theme_dirs=[builtin_theme_dir()],
        tracker_budget=None,
        strict=True,
    )
    # The UI-loop probe never wakes: Health's line of it is the same every run.
    app.loop_lag = LoopLag(schedule=_Never())
    return app


SCREENS: dict[str, list[str]] = {
    "leaderboard": ["1"],
    "splits": ["2"],
    "clock": ["3"],
    "incidents": ["4"],
    "passes": ["5"],
    "publish": ["6"],
    "health": ["7"],
    "athlete": ["1", "down", "down", "enter"],
    "help": ["question_mark"],
    "search": ["slash", "R", "o"],
    "health-story": ["7", "enter"],
    "incidents-help": ["4", "question_mark"],
    "watch-mark": ["down", "w", "down", "down", "m", "down", "down"],
    "age-group-men-40": ["r", "v", "v"],
    "groups-at-a-point": ["p", "p", "p", "down", "down", "down"],
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare: Any, screen: str, size: str) -> None:
    assert snap_compare(make_app(), press=SCREENS[screen], terminal_size=SIZES[size])


@pytest.mark.parametrize("theme", ["racetui-light", "high-contrast", "colour-blind", "monochrome"])
def test_theme(snap_compare: Any, theme: str) -> None:
    assert snap_compare(make_app(theme), press=["down"], terminal_size=SIZES["small"])


def test_incidents_theme_colour_blind(snap_compare: Any) -> None:
    assert snap_compare(make_app("colour-blind"), press=["4"], terminal_size=SIZES["small"])
