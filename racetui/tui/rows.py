"""What each table shows, as plain rows of text: the widgets only draw them.

Every place and gap here is read from the engine's read side (view rows, splits); a
table model never ranks anything itself. A model turns engine rows (or tracker records,
or source health) into
:class:`DisplayRow` values: hashable tuples of cell texts and style names, so the table
can cache one drawn line per distinct row and redraw a line only when its row changed.
No Textual here.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from racetui.engine import RaceStandings, Row
from racetui.engine.groups import Group, group_starts, group_times
from racetui.engine.projections import Arrival, NotThrough, arrivals, not_through
from racetui.model import Race
from racetui.model.times import format_gap
from racetui.sources.base import FeedState, SourceHealth, SourceMode
from racetui.tui.clock import format_time_of_day
from racetui.tui.columns import (
    Cell,
    Column,
    badge_for,
    format_change,
    format_gap_cell,
    format_signed_gap,
    format_time,
    point_label,
)
from racetui.tui.state import AthleteRef, UiState
from racetui.tui.tracker import IncidentBadge, IncidentRecord, PassRecord

__all__ = [
    "AthleteModel",
    "ComingModel",
    "DisplayRow",
    "HealthModel",
    "IncidentsModel",
    "LeaderboardModel",
    "NotThroughModel",
    "PassesModel",
    "SplitsModel",
    "TableModel",
    "health_badge",
    "passing_time_of_day",
]

CellValue = Cell | tuple[Cell, ...]  # one styled text, or fragments drawn side by side


class DisplayRow:
    """One table line: the athlete it shows (if any), its cells, a whole-row style, and
    ``ident``: the thing the line shows (an athlete, an incident, a passing), which the
    cursor follows when rows are inserted above it."""

    __slots__ = ("_hash", "cells", "ident", "key", "span", "style")

    def __init__(
        self,
        key: AthleteRef | None,
        cells: tuple[CellValue, ...],
        style: str | None = None,
        ident: Hashable | None = None,
        *,
        span: bool = False,
    ):
        self.key = key
        self.cells = cells
        self.style = style
        self.ident = ident if ident is not None else key
        # one text across the whole line (a group separator), not cells under columns;
        # the cursor steps over it
        self.span = span
        self._hash = hash((key, cells, style, self.ident, span))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DisplayRow)
            and self._hash == other._hash
            and self.key == other.key
            and self.ident == other.ident
            and self.cells == other.cells
            and self.style == other.style
            and self.span == other.span
        )

    def __repr__(self) -> str:
        return f"DisplayRow({self.key!r}, {self.cells!r}, {self.style!r})"


class TableModel:
    """Base: a list of display rows the table reads a window of."""

    race_id: str | None = None

    def columns(self) -> Sequence[Column]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        raise NotImplementedError

    def index_of(self, key: AthleteRef) -> int | None:
        return None

    def index_of_ident(self, ident: Hashable) -> int | None:
        """Where the row showing ``ident`` (a :attr:`DisplayRow.ident`) is now; None: the
        table falls back to the row's athlete."""
        return None

    def precise(self) -> bool:
        """True when change sets' moved ranges are this model's row indexes."""
        return False

    def reload(self) -> None:
        """Re-read a model that holds a list (incidents, passes, health)."""


def _name(state: UiState, ref: AthleteRef, name: str) -> tuple[str, str | None]:
    marks = ("★" if ref in state.watch else "") + ("◆" if ref == state.mark else "")
    return (f"{marks} {name}" if marks else name), ("rt--watched" if ref in state.watch else None)


def passing_time_of_day(race: Race, gun_ms: int, now: datetime) -> datetime | None:
    gun = race.clock.gun_time if race.clock else None
    if gun is None:
        return None
    return (gun + timedelta(milliseconds=gun_ms)).astimezone(now.tzinfo)


def _local(cell: Cell, local: bool) -> Cell:
    """``⌂`` after the badge: the incident desk, not the source, says this athlete's status."""
    if not local:
        return cell
    text, style = cell
    return (f"{text}⌂", style or "rt--dim")


