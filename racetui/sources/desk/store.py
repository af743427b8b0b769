"""The desk's SQLite store: the append-only actions table, its migrations, and the
:class:`IncidentDesk` that records, folds and applies (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from racetui.config import DeskConfig, data_dir
from racetui.engine import ChangeSet, Engine, Override
from racetui.sources.base import Pipeline
from racetui.sources.desk.lifecycle import (
    ActionKind,
    DeskAction,
    DeskEntry,
    DeskError,
    check,
    fold,
    status_of,
)

__all__ = ["EventKey", "IncidentDesk"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    operator TEXT NOT NULL,
    race_id TEXT NOT NULL,
    bib TEXT NOT NULL,
    action TEXT NOT NULL,
    seconds INTEGER,
    infringement TEXT,
    reason TEXT,
    target INTEGER REFERENCES actions(id),
    event TEXT NOT NULL DEFAULT '',
    location TEXT,
    box TEXT,
    seen_at TEXT,
    subject TEXT,
    name TEXT
);
"""
# Columns later versions added, in order: older databases get them (their rows keep the
# default: '' is no event, NULL is no location, box, time seen or subject).
_MIGRATIONS = {
    "event": "ALTER TABLE actions ADD COLUMN event TEXT NOT NULL DEFAULT ''",
    "location": "ALTER TABLE actions ADD COLUMN location TEXT",
    "box": "ALTER TABLE actions ADD COLUMN box TEXT",
    "seen_at": "ALTER TABLE actions ADD COLUMN seen_at TEXT",
    "subject": "ALTER TABLE actions ADD COLUMN subject TEXT",
    "name": "ALTER TABLE actions ADD COLUMN name TEXT",
}
_INDEX = "CREATE INDEX IF NOT EXISTS actions_event_athlete ON actions (event, race_id, bib, id)"
_COLUMNS = (
    "id, at, operator, race_id, bib, action, seconds, infringement, reason, target, event,"
    " location, box, seen_at, subject, name"
)


@dataclass(frozen=True, slots=True)
class EventKey:
    """The event desk entries belong to: where the results come from, the event's id (or
    name), and its date."""

    source: str
    event: str
    date: str  # ISO date, YYYY-MM-DD

    def text(self) -> str:
        """The stored form (also what the desk screen shows)."""
        return f"{self.source} · {self.event} · {self.date}"

    @classmethod
    def parse(cls, text: str) -> EventKey | None:
        """The key back from its stored form (None for '' or a text that is not one)."""
        parts = text.split(" · ")
        if len(parts) < 3:
            return None
        return cls(source=parts[0], event=" · ".join(parts[1:-1]), date=parts[-1])

    @classmethod
    def of(cls, engine: Engine, source: str, today: dt.date) -> EventKey | None:
        """The key of the event the engine holds (None before one is loaded): its date is
        the first race gun's, else ``today``."""
        event = engine.event
        if event is None or not (event.id or event.name):
            return None
        clocks = [s.race.clock for s in engine.races.values() if s.race.clock is not None]
        guns = [c.gun_time for c in clocks if c.gun_time is not None]
        day = min(guns).date() if guns else today
        return cls(source=source, event=event.id or event.name, date=day.isoformat())


