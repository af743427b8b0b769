"""8 · Coming: who is expected at a timing point in the next minutes, and who is on course.

Coming (the default view): the athletes projected at the chosen point within the window
(5 minutes unless changed with ``<`` / ``>``), soonest first, each with a live countdown
that brightens over its last 15 seconds, the place they would take there against their
place now; athletes due together show under one line ("group of 6, led by #12").

On course (``o``): per race, how many started, are on course, finished, are out, are still
to start, did not start; below, the athletes not yet through the chosen point with their
running time since their own start, the overdue ones first.

Every row comes from the engine's projections (:mod:`racetui.engine.projections`).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from racetui.engine import ChangeSet, RaceStandings
from racetui.engine.projections import front_point, listing, on_course, unprojected
from racetui.tui.messages import OpenAthlete, ToggleMark, ToggleWatch
from racetui.tui.rows import ComingModel, NotThroughModel
from racetui.tui.screens.base import TableScreen
from racetui.tui.screens.leaderboard import InfoBar
from racetui.tui.widgets.table import RowTable

__all__ = ["ComingScreen", "ComingTable"]

WINDOWS_MIN = (1, 2, 3, 5, 10, 15, 20, 30, 45, 60)
DEFAULT_WINDOW_MIN = 5
_RETIME_MS = 1_000  # re-project at least this often while the clock runs (else countdowns only)


class ComingTable(RowTable):
    """The Coming screen's table: a bright row for an arrival in its last 15 seconds, a
    bold line heading a group arriving together."""

    DEFAULT_CSS = """
    ComingTable > .rt--soon { background: $racetui-new 35%; color: $foreground; text-style: bold; }
    ComingTable > .rt--block { color: $racetui-marked; text-style: bold; }
    """

    COMPONENT_CLASSES = RowTable.COMPONENT_CLASSES | {"rt--soon", "rt--block"}


class RaceCounts(Static):
    """Per race: started, on course, finished, out, still to start, DNS (On course view)."""

    DEFAULT_CSS = """
    RaceCounts { height: auto; background: $surface; color: $foreground; padding: 0 1; }
    RaceCounts.-hidden { display: none; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False, classes="-hidden")


def race_now_ms(screen: TableScreen, standings: RaceStandings) -> int | None:
    """The race time since the gun now (None: no gun time known)."""
    clock = screen.state.race_clock(standings.race)
    if clock is None or clock.elapsed_ms is None:
        return None
    return clock.elapsed_ms + clock.offset_ms