# ---------------------------------------------------------------- leaderboard
class LeaderboardModel(TableModel):
    """Position, bib, name, country, category, point, split, time, gaps, status."""

    def __init__(self, state: UiState) -> None:
        self.state = state
        self._groups: _Groups | None = None

    @property
    def race_id(self) -> str | None:  # type: ignore[override]
        return self.state.race_id

    def columns(self) -> Sequence[Column]:
        live = self.state.point_id is None
        cols = [
            Column("pos", "Pos", 5, 0, "right"),
            Column("bib", "Bib", 5, 0, "right"),
            Column("name", "Name", 18, 0, flex=True),
            Column("nat", "Ctry", 4, 3),
            Column("cat", "Cat", 7, 4),
            Column("at", "At", 10, 2) if live else None,
            Column("split", "Split", 7, 3, "right"),
            Column("time", "Time", 8, 0, "right"),
            Column("gap", "Gap", 8, 0, "right"),
            Column("ahead", "Ahead", 7, 2, "right"),
            Column("status", "St", 5, 1),
            Column("club", "Club", 14, 5),
        ]
        hidden = self.state.hidden_columns  # the layout's choice; the essentials always show
        return [c for c in cols if c is not None and (c.priority == 0 or c.key not in hidden)]

    # Groups: at a chosen timing point, a separator line goes between two groups (athletes
    # within ``state.group_ms`` of the one ahead, engine/groups.py's rule). Display index
    # = view index + the separators above it, so where the groups start is needed from
    # the top of the view: read from the ordering's times (no rows built) once per change
    # of the field, filter, point or group time, and kept until the next.
    def groups(self) -> _Groups | None:
        """Where the groups of the current view start (None: no separators shown)."""
        state = self.state
        if not state.groups or state.point_id is None:
            return None
        view = state.view()
        standings = state.standings()
        if view is None or standings is None or state.point_id is None:
            return None
        key = (standings.race.id, state.point_id, view.filter, state.group_ms, standings.version, len(view))
        if self._groups is None or self._groups.key != key:
            times = view.ranking_times()
            self._groups = _Groups(key, view.bib_at, times, group_starts(times, state.group_ms))
        return self._groups

    def __len__(self) -> int:
        view = self.state.view()
        if view is None:
            return 0
        groups = self.groups()
        return len(view) + (groups.separators if groups else 0)

    def precise(self) -> bool:
        return self.state.precise() and self.groups() is None

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        view = self.state.view()
        standings = self.state.standings()
        if view is None or standings is None:
            return []
        live = self.state.point_id is None
        groups = self.groups()
        if groups is None:
            return [self.display(standings, row, live) for row in view.rows(start, stop)]
        out: list[DisplayRow] = []
        first = groups.view_index(start)  # the first athlete at or after display ``start``
        rows = iter(view.rows(first, first + (stop - start)))
        for index in range(start, stop):
            k = groups.separator_at(index)
            if k is not None:
                out.append(self.separator(groups, k))
                continue
            row = next(rows, None)
            if row is None:
                break
            out.append(self.display(standings, row, live))
        return out

    def separator(self, groups: _Groups, k: int) -> DisplayRow:
        """The line between group ``k − 1`` and group ``k``: ``lead group 6 · +0:42 · chase 12``."""
        gap = format_gap(groups.times[groups.starts[k]] - groups.times[groups.starts[k - 1]])
        text = f"{groups.label(k - 1)} · {gap} · {groups.label(k)}"
        return DisplayRow(None, ((text, "rt--group"),), "rt--group", ("group", k, text), span=True)

    def display(self, standings: RaceStandings, row: Row, live: bool) -> DisplayRow:
        ref = (standings.race.id, row.bib)
        points = standings.points
        at_point = points[row.point_index] if 0 <= row.point_index < len(points) else None
        finished = at_point is not None and at_point.is_finish
        name, name_style = _name(self.state, ref, row.name or f"#{row.bib}")
        cells: list[CellValue] = [
            (str(row.rank) if row.rank is not None else "–", None),
            (row.bib, None),
            (name, name_style),
            (row.country or "", "rt--dim"),
            (row.category or "", "rt--dim"),
        ]
        if live:
            cells.append((point_label(at_point.name) if at_point else "start", "rt--dim"))
        cells += [
            (format_time(row.split_ms) if row.point_index > 0 else "", "rt--dim"),
            (format_time(row.time_ms), None),
            (format_gap_cell(row.gap_leader_ms), None),
            (format_gap_cell(row.gap_ahead_ms), "rt--dim"),
            _local(badge_for(row.status, row.incidents, finished), row.local),
            (row.club or "", "rt--dim"),
        ]
        return DisplayRow(ref, tuple(cells), "rt--watched-row" if ref in self.state.watch else None)

    def index_of(self, key: AthleteRef) -> int | None:
        view = self.state.view()
        if view is None or key[0] != self.state.race_id:
            return None
        index = view.index_of(key[1])
        groups = self.groups()
        return index if index is None or groups is None else groups.display_index(index)


