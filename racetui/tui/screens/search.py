"""``/``: find an athlete by bib or name; a bib opens the athlete detail at once."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from racetui.tui.appref import race_app
from racetui.tui.state import AthleteRef

__all__ = ["SearchScreen"]


class SearchScreen(ModalScreen[AthleteRef | None]):
    BINDINGS = [Binding("escape", "cancel", "Close")]

    DEFAULT_CSS = """
    SearchScreen { align: center top; }
    SearchScreen > #search {
        width: 70;
        max-width: 100%;
        height: auto;
        max-height: 80%;
        margin-top: 2;
        border: round $primary;
        background: $surface;
    }
    SearchScreen #hint { color: $foreground 70%; padding: 0 1; }
    SearchScreen OptionList { height: auto; max-height: 16; border: none; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="search"):
            yield Input(placeholder="bib or name", id="query")
            yield Static("Enter a bib to open the athlete, or part of a name.", id="hint", markup=False)
            yield OptionList(id="results")

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def _fill(self, text: str) -> list[AthleteRef]:
        state = race_app(self).state
        found: list[AthleteRef] = state.find(text) if len(text.strip()) >= 1 else []
        options = self.query_one("#results", OptionList)
        options.clear_options()
        for race_id, bib in found:
            entry = state.entry((race_id, bib))
            race = state.engine.races[race_id].race.name
            options.add_option(
                Option(f"#{bib}  {entry.name() if entry else ''}  · {race}", id=f"{race_id}\x00{bib}")
            )
        hint = self.query_one("#hint", Static)
        if text.strip() and not found:
            hint.update(f"No athlete with bib or name {text.strip()!r}.")
        else:
            hint.update(
                f"{len(found)} found" if found else "Enter a bib to open the athlete, or part of a name."
            )
        return found

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        found = self._fill(event.value)
        options = self.query_one("#results", OptionList)
        if len(found) == 1 or (found and found[0][1] == event.value.strip()):
            self.dismiss(found[0])
        elif found:
            options.focus()
            options.highlighted = 0

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        ident = event.option.id or ""
        race_id, _, bib = ident.partition("\x00")
        self.dismiss((race_id, bib))

    def action_cancel(self) -> None:
        self.dismiss(None)
