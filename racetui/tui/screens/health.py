"""7 · Health: every source's mode and state, message age, reconnects, errors, journal."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from racetui.engine import ChangeSet
from racetui.tui.models import HealthModel
from racetui.tui.screens.base import RaceScreen
from racetui.tui.widgets.table import InfoTable

__all__ = ["HealthScreen"]


class HealthScreen(RaceScreen):
    TITLE = "Health"

    DEFAULT_CSS = """
    HealthScreen #sources { height: auto; max-height: 12; }
    HealthScreen #errors-title { padding: 1 1 0 1; text-style: bold; }
    HealthScreen #errors { padding: 0 1; color: $foreground 80%; height: 1fr; }
    """

    def compose_body(self) -> ComposeResult:
        yield InfoTable(
            HealthModel(self.race_app.sources),
            empty="No sources: nothing is feeding this dashboard.",
            id="sources",
        )
        yield Static("Recent rejected input", id="errors-title")
        yield Static("", id="errors")

    @property
    def table(self) -> InfoTable:
        return self.query_one("#sources", InfoTable)

    def on_mount(self) -> None:
        self.table.focus()

    def on_changes(self, changes: ChangeSet) -> None:
        self.reload_body()

    def reload(self) -> None:
        super().reload()
        self.table.reset()
        self.reload_body()

    def reload_body(self) -> None:
        self.table.model.reload()
        self.table.update_rows(None)
        errors = self.race_app.pipeline.errors[-8:]
        text = "\n".join(reversed(errors)) if errors else "none"
        self.query_one("#errors", Static).update(text)
