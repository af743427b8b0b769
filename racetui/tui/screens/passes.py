"""5 · Passes: the latest passings at a timing point or a location, newest first."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from racetui.engine import ChangeSet
from racetui.tui.messages import OpenAthlete, ToggleMark, ToggleWatch
from racetui.tui.rows import PassesModel
from racetui.tui.screens.base import TableScreen
from racetui.tui.screens.leaderboard import InfoBar
from racetui.tui.widgets.table import RowTable

__all__ = ["PassesScreen"]


class PassesScreen(TableScreen):
    TITLE = "Passes"
    TABLE_ID = "passes"

    BINDINGS = [
        Binding("p", "filter(1)", "Where"),
        Binding("P", "filter(-1)", "Previous filter", show=False),
        Binding("w", "watch", "Watch"),
        Binding("m", "mark", "Mark", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        yield InfoBar(id="info")
        yield RowTable(PassesModel(self.state), empty="No passings seen yet.", id="passes")

    @property
    def model(self) -> PassesModel:
        model = self.table.model
        assert isinstance(model, PassesModel)
        return model

    def on_changes(self, changes: ChangeSet) -> None:
        if changes or self.state.tracker.backlog:
            self.model.reload()
            self.table.update_rows(None)

    def reload(self) -> None:
        super().reload()
        if self.model.filter not in self.model.filters():
            self.model.filter = None
        self.model.reload()
        self.redraw_table()
        self.query_one("#info", InfoBar).update(f"latest passings, newest first · {self.model.filter_text()}")

    def action_filter(self, step: int) -> None:
        self.model.cycle(step)
        self.reload()

    def action_watch(self) -> None:
        self.post_message(ToggleWatch(self.table.current_key()))

    def action_mark(self) -> None:
        self.post_message(ToggleMark(self.table.current_key()))

    @on(RowTable.Selected)
    def _selected(self, event: RowTable.Selected) -> None:
        self.post_message(OpenAthlete(event.key))
