"""The one-line header every screen shares: event, race, race clock, feed health."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from racetui.tui.appref import race_app
from racetui.tui.clock import format_time_of_day
from racetui.tui.columns import fit
from racetui.tui.rows import health_badge
from racetui.tui.widgets.styles import layer_style

if TYPE_CHECKING:
    from racetui.tui.app import RaceApp

__all__ = ["RaceHeader", "header_parts"]


def header_parts(app: RaceApp) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(left, right) pieces as (text, style) pairs; "time" (the time of day) and "progress"
    (a first load's) are drawn dim and give way first when the race name needs room."""
    state = app.state
    engine = state.engine
    race = state.race()
    left: list[tuple[str, str]] = []
    notice = app.watch_notice
    if notice is not None and state.clock() < notice[1]:
        left.append((notice[0], "alert"))  # a watched athlete (narrow terminals: no toasts)
    event_name = engine.event.name if engine.event else "racetui"
    left.append((event_name, "event"))
    if race is not None:
        wave = state.wave()
        left.append((race.name + (f" · {wave.name}" if wave else ""), "race"))
    right: list[tuple[str, str]] = []
    tv = app.tv.label()
    if tv:
        right.append((tv, "alert"))  # everything below is this far behind the timing system
    role = app.config.role
    if role is not None:
        right.append((role.label, "role"))
    clock = state.race_clock()
    if clock is not None:
        right.append((f"◷ {clock.text()}", "clock"))
    right.append((format_time_of_day(state.clock()), "time"))
    for source in app.sources:
        progress = getattr(source, "progress", None)  # a hub's replica still loading
        text = (progress() if callable(progress) else None) or source.health.progress
        if text:
            right.append((text, "progress"))
        badge, style = health_badge(source.health)
        name = f"{source.name} " if len(app.sources) > 1 else ""
        right.append((f"{name}{badge}", "alert" if style == "rt--alert" else "ok"))
    new = state.tracker.count_new_incidents(state.incidents_seen)
    if new:
        right.append((f"⚑ {new} new", "alert"))
    return left, right


_DIM = {"time": "dim", "progress": "dim"}
RACE_ROOM = 16  # cells of the race's name the right side must leave


def _short_progress(text: str) -> str:
    """ "loading 14,000 of 50,000 athletes" -> "14,000/50,000"."""
    words = text.split()
    if len(words) >= 4 and words[0] == "loading" and words[2] == "of":
        return f"{words[1]}/{words[-2]}"
    if text.startswith("loading the times at ") and len(words) >= 7:
        return f"times {words[4]}/{words[6]}"
    return text


def _make_room(
    left: list[tuple[str, str]], right: list[tuple[str, str]], width: int, sep: str
) -> list[tuple[str, str]]:
    """The right side, giving way to the race's name on a narrow screen: the time of day
    goes first, then a first load's progress is said short ("14,000/50,000")."""
    want = min(RACE_ROOM, cell_len(left[-1][0])) if left else 0

    def room(parts: list[tuple[str, str]]) -> int:
        return width - cell_len(sep.join(text for text, _ in parts)) - 2

    if room(right) >= want:
        return right
    right = [part for part in right if part[1] != "time"]
    if room(right) >= want:
        return right
    return [(_short_progress(text), style) if style == "progress" else (text, style) for text, style in right]


class RaceHeader(Widget):
    DEFAULT_CSS = """
    RaceHeader {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    RaceHeader > .hd--event { color: $foreground 70%; }
    RaceHeader > .hd--race { text-style: bold; }
    RaceHeader > .hd--clock { text-style: bold; color: $accent; }
    RaceHeader > .hd--dim { color: $foreground 70%; }
    RaceHeader > .hd--role { text-style: reverse; }
    RaceHeader > .hd--ok { color: $racetui-gain; }
    RaceHeader > .hd--alert { color: $racetui-alert; text-style: $racetui-alert-style; }
    """
    COMPONENT_CLASSES = {"hd--event", "hd--race", "hd--clock", "hd--dim", "hd--ok", "hd--alert", "hd--role"}

    _shown: object = None

    def refresh_if_changed(self) -> None:
        """Redraw only when the text changes (once a second for the clock): over a slow
        link an unchanged header costs nothing."""
        parts = header_parts(race_app(self))
        if parts != self._shown:
            self._shown = parts
            self.refresh()

    def redraw(self) -> None:
        """Redraw whatever changed (the race, the theme, the screen is back)."""
        self._shown = header_parts(race_app(self))
        self.refresh()

    def render(self) -> Text:
        # The parts the last refresh_if_changed saw (every tick): a full frame (a screen
        # switch, a resize) does not compute them again; the first render does.
        shown = self._shown
        left, right = shown if isinstance(shown, tuple) else header_parts(race_app(self))
        width = self.size.width
        sep = " │ "
        right = _make_room(left, right, width, sep)
        right_text = sep.join(text for text, _ in right)
        room = max(0, width - cell_len(right_text) - 2)
        # The race name matters more than the event's: cut the event first.
        if left and left[0][1] == "alert":
            left = [(fit(left[0][0], min(room, cell_len(left[0][0]))), "alert")] if room > 0 else []
        elif len(left) == 2:
            event, race = left
            race_room = min(cell_len(race[0]), room)
            event_room = room - race_room - 3
            if event_room >= 8:
                left = [(fit(event[0], min(event_room, cell_len(event[0]))), event[1]), race]
            else:
                left = [(fit(race[0], race_room), race[1])] if race_room > 0 else []
        elif left:
            left = [(fit(left[0][0], min(room, cell_len(left[0][0]))), left[0][1])] if room > 0 else []
        text = Text(" ", no_wrap=True, overflow="crop")
        for n, (piece, style) in enumerate(left):
            if n:
                text.append(" › ", layer_style(self, "hd--dim"))
            text.append(piece, layer_style(self, f"hd--{style}"))
        pad = width - text.cell_len - cell_len(right_text) - 1
        text.append(" " * max(1, pad))
        for n, (piece, style) in enumerate(right):
            if n:
                text.append(sep, layer_style(self, "hd--dim"))
            text.append(piece, layer_style(self, f"hd--{_DIM.get(style, style)}"))
        return text
