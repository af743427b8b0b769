"""What every mode screen shares: the header, a body, the footer, and the tick contract.

The app calls :meth:`RaceScreen.tick` once per UI tick on the visible screen only, with
the tick's merged change set; a screen that was hidden refreshes fully when it comes
back (:meth:`RaceScreen.reload`, on ``ScreenResume``). Hidden screens do no work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from racetui.engine import ChangeSet
from racetui.tui.appref import race_app
from racetui.tui.widgets.header import RaceHeader
from racetui.tui.widgets.table import RowTable

if TYPE_CHECKING:
    from racetui.tui.app import RaceApp
    from racetui.tui.state import UiState

__all__ = ["RaceScreen"]


class RaceScreen(Screen[None]):
    TITLE = ""

    @property
    def race_app(self) -> RaceApp:
        return race_app(self)

    @property
    def state(self) -> UiState:
        return self.race_app.state

    def compose(self) -> ComposeResult:
        yield RaceHeader()
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    @property
    def ready(self) -> bool:
        """Composed and mounted (a mode screen is built the first time it is shown)."""
        return self.is_mounted and bool(self.query(RaceHeader))

    def tick(self, changes: ChangeSet) -> None:
        """One UI tick while visible: the header always, the body as it needs."""
        if not self.ready:
            return
        self.query_one(RaceHeader).refresh_if_changed()
        self.on_changes(changes)

    def on_changes(self, changes: ChangeSet) -> None:
        """Redraw what ``changes`` touched (override)."""

    def reload(self) -> None:
        """Redraw everything: the race, a filter or the theme changed, or the screen is back."""
        for header in self.query(RaceHeader):
            header.refresh()

    def on_screen_resume(self) -> None:
        if self.ready:
            self.reload()


class TableScreen(RaceScreen):
    """A race screen whose body is one :class:`RowTable` (id ``TABLE_ID``), focused on mount."""

    TABLE_ID = ""

    @property
    def table(self) -> RowTable:
        return self.query_one(f"#{self.TABLE_ID}", RowTable)

    def on_mount(self) -> None:
        self.table.focus()
