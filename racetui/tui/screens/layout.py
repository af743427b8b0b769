"""``F2``: this role's layout: the screens in the footer and the leaderboard's columns.

Space (or a click) toggles an item; every change is saved at once to the role's layout
file (:mod:`racetui.tui.layouts`) and shown at once. The essential columns (position, bib,
name, time, gap) always show; a screen left out of the footer still opens with its key.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static

from racetui.tui.appref import race_app
from racetui.tui.rows import LeaderboardModel
from racetui.tui.widgets.footer import RaceFooter

__all__ = ["LayoutScreen", "optional_columns"]


def optional_columns(model: LeaderboardModel) -> list[tuple[str, str]]:
    """(key, title) of the leaderboard columns a layout may leave out."""
    state = model.state
    hidden, state.hidden_columns = state.hidden_columns, set()
    point, state.point_id = state.point_id, None  # "At" shows only at the latest point
    try:
        return [(c.key, c.title) for c in model.columns() if c.priority > 0]
    finally:
        state.hidden_columns, state.point_id = hidden, point


class LayoutScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f2", "dismiss", "Close")]

    DEFAULT_CSS = """
    LayoutScreen { align: center middle; }
    LayoutScreen > #layout {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    LayoutScreen #lists { height: auto; }
    LayoutScreen SelectionList { width: 1fr; height: auto; max-height: 14; }
    LayoutScreen .hint { color: $foreground 70%; }
    """

    def __init__(self, screens: tuple[tuple[str, str, str, str], ...]) -> None:
        super().__init__()
        self.screens = screens  # the app's (mode, key, title, about)

    def compose(self) -> ComposeResult:
        app = race_app(self)
        layout = app.layouts.layout
        role = app.config.role
        with Vertical(id="layout"):
            yield Static(f"Layout · {role.label if role else 'no role'} · saved for this role", markup=False)
            with Horizontal(id="lists"):
                screens: SelectionList[str] = SelectionList(
                    *(
                        (f"{key} {title}", mode, mode in layout.screens)
                        for mode, key, title, _ in self.screens
                    ),
                    id="screens",
                )
                screens.border_title = "Footer screens"
                yield screens
                columns: SelectionList[str] = SelectionList(
                    *(
                        (title, key, key not in layout.hidden_columns)
                        for key, title in optional_columns(LeaderboardModel(app.state))
                    ),
                    id="columns",
                )
                columns.border_title = "Leaderboard columns"
                yield columns
            yield Static("space: on/off · tab: the other list · esc: close", classes="hint", markup=False)
        yield RaceFooter()

    def on_mount(self) -> None:
        self.query_one("#screens", SelectionList).focus()

    @on(SelectionList.SelectedChanged, "#screens")
    def _screens(self, event: SelectionList.SelectedChanged[Any]) -> None:
        chosen = set(event.selection_list.selected)
        if not chosen:  # the footer keeps one screen at least
            event.selection_list.select(race_app(self).current_mode)
            return
        app = race_app(self)
        current = app.layouts.layout.screens
        # the first screen opens at start: keep it first while it stays chosen
        order = [m for m in current if m in chosen] + [
            m for m, *_ in self.screens if m in chosen and m not in current
        ]
        app.save_layout(screens=tuple(order))

    @on(SelectionList.SelectedChanged, "#columns")
    def _columns(self, event: SelectionList.SelectedChanged[Any]) -> None:
        app = race_app(self)
        shown = set(event.selection_list.selected)
        every = {key for key, _ in optional_columns(LeaderboardModel(app.state))}
        hidden = frozenset(every - shown)
        app.state.hidden_columns = set(hidden)
        app.save_layout(hidden_columns=hidden)