class _Groups:
    """The groups of one leaderboard view: where each starts (view indexes), and the
    display positions of the separators. A separator goes before a group when it or the
    group ahead has two athletes or more: athletes strung out one by one get none (the
    Ahead column already says their gaps), so a spread-out field is not half separators."""

    __slots__ = ("bib_at", "key", "separator_rows", "shown", "shown_starts", "starts", "times")

    def __init__(
        self, key: tuple[object, ...], bib_at: Callable[[int], str], times: list[int], starts: list[int]
    ) -> None:
        self.key = key
        self.bib_at = bib_at
        self.times = times
        self.starts = starts
        self.shown = [k for k in range(1, len(starts)) if self.size(k) > 1 or self.size(k - 1) > 1]
        self.shown_starts = [starts[k] for k in self.shown]
        # the j-th separator sits just above its group's first athlete, pushed down by the j before it
        self.separator_rows = [first + j for j, first in enumerate(self.shown_starts)]

    @property
    def separators(self) -> int:
        return len(self.separator_rows)

    def separator_at(self, display: int) -> int | None:
        """The group whose separator is display row ``display`` (None: an athlete's row)."""
        j = bisect_left(self.separator_rows, display)
        found = j < len(self.separator_rows) and self.separator_rows[j] == display
        return self.shown[j] if found else None

    def view_index(self, display: int) -> int:
        """The view index of display row ``display`` (or of the athlete just after it)."""
        return display - bisect_left(self.separator_rows, display)

    def display_index(self, view: int) -> int:
        return view + bisect_right(self.shown_starts, view)

    def size(self, k: int) -> int:
        end = self.starts[k + 1] if k + 1 < len(self.starts) else len(self.times)
        return end - self.starts[k]

    def label(self, k: int) -> str:
        """``lead group 6``, ``chase 12``, ``group of 4 at +1:02.5`` (one athlete: by bib)."""
        size, first = self.size(k), self.starts[k]
        bib = self.bib_at(first)
        if k == 0:
            return f"lead group {size}" if size > 1 else f"leader #{bib}"
        if k == 1:
            return f"chase {size}" if size > 1 else f"chase #{bib}"
        behind = format_gap(self.times[first] - self.times[0])
        return f"group of {size} at {behind}" if size > 1 else f"#{bib} at {behind}"


# --------------------------------------------------------------------- splits
class SplitsModel(TableModel):
    """Athletes × timing points: split, cumulative time, position and places gained."""

    CELL = 22

    def __init__(self, state: UiState) -> None:
        self.state = state
        self.first_point = 0  # scrolled with ← →

    @property
    def race_id(self) -> str | None:  # type: ignore[override]
        return self.state.race_id

    def points(self) -> list[Any]:
        standings = self.state.standings()
        return list(standings.points) if standings else []

    def columns(self) -> Sequence[Column]:
        points = self.points()
        self.first_point = max(0, min(self.first_point, len(points) - 1))
        cols = [
            Column("pos", "Pos", 5, 0, "right"),
            Column("bib", "Bib", 5, 0, "right"),
            Column("name", "Name", 14, 0, flex=True),
        ]
        for i, point in enumerate(points[self.first_point :], start=self.first_point):
            more = "‹ " if i == self.first_point and i > 0 else ""
            cols.append(Column(f"p{i}", f"{more}{point.name}", self.CELL, 1, "center"))
        return cols

    def __len__(self) -> int:
        view = self.state.view(latest=True)
        return 0 if view is None else len(view)

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        view = self.state.view(latest=True)
        standings = self.state.standings()
        if view is None or standings is None:
            return []
        return [self.display(standings, row) for row in view.rows(start, stop)]

    def display(self, standings: RaceStandings, row: Row) -> DisplayRow:
        ref = (standings.race.id, row.bib)
        name, name_style = _name(self.state, ref, row.name or f"#{row.bib}")
        cells: list[CellValue] = [
            (str(row.rank) if row.rank is not None else str(row.status) if row.status != "OK" else "–", None),
            (row.bib, None),
            (name, name_style),
        ]
        by_point = {split.point_index: split for split in standings.splits(row.bib)}
        previous_pos: int | None = None
        for index in range(len(standings.points)):
            split = by_point.get(index)
            if split is None:
                if index >= self.first_point:
                    cells.append(("", None))
                continue
            position = split.position
            if index >= self.first_point:
                change_text, change_style = format_change(previous_pos, position)
                cells.append(
                    (
                        (f"{format_time(split.split_ms):>6}", "rt--dim"),
                        (f"{format_time(split.time_ms):>8}", None),
                        (f"{position if position is not None else '–':>5}", None),
                        (f"{change_text:<3}", change_style),
                    )
                )
            previous_pos = position
        return DisplayRow(ref, tuple(cells), "rt--watched-row" if ref in self.state.watch else None)

    def index_of(self, key: AthleteRef) -> int | None:
        view = self.state.view(latest=True)
        if view is None or key[0] != self.state.race_id:
            return None
        return view.index_of(key[1])


