"""9 · Box: the penalty box, for the box official and the technical delegate.

One box at a time (``b`` cycles the race's boxes: the race settings, ``[desk] boxes``
and ``[desk.races.<race>]``), built on the desk's lifecycle (:mod:`racetui.sources.desk`):

- **IN BOX**: who is serving now, with a countdown from the moment they entered (the
  penalty's time starts on entering; several penalties add up), ``TIME UP`` once served out;
- **DUE**: confirmed penalties still to serve here (assigned to this box, or to no box yet:
  the athlete stops at the next box), and the timing source's unserved penalties that the
  desk has not adopted (marked "src", due at every box: ``B`` records them on the desk
  first, as the desk's serve key does), ×N when an athlete has several, soonest first: the
  projected arrival at the box's timing point (:func:`racetui.engine.projections.project`),
  else the athlete's last split and point;
- **SERVED**: served here, newest first.

``space`` switches between this list and the **board**: the bibs to show on the board at
the box, in large type (``12x2``: two penalties), those in the box highlighted.

The technical delegate's keys (td role, or no role), the desk's own: ``B`` in the box (all
of the athlete's penalties due here: the time starts now), ``O`` out (served; before the
time is up a second ``O`` confirms the early release), ``z`` undo the row's latest box step. Each is
one desk action with who and when, at once (the official presses it as the athlete
arrives: no confirmation in between, and undo instead). Reported and declined entries never
show here: only confirmed penalties reach the box.

The box's timing point: the first point whose name contains the box's name, else for a
"bike" box the end of the bike (T2), for a "run" box the first run point, else the race's
penalty-box point (:func:`racetui.tui.screens.incidents.penalty_box_index`).
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import DataTable, Digits, Static

from racetui.config import Permission
from racetui.engine import ChangeSet, RaceStandings
from racetui.engine.projections import project
from racetui.model import TimingPoint
from racetui.model.bibs import bib_key
from racetui.model.times import format_duration_short
from racetui.sources.desk import ActionKind, DeskEntry, DeskError, EntryState
from racetui.tui.clock import race_time
from racetui.tui.columns import fit, format_time
from racetui.tui.messages import OpenAthlete
from racetui.tui.roles import gated
from racetui.tui.screens.base import RaceScreen
from racetui.tui.screens.desk import athlete_name, source_penalties
from racetui.tui.screens.incidents import penalty_box_index
from racetui.tui.screens.leaderboard import InfoBar
from racetui.tui.state import AthleteRef

if TYPE_CHECKING:
    from racetui.sources.desk import IncidentDesk
    from racetui.tui.state import UiState

__all__ = ["BoxRow", "BoxScreen", "box_point", "box_rows"]

IN, DUE, SERVED = "IN BOX", "DUE", "SERVED"
_BIKE_END = re.compile(r"\bT2\b|bike\s*(end|in|finish)|transition\s*2", re.IGNORECASE)
_RUN = re.compile(r"\brun\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BoxRow:
    """One athlete's line at the box (several penalties of one athlete are one line)."""

    section: str  # IN, DUE or SERVED
    race_id: str
    bib: str
    name: str
    entries: tuple[int, ...]  # desk entry ids, oldest first
    seconds: int  # the penalties' total
    what: str  # "30 s drafting", "30 s drafting + 10 s littering"
    left_s: int | None = None  # IN: seconds still to serve (<= 0: time up)
    where: str = ""  # DUE: projected arrival or last split; SERVED: when
    # DUE: the timing source's unserved penalties the desk has not adopted yet, as
    # (seconds, infringement): entering the box records them on the desk first
    adopt: tuple[tuple[int, str], ...] = ()

    @property
    def count(self) -> int:
        return len(self.entries) + len(self.adopt)

    @property
    def ref(self) -> AthleteRef:
        return (self.race_id, self.bib)

    def board_text(self) -> str:
        """The bib as the board shows it (Digits draw 0-9, A-F and x)."""
        return self.bib + (f"x{self.count}" if self.count > 1 else "")


def box_point(points: Sequence[TimingPoint], box: str) -> int | None:
    """The index of the timing point where athletes reach ``box`` (see the module docstring)."""
    wanted = box.strip().lower()
    for index, point in enumerate(points):
        if wanted and wanted in point.name.lower():
            return index
    patterns = []
    if "bike" in wanted:
        patterns.append(_BIKE_END)
    if "run" in wanted:
        patterns.append(_RUN)
    for pattern in patterns:
        for index, point in enumerate(points):
            if pattern.search(point.name):
                return index
    return penalty_box_index(points)


