"""4 · Incidents: the technical delegate's view — every penalty, DSQ, DNF and DNS.

Each row is one incident of one athlete; the incident desk's keys (``+ s x n S L e del i``,
see :mod:`racetui.tui.screens.desk`) act on the selected row's athlete, and ``A`` shows the
desk's audit trail. Entries the desk put there are marked ``⌂`` in the *Desk* column.

Filters: ``f`` cycles the kind (all → PEN → DSQ → DNF → DNS → LAP), ``u`` unserved
penalties only.

**Approaching the penalty box.** An unserved penalty is highlighted (``⚑ BOX NEXT``) when the
athlete's *next* timing point — the one after the last point they passed — is the race's
penalty-box point. The penalty-box point is the first timing point whose name contains
"penalty" (case-insensitive); a race without one uses, by default, the first point named
like the end of the bike ("T2", "Bike End", "Bike In"), then the first named like the run
("Run…"), since the World Triathlon penalty box sits in T2 or on the run course; a race
with none of these has no penalty box and nothing is highlighted.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen

from racetui.config import Permission
from racetui.engine import ChangeSet, RaceStandings
from racetui.model import IncidentKind, Status, TimingPoint
from racetui.tui.columns import Column
from racetui.tui.messages import OpenAthlete, ToggleWatch
from racetui.tui.rows import DisplayRow, IncidentsModel
from racetui.tui.screens.base import TableScreen
from racetui.tui.screens.desk import DESK_BINDINGS, AuditScreen, DeskKeys
from racetui.tui.screens.leaderboard import InfoBar
from racetui.tui.state import AthleteRef, UiState
from racetui.tui.tracker import IncidentBadge, IncidentRecord
from racetui.tui.widgets.table import RowTable

__all__ = ["KIND_FILTERS", "DeskIncidentsModel", "IncidentsScreen", "penalty_box_index"]

KIND_FILTERS: tuple[IncidentBadge | None, ...] = (
    None,
    IncidentBadge.PENALTY,
    IncidentBadge.DSQ,
    IncidentBadge.DNF,
    IncidentBadge.DNS,
    IncidentBadge.LAP,
)
_BIKE_END = re.compile(r"^\s*t2\b|bike\s*(end|in)\b", re.IGNORECASE)
_RUN = re.compile(r"^\s*run\b", re.IGNORECASE)
_STATUS_OF_BADGE = {
    IncidentBadge.DSQ: Status.DSQ,
    IncidentBadge.DNF: Status.DNF,
    IncidentBadge.DNS: Status.DNS,
    IncidentBadge.LAP: Status.LAP,
}


def penalty_box_index(points: Sequence[TimingPoint]) -> int | None:
    """Index of the race's penalty-box timing point (see the module docstring), or None."""
    for pattern in (re.compile("penalty", re.IGNORECASE), _BIKE_END, _RUN):
        for index, point in enumerate(points):
            if pattern.search(point.name):
                return index
    return None


class DeskIncidentsModel(IncidentsModel):
    """The incidents list plus a kind filter, a *Desk* column and the penalty-box highlight."""

    def __init__(self, state: UiState) -> None:
        super().__init__(state)
        self.kind: IncidentBadge | None = None
        self._boxes: dict[int, int | None] = {}

    def columns(self) -> Sequence[Column]:
        cols = list(super().columns())
        at = next(i for i, c in enumerate(cols) if c.key == "badge")
        cols.insert(at + 1, Column("desk", "Desk", 4, 0))
        return cols

    def reload(self) -> None:
        super().reload()
        if self.kind is not None:
            self.records = [r for r in self.records if r.badge is self.kind]

    def cycle_kind(self) -> IncidentBadge | None:
        index = KIND_FILTERS.index(self.kind) if self.kind in KIND_FILTERS else 0
        self.kind = KIND_FILTERS[(index + 1) % len(KIND_FILTERS)]
        return self.kind

    def box(self, standings: RaceStandings) -> int | None:
        key = id(standings.points)
        if key not in self._boxes:
            self._boxes = {key: penalty_box_index(standings.points)}
        return self._boxes[key]

    def approaching(self, record: IncidentRecord) -> bool:
        """An unserved penalty whose athlete's next timing point is the penalty box."""
        if not record.unserved:
            return False
        standings = self.state.engine.races.get(record.race_id)
        entry = None if standings is None else standings.entries.get(record.bib)
        if standings is None or entry is None or entry.status is not Status.OK:
            return False
        box = self.box(standings)
        return box is not None and entry.last + 1 == box

    def from_desk(self, record: IncidentRecord) -> bool:
        """True when the incident desk put this record there (not the source)."""
        entry = self.state.entry((record.race_id, record.bib))
        override = None if entry is None else entry.override
        if override is None or not record.active:
            return False
        if record.badge in _STATUS_OF_BADGE and override.status is _STATUS_OF_BADGE[record.badge]:
            return True
        for incident in override.incidents:
            if incident.kind is IncidentKind.PENALTY:
                if record.text == f"{incident.seconds} s penalty for {incident.infringement}":
                    return True
            elif record.text == incident.standard_text() or record.text.startswith(incident.standard_text()):
                return True
        return False

    def record_at(self, index: int) -> IncidentRecord | None:
        return self.records[index] if 0 <= index < len(self.records) else None

    def display(self, record: IncidentRecord) -> DisplayRow:
        row = super().display(record)
        cells = list(row.cells)
        at = next(i for i, c in enumerate(super().columns()) if c.key == "badge")
        style = row.style
        if self.approaching(record):
            text = cells[-1]
            assert isinstance(text, tuple) and isinstance(text[0], str)
            cells[-1] = (f"⚑ BOX NEXT · {text[0]}", "rt--alert")
            cells[at] = ("PEN!", "rt--new")
        cells.insert(at + 1, ("⌂" if self.from_desk(record) else "", "rt--marked"))
        return DisplayRow(row.key, tuple(cells), style, row.ident)