# ------------------------------------------------------------------ incidents
_BADGE_STYLE = {
    IncidentBadge.PENALTY: "rt--alert",
    IncidentBadge.DSQ: "rt--alert",
    IncidentBadge.DNF: "rt--bad",
    IncidentBadge.DNS: "rt--bad",
    IncidentBadge.LAP: "rt--bad",
    IncidentBadge.NC: "rt--bad",
    IncidentBadge.NOTE: "rt--dim",
}


class IncidentsModel(TableModel):
    """Every penalty (served or not), DSQ, DNF and DNS, newest first."""

    def __init__(self, state: UiState) -> None:
        self.state = state
        self.unserved_only = False
        self.records: list[IncidentRecord] = []

    def columns(self) -> Sequence[Column]:
        return [
            Column("new", "New", 3, 0),
            Column("seen", "Seen", 8, 2),
            Column("race", "Race", 12, 3),
            Column("rtime", "At", 8, 2, "right"),
            Column("bib", "Bib", 5, 0, "right"),
            Column("name", "Athlete", 16, 0),
            Column("badge", "What", 4, 0),
            Column("text", "Rule", 26, 0, flex=True),
        ]

    def reload(self) -> None:
        records = self.state.tracker.incidents()
        if self.unserved_only:
            records = [r for r in records if r.unserved]
        self.records = records

    def counts(self) -> dict[str, int]:
        records = [r for r in self.state.tracker.incidents() if r.active]
        return {
            "penalties": sum(r.badge is IncidentBadge.PENALTY for r in records),
            "unserved": sum(r.unserved for r in records),
            "dsq": sum(r.badge is IncidentBadge.DSQ for r in records),
            "dnf": sum(r.badge is IncidentBadge.DNF for r in records),
            "dns": sum(r.badge is IncidentBadge.DNS for r in records),
            "new": sum(r.seq > self.state.incidents_seen for r in records),
        }

    def __len__(self) -> int:
        return len(self.records)

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        return [self.display(r) for r in self.records[start:stop]]

    @staticmethod
    def ident(record: IncidentRecord) -> Hashable:
        """An incident stays itself when served or withdrawn: athlete, kind and rule."""
        return ("incident", record.race_id, record.bib, str(record.badge), record.text)

    def index_of_ident(self, ident: Hashable) -> int | None:
        for index, record in enumerate(self.records):
            if self.ident(record) == ident:
                return index
        return None

    def display(self, record: IncidentRecord) -> DisplayRow:
        ref = (record.race_id, record.bib)
        entry = self.state.entry(ref)
        standings = self.state.engine.races.get(record.race_id)
        name, name_style = _name(self.state, ref, entry.name() if entry else f"#{record.bib}")
        badge = str(record.badge)
        if record.badge is IncidentBadge.PENALTY:
            badge = "PEN!" if record.unserved else "PEN✓"
        text = record.text
        if record.unserved:
            text = f"NOT SERVED · {text}"
        elif record.badge is IncidentBadge.PENALTY:
            text = f"served · {text}"
        if not record.active:
            text = f"(withdrawn) {text}"
        new = record.seq > self.state.incidents_seen
        style = "rt--dim" if not record.active else "rt--alert-row" if record.unserved else None
        cells: tuple[CellValue, ...] = (
            ("NEW" if new else "", "rt--new"),
            (format_time_of_day(record.seen), "rt--dim"),
            (standings.race.name if standings else record.race_id, "rt--dim"),
            (format_time(record.race_ms), "rt--dim"),
            (record.bib, None),
            (name, name_style),
            (badge, _BADGE_STYLE[record.badge] if record.active else "rt--dim"),
            (text, None),
        )
        return DisplayRow(ref, cells, style, self.ident(record))


