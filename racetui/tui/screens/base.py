"""What every mode screen shares: the header, a body, the footer, and the tick contract.

The app calls :meth:`RaceScreen.tick` once per UI tick on the visible screen only, with
the tick's merged change set; a screen that was hidden refreshes fully when it comes
back (:meth:`RaceScreen.reload`, on ``ScreenResume``). Hidden screens do no work.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from racetui.engine import ChangeSet
from racetui.tui.appref import race_app
from racetui.tui.widgets.card import CardPopup
from racetui.tui.widgets.footer import RaceFooter
from racetui.tui.widgets.header import RaceHeader
from racetui.tui.widgets.table import RowTable

if TYPE_CHECKING:
    from racetui.tui.app import RaceApp
    from racetui.tui.state import UiState

__all__ = ["RaceScreen", "TableScreen", "why_empty"]


def why_empty(sources: Sequence[Any]) -> str | None:
    """Why there is no race to show, from the sources' health: the board says it instead of
    a bare "no athletes" ("can't reach host:port — retrying in 4 s", "HTTP 404 for URL",
    "not JSON: …"). None when no source has anything to say."""
    from racetui.sources.base import FeedState

    if not sources:
        return "No sources: nothing is feeding this dashboard."
    lines = []
    for source in sources:
        health = source.health
        state = health.effective_state()
        name = source.name
        if state is FeedState.CONNECTING:
            lines.append(f"{name}: connecting…")
        elif state is FeedState.ERROR or (state is FeedState.STOPPED and health.last_error):
            error = health.last_error or "error"
            # A feed's messages already start with its URL, which is in its name too.
            text = error if name.split()[-1] in error else f"{name}: {error}"
            wait = health.retry_in()
            if wait is not None:
                text += f" — retrying in {math.ceil(wait)} s"
            lines.append(text)
        elif state is FeedState.STALE:
            lines.append(f"{name}: no message for {int(health.age() or 0)} s")
        elif state is FeedState.CONNECTED:
            lines.append(f"{name}: connected, no race in it yet")
        elif state is FeedState.STOPPED:
            lines.append(f"{name}: stopped")
    if not lines:
        return None
    return "\n".join(lines) + "\n(7 Health: every source's story)"


def style_context(app: App[Any]) -> tuple[object, ...]:
    """What a hidden screen's styles depend on outside itself: the app's pseudo-classes
    (focus, dark), its classes and its stylesheet (a theme change bumps the count).
    Textual restyles the app's change on the visible screens only."""
    return (app.pseudo_classes, frozenset(app.classes), app._css_update_count)


class RaceScreen(Screen[None]):
    TITLE = ""
    _hidden_in: tuple[object, ...] | None = None  # style_context() when this screen was left
    resuming = False  # reload() is catching up after the screen was hidden

    @property
    def race_app(self) -> RaceApp:
        return race_app(self)

    @property
    def state(self) -> UiState:
        return self.race_app.state

    BINDINGS = [Binding("escape", "dismiss_card", "Close card", show=False)]

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name, id, classes)
        # A new screen's stylesheet generation is "never": the first switch to its mode then
        # re-parses every stylesheet of the app and restyles the app, twice (once for the
        # screen left, once for this one), 40-50 ms of one key's step at 120x36. Nothing to
        # catch up on: the screen's widgets are styled as they mount, by the stylesheet as
        # it stands (the rules they bring parsed then). A theme change after this still
        # bumps the app's count, and the switch restyles as before.
        with contextlib.suppress(RuntimeError):  # no app: built outside one (NoActiveAppError)
            self._css_update_count = self.app._css_update_count

    def compose(self) -> ComposeResult:
        yield RaceHeader()
        yield from self.compose_body()
        yield RaceFooter()
        yield CardPopup()

    def action_dismiss_card(self) -> None:
        self.race_app.dismiss_card()

    def compose_body(self) -> ComposeResult:
        yield from ()

    _header: RaceHeader | None = None
    _cards: list[CardPopup] | None = None

    @property
    def ready(self) -> bool:
        """Composed and mounted (a mode screen is built the first time it is shown)."""
        return self._found_header() is not None

    def _found_header(self) -> RaceHeader | None:
        # Looked for until found, then kept: a screen is composed once, and every UI tick
        # asks (a query walks the screen's nodes and matches selectors each time).
        if not self.is_mounted:
            return None
        header = self._header
        if header is not None and header.parent is self:
            return header
        # Not found yet, or removed: a closing app takes the screen's children away while
        # its tick timer may still fire, and a kept header would say a gone board is ready.
        self._header = next(iter(self.query(RaceHeader)), None)
        return self._header

    def card_popups(self) -> list[CardPopup]:
        """The screen's card popup (none before it is composed); found once, like the header."""
        if self._cards is None:
            if not self.ready:
                return []
            self._cards = list(self.query(CardPopup))
        return self._cards

    def tick(self, changes: ChangeSet) -> None:
        """One UI tick while visible: the header always, the body as it needs."""
        header = self._found_header()
        if header is None:
            return
        header.refresh_if_changed()
        self.on_changes(changes)

    def on_changes(self, changes: ChangeSet) -> None:
        """Redraw what ``changes`` touched (override)."""

    def reload(self) -> None:
        """Redraw everything: the race, a filter or the theme changed, or the screen is back."""
        for header in self.query(RaceHeader):
            header.redraw()

    def on_screen_suspend(self) -> None:
        self._hidden_in = style_context(self.app)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles every node of a mode screen it switches to (28 ms of a 90 ms
        # switch at 120x36, and every widget's rendered lines go with it): only needed when
        # something the screen's styles depend on changed while it was hidden. Its own
        # nodes' class changes restyle them as they happen, hidden or not.
        if event.refresh_styles and self._hidden_in == style_context(self.app):
            event.refresh_styles = False
        self.resuming = True
        try:
            if self.ready:
                self.reload()
        finally:
            self.resuming = False
            self.race_app.resumed()  # the switch's frame (RaceApp.switch_mode)


class TableScreen(RaceScreen):
    """A race screen whose body is one :class:`RowTable` (id ``TABLE_ID``), focused on mount."""

    TABLE_ID = ""
    _empty_default: str | None = None  # the table's own empty text, when there is a race

    @property
    def table(self) -> RowTable:
        return self.query_one(f"#{self.TABLE_ID}", RowTable)

    def on_mount(self) -> None:
        self.table.focus()

    def redraw_table(self) -> None:
        """The table for :meth:`reload`: all of it, or back from hidden only what changed."""
        if self.resuming:
            self.table.reread()
        else:
            self.table.reset()
            self.table.update_rows(None)

    def tick(self, changes: ChangeSet) -> None:
        super().tick(changes)
        if self.ready:
            self.explain_empty()

    def explain_empty(self) -> None:
        """With no race at all, the empty table says why (see :func:`why_empty`)."""
        table = self.table
        if self._empty_default is None:
            self._empty_default = table.empty_text
        reason = why_empty(self.race_app.sources) if self.state.race() is None else None
        text = reason or self._empty_default
        if text != table.empty_text:
            table.empty_text = text
            table.refresh()
