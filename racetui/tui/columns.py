"""Table columns that collapse by priority, and the cell formats every screen shares.

Priority 0 columns are essential (position, bib, name, time, gap) and are never dropped;
the others are added in priority order while they fit. One flexible column (the name)
takes whatever width is left. No Textual here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len, set_cell_size

from racetui.model import Incident, IncidentKind, Status
from racetui.model.times import format_clock, format_gap, round_up_to_second

__all__ = [
    "Cell",
    "Column",
    "badge_for",
    "fit",
    "fit_columns",
    "format_change",
    "format_gap_cell",
    "format_signed_gap",
    "format_time",
    "format_trend",
    "point_label",
]

HIDDEN = 99
Align = Literal["left", "right", "center"]
Cell = tuple[str, str | None]  # text, component style name (None: the row's style)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int
    priority: int = 0  # 0 = essential, never dropped; 99 = hidden
    align: Align = "left"
    flex: bool = False  # takes the spare width


def fit_columns(columns: Sequence[Column], width: int, gap: int = 1) -> list[tuple[Column, int]]:
    """The columns that fit ``width`` (in display order) with their widths."""
    chosen: set[str] = set()
    used = 0
    for column in sorted(columns, key=lambda c: c.priority):
        if column.priority >= HIDDEN:
            continue
        need = column.width + (gap if chosen else 0)
        if column.priority == 0 or used + need <= width:
            chosen.add(column.key)
            used += need
    spare = width - used
    laid: list[tuple[Column, int]] = []
    for column in columns:
        if column.key not in chosen:
            continue
        size = column.width
        if column.flex:
            size = max(4, size + spare)  # shrinks only when even the essentials do not fit
            spare = 0
        laid.append((column, size))
    return laid


def fit(text: str, width: int, align: Align = "left") -> str:
    """Pad or cut ``text`` to exactly ``width`` cells (an ellipsis marks a cut)."""
    if width <= 0:
        return ""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else "…"
    if length == width:
        return text
    pad = width - length
    if align == "right":
        return " " * pad + text
    if align == "center":
        left = pad // 2
        return " " * left + text + " " * (pad - left)
    return text + " " * pad


def format_time(ms: int | None) -> str:
    """A race time for a table: whole seconds, rounded up (the v1.1 rule)."""
    if ms is None:
        return ""
    return format_clock(round_up_to_second(ms))


def format_gap_cell(ms: int | None) -> str:
    return "" if ms is None else format_gap(ms)


def format_signed_gap(ms: int) -> str:
    """A gap that may be negative (between any two athletes): ``+12.3``, ``-1:02.5``, ``±0.0``."""
    if ms == 0:
        return "±0.0"
    text = format_gap(abs(ms))
    return text if ms > 0 else "-" + text[1:]


def format_trend(trend: str | None, per_split_ms: int | None) -> str:
    """A gap's trend in a few words: ``closing 3.2 s/split``, ``opening 12 s/split``,
    ``steady``; empty when there is no trend yet (one common point)."""
    if trend is None or per_split_ms is None:
        return ""
    if trend == "steady":
        return "steady"
    seconds = abs(per_split_ms) / 1000
    amount = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
    return f"{trend} {amount} s/split"


def format_change(before: int | None, after: int | None) -> Cell:
    """Places gained or lost between two positions: ``▲3`` / ``▼1`` / ``=``."""
    if before is None or after is None:
        return "", None
    delta = before - after
    if delta > 0:
        return f"▲{delta}", "rt--gain"
    if delta < 0:
        return f"▼{-delta}", "rt--loss"
    return "=", "rt--dim"


def badge_for(status: Status, incidents: Sequence[Incident], finished: bool = False) -> Cell:
    """A short status badge that carries its meaning in text, not only colour."""
    if status is Status.DSQ:
        return "DSQ", "rt--alert"
    if status is not Status.OK:
        return str(status), "rt--bad"
    unserved = served = False
    for incident in incidents:
        if incident.kind is IncidentKind.PENALTY:
            if incident.served:
                served = True
            else:
                unserved = True
    if unserved:
        return "PEN!", "rt--alert"
    if served:
        return "PEN✓", "rt--dim"
    if finished:
        return "FIN", "rt--dim"
    return "", None


_LEG = re.compile(r"^Leg (\d+) (.+)$")
_TRANSITION = re.compile(r"^Transition (\d+)$")


def point_label(name: str) -> str:
    """A timing point's name short enough for a narrow column, still telling points apart:
    'Transition 1' -> 'T1', 'Leg 3 Transition 2' -> 'L3 T2', 'Leg 2 Swim Exit' -> 'L2 Swim Exit'
    (at 80 columns 'Leg 1 Transition 1' and 'Leg 1 Transition 2' both showed as 'Leg 1 Tra…')."""
    leg = _LEG.match(name)
    if leg is not None:
        return f"L{leg.group(1)} {point_label(leg.group(2))}"
    transition = _TRANSITION.match(name)
    if transition is not None:
        return f"T{transition.group(1)}"
    return name