# --------------------------------------------------------------------- passes
class PassesModel(TableModel):
    """The latest passings at a timing point, a location, or anywhere in the race."""

    def __init__(self, state: UiState) -> None:
        self.state = state
        self.filter: tuple[str, str] | None = None  # ("point", id) or ("location", id)
        self.records: list[PassRecord] = []

    def filters(self) -> list[tuple[str, str] | None]:
        standings = self.state.standings()
        options: list[tuple[str, str] | None] = [None]
        if standings is not None:
            options += [("point", p.id) for p in standings.points]
        event = self.state.engine.event
        if event is not None:
            options += [("location", loc.id) for loc in event.locations]
        return options

    def cycle(self, step: int = 1) -> None:
        options = self.filters()
        index = options.index(self.filter) if self.filter in options else 0
        self.filter = options[(index + step) % len(options)]
        self.reload()

    def filter_text(self) -> str:
        if self.filter is None:
            race = self.state.race()
            return f"every timing point of {race.name}" if race else "every timing point"
        kind, ident = self.filter
        if kind == "point":
            standings = self.state.standings()
            index = standings.point_index.get(ident) if standings else None
            return (
                f"timing point {standings.points[index].name}" if standings and index is not None else ident
            )
        event = self.state.engine.event
        location = next((loc for loc in event.locations if loc.id == ident), None) if event else None
        return f"location {location.name if location else ident} (all races)"

    def columns(self) -> Sequence[Column]:
        across = self.filter is not None and self.filter[0] == "location"
        return [
            Column("tod", "Time", 8, 1),
            Column("race", "Race", 12, 3 if across else 99),
            Column("point", "Point", 12, 0),
            Column("bib", "Bib", 5, 0, "right"),
            Column("name", "Name", 16, 0, flex=True),
            Column("nat", "Ctry", 4, 4),
            Column("cat", "Cat", 7, 4),
            Column("time", "Race time", 9, 0, "right"),
            Column("pos", "Pos", 5, 1, "right"),
            Column("gap", "Gap", 8, 2, "right"),
        ]

    def reload(self) -> None:
        tracker = self.state.tracker
        if self.filter is not None and self.filter[0] == "location":
            records: list[PassRecord] = []
            for race_id, standings in self.state.engine.races.items():
                indexes = [i for i, p in enumerate(standings.points) if p.location_id == self.filter[1]]
                if indexes:
                    records += tracker.passes(race_id, indexes)
            now = self.state.clock()
            records.sort(key=lambda r: self._moment(r, now), reverse=True)
            self.records = records[:500]
            return
        current = self.state.ensure_race()
        at = self.state.standings()
        if current is None or at is None:
            self.records = []
            return
        wanted: list[int] | None = None
        if self.filter is not None:
            index = at.point_index.get(self.filter[1])
            wanted = [] if index is None else [index]
        self.records = tracker.passes(current, wanted)

    def _moment(self, record: PassRecord, now: datetime) -> datetime:
        standings = self.state.engine.races.get(record.race_id)
        moment = passing_time_of_day(standings.race, record.gun_ms, now) if standings else None
        return moment or now

    def __len__(self) -> int:
        return len(self.records)

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        now = self.state.clock()
        return [self.display(r, now) for r in self.records[start:stop]]

    def index_of_ident(self, ident: Hashable) -> int | None:
        for index, record in enumerate(self.records):
            if ("pass", record.seq) == ident:
                return index
        return None

    def display(self, record: PassRecord, now: datetime) -> DisplayRow:
        ref = (record.race_id, record.bib)
        standings = self.state.engine.races.get(record.race_id)
        entry = self.state.entry(ref)
        name, name_style = _name(self.state, ref, entry.name() if entry else f"#{record.bib}")
        point = standings.points[record.point_index] if standings else None
        position = gap = None
        if standings is not None and entry is not None and entry.times[record.point_index] == record.chip_ms:
            split = standings.split(record.bib, record.point_index)
            if split is not None:
                position, gap = split.position, split.gap_leader_ms
        moment = passing_time_of_day(standings.race, record.gun_ms, now) if standings else None
        participant = entry.participant if entry else None
        cells: tuple[CellValue, ...] = (
            (format_time_of_day(moment), "rt--dim"),
            (standings.race.name if standings else record.race_id, "rt--dim"),
            (point_label(point.name) if point else record.point_id, None),
            (record.bib, None),
            (name, name_style),
            (participant.country or "" if participant else "", "rt--dim"),
            (participant.category or "" if participant else "", "rt--dim"),
            (format_time(record.chip_ms), None),
            (str(position) if position is not None else "", None),
            (format_gap_cell(gap), "rt--dim"),
        )
        style = "rt--watched-row" if ref in self.state.watch else None
        return DisplayRow(ref, cells, style, ("pass", record.seq))


