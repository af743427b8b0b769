"""4 · Incidents: the technical delegate's view — every penalty, DSQ, DNF and DNS."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from racetui.engine import ChangeSet
from racetui.tui.models import IncidentsModel
from racetui.tui.screens.base import RaceScreen
from racetui.tui.screens.leaderboard import InfoBar
from racetui.tui.widgets.table import RowTable

__all__ = ["IncidentsScreen"]


class IncidentsScreen(RaceScreen):
    TITLE = "Incidents"

    BINDINGS = [
        Binding("u", "unserved", "Unserved"),
        Binding("a", "acknowledge", "Read"),
        Binding("w", "watch", "Watch", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        yield InfoBar(id="info")
        yield RowTable(IncidentsModel(self.state), empty="No incidents so far.", id="incidents")

    @property
    def table(self) -> RowTable:
        return self.query_one("#incidents", RowTable)

    @property
    def model(self) -> IncidentsModel:
        model = self.table.model
        assert isinstance(model, IncidentsModel)
        return model

    def on_mount(self) -> None:
        self.table.focus()

    def on_changes(self, changes: ChangeSet) -> None:
        if changes or self.state.tracker.backlog:
            self.model.reload()
            self.table.update_rows(None)
            self.update_info()

    def reload(self) -> None:
        super().reload()
        self.model.reload()
        self.table.reset()
        self.table.update_rows(None)
        self.update_info()

    def on_screen_suspend(self) -> None:
        # Leaving the screen counts as having looked.
        self.state.incidents_seen = self.state.tracker.seq

    def update_info(self) -> None:
        c = self.model.counts()
        parts = [
            f"penalties {c['penalties']} ({c['unserved']} NOT SERVED)",
            f"DSQ {c['dsq']}",
            f"DNF {c['dnf']}",
            f"DNS {c['dns']}",
        ]
        if c["new"]:
            parts.append(f"{c['new']} NEW since you last looked")
        if self.model.unserved_only:
            parts.append("showing unserved penalties only (u: all)")
        self.query_one("#info", InfoBar).update(" · ".join(parts))

    def action_unserved(self) -> None:
        self.model.unserved_only = not self.model.unserved_only
        self.reload()

    def action_acknowledge(self) -> None:
        self.state.incidents_seen = self.state.tracker.seq
        self.reload()

    def action_watch(self) -> None:
        self.race_app.toggle_watch(self.table.current_key())

    @on(RowTable.Selected)
    def _selected(self, event: RowTable.Selected) -> None:
        self.race_app.open_athlete(event.key)