def _what(entries: Sequence[DeskEntry], adopt: Sequence[tuple[int, str]] = ()) -> str:
    desk = [f"{e.seconds} s {e.infringement}" for e in entries]
    # "src" first: a narrow column still shows who recorded it
    return " + ".join(desk + [f"src {seconds} s {what}" for seconds, what in adopt])


def _source_due(
    standings: RaceStandings, bib: str, entries: Sequence[DeskEntry]
) -> tuple[tuple[int, str], ...]:
    """The source's unserved penalties of ``bib`` that the desk has not adopted: from the
    engine's effective incidents (those the desk's own word does not cover)."""
    athlete = standings.athlete(bib)
    if athlete is None or not athlete.source_incidents:
        return ()
    source = [i for i in athlete.incidents if i in athlete.source_incidents]
    standing = [e for e in entries if e.standing]
    return tuple((i.seconds or 0, i.infringement or "") for i in source_penalties(source, standing))


NO_ETA = 10**12  # sorts after every projected arrival


Arrivals = dict[tuple[str, int, int], int | None]  # (bib, last point, point) -> gun ms there


def _eta(
    standings: RaceStandings, bib: str, point: int | None, now_ms: int | None, arrivals: Arrivals
) -> tuple[int, str]:
    """(ms until the athlete reaches the box, or NO_ETA; the text): the projected arrival
    at the box's point, else where they were last seen. ``arrivals`` keeps projections
    until the athlete passes another point (a projection costs about a millisecond)."""
    athlete = standings.athlete(bib)
    if athlete is None:
        return NO_ETA, ""
    points = standings.points
    if point is not None and athlete.last < point and now_ms is not None:
        key = (bib, athlete.last, point)
        if key not in arrivals:
            found = [p.gun_ms for p in project(standings, bib) if p.point_index == point]
            arrivals[key] = found[0] if found else None
        at = arrivals[key]
        if at is not None:
            eta = max(0, at - now_ms)
            name = points[point].name
            return eta, (f"due now · {name}" if eta == 0 else f"in {format_time(eta)} · {name}")
    if athlete.last < 0:
        return NO_ETA, "no split yet"
    return NO_ETA, f"last {points[athlete.last].name} {format_time(athlete.gun_time(athlete.last))}"


def box_rows(
    entries: Sequence[DeskEntry],
    standings: RaceStandings,
    box: str,
    now: datetime,
    now_ms: int | None,
    arrivals: Arrivals | None = None,
    source_bibs: Iterable[str] = (),
) -> list[BoxRow]:
    """The box's lines from the race's desk entries (``desk.history(race_id)``): in the box
    (least time left first), due (soonest first), served (newest first). ``now`` is the
    dashboard's clock, ``now_ms`` the race time since the gun. ``source_bibs``: athletes
    whose timing source may report unserved penalties (due at any box, marked "src",
    unless the desk adopted them)."""
    race_id = standings.race.id
    arrivals = {} if arrivals is None else arrivals
    by_athlete: dict[str, list[DeskEntry]] = {}
    everything: dict[str, list[DeskEntry]] = {}
    for entry in entries:
        everything.setdefault(entry.bib, []).append(entry)
        if entry.kind is ActionKind.PENALTY and entry.published:
            by_athlete.setdefault(entry.bib, []).append(entry)
    for bib in source_bibs:
        by_athlete.setdefault(bib, [])
    point = box_point(standings.points, box)
    inside: list[BoxRow] = []
    due: list[tuple[int, str, BoxRow]] = []
    served: list[tuple[float, BoxRow]] = []
    for bib, entries in by_athlete.items():
        athlete = standings.athlete(bib)
        name = athlete.name() if athlete is not None else ""
        here = [e for e in entries if e.state is EntryState.IN_BOX and e.box == box]
        if here:
            started = min(e.entered or now for e in here)
            total = sum(e.seconds or 0 for e in here)
            left = math.ceil(total - (now - started).total_seconds())
            ids = tuple(e.id for e in here)
            inside.append(BoxRow(IN, race_id, bib, name, ids, total, _what(here), left_s=left))
        waiting = [
            e
            for e in entries
            if e.state in (EntryState.CONFIRMED, EntryState.ASSIGNED) and e.box in (None, box)
        ]
        adopt = () if here else _source_due(standings, bib, everything.get(bib, ()))
        if (waiting or adopt) and not here:
            soon, where = _eta(standings, bib, point, now_ms, arrivals)
            total = sum(e.seconds or 0 for e in waiting) + sum(seconds for seconds, _ in adopt)
            ids = tuple(e.id for e in waiting)
            row = BoxRow(DUE, race_id, bib, name, ids, total, _what(waiting, adopt), where=where, adopt=adopt)
            due.append((soon, bib, row))
        done: dict[datetime, list[DeskEntry]] = {}  # served together: one line
        for entry in entries:
            if entry.state is EntryState.SERVED and entry.box == box:
                done.setdefault(entry.left or entry.action.at, []).append(entry)
        for at, together in done.items():
            row = BoxRow(
                SERVED,
                race_id,
                bib,
                name,
                tuple(e.id for e in together),
                sum(e.seconds or 0 for e in together),
                _what(together),
                where=f"served {at.astimezone(now.tzinfo).strftime('%H:%M:%S')}",
            )
            served.append((at.timestamp(), row))
    inside.sort(key=lambda r: (r.left_s if r.left_s is not None else 0, bib_key(r.bib)))
    due.sort(key=lambda item: (item[0], bib_key(item[1])))
    served.sort(key=lambda item: -item[0])
    return inside + [row for *_, row in due] + [row for _, row in served]