# --------------------------------------------------------------------- health
def health_badge(health: SourceHealth) -> tuple[str, str]:
    """``● push``, ``◐ polling``, ``○ stale 12 s``…: symbol and words, and a style name."""
    state = health.effective_state()
    if state is FeedState.STALE:
        age = health.age()
        return f"○ stale {int(age or 0)} s", "rt--alert"
    if state is FeedState.ERROR:
        return "✕ error", "rt--alert"
    if state is FeedState.CONNECTING:
        return "… connecting", "rt--dim"
    if state is FeedState.STOPPED:
        return "■ stopped", "rt--dim"
    symbol = {
        SourceMode.PUSH: "●",
        SourceMode.POLLING: "◐",
        SourceMode.FILE: "▤",
        SourceMode.REPLAY: "▶",
    }.get(health.mode, "●")
    return f"{symbol} {health.mode}", "rt--gain"


class HealthModel(TableModel):
    """Every source: mode, state, message age, counts, reconnects, last error, journal."""

    def __init__(self, sources: Sequence[Any]) -> None:
        self.sources = list(sources)
        self.rows: list[DisplayRow] = []

    def columns(self) -> Sequence[Column]:
        return [
            Column("name", "Source", 12, 0),
            Column("state", "State", 14, 0),
            Column("age", "Last msg", 8, 0, "right"),
            Column("messages", "Msgs", 7, 1, "right"),
            Column("rejected", "Bad", 5, 1, "right"),
            Column("reconnects", "Recon", 5, 1, "right"),
            Column("error", "Last error", 16, 0, flex=True),
            Column("journal", "Journal", 28, 3),
        ]

    def reload(self) -> None:
        rows = []
        for source in self.sources:
            health: SourceHealth = source.health
            badge, style = health_badge(health)
            age = health.age()
            rows.append(
                DisplayRow(
                    None,
                    (
                        (source.name, None),
                        (badge, style),
                        ("never" if age is None else f"{age:.0f} s", None),
                        (str(health.messages), None),
                        (str(health.rejected), "rt--alert" if health.rejected else None),
                        (str(health.reconnects), None),
                        (health.last_error or "", "rt--alert" if health.last_error else None),
                        (health.journal_path or "", "rt--dim"),
                    ),
                )
            )
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        return self.rows[start:stop]


# -------------------------------------------------------------------- athlete
class AthleteModel(TableModel):
    """One athlete at every timing point: split, time, positions, gaps."""

    def __init__(self, state: UiState, ref: AthleteRef) -> None:
        self.state = state
        self.ref = ref
        self.race_id = ref[0]
        self.rows: list[DisplayRow] = []

    def columns(self) -> Sequence[Column]:
        return [
            Column("point", "Point", 10, 0, flex=True),
            Column("split", "Split", 8, 0, "right"),
            Column("time", "Time", 8, 0, "right"),
            Column("pos", "Pos", 5, 0, "right"),
            Column("chg", "±", 4, 0),
            Column("gpos", "Gen", 5, 2, "right"),
            Column("cpos", "Cat", 5, 2, "right"),
            Column("gap", "Gap", 8, 1, "right"),
            Column("ahead", "Ahead", 8, 2, "right"),
            Column("mark", "To ◆", 9, 1, "right"),
            Column("tod", "Time of day", 11, 3),
        ]

    def reload(self) -> None:
        standings = self.state.engine.races.get(self.ref[0])
        entry = self.state.entry(self.ref)
        if standings is None or entry is None:
            self.rows = []
            return
        marked = (
            self.state.entry(self.state.mark)
            if self.state.mark and self.state.mark[0] == self.ref[0]
            else None
        )
        now = self.state.clock()
        rows: list[DisplayRow] = []
        by_point = {split.point_index: split for split in standings.splits(entry.bib, groups=True)}
        previous_pos: int | None = None
        for index, point in enumerate(standings.points):
            split = by_point.get(index)
            if split is None:
                rows.append(DisplayRow(None, ((point.name, "rt--dim"),) + (("", None),) * 10))
                continue
            position = split.position
            mark_text = ""
            if marked is not None and marked.bib != entry.bib:
                other = marked.times[index] if index < len(marked.times) else None
                if other is not None:
                    mark_text = format_signed_gap(split.time_ms - other)
            moment = passing_time_of_day(standings.race, split.gun_ms, now)
            rows.append(
                DisplayRow(
                    None,
                    (
                        (point.name, None),
                        (format_time(split.split_ms), "rt--dim"),
                        (format_time(split.time_ms), None),
                        (str(position) if position is not None else "–", None),
                        format_change(previous_pos, position),
                        (str(split.gender_position or ""), "rt--dim"),
                        (str(split.category_position or ""), "rt--dim"),
                        (format_gap_cell(split.gap_leader_ms), None),
                        (format_gap_cell(split.gap_ahead_ms), "rt--dim"),
                        (mark_text, "rt--marked"),
                        (format_time_of_day(moment), "rt--dim"),
                    ),
                )
            )
            previous_pos = position
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        return self.rows[start:stop]


