"""The incident desk: penalties, DSQ and withdrawals recorded by race officials in racetui.

Under World Triathlon v1.1, incidents enter the results only once officials confirm
them, in fixed wording; a BBT master has no incident model and feeds lag. The desk stores
every action durably (SQLite in the data dir, one transaction per action, WAL) as an
append-only audit trail, and folds the trail into one :class:`~racetui.engine.Override` per
athlete, which the engine merges over what the source says.

Actions: ``penalty`` (seconds, infringement), ``serve`` (a penalty), ``dsq`` (infringement),
``dnf`` (reason), ``dns``, ``lap``, ``edit`` (a penalty's seconds/infringement, or a DSQ's
infringement, or a DNF's reason), ``withdraw`` (any earlier entry, with a reason) and
``reinstate`` (a DSQ overturned on protest). Every action records when, by whom and for
which event (:class:`EventKey`: source, event id or name, date): one database serves every
event a laptop ever times, and a decision of one event must never reach another's results.
A desk reads and writes only the entries of the event it is bound to (:meth:`IncidentDesk.bind`);
entries of databases from before the binding belong to no event and never apply.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from racetui.config import data_dir
from racetui.engine import ChangeSet, Engine, Override
from racetui.model import Incident, IncidentKind, Status
from racetui.model.times import format_time_of_day
from racetui.sources.base import Pipeline

__all__ = ["ActionKind", "DeskAction", "DeskError", "DeskStanding", "EventKey", "IncidentDesk"]

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
    event TEXT NOT NULL DEFAULT ''
);
"""
# Databases from before events were recorded get the column; their rows keep '' (no event).
_MIGRATE = "ALTER TABLE actions ADD COLUMN event TEXT NOT NULL DEFAULT ''"
_INDEX = "CREATE INDEX IF NOT EXISTS actions_event_athlete ON actions (event, race_id, bib, id)"
_COLUMNS = "id, at, operator, race_id, bib, action, seconds, infringement, reason, target, event"


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


class DeskError(ValueError):
    """An action the desk refuses; the message says what was wrong."""


class ActionKind(StrEnum):
    PENALTY = "penalty"
    SERVE = "serve"
    DSQ = "dsq"
    DNF = "dnf"
    DNS = "dns"
    LAP = "lap"
    EDIT = "edit"
    WITHDRAW = "withdraw"
    REINSTATE = "reinstate"


# Entries that stand in the athlete's record until withdrawn (the others act on them).
_ENTRY_KINDS = {
    ActionKind.PENALTY,
    ActionKind.DSQ,
    ActionKind.DNF,
    ActionKind.DNS,
    ActionKind.LAP,
    ActionKind.REINSTATE,
}
_STATUS_OF = {
    ActionKind.DSQ: Status.DSQ,
    ActionKind.DNF: Status.DNF,
    ActionKind.DNS: Status.DNS,
    ActionKind.LAP: Status.LAP,
    ActionKind.REINSTATE: Status.OK,
}


@dataclass(frozen=True, slots=True)
class DeskAction:
    id: int
    at: datetime
    operator: str
    race_id: str
    bib: str
    action: ActionKind
    seconds: int | None = None
    infringement: str | None = None
    reason: str | None = None
    target: int | None = None
    event: str = ""  # EventKey.text() of the event it was recorded for

    def describe(self) -> str:
        """One line for the audit trail."""
        what = {
            ActionKind.PENALTY: f"{self.seconds} second penalty for {self.infringement}",
            ActionKind.SERVE: f"penalty #{self.target} served",
            ActionKind.DSQ: f"DSQ for {self.infringement}",
            ActionKind.DNF: f"DNF{': ' + self.reason if self.reason else ''}",
            ActionKind.DNS: "DNS",
            ActionKind.LAP: "lapped (LAP)",
            ActionKind.EDIT: f"#{self.target} edited",
            ActionKind.WITHDRAW: f"#{self.target} withdrawn",
            ActionKind.REINSTATE: "reinstated (DSQ overturned)",
        }[self.action]
        if self.action is ActionKind.EDIT:
            changes = [x for x in (f"{self.seconds} s" if self.seconds else None, self.infringement) if x]
            what += f" ({', '.join(changes)})" if changes else ""
        if self.reason and self.action is not ActionKind.DNF:
            what += f" — {self.reason}"
        return f"#{self.id} {format_time_of_day(self.at)} {self.operator}: bib {self.bib}: {what}"


@dataclass(slots=True)
class DeskStanding:
    """One entry of an athlete's record, as edited so far."""

    action: DeskAction
    seconds: int | None
    infringement: str | None
    reason: str | None
    served: bool = False

    def incident(self) -> Incident | None:
        kind = self.action.action
        if kind is ActionKind.PENALTY and self.seconds is not None and self.infringement:
            return Incident.penalty(self.seconds, self.infringement, served=self.served)
        if kind is ActionKind.DSQ and self.infringement:
            return Incident.dsq(self.infringement)
        if kind is ActionKind.DNF and self.reason:
            return Incident.note(self.reason, IncidentKind.DNF)
        return None


