"""The footer every screen shares: the keys that fit the width, in priority order.

Textual's footer lays every shown key out in one row and lets the last ones fall off the
right edge (at 80 columns the Incidents screen lost ``? Help`` and ``q Quit``, and the
command-palette key drawn over the row left a stray character). This footer measures the
keys against its width and drops the least important first: the screen's own keys from the
last declared, then the app's race, screens and search keys. ``?`` and ``q`` always stay;
``ctrl+p`` is on the help page instead of the footer.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel, KeyGroup

__all__ = ["RaceFooter", "fit_bindings"]

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


class RaceFooter(Footer):
    """A compact footer that fits its width (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)

    def on_resize(self) -> None:
        self.refresh(recompose=True)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
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
        width = self.size.width or self.app.size.width
        kept = fit_bindings(groups, max(0, width - 1))
        self.styles.grid_size_columns = sum(len(group) for group in kept) or 1
        for group in kept:
            first = group[0][0][0]
            if first.group is not None and len(group) > 1:
                with KeyGroup(classes="-compact" if first.group.compact else ""):
                    for multi in group:
                        binding, enabled, tooltip = multi[0]
                        yield FooterKey(
                            binding.key,
                            self.app.get_key_display(binding),
                            "",
                            binding.action,
                            disabled=not enabled,
                            tooltip=tooltip or binding.description,
                            classes="-grouped",
                        ).data_bind(compact=Footer.compact)
                yield FooterLabel(first.group.description)
            else:
                for multi in group:
                    binding, enabled, tooltip = multi[0]
                    yield FooterKey(
                        binding.key,
                        self.app.get_key_display(binding),
                        binding.description,
                        binding.action,
                        disabled=not enabled,
                        tooltip=tooltip,
                    ).data_bind(compact=Footer.compact)