# --------------------------------------------------------------------- coming
SOON_MS = 15_000  # the last seconds of a countdown, drawn bright


def countdown(eta_ms: int) -> str:
    """Time to an arrival for a countdown: whole seconds rounded up; ``due`` at zero."""
    if eta_ms <= 0:
        return "due"
    return format_time(eta_ms)


class ComingModel(TableModel):
    """Who is expected at one timing point in the next minutes, soonest first (the engine's
    :func:`~racetui.engine.projections.arrivals`); athletes due together (within a second,
    :func:`~racetui.engine.groups.group_times`) under one line "group of 6, led by #12"."""

    def __init__(self, state: UiState) -> None:
        self.state = state
        self.point_index = 0
        self.window_ms = 5 * 60_000
        self.arrivals: list[Arrival] = []
        self.lines: list[tuple[Group | None, Arrival]] = []  # group line (its first) or an athlete
        self.now_ms: int | None = None

    @property
    def race_id(self) -> str | None:  # type: ignore[override]
        return self.state.race_id

    def columns(self) -> Sequence[Column]:
        return [
            Column("in", "In", 6, 0, "right"),
            Column("bib", "Bib", 5, 0, "right"),
            Column("name", "Name", 24, 0, flex=True),  # "group of 10, led by #123"
            Column("nat", "Ctry", 4, 3),
            Column("cat", "Cat", 6, 5),  # gives way first: the group line needs the name's width
            Column("proj", "Proj", 4, 0, "right"),
            Column("now", "Now", 4, 1, "right"),
            Column("chg", "", 3, 1),
            Column("from", "From", 10, 2),
            Column("spread", "±", 6, 3, "right"),
            Column("basis", "From what", 13, 5),
        ]

    def reload(self) -> None:
        standings = self.state.standings()
        now = self.now_ms
        if standings is None or now is None or not standings.points:
            self.arrivals, self.lines = [], []
            return
        self.point_index = max(0, min(self.point_index, len(standings.points) - 1))
        self.arrivals = arrivals(standings, self.point_index, now, self.window_ms)
        self._group()

    def retime(self, now_ms: int) -> None:
        """The clock moved, nothing else: countdowns follow, arrivals now due stay due."""
        if self.now_ms is not None and now_ms < self.now_ms:
            self.now_ms = now_ms
            self.reload()
            return
        step = now_ms - (self.now_ms or now_ms)
        self.now_ms = now_ms
        if step:
            self.arrivals = [replace(a, eta_ms=max(0, a.eta_ms - step)) for a in self.arrivals]
            self._group()

    def _group(self) -> None:
        by_bib = {a.bib: a for a in self.arrivals}
        lines: list[tuple[Group | None, Arrival]] = []
        for group in group_times((a.bib, a.projection.gun_ms) for a in self.arrivals):
            if group.size > 1:
                lines.append((group, by_bib[group.leader]))
            lines += [(None, by_bib[bib]) for bib in group.bibs]
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        standings = self.state.standings()
        if standings is None:
            return []
        return [self.display(standings, group, arrival) for group, arrival in self.lines[start:stop]]

    def display(self, standings: RaceStandings, group: Group | None, arrival: Arrival) -> DisplayRow:
        soon = arrival.eta_ms <= SOON_MS
        if group is not None:
            text = f"group of {group.size}, led by #{arrival.bib}"
            cells: tuple[CellValue, ...] = (
                (countdown(arrival.eta_ms), None),
                ("", None),
                (text, None),
                *(("", None) for _ in range(8)),
            )
            return DisplayRow(None, cells, "rt--soon" if soon else "rt--block", ("group", group.bibs))
        ref = (standings.race.id, arrival.bib)
        athlete = self.state.entry(ref)
        name, name_style = _name(self.state, ref, arrival.name or f"#{arrival.bib}")
        points = standings.points
        at = points[arrival.current_point].name if 0 <= arrival.current_point < len(points) else "start"
        change_text, change_style = format_change(arrival.current_place, arrival.place)
        cells = (
            (countdown(arrival.eta_ms), None),
            (arrival.bib, None),
            (name, name_style),
            ((athlete.participant.country or "") if athlete and athlete.participant else "", "rt--dim"),
            ((athlete.category or "") if athlete else "", "rt--dim"),
            (str(arrival.place), None),
            (str(arrival.current_place) if arrival.current_place is not None else "–", "rt--dim"),
            (change_text, change_style),
            (point_label(at), "rt--dim"),
            ("±" + format_time(arrival.projection.spread_ms), "rt--dim"),
            (arrival.projection.basis + (" (late)" if arrival.overdue_ms else ""), "rt--dim"),
        )
        style = "rt--soon" if soon else "rt--watched-row" if ref in self.state.watch else None
        return DisplayRow(ref, cells, style)

    def index_of(self, key: AthleteRef) -> int | None:
        if key[0] != self.state.race_id:
            return None
        return next((i for i, (g, a) in enumerate(self.lines) if g is None and a.bib == key[1]), None)

    def index_of_ident(self, ident: Hashable) -> int | None:
        if isinstance(ident, tuple) and ident and ident[0] == "group":
            return next(
                (i for i, (g, _) in enumerate(self.lines) if g is not None and ("group", g.bibs) == ident),
                None,
            )
        return None