class ComingScreen(TableScreen):
    TITLE = "Coming"
    TABLE_ID = "coming"

    BINDINGS = [
        Binding("p", "point(1)", "Point"),
        Binding("P", "point(-1)", "Prev point", show=False),
        Binding("greater_than_sign", "window(1)", "Longer", key_display=">"),
        Binding("less_than_sign", "window(-1)", "Shorter", show=False, key_display="<"),
        Binding("o", "toggle_view", "On course"),
        Binding("w", "watch", "Watch"),
        Binding("m", "mark", "Mark", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.point_id: str | None = None  # the chosen point (None: the leader's next)
        self.window_min = DEFAULT_WINDOW_MIN
        self.view_on_course = False
        self._projected_at: int | None = None  # race time of the last full re-projection
        self._index = -1  # the point shown (chosen, or the front), as of the last tick

    def compose_body(self) -> ComposeResult:
        yield InfoBar(id="info")
        yield RaceCounts(id="counts")
        yield ComingTable(ComingModel(self.state), empty=self._empty(), id="coming")

    # ----------------------------------------------------------------- model
    @property
    def coming(self) -> ComingModel | None:
        model = self.table.model
        return model if isinstance(model, ComingModel) else None

    def _empty(self) -> str:
        if self.view_on_course:
            return "Everyone on course is through this point."
        return f"No one is expected here in the next {self.window_min} min."

    def chosen(self, standings: RaceStandings) -> bool:
        """True when a point was chosen (here with p, or on the leaderboard)."""
        return any(
            point_id is not None and point_id in standings.point_index
            for point_id in (self.point_id, self.state.point_id)
        )

    def point_index(self, standings: RaceStandings) -> int:
        """The chosen point, else the shared one (the leaderboard's), else the front of the
        race: the point the leaders reach next, or one of the two behind it where anyone is
        due within the window (the finish once someone is in)."""
        for point_id in (self.point_id, self.state.point_id):
            index = standings.point_index.get(point_id) if point_id is not None else None
            if index is not None:
                return index
        now = race_now_ms(self, standings)
        return max(0, front_point(standings, now, self.window_min * 60_000))

    def _prepare(self, full: bool) -> None:
        standings = self.state.standings()
        model = self.table.model
        if standings is None or not standings.points:
            self._set_now(model, None)
            if isinstance(model, ComingModel | NotThroughModel):
                model.reload()
            return
        now = race_now_ms(self, standings)
        index = self._index = self.point_index(standings)
        assert isinstance(model, ComingModel | NotThroughModel)
        changed_point = model.point_index != index
        model.point_index = index
        if isinstance(model, ComingModel):
            model.window_ms = self.window_min * 60_000
            stale = self._projected_at is None or now is None or abs(now - self._projected_at) >= _RETIME_MS
            if full or changed_point or stale or model.now_ms is None:
                model.now_ms = now
                model.reload()
                self._projected_at = now
            elif now is not None:
                model.retime(now)
        else:
            model.now_ms = now
            model.reload()
            self._projected_at = now

    @staticmethod
    def _set_now(model: object, now: int | None) -> None:
        if isinstance(model, ComingModel | NotThroughModel):
            model.now_ms = now

    # ----------------------------------------------------------------- ticks
    def on_changes(self, changes: ChangeSet) -> None:
        race_id = self.state.race_id
        touched = race_id is not None and race_id in changes.races()
        self._prepare(full=touched)
        self.table.update_rows(None)
        self.update_info()

    def reload(self) -> None:
        super().reload()
        self._prepare(full=True)
        self.table.empty_text = self._empty()
        self._empty_default = self.table.empty_text
        self.redraw_table()
        self.update_info()

    def update_info(self) -> None:
        standings = self.state.standings()
        info = self.query_one("#info", InfoBar)
        counts = self.query_one("#counts", RaceCounts)
        counts.set_class(not self.view_on_course, "-hidden")
        if standings is None or not standings.points:
            info.update("no timing points yet")
            return
        index = self._index if 0 <= self._index < len(standings.points) else self.point_index(standings)
        point = standings.points[index].name
        if not self.chosen(standings):
            point += " (front)"
        model = self.table.model
        waiting = unprojected(standings)
        busy = f" · projecting, {waiting:,} to go" if waiting else ""
        if isinstance(model, ComingModel):
            due = len(model.arrivals)
            info.update(
                f"due at {point} in the next {self.window_min} min: {due}{busy} · < > window · o on course"
            )
        else:
            if listing(standings, index):
                busy += " · listing"
            info.update(f"not yet through {point}: {len(model)}{busy} · p point · o coming")
            counts.update(self.counts_text())

    def counts_text(self) -> str:
        """Per race: started, on course, finished, out, to start, DNS."""
        row = "{:<18} {:>7} {:>9} {:>8} {:>4} {:>8} {:>4}"
        lines = [row.format("Race", "Started", "On course", "Finished", "Out", "To start", "DNS")]
        for race_id in self.state.race_ids():
            standings = self.state.engine.races.get(race_id)
            if standings is None:
                continue
            now = race_now_ms(self, standings)
            c = on_course(standings, -1 if now is None else now)
            name = standings.race.name
            name = name if len(name) <= 18 else name[:17] + "…"
            lines.append(row.format(name, c.started, c.on_course, c.finished, c.out, c.not_started, c.dns))
        return "\n".join(lines)

    # --------------------------------------------------------------- actions
    def action_point(self, step: int) -> None:
        standings = self.state.standings()
        if standings is None or not standings.points:
            return
        index = (self.point_index(standings) + step) % len(standings.points)
        self.point_id = standings.points[index].id
        self.reload()

    def action_window(self, step: int) -> None:
        options = WINDOWS_MIN
        current = min(range(len(options)), key=lambda i: abs(options[i] - self.window_min))
        self.window_min = options[max(0, min(len(options) - 1, current + step))]
        self.reload()

    def action_toggle_view(self) -> None:
        self.view_on_course = not self.view_on_course
        self.table.model = NotThroughModel(self.state) if self.view_on_course else ComingModel(self.state)
        self._projected_at = None
        self.reload()

    def action_watch(self) -> None:
        self.post_message(ToggleWatch(self.table.current_key()))

    def action_mark(self) -> None:
        self.post_message(ToggleMark(self.table.current_key()))

    @on(RowTable.Selected)
    def _selected(self, event: RowTable.Selected) -> None:
        self.post_message(OpenAthlete(event.key))
