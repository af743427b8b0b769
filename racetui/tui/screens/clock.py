"""3 · Clock: a big race clock per race, side by side — gun time, waves, countdown."""

from __future__ import annotations

from datetime import datetime

from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.css.query import NoMatches
from textual.widgets import Digits, Label, Static

from racetui.engine import ChangeSet
from racetui.model import ClockState, Race
from racetui.model.times import format_duration_short
from racetui.tui.clock import format_time_of_day, race_time, wave_time
from racetui.tui.screens.base import RaceScreen

__all__ = ["ClockScreen", "RaceClockPanel"]


class RaceClockPanel(Vertical):
    DEFAULT_CSS = """
    RaceClockPanel {
        height: auto;
        border: round $primary 60%;
        padding: 0 1;
        background: $surface;
    }
    RaceClockPanel.-current { border: heavy $accent; }
    RaceClockPanel > .title { text-style: bold; width: 1fr; }
    RaceClockPanel > Digits { width: auto; color: $accent; }
    RaceClockPanel.-prerace > Digits { color: $foreground 70%; }
    RaceClockPanel > .state { color: $foreground 80%; }
    RaceClockPanel > .waves { color: $foreground 80%; }
    """

    def __init__(self, race_id: str) -> None:
        super().__init__(id=f"clock-{race_id}")
        self.race_id = race_id

    def compose(self) -> ComposeResult:
        yield Label("", classes="title", markup=False)
        yield Digits("--:--")
        yield Label("", classes="state", markup=False)
        yield Static("", classes="waves", markup=False)

    def show(
        self,
        race: Race,
        now: datetime,
        current: bool,
        master_offset: bool = True,
        ended_ms: int | None = None,
        last_ms: int | None = None,
    ) -> None:
        clock = race_time(race, now, master_offset=master_offset, ended_ms=ended_ms, last_ms=last_ms)
        self.set_class(current, "-current")
        self.set_class(not clock.started, "-prerace")
        try:
            title = self.query_one(".title", Label)
            digits = self.query_one(Digits)
            state_label = self.query_one(".state", Label)
            waves = self.query_one(".waves", Static)
        except NoMatches:
            return  # being mounted or removed: the screen's worker shows the panels mounted
        title.update(race.name)
        digits.update(clock.text())
        if clock.gun is None:
            state = "no gun time yet"
        else:
            gun = format_time_of_day(clock.gun.astimezone(now.tzinfo))
            if not clock.started:
                state = f"starts in {clock.text().lstrip('-')} · gun {gun}"
            else:
                word = (
                    "OFFICIAL"
                    if clock.state is ClockState.OFFICIAL
                    else clock.stopped.upper()
                    if clock.stopped
                    else "LIVE"
                )
                state = f"{word} · gun {gun}"
        state_label.update(state)
        lines = []
        for wave in race.waves:
            if len(race.waves) == 1 and wave.offset_ms == 0:
                break
            at = wave_time(race, wave, now, master_offset=master_offset, ended_ms=ended_ms, last_ms=last_ms)
            offset = "+" + format_duration_short(max(0, at.offset_ms), decimals=0)
            lines.append(f"{wave.name:<10} {offset:>6}  {at.text():>8}")
        waves.update("\n".join(lines))


class ClockScreen(RaceScreen):
    TITLE = "Clock"

    DEFAULT_CSS = """
    ClockScreen #tod-row { height: auto; padding: 0 1; }
    ClockScreen #tod-row > Digits { width: auto; }
    ClockScreen #tod-row > Label { padding: 1 1 0 1; color: $foreground 70%; }
    ClockScreen #clocks {
        grid-size: 3;
        grid-gutter: 0 1;
        height: auto;
        padding: 0 1;
    }
    ClockScreen.-compact #tod-row > Digits { display: none; }
    ClockScreen.-compact #tod-row > Label { padding: 0 1; }
    ClockScreen.-compact RaceClockPanel { border: none; padding: 0 1 1 1; }
    ClockScreen.-compact RaceClockPanel.-current { border: none; background: $panel; }
    """

    def compose_body(self) -> ComposeResult:
        with Vertical(id="tod-row"):
            yield Label("time of day", id="tod-label", markup=False)
            yield Digits("--:--:--", id="tod")
        yield Grid(id="clocks")

    def _grid_columns(self) -> int:
        count = max(1, len(self.state.race_ids()))
        return max(1, min(count, self.size.width // 28 or 1))

    async def _sync_panels(self) -> None:
        grid = self.query_one("#clocks", Grid)
        wanted = self.state.race_ids()
        have = [panel.race_id for panel in grid.query(RaceClockPanel)]
        if have != wanted:
            await grid.remove_children()
            await grid.mount_all([RaceClockPanel(race_id) for race_id in wanted])
        grid.styles.grid_size_columns = self._grid_columns()

    def on_changes(self, changes: ChangeSet) -> None:
        if changes.structure:
            self._refresh_all()
        else:
            self._show()

    def reload(self) -> None:
        super().reload()
        self._refresh_all()

    @work(exclusive=True, group="clock")
    async def _refresh_all(self) -> None:
        await self._sync_panels()
        self._show()

    def on_resize(self) -> None:
        # Below 30 lines the time of day is the header's, and the panels lose their borders.
        self.set_class(self.size.height < 30, "-compact")
        self.query_one("#clocks", Grid).styles.grid_size_columns = self._grid_columns()

    def _show(self) -> None:
        now = self.state.clock()
        tod = format_time_of_day(now)
        self.query_one("#tod", Digits).update(tod)
        self.query_one("#tod-label", Label).update(
            f"time of day {tod}" if self.has_class("-compact") else "time of day"
        )
        current = self.state.race_id
        for panel in self.query(RaceClockPanel):
            # A tick can come while the panels are still being mounted: the worker
            # shows them once they are.
            standings = self.state.engine.races.get(panel.race_id)
            if standings is not None and panel.is_mounted:
                panel.show(
                    standings.race,
                    now,
                    panel.race_id == current,
                    self.state.master_offset,
                    standings.ended_ms(),
                    standings.last_passing_ms(),
                )
