"""``q`` while live: ask before closing a dashboard that is receiving or publishing.

A timer who hits ``q`` by mistake in the middle of a race would lose the live view (and a
publishing dashboard would stop delivering its outbox); one question costs one key.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["QuitScreen"]


class QuitScreen(ModalScreen[bool]):
    """Why quitting matters now, and the keys: y/enter/q quit, n/escape stay."""

    BINDINGS = [
        Binding("y,enter,q", "quit_now", "Quit", key_display="y"),
        Binding("n,escape", "stay", "Stay", key_display="n"),
    ]

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > #quit {
        width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    QuitScreen #question { text-style: bold; padding-bottom: 1; }
    QuitScreen #keys { padding-top: 1; color: $foreground 80%; }
    """

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__()
        self.reasons = list(reasons)

    def compose(self) -> ComposeResult:
        with Vertical(id="quit"):
            yield Static("Quit racetui?", id="question", markup=False)
            yield Static("\n".join(f"• {reason}" for reason in self.reasons), id="reasons", markup=False)
            yield Static("y / enter / q  quit      n / esc  stay", id="keys", markup=False)

    def action_quit_now(self) -> None:
        self.dismiss(True)

    def action_stay(self) -> None:
        self.dismiss(False)
