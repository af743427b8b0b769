"""Athlete cards: the pop-up that never takes the keyboard, the athlete detail's card
section, and the one-line form for a note added during the race."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Static

if TYPE_CHECKING:
    from racetui.tui.cards import Popup

__all__ = ["AthleteCard", "CardPopup", "NoteScreen"]

POPUP_WIDTH = 46


class CardPopup(Widget, can_focus=False):
    """The card up now, over the bottom-right corner of the board (above the footer).

    It is drawn on top of the screen and holds no focus: every key still goes to the
    board. The app decides what it shows (:class:`racetui.tui.cards.CardQueue`)."""

    DEFAULT_CSS = f"""
    CardPopup {{
        display: none;
        overlay: screen;
        position: absolute;
        width: {POPUP_WIDTH};
        max-width: 100%;
        height: auto;
        border: round $accent;
        border-title-color: $accent;
        border-subtitle-color: $foreground 70%;
        background: $surface;
        padding: 0 1;
    }}
    """

    _shown: Popup | None = None

    def show(self, popup: Popup | None) -> None:
        if popup == self._shown:
            return
        self._shown = popup
        self.display = popup is not None
        if popup is None:
            return
        self.border_title = popup.title
        self.border_subtitle = "Esc close"
        self.refresh(layout=True)
        self.call_after_refresh(self._place)

    def _place(self) -> None:
        screen = self.screen
        width = min(POPUP_WIDTH, screen.size.width)
        height = self.outer_size.height or 4
        x = max(0, screen.size.width - width - 1)
        y = max(1, screen.size.height - height - 1)  # above the footer
        self.styles.offset = (x, y)

    def render(self) -> Text:
        popup = self._shown
        if popup is None:
            return Text("")
        text = Text(no_wrap=False, overflow="fold")
        text.append(popup.when, "bold")
        for line in popup.lines:
            text.append("\n" + line)
        return text


class AthleteCard(Static):
    """The athlete detail's card: the notes' lines (hidden when there are none)."""

    DEFAULT_CSS = """
    AthleteCard { display: none; height: auto; max-height: 7; padding-top: 1; color: $foreground 90%; }
    """

    def show(self, lines: list[str]) -> None:
        self.display = bool(lines)
        self.update("\n".join(lines))


class NoteScreen(ModalScreen[str | None]):
    """One line of notes for an athlete: Enter saves, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    NoteScreen { align: center middle; }
    NoteScreen > Vertical {
        width: 70; max-width: 100%; height: auto;
        border: round $primary; background: $surface; padding: 0 1;
    }
    NoteScreen #where { color: $foreground 70%; }
    """

    def __init__(self, who: str, where: str) -> None:
        super().__init__()
        self.who = who
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Note on {self.who} (Enter saves, Esc cancels)", markup=False)
            yield Input(placeholder="one line", id="note")
            yield Static(f"saved to {self.where}", id="where", markup=False)

    def on_mount(self) -> None:
        self.query_one("#note", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