def _now_ms(state: UiState, standings: RaceStandings) -> int | None:
    clock = race_time(
        standings.race,
        state.clock(),
        master_offset=state.master_offset,
        ended_ms=standings.ended_ms(),
        last_ms=standings.last_passing_ms(),
    )
    return clock.elapsed_ms


class BoxBoard(Vertical):
    """The board for the box official: the bibs to serve, big."""

    DEFAULT_CSS = """
    BoxBoard { height: 1fr; padding: 0 1; }
    BoxBoard > #board-title { text-style: bold; height: 1; margin-bottom: 1; }
    BoxBoard > Grid { grid-size: 5; grid-gutter: 1 2; height: auto; }
    BoxBoard Digits { width: auto; }
    BoxBoard Digits.-in { color: $accent; text-style: bold; }
    BoxBoard > #board-more { color: $foreground 70%; height: 1; }
    """

    shown: tuple[tuple[str, bool], ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="board-title", markup=False)
        yield Grid(id="board-grid")
        yield Static("", id="board-more", markup=False)

    def show(self, box: str, rows: list[BoxRow], width: int, height: int) -> None:
        wanted = [r for r in rows if r.section in (IN, DUE)]
        per_row = max(1, (width - 2) // 14)
        fit_rows = max(1, (height - 4) // 4)
        room = per_row * fit_rows
        cells = tuple((r.board_text(), r.section == IN) for r in wanted[:room])
        more = len(wanted) - len(cells)
        self.query_one("#board-title", Static).update(
            f"PENALTY BOX · {box.upper()} · {len(wanted)} to serve"
            if wanted
            else f"PENALTY BOX · {box.upper()}"
        )
        self.query_one("#board-more", Static).update(
            f"+{more} more (list: space)" if more > 0 else ("" if wanted else "No one to serve here.")
        )
        grid = self.query_one("#board-grid", Grid)
        grid.styles.grid_size_columns = per_row
        if cells == self.shown:
            return
        self.shown = cells
        grid.remove_children()
        grid.mount_all([Digits(text, classes="-in" if inside else "") for text, inside in cells])


class BoxScreen(RaceScreen):
    TITLE = "Box"

    BINDINGS = [
        # the desk's own keys for the box steps (screens/desk.py): B in, O out, z undo
        Binding("B", "entered", "In", key_display="B"),
        Binding("O", "left", "Out", key_display="O"),
        Binding("space", "board", "Board", key_display="space"),
        Binding("b", "box(1)", "Box"),
        Binding("z", "undo", "Undo", show=False),
    ]

    DEFAULT_CSS = """
    BoxScreen #box-list { height: 1fr; }
    BoxScreen #box-list > .datatable--cursor { text-style: bold; }
    BoxScreen BoxBoard { display: none; }
    BoxScreen.-board BoxBoard { display: block; }
    BoxScreen.-board #box-list { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.box_index = 0
        self.rows: list[BoxRow] = []
        self._shown: tuple[object, ...] | None = None
        self._early: tuple[str, str, tuple[int, ...]] | None = None  # an early release asked once
        # The desk is read at most once a second while ticking (at once after a key or a
        # reload); projections are kept until an athlete passes another point.
        self._entries: tuple[str, float, list[DeskEntry]] | None = None
        self._arrivals: Arrivals = {}
        self._second = 0

    # ------------------------------------------------------------ compose
    def compose_body(self) -> ComposeResult:
        yield InfoBar(id="info")
        table: DataTable[Text | str] = DataTable(id="box-list", cursor_type="row", zebra_stripes=False)
        yield table
        yield BoxBoard(id="board")

    def on_mount(self) -> None:
        self.query_one("#box-list", DataTable).focus()

    @property
    def board_mode(self) -> bool:
        return self.has_class("-board")

    # -------------------------------------------------------------- data
    def boxes(self) -> list[str]:
        desk = self.race_app.desk
        race_id = self.state.ensure_race()
        if desk is None or race_id is None:
            return []
        return list(desk.boxes(race_id))

    def box(self) -> str | None:
        boxes = self.boxes()
        if not boxes:
            return None
        self.box_index %= len(boxes)
        return boxes[self.box_index]

    def desk_entries(self, desk: IncidentDesk, race_id: str, fresh: bool) -> list[DeskEntry]:
        cached = self._entries
        now = time.monotonic()
        if fresh or cached is None or cached[0] != race_id or now - cached[1] >= 1.0:
            cached = (race_id, now, list(desk.history(race_id)))
            self._entries = cached
        return cached[2]

    def refresh_rows(self, *, fresh: bool = False) -> None:
        app = self.race_app
        standings = self.state.standings()
        box = self.box()
        if app.desk is None or standings is None or box is None:
            self.rows = []
        else:
            try:
                entries = self.desk_entries(app.desk, standings.race.id, fresh)
            except (DeskError, sqlite3.Error) as exc:  # say so, keep the last rows
                self.notify(f"incident desk: {exc}", title="Box", severity="error", markup=False)
            else:
                if len(self._arrivals) > 20_000:
                    self._arrivals.clear()
                now_ms = _now_ms(self.state, standings)
                race_id = standings.race.id
                unserved = {r.bib for r in self.state.tracker.incidents(race_id) if r.unserved}
                self.rows = box_rows(
                    entries, standings, box, self.state.clock(), now_ms, self._arrivals, unserved
                )
        self.draw()

    def explain(self) -> str:
        app = self.race_app
        if app.desk is None:
            return "The incident desk is not available (see the start-up notice)."
        if self.state.race() is None:
            return "No race yet."
        if self.box() is None:
            return "No penalty boxes in the race settings ([desk] boxes)."
        return ""

    def draw(self) -> None:
        box = self.box()
        inside = sum(1 for r in self.rows if r.section == IN)
        due = sum(1 for r in self.rows if r.section == DUE)
        served = sum(1 for r in self.rows if r.section == SERVED)
        boxes = self.boxes()
        where = f"{box} ({self.box_index + 1}/{len(boxes)})" if box else "no box"
        info = self.explain() or f"{where} · {inside} in · {due} due · {served} served"
        self.query_one("#info", InfoBar).update(info)
        width = self.app.size.width
        if self.board_mode:
            board = self.query_one(BoxBoard)
            board.show(
                box or "", self.rows, board.size.width or width, board.size.height or self.app.size.height
            )
            return
        shown = (width, tuple(self.rows))
        if shown == self._shown:
            return
        self._shown = shown
        self._fill(width)

    def _fill(self, width: int) -> None:
        table: DataTable[Text | str] = self.query_one("#box-list", DataTable)
        cursor = table.cursor_row
        key = self.rows[cursor].ref if 0 <= cursor < len(self.rows) else None
        narrow = width < 100
        name_w = 14 if narrow else 22
        what_w = max(10, width - (7 + 6 + name_w + 4 + 22 + 8))
        table.clear(columns=True)
        table.add_column("State", width=6 if narrow else 7)
        table.add_column("Bib", width=5)
        table.add_column("Name", width=name_w)
        table.add_column("×N", width=3)
        table.add_column("Time / where", width=22)
        table.add_column("Penalty", width=what_w)
        for row in self.rows:
            table.add_row(*self._cells(row, narrow, name_w, what_w))
        if not self.rows:
            return
        index = next((i for i, r in enumerate(self.rows) if r.ref == key), min(cursor, len(self.rows) - 1))
        table.move_cursor(row=max(0, index))

    def _cells(self, row: BoxRow, narrow: bool, name_w: int, what_w: int) -> list[Text | str]:
        state = {IN: "IN", DUE: "DUE", SERVED: "DONE"}[row.section] if narrow else row.section.split()[0]
        if row.section == IN:
            left = row.left_s or 0
            time = (
                Text("TIME UP", style="bold reverse")
                if left <= 0
                else Text(f"{format_duration_short(left * 1000, 0)} left", style="bold")
            )
            state_cell = Text(state, style="bold")
        else:
            time = Text(fit(row.where, 22), style="dim" if row.section == SERVED else "")
            state_cell = Text(state, style="dim" if row.section == SERVED else "")
        count = f"×{row.count}" if row.count > 1 else ""
        return [state_cell, row.bib, fit(row.name, name_w), count, time, fit(row.what, what_w)]

    # --------------------------------------------------------------- tick
    def on_changes(self, changes: ChangeSet) -> None:
        # Countdowns and arrivals move by the second: between seconds only new data redraws.
        second = int(self.state.clock().timestamp())
        if changes or second != self._second:
            self._second = second
            self.refresh_rows()

    def reload(self) -> None:
        super().reload()
        self._shown = None
        if self.query(BoxBoard):
            self.query_one(BoxBoard).shown = None
        self.refresh_rows(fresh=True)

    def on_resize(self) -> None:
        if self.ready:
            self.reload()

    # ------------------------------------------------------------ actions
    def current(self) -> BoxRow | None:
        table = self.query_one("#box-list", DataTable)
        if self.board_mode:
            return None
        index = table.cursor_row
        return self.rows[index] if 0 <= index < len(self.rows) else None

    @on(DataTable.RowSelected, "#box-list")
    def _selected(self, event: DataTable.RowSelected) -> None:
        row = self.current()
        if row is not None:
            self.post_message(OpenAthlete(row.ref))

    def action_board(self) -> None:
        self.toggle_class("-board")
        self.reload()
        if not self.board_mode:
            self.query_one("#box-list", DataTable).focus()

    def action_box(self, step: int) -> None:
        boxes = self.boxes()
        if not boxes:
            self.notify("No penalty boxes in the race settings ([desk] boxes).", title="Box", markup=False)
            return
        self.box_index = (self.box_index + step) % len(boxes)
        self._early = None
        self.reload()

    def _act(self, row: BoxRow, kind: ActionKind, done: str) -> None:
        """One desk step per penalty of the row, then apply and redraw."""
        app = self.race_app
        desk = app.desk
        box = self.box()
        if desk is None or box is None:
            self.notify(self.explain(), title="Box", markup=False)
            return
        now = self.state.clock()
        operator = app.config.operator or None
        try:
            ids = list(row.entries)
            if kind is ActionKind.ENTER:  # the source's penalties: recorded on the desk first
                name = athlete_name(app, row.ref)
                for seconds, what in row.adopt:
                    pen = desk.record(
                        row.race_id,
                        row.bib,
                        ActionKind.PENALTY,
                        seconds=seconds,
                        infringement=what,
                        operator=operator,
                        name=name,
                    )
                    ids.append(pen.id)
            for ident in ids:
                if kind is ActionKind.ENTER:
                    desk.enter_box(row.race_id, row.bib, ident, box=box, seen_at=now, operator=operator)
                elif kind is ActionKind.LEAVE:
                    desk.leave_box(row.race_id, row.bib, ident, seen_at=now, operator=operator)
                else:
                    step = desk.last_step(row.race_id, row.bib, ident)
                    if step is None or step.action not in (ActionKind.ENTER, ActionKind.LEAVE):
                        continue
                    desk.undo(row.race_id, row.bib, step.id, reason="box step undone", operator=operator)
        except DeskError as exc:
            self.notify(str(exc), title="Box", severity="error", markup=False)
        else:
            self.notify(f"#{row.bib} {row.name}: {done}".replace("  ", " "), title=f"⌂ {box}", markup=False)
        for pipeline in app.desk_pipelines():
            desk.apply(pipeline, row.race_id, row.bib)
        app.tick()
        self.refresh_rows(fresh=True)

    @gated(Permission.DESK)
    def action_entered(self) -> None:
        row = self.current()
        if row is None or row.section != DUE:
            self.notify("Highlight a DUE athlete first.", title="Box", markup=False)
            return
        self._early = None
        self._act(row, ActionKind.ENTER, f"entered, {row.seconds} s to serve")

    @gated(Permission.DESK)
    def action_left(self) -> None:
        row = self.current()
        if row is None or row.section != IN:
            self.notify("Highlight an athlete IN the box first.", title="Box", markup=False)
            return
        left = row.left_s or 0
        key = (row.race_id, row.bib, row.entries)
        if left > 0 and self._early != key:
            self._early = key
            still = format_duration_short(left * 1000, 0)
            self.notify(
                f"#{row.bib} still has {still} to serve: O again to release now.",
                title="Box",
                severity="warning",
                markup=False,
            )
            return
        self._early = None
        self._act(row, ActionKind.LEAVE, "left the box: served" + (" (released early)" if left > 0 else ""))

    @gated(Permission.DESK)
    def action_undo(self) -> None:
        row = self.current()
        if row is None or row.section == DUE:
            self.notify("Highlight an athlete IN the box or SERVED here.", title="Box", markup=False)
            return
        self._act(row, ActionKind.UNDO, "box step undone")
