"""2 · Splits: athletes × timing points — split, cumulative time, position and places won."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from racetui.engine import ChangeSet
from racetui.tui.messages import OpenAthlete, ToggleMark, ToggleWatch
from racetui.tui.rows import SplitsModel
from racetui.tui.screens.base import TableScreen
from racetui.tui.screens.leaderboard import InfoBar
from racetui.tui.widgets.table import RowTable

__all__ = ["SplitsScreen"]


class SplitsScreen(TableScreen):
    TITLE = "Splits"
    TABLE_ID = "splits"

    BINDINGS = [
        Binding("left", "shift(-1)", "Points", key_display="←→"),
        Binding("right", "shift(1)", "Next points", show=False),
        Binding("w", "watch", "Watch"),
        Binding("m", "mark", "Mark", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        yield InfoBar(id="info")
        yield RowTable(SplitsModel(self.state), empty="No athletes in this race yet.", id="splits")

    @property
    def model(self) -> SplitsModel:
        model = self.table.model
        assert isinstance(model, SplitsModel)
        return model

    def on_changes(self, changes: ChangeSet) -> None:
        # A passing changes positions at earlier points for athletes anywhere in the
        # field, so any change to this race re-reads the (visible) rows.
        if self.state.race_id in changes.races():
            self.table.update_rows(None)

    def reload(self) -> None:
        super().reload()
        self.redraw_table()
        self.update_info()

    def update_info(self) -> None:
        points = self.model.points()
        first = self.model.first_point
        shown = f"points {first + 1}–{len(points)} of {len(points)}" if first else f"{len(points)} points"
        self.query_one("#info", InfoBar).update(
            f"split · cumulative · position ▲ places gained ▼ lost · {shown} (← → to scroll) · "
            f"{self.state.filter_text()}"
        )

    def action_shift(self, step: int) -> None:
        self.model.first_point = max(0, self.model.first_point + step)
        self.reload()

    def action_watch(self) -> None:
        self.post_message(ToggleWatch(self.table.current_key()))

    def action_mark(self) -> None:
        self.post_message(ToggleMark(self.table.current_key()))

    @on(RowTable.Selected)
    def _selected(self, event: RowTable.Selected) -> None:
        self.post_message(OpenAthlete(event.key))