class IncidentDesk:
    """The durable record of officials' decisions; see the module docstring."""

    def __init__(
        self, path: Path | None = None, *, operator: str = "operator", event: EventKey | None = None
    ) -> None:
        self.path = path or data_dir() / "incidents.sqlite3"
        self.operator = operator
        self.event = event
        self._applied: set[tuple[str, str]] = set()  # athletes this desk overrides in the engine
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {str(row[1]) for row in db.execute("PRAGMA table_info(actions)")}
            if "event" not in columns:
                db.execute(_MIGRATE)
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

    # ------------------------------------------------------------ reading
    @staticmethod
    def _row(row: tuple[object, ...]) -> DeskAction:
        ident, at, operator, race_id, bib, action, seconds, infringement, reason, target, event = row
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

    def _fold(self, actions: list[DeskAction]) -> dict[int, DeskStanding]:
        standing: dict[int, DeskStanding] = {}
        for act in actions:
            if act.action in _ENTRY_KINDS:
                if act.action is ActionKind.REINSTATE:
                    for key in [k for k, s in standing.items() if s.action.action is ActionKind.DSQ]:
                        del standing[key]
                standing[act.id] = DeskStanding(act, act.seconds, act.infringement, act.reason)
            elif act.target in standing:
                target = standing[act.target]
                if act.action is ActionKind.SERVE:
                    target.served = True
                elif act.action is ActionKind.WITHDRAW:
                    del standing[act.target]
                elif act.action is ActionKind.EDIT:
                    target.seconds = act.seconds if act.seconds is not None else target.seconds
                    target.infringement = act.infringement or target.infringement
                    target.reason = (
                        act.reason
                        if target.action.action is ActionKind.DNF and act.reason
                        else (target.reason)
                    )
        return standing

    def standing(self, race_id: str, bib: str) -> list[DeskStanding]:
        """The athlete's standing entries as edited so far (seconds, infringement, reason,
        served), oldest first."""
        return list(self._fold(self.audit(race_id, bib)).values())

    def entries(self, race_id: str, bib: str) -> list[tuple[DeskAction, bool]]:
        """The athlete's standing entries (action, served), oldest first: what can be served,
        edited or withdrawn."""
        return [(s.action, s.served) for s in self._fold(self.audit(race_id, bib)).values()]

    def override_for(self, race_id: str, bib: str) -> Override | None:
        actions = self.audit(race_id, bib)
        if not actions:
            return None
        return self._override(self._fold(actions))

    @staticmethod
    def _override(standing: dict[int, DeskStanding]) -> Override | None:
        if not standing:
            return None
        status: Status | None = None
        for entry in standing.values():  # the latest status-setting entry wins
            status = _STATUS_OF.get(entry.action.action, status)
        incidents = tuple(i for i in (s.incident() for s in standing.values()) if i is not None)
        return Override(status=status, incidents=incidents)

    def overrides(self) -> dict[tuple[str, str], Override | None]:
        """Every athlete the desk has ever touched, with what it says now (None: nothing)."""
        by_athlete: dict[tuple[str, str], list[DeskAction]] = {}
        for act in self.audit():
            by_athlete.setdefault((act.race_id, act.bib), []).append(act)
        return {key: self._override(self._fold(acts)) for key, acts in by_athlete.items()}

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
    ) -> DeskAction:
        """Validate and store one action (committed before it returns)."""
        kind = ActionKind(action)
        infringement = (infringement or "").strip() or None
        reason = (reason or "").strip() or None
        bib = bib.strip()
        if not bib:
            raise DeskError("bib: required")
        if kind is ActionKind.PENALTY:
            if seconds is None or seconds <= 0:
                raise DeskError(f"seconds: a penalty needs a positive number of seconds, got {seconds!r}")
            if not infringement:
                raise DeskError("infringement: a penalty needs the infringement")
        if kind is ActionKind.DSQ and not infringement:
            raise DeskError("infringement: a DSQ needs the infringement")
        if kind is ActionKind.EDIT and seconds is not None and seconds <= 0:
            raise DeskError(f"seconds: must be positive, got {seconds!r}")
        if kind is ActionKind.WITHDRAW and not reason:
            raise DeskError("reason: say why the entry is withdrawn")
        standing = self._fold(self.audit(race_id, bib))
        if kind in (ActionKind.SERVE, ActionKind.EDIT, ActionKind.WITHDRAW):
            if target is None or target not in standing:
                raise DeskError(f"target: #{target} is not a standing entry of bib {bib} in race {race_id}")
            if kind is ActionKind.SERVE:
                if standing[target].action.action is not ActionKind.PENALTY:
                    raise DeskError(f"target: #{target} is not a penalty")
                if standing[target].served:
                    raise DeskError(f"target: penalty #{target} is already served")
        if kind is ActionKind.REINSTATE and not any(
            s.action.action is ActionKind.DSQ for s in standing.values()
        ):
            raise DeskError(f"bib {bib}: no DSQ on the desk to overturn")
        at = datetime.now(UTC)
        who = operator or self.operator
        event = self._event()
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO actions (at, operator, race_id, bib, action, seconds, infringement, reason,"
                " target, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (at.isoformat(), who, race_id, bib, kind.value, seconds, infringement, reason, target, event),
            )
            ident = int(cursor.lastrowid or 0)
        return DeskAction(ident, at, who, race_id, bib, kind, seconds, infringement, reason, target, event)

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
