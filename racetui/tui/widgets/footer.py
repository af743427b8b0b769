"""The footer every screen shares: the keys that fit the width, in priority order.

Textual's footer lays every shown key out in one row and lets the last ones fall off the
right edge (at 80 columns the Incidents screen lost ``? Help`` and ``q Quit``, and the
command-palette key drawn over the row left a stray character). This footer measures the
keys against its width and drops the least important first: the screen's own keys from the
last declared, then the app's race, screens and search keys. ``?`` and ``q`` always stay;
``ctrl+p`` is on the help page instead of the footer.

It is one widget drawing one line, not a widget per key: Textual's footer recomposed its
15–19 key widgets on every screen switch (each mounted, styled and rendered: about a third
of a switch's time). This one works out its items when the screen's bindings or its width
change and repaints only when they differ; a click or hover finds the item by its cells.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.color import Color
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

__all__ = ["FooterItem", "RaceFooter", "fit_bindings"]

ALWAYS = ("app.help", "help", "app.quit", "quit")
# the app's keys, dropped in this order after the screen's own
APP_DROP_ORDER = ("race", "switch_mode", "search")

Shown = list[tuple[Binding, bool, str]]


def _width(group: list[Shown]) -> int:
    """Cells one footer item takes in compact mode: key, space, description, space."""
    first = group[0][0][0]
    if first.group is not None and len(group) > 1:
        keys = sum(cell_len(items[0][0].key_display or items[0][0].key) for items in group)
        return keys + cell_len(first.group.description) + 2
    return sum(cell_len(b.key_display or b.key) + cell_len(b.description) + 2 for (b, _, _), *_ in group)


def _kind(action: str) -> str:
    name = action.removeprefix("app.")
    for known in APP_DROP_ORDER:
        if name.startswith(known):
            return known
    return name


def fit_bindings(groups: list[list[Shown]], width: int) -> list[list[Shown]]:
    """The footer items (groups of per-action bindings) that fit ``width`` cells."""
    kept = list(groups)

    def total() -> int:
        return sum(_width(group) for group in kept)

    def droppable() -> list[list[Shown]]:
        local = [g for g in kept if _kind(g[0][0][0].action) not in (*APP_DROP_ORDER, *ALWAYS)]
        ordered = list(reversed(local))
        for kind in APP_DROP_ORDER:
            ordered += [g for g in kept if _kind(g[0][0][0].action) == kind]
        return ordered

    while kept and total() > width:
        candidates = droppable()
        if not candidates:
            break
        kept.remove(candidates[0])
    return kept


@dataclass(frozen=True)
class FooterItem:
    """One key the footer shows: ``description`` is empty for a key of a group (``1234567``)."""

    key: str
    key_display: str
    description: str
    action: str
    enabled: bool
    tooltip: str


# A part of the line: its text, its component (None: the footer's own background), the item
# it belongs to (an index into the items, None for gaps and group labels).
Part = tuple[str, str | None, int | None]


def _layout(groups: list[list[Shown]], key_display: dict[str, str]) -> tuple[list[FooterItem], list[Part]]:
    """The items and the parts of the line, as Textual's compact footer lays out its widgets:
    ``key description`` and a cell of margin for a key; for a group a cell of padding, its
    keys (a cell of margin around each unless the group is compact), a cell, its label."""
    items: list[FooterItem] = []
    parts: list[Part] = []

    def add(binding: Binding, enabled: bool, tooltip: str, description: str) -> int:
        items.append(
            FooterItem(binding.key, key_display[binding.key], description, binding.action, enabled, tooltip)
        )
        return len(items) - 1

    for group in groups:
        first = group[0][0][0]
        if first.group is not None and len(group) > 1:
            compact = first.group.compact
            parts.append((" ", None, None))
            for multi in group:
                binding, enabled, tooltip = multi[0]
                index = add(binding, enabled, tooltip or binding.description, "")
                if not compact:
                    parts.append((" ", "item", index))
                parts.append((key_display[binding.key], "key", index))
                if not compact:
                    parts.append((" ", "item", index))
            parts += [(" ", None, None), (first.group.description, "label", None)]
        else:
            for multi in group:
                binding, enabled, tooltip = multi[0]
                index = add(binding, enabled, tooltip, binding.description)
                parts.append((key_display[binding.key], "key", index))
                if binding.description:
                    parts.append((" " + binding.description, "description", index))
                parts.append((" ", None, None))
    return items, parts


class RaceFooter(Widget):
    """A compact footer that fits its width (see the module docstring)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "race-footer--item",
        "race-footer--hover",
        "race-footer--key",
        "race-footer--description",
        "race-footer--label",
    }
    # The look of Textual's compact footer and its keys, with the same theme variables.
    DEFAULT_CSS = """
    RaceFooter {
        dock: bottom;
        height: 1;
        text-wrap: nowrap;
        color: $footer-foreground;
        background: $footer-background;
        & > .race-footer--item { background: $footer-item-background; }
        & > .race-footer--hover { color: $footer-key-foreground; background: $block-hover-background; }
        & > .race-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .race-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .race-footer--label {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.items: list[FooterItem] = []
        self._parts: list[Part] = []
        self._spans: list[tuple[int, int, int]] = []  # (first cell, end cell, item index)
        self._groups: list[list[Shown]] = []
        self._key_display: dict[str, str] = {}
        self._hover: int | None = None
        self._styles: dict[tuple[str | None, bool, bool], Style] = {}

    # ---------------------------------------------------------------- what it shows
    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        # Not while the app is unfocused (as Textual's footer): the focused widget's keys
        # would leave the footer for as long as the terminal is in the background.
        if self.items and not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self._update_groups()

    def on_resize(self) -> None:
        self._fit()

    def _update_groups(self) -> None:
        # The app leaves out keys the session's role may not use and screens not in its layout.
        shows = getattr(self.app, "shows_binding", None)
        shown = [
            (binding, enabled, tooltip)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show and (shows is None or shows(self.screen, binding.action))
        ]
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for binding, enabled, tooltip in shown:
            by_action[binding.action].append((binding, enabled, tooltip))
        groups: list[list[Shown]] = []
        for group, items in groupby(by_action.values(), lambda multi: multi[0][0].group):
            actions = list(items)
            if group is not None and len(actions) > 1:
                groups.append(actions)  # e.g. 1234567 Screens: one item
            else:
                groups += [[multi] for multi in actions]
        self._groups = groups
        self._key_display = {binding.key: self.app.get_key_display(binding) for binding, _, _ in shown}
        self._fit()

    def _fit(self) -> None:
        width = self.size.width or self.app.size.width
        items, parts = _layout(fit_bindings(self._groups, max(0, width - 1)), self._key_display)
        if items == self.items and parts == self._parts:
            return  # a screen switch: the same keys as last time, nothing to redraw
        self.items, self._parts = items, parts
        self._spans = []
        x = 0
        for text, _, index in parts:
            if index is not None:
                if self._spans and self._spans[-1][2] == index:
                    self._spans[-1] = (self._spans[-1][0], x + cell_len(text), index)
                else:
                    self._spans.append((x, x + cell_len(text), index))
            x += cell_len(text)
        self._hover = None
        self.refresh()

    # ---------------------------------------------------------------- drawing
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def _style(self, component: str | None, hover: bool, enabled: bool) -> Style:
        """A part's style, blended as the widgets of Textual's footer are: the footer's
        background, the key item's (or the hover's), the part's own."""
        cached = self._styles.get((component, hover, enabled))
        if cached is not None:
            return cached
        background = self.background_colors[1]
        color = Color.parse("white").with_alpha(0)
        style = Style()
        layers = [] if component in (None, "label") else ["hover" if hover else "item"]
        if component is not None:
            layers.append(component)
        for name in layers:
            styles = self.get_component_styles(f"race-footer--{name}")
            if styles.has_rule("background"):
                background += styles.background
            if styles.has_rule("color"):
                color = styles.color
            style += styles.text_style
        if not enabled:
            style += Style(dim=True)
        if component is None:
            style = Style.from_color(bgcolor=background.rich_color)
        else:
            style += Style.from_color((background + color).rich_color, background.rich_color)
        self._styles[(component, hover, enabled)] = style
        return style

    def render(self) -> Text:
        # Parts of one style in one span (the line draws as the widgets' did, and exports
        # the same); the last margin is the footer's own background, as the rest of the line.
        runs: list[tuple[str, Style]] = []
        parts = self._parts[:-1] if self._parts and self._parts[-1][1] is None else self._parts
        for part, component, index in parts:
            enabled = self.items[index].enabled if index is not None else True
            style = self._style(component, index is not None and index == self._hover, enabled)
            if runs and runs[-1][1] == style:
                runs[-1] = (runs[-1][0] + part, style)
            else:
                runs.append((part, style))
        return Text.assemble(*runs, no_wrap=True, end="")

    # ---------------------------------------------------------------- the mouse
    def item_at(self, x: int) -> int | None:
        """The item (an index into :attr:`items`) drawn at cell ``x``."""
        for first, end, index in self._spans:
            if first <= x < end:
                return index
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        hover = self.item_at(event.x)
        if hover != self._hover:
            self._hover = hover
            self.tooltip = self.items[hover].tooltip or None if hover is not None else None
            self.refresh()

    def on_leave(self) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = self.item_at(event.x)
        if index is None:
            return
        item = self.items[index]
        if item.enabled:
            self.app.simulate_key(item.key)
        else:
            self.app.bell()