class IncidentDesk:
    """The durable record of officials' decisions; see the package docstring."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        operator: str = "operator",
        event: EventKey | None = None,
        settings: DeskConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = path or data_dir() / "incidents.sqlite3"
        self.operator = operator
        self.event = event
        self.settings = settings or DeskConfig()
        self.clock = clock or (lambda: datetime.now(UTC))
        self._applied: set[tuple[str, str]] = set()  # athletes this desk overrides in the engine
        # the folded entries of the bound event, read incrementally (see _state)
        self._cache_event: str | None = None
        self._cache_last = 0
        self._cache_actions: dict[tuple[str, str], list[DeskAction]] = {}
        self._cache_folded: dict[tuple[str, str], dict[int, DeskEntry]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {str(row[1]) for row in db.execute("PRAGMA table_info(actions)")}
            for column, migration in _MIGRATIONS.items():
                if column not in columns:
                    db.execute(migration)
            db.execute(_INDEX)

    def bind(self, event: EventKey | None) -> bool:
        """Record for (and read only) ``event`` from now on; True when that changed."""
        if event == self.event:
            return False
        self.event = event
        return True

    @property
    def event_text(self) -> str:
        """Which event the desk records for, in words (for the desk screens)."""
        return self.event.text() if self.event is not None else "no event yet"

    def _event(self) -> str:
        return self.event.text() if self.event is not None else ""

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
            yield db

    # ------------------------------------------------------------ settings
    def boxes(self, race_id: str) -> list[str]:
        """The race's penalty boxes (race settings)."""
        return self.settings.boxes_for(race_id)

    def penalties(self, race_id: str) -> dict[str, int]:
        """The race's penalty length per rule, in seconds (race settings)."""
        return self.settings.penalties_for(race_id)

    # ------------------------------------------------------------ reading
    @staticmethod
    def _row(row: tuple[object, ...]) -> DeskAction:
        (ident, at, operator, race_id, bib, action, seconds, infringement, reason, target, event) = row[:11]
        location, box, seen_at, subject, name = row[11:16]
        return DeskAction(
            id=int(str(ident)),
            at=datetime.fromisoformat(str(at)),
            operator=str(operator),
            race_id=str(race_id),
            bib=str(bib),
            action=ActionKind(str(action)),
            seconds=None if seconds is None else int(str(seconds)),
            infringement=None if infringement is None else str(infringement),
            reason=None if reason is None else str(reason),
            target=None if target is None else int(str(target)),
            event=str(event or ""),
            location=None if location is None else str(location),
            box=None if box is None else str(box),
            seen_at=None if seen_at is None else datetime.fromisoformat(str(seen_at)),
            subject=None if subject is None else ActionKind(str(subject)),
            name=None if name is None else str(name),
        )

    def audit(self, race_id: str | None = None, bib: str | None = None) -> list[DeskAction]:
        """Every action of the bound event in the order it was recorded (optionally for one
        race / athlete)."""
        query = f"SELECT {_COLUMNS} FROM actions"
        args: list[str] = [self._event()]
        where = ["event = ?"]
        if race_id is not None:
            where.append("race_id = ?")
            args.append(race_id)
        if bib is not None:
            where.append("bib = ?")
            args.append(bib)
        query += " WHERE " + " AND ".join(where)
        with self._db() as db:
            return [self._row(r) for r in db.execute(query + " ORDER BY id", args)]

    def _state(self) -> dict[tuple[str, str], dict[int, DeskEntry]]:
        """Every athlete's entries of the bound event, folded. The table is append-only, so
        only rows newer than the last read are fetched and only their athletes folded
        again (other processes' rows too): a read with nothing new costs one indexed query.
        The entries are shared: callers copy (``dataclasses.replace``) before changing one."""
        event = self._event()
        if event != self._cache_event:
            self._cache_event, self._cache_last = event, 0
            self._cache_actions, self._cache_folded = {}, {}
        with self._db() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM actions WHERE id > ? AND event = ? ORDER BY id",
                (self._cache_last, event),
            ).fetchall()
        touched: set[tuple[str, str]] = set()
        for row in rows:
            act = self._row(row)
            key = (act.race_id, act.bib)
            self._cache_actions.setdefault(key, []).append(act)
            touched.add(key)
            self._cache_last = act.id
        for key in touched:
            self._cache_folded[key] = fold(self._cache_actions[key])
        return self._cache_folded

    def _of(self, race_id: str, bib: str) -> dict[int, DeskEntry]:
        return self._state().get((race_id, bib), {})

    def history(self, race_id: str | None = None, bib: str | None = None) -> list[DeskEntry]:
        """Every entry, closed ones too (declined, withdrawn, overturned), in the order
        they were created: what the violation report lists."""
        if bib is not None and race_id is not None:
            return list(self._of(race_id, bib).values())
        found = [
            e
            for (race, athlete), entries in self._state().items()
            if (race_id is None or race == race_id) and (bib is None or athlete == bib)
            for e in entries.values()
        ]
        return sorted(found, key=lambda e: e.id)

    def entries_of(self, race_id: str, bib: str) -> list[DeskEntry]:
        """The athlete's standing entries (reported ones included), oldest first, as edited
        so far: what can be confirmed, served, edited, undone or withdrawn."""
        return [e for e in self._of(race_id, bib).values() if e.standing]

    def entry(self, race_id: str, bib: str, ident: int) -> DeskEntry | None:
        """One entry of the athlete by id (closed ones too)."""
        return self._of(race_id, bib).get(ident)

    def pending(self, race_id: str | None = None) -> list[DeskEntry]:
        """What is on the desk only, oldest first, for the technical delegates' screens
        alone: reports awaiting a decision (penalties, DSQ reports, DSQs proposed for an
        unserved penalty) and confirmed entries held back until released."""
        return [e for e in self.history(race_id) if e.desk_only]

    def due(self, race_id: str | None = None) -> list[DeskEntry]:
        """Confirmed penalties still to serve (the box's list), oldest first."""
        return [e for e in self.history(race_id) if e.due]

    def events(self) -> list[str]:
        """Every event the database holds entries of (their stored text), the latest
        recorded last; '' is the entries of databases from before events were recorded."""
        with self._db() as db:
            rows = db.execute("SELECT event, MAX(id) FROM actions GROUP BY event ORDER BY MAX(id)").fetchall()
        return [str(row[0]) for row in rows]

    def override_for(self, race_id: str, bib: str) -> Override | None:
        entries = self._of(race_id, bib)
        return self._override(entries) if entries else None

    @staticmethod
    def _override(entries: dict[int, DeskEntry]) -> Override | None:
        """The published (confirmed) entries only: reported ones never leave the desk."""
        published = [e for e in entries.values() if e.published]
        if not published:
            return None
        incidents = tuple(i for i in (e.incident() for e in published) if i is not None)
        return Override(status=status_of(published), incidents=incidents)

    def overrides(self) -> dict[tuple[str, str], Override | None]:
        """Every athlete the desk has ever touched, with what it says now (None: nothing)."""
        return {key: self._override(entries) for key, entries in self._state().items()}

    # ------------------------------------------------------------ writing
    def record(
        self,
        race_id: str,
        bib: str,
        action: ActionKind | str,
        *,
        seconds: int | None = None,
        infringement: str | None = None,
        reason: str | None = None,
        target: int | None = None,
        operator: str | None = None,
        location: str | None = None,
        box: str | None = None,
        seen_at: datetime | None = None,
        subject: ActionKind | str | None = None,
        name: str | None = None,
    ) -> DeskAction:
        """Validate and store one action (committed before it returns); ``name`` is the
        athlete's name as the official sees it (kept for the reports)."""
        try:
            kind = ActionKind(action)
            topic = None if subject is None else ActionKind(subject)
        except ValueError:
            raise DeskError(f"action: {action!r} / {subject!r} is not a desk action") from None
        if kind is ActionKind.REPORT and topic is None:
            topic = ActionKind.PENALTY
        infringement = (infringement or "").strip() or None
        reason = (reason or "").strip() or None
        location = (location or "").strip() or None
        box = (box or "").strip() or None
        name = (name or "").strip() or None
        bib = bib.strip()
        who = (operator or self.operator).strip()
        if not who:
            raise DeskError("operator: say who records this")
        entries = self._of(race_id, bib) if bib else {}
        check(
            entries,
            kind,
            bib=bib,
            race_id=race_id,
            seconds=seconds,
            infringement=infringement,
            reason=reason,
            target=target,
            box=box,
            subject=topic,
            boxes=self.boxes(race_id),
        )
        if seen_at is not None and seen_at.tzinfo is None:
            raise DeskError("seen_at: needs a time zone")
        at = self.clock()
        event = self._event()
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO actions (at, operator, race_id, bib, action, seconds, infringement, reason,"
                " target, event, location, box, seen_at, subject, name)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at.isoformat(),
                    who,
                    race_id,
                    bib,
                    kind.value,
                    seconds,
                    infringement,
                    reason,
                    target,
                    event,
                    location,
                    box,
                    None if seen_at is None else seen_at.isoformat(),
                    None if topic is None else topic.value,
                    name,
                ),
            )
            ident = int(cursor.lastrowid or 0)
        return DeskAction(
            ident,
            at,
            who,
            race_id,
            bib,
            kind,
            seconds,
            infringement,
            reason,
            target,
            event,
            location,
            box,
            seen_at,
            topic,
            name,
        )

    # ------------------------------------------------------------ the lifecycle, by name
    def report(
        self,
        race_id: str,
        bib: str,
        *,
        infringement: str,
        seconds: int | None = None,
        dsq: bool = False,
        location: str | None = None,
        seen_at: datetime | None = None,
        operator: str | None = None,
        reason: str | None = None,
        name: str | None = None,
    ) -> DeskAction:
        """An official reports a penalty (``seconds``; the race's length for the rule when
        omitted) or a DSQ: pending until confirmed."""
        if not dsq and seconds is None:
            seconds = self.penalties(race_id).get((infringement or "").strip())
        return self.record(
            race_id,
            bib,
            ActionKind.REPORT,
            seconds=None if dsq else seconds,
            infringement=infringement,
            subject=ActionKind.DSQ if dsq else ActionKind.PENALTY,
            location=location,
            seen_at=seen_at,
            operator=operator,
            reason=reason,
            name=name,
        )

    def _step(self, kind: ActionKind, race_id: str, bib: str, target: int, **kw: object) -> DeskAction:
        return self.record(race_id, bib, kind, target=target, **kw)  # type: ignore[arg-type]

    def confirm(self, race_id: str, bib: str, target: int, *, operator: str | None = None) -> DeskAction:
        """Confirm a report or a proposed DSQ, or release a held entry: from now on it
        leaves the desk."""
        return self._step(ActionKind.CONFIRM, race_id, bib, target, operator=operator)

    def hold(self, race_id: str, bib: str, target: int, *, operator: str | None = None) -> DeskAction:
        """Hold a confirmed entry back on the desk (it leaves the results, uploads and the
        commentators' screens) until released with :meth:`confirm`."""
        return self._step(ActionKind.HOLD, race_id, bib, target, operator=operator)

    def decline(
        self, race_id: str, bib: str, target: int, *, reason: str, operator: str | None = None
    ) -> DeskAction:
        """Decline a report or a proposed DSQ (the reason is required)."""
        return self._step(ActionKind.DECLINE, race_id, bib, target, reason=reason, operator=operator)

    def assign(
        self, race_id: str, bib: str, target: int, *, box: str, operator: str | None = None
    ) -> DeskAction:
        """A confirmed penalty is to be served at ``box`` (one of the race's boxes)."""
        return self._step(ActionKind.ASSIGN, race_id, bib, target, box=box, operator=operator)

    def enter_box(
        self,
        race_id: str,
        bib: str,
        target: int,
        *,
        box: str | None = None,
        seen_at: datetime | None = None,
        operator: str | None = None,
    ) -> DeskAction:
        """The athlete entered the box: the penalty's time starts (``seen_at`` or now)."""
        return self._step(ActionKind.ENTER, race_id, bib, target, box=box, seen_at=seen_at, operator=operator)

    def leave_box(
        self,
        race_id: str,
        bib: str,
        target: int,
        *,
        seen_at: datetime | None = None,
        operator: str | None = None,
    ) -> DeskAction:
        """The athlete left the box: the penalty is served."""
        return self._step(ActionKind.LEAVE, race_id, bib, target, seen_at=seen_at, operator=operator)

    def serve(
        self,
        race_id: str,
        bib: str,
        target: int,
        *,
        box: str | None = None,
        location: str | None = None,
        operator: str | None = None,
    ) -> DeskAction:
        """The penalty is served (on this lap or an earlier one: it counts)."""
        return self._step(
            ActionKind.SERVE, race_id, bib, target, box=box, location=location, operator=operator
        )

    def mark_unserved(
        self, race_id: str, bib: str, target: int, *, reason: str | None = None, operator: str | None = None
    ) -> DeskAction:
        """Not served at the finish: a DSQ is proposed (its own pending entry, this action's
        id); it applies only once confirmed."""
        return self._step(ActionKind.UNSERVED, race_id, bib, target, reason=reason, operator=operator)

    def withdraw(
        self, race_id: str, bib: str, target: int, *, reason: str, operator: str | None = None
    ) -> DeskAction:
        return self._step(ActionKind.WITHDRAW, race_id, bib, target, reason=reason, operator=operator)

    def undo(
        self, race_id: str, bib: str, target: int, *, reason: str | None = None, operator: str | None = None
    ) -> DeskAction:
        """Take back action ``target``: the latest step of its entry (or the entry itself)."""
        return self._step(ActionKind.UNDO, race_id, bib, target, reason=reason, operator=operator)

    def last_step(self, race_id: str, bib: str, ident: int) -> DeskAction | None:
        """The action :meth:`undo` would take back for entry ``ident``."""
        entry = self.entry(race_id, bib, ident)
        return entry.steps[-1] if entry is not None and entry.steps else None

    # ------------------------------------------------------------ engine
    def apply(self, pipeline: Pipeline, race_id: str | None = None, bib: str | None = None) -> ChangeSet:
        """Push the desk's word into the engine: for one athlete, or everyone (at start-up,
        and after :meth:`bind` to another event: what the previous event's desk said is
        withdrawn from the engine)."""
        changes = ChangeSet()
        if race_id is not None and bib is not None:
            targets = {(race_id, bib): self.override_for(race_id, bib)}
        else:
            targets = self.overrides()
            for gone in self._applied - set(targets):
                targets[gone] = None
        for (race, athlete), override in targets.items():
            if race in pipeline.engine.races:
                changes.merge(pipeline.set_override(race, athlete, override))
                if override is None:
                    self._applied.discard((race, athlete))
                else:
                    self._applied.add((race, athlete))
        return changes