class IncidentsScreen(DeskKeys, TableScreen):
    TITLE = "Incidents"
    TABLE_ID = "incidents"

    BINDINGS = [
        Binding("u", "unserved", "Unserved"),
        Binding("f", "kind", "Kind"),
        Binding("a", "acknowledge", "Read"),
        Binding("A", "audit", "Audit", key_display="A"),
        Binding("w", "watch", "Watch", show=False),
        *DESK_BINDINGS,
    ]

    def compose_body(self) -> ComposeResult:
        yield InfoBar(id="info")
        yield RowTable(DeskIncidentsModel(self.state), empty="No incidents so far.", id="incidents")

    @property
    def model(self) -> DeskIncidentsModel:
        model = self.table.model
        assert isinstance(model, DeskIncidentsModel)
        return model

    def on_changes(self, changes: ChangeSet) -> None:
        if changes or self.state.tracker.backlog:
            self.model.reload()
            self.table.update_rows(None)
            self.update_info()

    def reload(self) -> None:
        super().reload()
        self.model.reload()
        self.redraw_table()
        self.update_info(fresh=True)

    def on_screen_suspend(self) -> None:
        # Leaving the screen counts as having looked; a dialog over it (help, search, a desk
        # form) leaves it in view, NEW badges and the header's count as they were. Textual
        # puts the new screen on the stack before this screen hears of its suspension.
        if not isinstance(self.app.screen, ModalScreen):
            self.state.incidents_seen = self.state.tracker.seq

    _pending: tuple[str, float, int] | None = None

    def update_info(self, *, fresh: bool = False) -> None:
        c = self.model.counts()
        parts = [
            f"penalties {c['penalties']} ({c['unserved']} NOT SERVED)",
            f"DSQ {c['dsq']}",
            f"DNF {c['dnf']}",
            f"DNS {c['dns']}",
        ]
        if c["new"]:
            parts.append(f"{c['new']} NEW since you last looked")
        pending = self.desk_pending(fresh=fresh)
        if pending:
            parts.append(f"⌂ {pending} on the desk only (reported or held: C/D)")
        if self.model.kind is not None:
            parts.append(f"{self.model.kind} only (f: next)")
        if self.model.unserved_only:
            parts.append("showing unserved penalties only (u: all)")
        self.query_one("#info", InfoBar).update(" · ".join(parts))

    def desk_pending(self, *, fresh: bool = False) -> int:
        """Reports awaiting a decision in the race on screen (the desk's, not published):
        read from the desk at most every few seconds while the race ticks, at once when
        the screen is reloaded (shown again, a desk form closed)."""
        desk = self.race_app.desk
        race_id = self.state.race_id
        if desk is None or race_id is None or not self.race_app.allows(Permission.REVIEW):
            return 0  # reported entries are the technical delegates' alone
        now = time.monotonic()
        cached = self._pending
        if not fresh and cached is not None and cached[0] == race_id and now - cached[1] < 3.0:
            return cached[2]
        try:
            count = len(desk.pending(race_id))
        except sqlite3.Error:
            count = 0
        self._pending = (race_id, now, count)
        return count

    def action_unserved(self) -> None:
        self.model.unserved_only = not self.model.unserved_only
        self.reload()

    def action_kind(self) -> None:
        self.model.cycle_kind()
        self.reload()

    def action_acknowledge(self) -> None:
        self.state.incidents_seen = self.state.tracker.seq
        self.reload()

    def action_audit(self) -> None:
        self.app.push_screen(AuditScreen())

    def action_watch(self) -> None:
        self.post_message(ToggleWatch(self.table.current_key()))

    def desk_target(self) -> tuple[AthleteRef | None, IncidentRecord | None]:
        record = self.model.record_at(self.table.cursor)
        key = self.table.current_key()
        if record is not None and (record.race_id, record.bib) != key:
            record = None
        return key, record

    @on(RowTable.Selected)
    def _selected(self, event: RowTable.Selected) -> None:
        self.post_message(OpenAthlete(event.key))