class NotThroughModel(TableModel):
    """The athletes on course still to pass one timing point, with their running time
    since their own start (the engine's :func:`~racetui.engine.projections.not_through`)."""

    def __init__(self, state: UiState) -> None:
        self.state = state
        self.point_index = 0
        self.now_ms: int | None = None
        self.rows: list[NotThrough] = []

    @property
    def race_id(self) -> str | None:  # type: ignore[override]
        return self.state.race_id

    def columns(self) -> Sequence[Column]:
        return [
            Column("bib", "Bib", 5, 0, "right"),
            Column("name", "Name", 16, 0, flex=True),
            Column("nat", "Ctry", 4, 4),
            Column("cat", "Cat", 6, 3),
            Column("running", "Running", 8, 0, "right"),
            Column("last", "Last seen", 10, 1),
            Column("at", "At", 8, 2, "right"),
            Column("eta", "Due in", 7, 0, "right"),
        ]

    def reload(self) -> None:
        standings = self.state.standings()
        if standings is None or self.now_ms is None or not standings.points:
            self.rows = []
            return
        self.point_index = max(0, min(self.point_index, len(standings.points) - 1))
        # paced: a big field's list is built over several ticks, the last complete one shown
        self.rows = not_through(standings, self.point_index, self.now_ms, paced=True)

    def __len__(self) -> int:
        return len(self.rows)

    def fetch(self, start: int, stop: int) -> list[DisplayRow]:
        standings = self.state.standings()
        if standings is None:
            return []
        return [self.display(standings, row) for row in self.rows[start:stop]]

    def display(self, standings: RaceStandings, row: NotThrough) -> DisplayRow:
        ref = (standings.race.id, row.bib)
        athlete = self.state.entry(ref)
        name, name_style = _name(self.state, ref, row.name or f"#{row.bib}")
        points = standings.points
        last = point_label(points[row.last_point].name) if 0 <= row.last_point < len(points) else "start"
        if row.overdue:
            eta: Cell = ("late", "rt--alert")
        elif row.eta_ms is None:
            eta = ("", None)
        else:
            eta = (countdown(row.eta_ms), None)
        cells: tuple[CellValue, ...] = (
            (row.bib, None),
            (name, name_style),
            ((athlete.participant.country or "") if athlete and athlete.participant else "", "rt--dim"),
            ((athlete.category or "") if athlete else "", "rt--dim"),
            (format_time(row.running_ms), None),
            (last, "rt--dim"),
            (format_time(row.last_ms), "rt--dim"),
            eta,
        )
        return DisplayRow(ref, cells, "rt--watched-row" if ref in self.state.watch else None)

    def index_of(self, key: AthleteRef) -> int | None:
        if key[0] != self.state.race_id:
            return None
        return next((i for i, row in enumerate(self.rows) if row.bib == key[1]), None)
