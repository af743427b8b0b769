"""The start-list cache: ``data_dir()/startlists.sqlite3`` (SQLite, WAL, file mode 0600).

Every sync is applied in one transaction: the entries it changed, the teams, and its
incremental watermark commit together or not at all, so a failure anywhere (a 500 on
page 7, a timeout, a crash) leaves the cache exactly as the previous good sync left it,
and the watermark never runs ahead of the data.

Tables: ``entries`` (one row per registration, keyed by source, remote list and the
API's entry id), ``syncs`` (one row per remote list: watermark, last sync time, which
racetui race), ``teams``. Credentials are never stored here.

Any source fills names in by bib with :func:`load_participants`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from racetui.config import data_dir
from racetui.model import Participant
from racetui.model.bibs import start_number
from racetui.sources.startlist.common import LOCAL_PREFIX, Fetched, StartEntry, StartListError, Team

__all__ = ["CACHE_NAME", "PendingWrites", "StartListCache", "SyncInfo", "SyncOutcome", "load_participants"]

CACHE_NAME = "startlists.sqlite3"
SCHEMA_VERSION = 2

_COLUMNS = StartEntry.columns()
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS entries (
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    race_id TEXT NOT NULL,
    bib TEXT NOT NULL,
    event_id TEXT,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    gender TEXT,
    age INTEGER,
    category TEXT,
    team_id TEXT,
    team TEXT,
    city TEXT,
    region TEXT,
    country TEXT,
    modified INTEGER,
    dob TEXT,
    pending TEXT,
    PRIMARY KEY (source, source_key, entry_id)
);
CREATE INDEX IF NOT EXISTS entries_by_bib ON entries (race_id, bib);
CREATE TABLE IF NOT EXISTS syncs (
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    watermark INTEGER,
    synced_at REAL NOT NULL,
    container TEXT NOT NULL DEFAULT '',
    wanted TEXT NOT NULL DEFAULT '',
    target TEXT,
    full_at REAL,
    since_full INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, source_key)
);
CREATE TABLE IF NOT EXISTS writes (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    local_id TEXT,
    service_id TEXT,
    done_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS teams (
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    team_id TEXT NOT NULL,
    name TEXT NOT NULL,
    team_type TEXT,
    PRIMARY KEY (source, source_key, team_id)
);
PRAGMA user_version = {SCHEMA_VERSION};
"""
# From version 1 (a cache written before write-back and the full-sync schedule).
_MIGRATE_1 = """
ALTER TABLE entries ADD COLUMN dob TEXT;
ALTER TABLE entries ADD COLUMN pending TEXT;
ALTER TABLE syncs ADD COLUMN container TEXT NOT NULL DEFAULT '';
ALTER TABLE syncs ADD COLUMN wanted TEXT NOT NULL DEFAULT '';
ALTER TABLE syncs ADD COLUMN target TEXT;
ALTER TABLE syncs ADD COLUMN full_at REAL;
ALTER TABLE syncs ADD COLUMN since_full INTEGER NOT NULL DEFAULT 0;
"""
assert _COLUMNS[0] == "entry_id"


@dataclass(slots=True)
class SyncOutcome:
    """What one committed sync changed.

    ``participants``: the current participant for every (race, bib) the sync touched,
    resolved across all cached lists; ``cleared``: (race, bib) pairs that no longer have
    anyone (removed, or their bib changed) - a dashboard drops their names.
    """

    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    total: int = 0  # entries of this list in the cache after the sync
    watermark: int | None = None
    participants: list[Participant] = field(default_factory=list)
    cleared: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True, slots=True)
class SyncInfo:
    source: str
    source_key: str
    label: str
    watermark: int | None
    synced_at: float
    entries: int
    container: str = ""
    wanted: tuple[str, ...] = ()
    target: str | None = None
    full_at: float | None = None  # when the last full sync committed (None: never recorded)
    since_full: int = 0  # incremental syncs since then
    pending: int = 0  # entries changed here and not yet confirmed by the service


def _info(r: sqlite3.Row) -> SyncInfo:
    names = set(r.keys())  # a Row's ``in`` looks at values, not column names
    return SyncInfo(
        r["source"],
        r["source_key"],
        r["label"],
        r["watermark"],
        r["synced_at"],
        r["n"] if "n" in names else 0,
        container=r["container"],
        wanted=tuple(w for w in r["wanted"].split(",") if w),
        target=r["target"],
        full_at=r["full_at"],
        since_full=r["since_full"],
        pending=r["p"] if "p" in names else 0,
    )


def _sort_key(p: Participant) -> tuple[str, int, str]:
    return (p.race_id, start_number(p.bib), p.bib)


class StartListCache:
    """The cache file. Each call opens its own short-lived connection, so one instance can
    be used from a worker thread (``asyncio.to_thread``) and several processes (the CLI
    importing while the dashboard reads) share the file safely through WAL."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / CACHE_NAME

    # --------------------------------------------------------------- plumbing
    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if create and not self.path.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # Names, ages and hometowns: readable by the owner only (WAL files follow).
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            except OSError as exc:
                raise StartListError(f"start-list cache {self.path}: cannot create: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StartListError(f"start-list cache {self.path}: cannot open: {exc}") from None
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION and (create or version > 0):
                if version == 1:
                    conn.executescript(_MIGRATE_1)
                conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            raise StartListError(f"start-list cache {self.path}: {exc}") from None
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect(create=True)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection | None:
        if not self.path.exists():
            return None
        return self._connect(create=False)

    # ------------------------------------------------------------------ reads
    def watermark(self, source: str, source_key: str) -> int | None:
        """None when this list was never synced (the next sync is a full one)."""
        info = self.sync_info(source, source_key)
        return info.watermark if info else None

    def sync_info(self, source: str, source_key: str) -> SyncInfo | None:
        return next((s for s in self.syncs() if (s.source, s.source_key) == (source, source_key)), None)

    def syncs(self) -> list[SyncInfo]:
        conn = self._reader()
        if conn is None:
            return []
        with closing(conn):
            try:
                rows = conn.execute(
                    "SELECT s.*, (SELECT count(*) FROM entries e WHERE e.source = s.source "
                    "AND e.source_key = s.source_key) AS n, (SELECT count(*) FROM entries e "
                    "WHERE e.source = s.source AND e.source_key = s.source_key AND e.pending IS NOT NULL) "
                    "AS p FROM syncs s ORDER BY s.source, s.source_key"
                ).fetchall()
            except sqlite3.OperationalError:  # an empty file: no tables yet
                return []
        return [_info(r) for r in rows]

    def entries(self, source: str | None = None, source_key: str | None = None) -> list[StartEntry]:
        """Cached entries (of one list, or all), in a stable order."""
        conn = self._reader()
        if conn is None:
            return []
        where, params = [], []
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if source_key is not None:
            where.append("source_key = ?")
            params.append(source_key)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY source, source_key, entry_id"
        with closing(conn):
            try:
                return [StartEntry.from_row(r) for r in conn.execute(sql, params)]
            except sqlite3.OperationalError:
                return []

    def teams(self, source: str, source_key: str) -> list[Team]:
        conn = self._reader()
        if conn is None:
            return []
        with closing(conn):
            try:
                rows = conn.execute(
                    "SELECT team_id, name, team_type FROM teams WHERE source = ? AND source_key = ? "
                    "ORDER BY team_id",
                    (source, source_key),
                ).fetchall()
            except sqlite3.OperationalError:
                return []
        return [Team(r["team_id"], r["name"], r["team_type"]) for r in rows]

    def participants(self, race_id: str | None = None) -> list[Participant]:
        """One participant per (race, bib) over every cached list, in start order.

        Two registrations with one bib in one race (a data error upstream): the most
        recently modified wins.
        """
        conn = self._reader()
        if conn is None:
            return []
        with closing(conn):
            return self._participants(conn, [race_id] if race_id is not None else None)

    @staticmethod
    def _participants(conn: sqlite3.Connection, race_ids: list[str] | None) -> list[Participant]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM entries"
        params: list[str] = []
        if race_ids is not None:
            if not race_ids:
                return []
            sql += f" WHERE race_id IN ({', '.join('?' * len(race_ids))})"
            params = race_ids
        sql += " ORDER BY race_id, bib, COALESCE(modified, 0), rowid"
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []
        chosen: dict[tuple[str, str], Participant] = {}
        for row in rows:
            entry = StartEntry.from_row(row)
            chosen[(entry.race_id, entry.bib)] = entry.to_participant()
        return sorted(chosen.values(), key=_sort_key)

    # ----------------------------------------------------------------- writes
    def apply(
        self,
        source: str,
        source_key: str,
        fetched: Fetched,
        *,
        label: str = "",
        container: str = "",
        wanted: tuple[str, ...] = (),
        target: str | None = None,
    ) -> SyncOutcome:
        """Write one fetch in one transaction (entries, teams, watermark, the full-sync
        schedule) and say what changed. ``container``/``wanted``/``target`` describe the
        list (its remote list, the events/races it keeps, its racetui race): an entry that
        moved out of it lands in the other cached lists of the same remote list that want
        it, in the same transaction. Raises :class:`StartListError` if the file cannot be
        written (and then nothing was)."""
        try:
            return self._apply(source, source_key, fetched, label, container, tuple(wanted), target)
        except sqlite3.Error as exc:
            raise StartListError(f"start-list cache {self.path}: {exc}; nothing written") from None

    @staticmethod
    def _held(conn: sqlite3.Connection, source: str, source_key: str) -> dict[str, StartEntry]:
        return {
            e.entry_id: e
            for e in (
                StartEntry.from_row(r)
                for r in conn.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM entries WHERE source = ? AND source_key = ?",
                    (source, source_key),
                )
            )
        }

    def _write_entries(
        self,
        conn: sqlite3.Connection,
        source: str,
        source_key: str,
        old: dict[str, StartEntry],
        incoming: dict[str, StartEntry],
        removed: set[str],
        outcome: SyncOutcome,
        touched: set[tuple[str, str]],
    ) -> None:
        insert = (
            f"INSERT INTO entries (source, source_key, {', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))})"
        )
        update = (
            f"UPDATE entries SET {', '.join(f'{c} = ?' for c in _COLUMNS[1:])} "
            "WHERE source = ? AND source_key = ? AND entry_id = ?"
        )
        for entry_id, entry in incoming.items():
            before = old.get(entry_id)
            if before is not None and before.pending is not None:
                continue  # changed here, not yet answered: the local change wins until then
            if before is None:
                conn.execute(insert, (source, source_key, *entry.row()))
                outcome.added += 1
            elif before != entry:
                conn.execute(update, (*entry.row()[1:], source, source_key, entry_id))
                outcome.updated += 1
                touched.add((before.race_id, before.bib))
            else:
                continue
            touched.add((entry.race_id, entry.bib))
        for entry_id in removed:
            gone = old.get(entry_id)
            if gone is None or gone.pending is not None or gone.local():
                continue
            conn.execute(
                "DELETE FROM entries WHERE source = ? AND source_key = ? AND entry_id = ?",
                (source, source_key, entry_id),
            )
            outcome.removed += 1
            touched.add((gone.race_id, gone.bib))

    def _apply(
        self,
        source: str,
        source_key: str,
        fetched: Fetched,
        label: str,
        container: str,
        wanted: tuple[str, ...],
        target: str | None,
    ) -> SyncOutcome:
        outcome = SyncOutcome(skipped=fetched.skipped)
        now = time.time()
        with self._transaction() as conn:
            old = self._held(conn, source, source_key)
            incoming = {e.entry_id: e for e in fetched.entries}
            if fetched.complete:
                removed = set(old) - set(incoming)
            else:
                removed = (fetched.removed & set(old)) - set(incoming)
            if fetched.teams is not None:
                names = {t.team_id: t.name for t in fetched.teams}
                conn.execute("DELETE FROM teams WHERE source = ? AND source_key = ?", (source, source_key))
                conn.executemany(
                    "INSERT INTO teams (source, source_key, team_id, name, team_type) VALUES (?, ?, ?, ?, ?)",
                    [(source, source_key, t.team_id, t.name, t.team_type) for t in fetched.teams],
                )
                # A renamed team renames the club of members that were not modified themselves.
                for entry_id, entry in old.items():
                    if entry_id in incoming or entry_id in removed or entry.team_id not in names:
                        continue
                    if entry.team != names[entry.team_id]:
                        incoming[entry_id] = entry.with_team(names[entry.team_id])
            touched: set[tuple[str, str]] = set()
            self._write_entries(conn, source, source_key, old, incoming, removed, outcome, touched)
            if container:
                self._move_between_lists(conn, source, source_key, container, fetched, touched)
            previous = conn.execute(
                "SELECT watermark, full_at, since_full FROM syncs WHERE source = ? AND source_key = ?",
                (source, source_key),
            ).fetchone()
            watermark = fetched.watermark
            if not fetched.complete and previous is not None and previous["watermark"] is not None:
                watermark = (
                    previous["watermark"] if watermark is None else max(watermark, previous["watermark"])
                )
            full_at = now if fetched.complete else (previous["full_at"] if previous is not None else None)
            since_full = (
                0 if fetched.complete else (previous["since_full"] + 1 if previous is not None else 1)
            )
            conn.execute(
                "INSERT INTO syncs (source, source_key, label, watermark, synced_at, container, wanted, "
                "target, full_at, since_full) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source, source_key) DO UPDATE SET label = excluded.label, "
                "watermark = excluded.watermark, synced_at = excluded.synced_at, "
                "container = excluded.container, wanted = excluded.wanted, target = excluded.target, "
                "full_at = excluded.full_at, since_full = excluded.since_full",
                (
                    source,
                    source_key,
                    label,
                    watermark,
                    now,
                    container,
                    ",".join(wanted),
                    target,
                    full_at,
                    since_full,
                ),
            )
            outcome.watermark = watermark
            outcome.total = conn.execute(
                "SELECT count(*) FROM entries WHERE source = ? AND source_key = ?", (source, source_key)
            ).fetchone()[0]
            current = {
                (p.race_id, p.bib): p
                for p in self._participants(conn, sorted({race for race, _ in touched}))
                if (p.race_id, p.bib) in touched
            }
        outcome.participants = sorted(current.values(), key=_sort_key)
        outcome.cleared = sorted(touched - set(current))
        return outcome

    def _move_between_lists(
        self,
        conn: sqlite3.Connection,
        source: str,
        source_key: str,
        container: str,
        fetched: Fetched,
        touched: set[tuple[str, str]],
    ) -> None:
        """The other cached lists of the same remote list: an entry this fetch saw (in this
        list or outside its filter) goes to each list that wants its event/race and leaves
        each list that no longer does; entries removed upstream leave them all."""
        siblings = [
            _info(r)
            for r in conn.execute(
                "SELECT * FROM syncs WHERE source = ? AND container = ? AND source_key != ?",
                (source, container, source_key),
            )
        ]
        seen = [*fetched.entries, *fetched.outside]
        for sibling in siblings:
            old = self._held(conn, source, sibling.source_key)
            incoming: dict[str, StartEntry] = {}
            removed = {i for i in fetched.removed if i in old}
            for entry in seen:
                if not sibling.wanted or entry.event_id in sibling.wanted:
                    race = sibling.target or entry.event_id or entry.race_id
                    incoming[entry.entry_id] = replace(entry, race_id=race)
                elif entry.entry_id in old:
                    removed.add(entry.entry_id)
            removed -= set(incoming)
            self._write_entries(
                conn, source, sibling.source_key, old, incoming, removed, SyncOutcome(), touched
            )

    def forget(self, source: str, source_key: str) -> int:
        """Drop one list from the cache (entries, teams, watermark); returns entries dropped."""
        with self._transaction() as conn:
            n = conn.execute(
                "DELETE FROM entries WHERE source = ? AND source_key = ?", (source, source_key)
            ).rowcount
            conn.execute("DELETE FROM teams WHERE source = ? AND source_key = ?", (source, source_key))
            conn.execute("DELETE FROM syncs WHERE source = ? AND source_key = ?", (source, source_key))
        return int(n)


def load_participants(race_id: str | None = None) -> list[Participant]:
    """Participants from the start-list cache (every imported list), one per (race, bib),
    in start order; only ``race_id``'s when given. An absent cache is an empty list."""
    return StartListCache().participants(race_id)


class PendingWrites:
    """Race-day changes in the cache, before and after the service answers.

    A change is shown at once: :meth:`stage` writes the changed entry marked ``pending``
    (a new entry gets a local id, ``local-<key>``). When the service answers,
    :meth:`confirm` clears the mark (a created entry takes the service's id, and the
    idempotency record ``writes`` remembers which service id the change's key produced, so
    a change re-sent after a crash is never created twice); a refusal :meth:`revert` s it.
    """

    def __init__(self, cache: StartListCache) -> None:
        self.cache = cache

    def stage(self, source: str, source_key: str, entry: StartEntry) -> SyncOutcome:
        """Write ``entry`` (its ``pending`` says what changed) into the list; ``pending ==
        "delete"`` keeps the row, marked, until the service confirms."""
        outcome = SyncOutcome()
        with self.cache._transaction() as conn:
            before = StartListCache._held(conn, source, source_key).get(entry.entry_id)
            conn.execute(
                "DELETE FROM entries WHERE source = ? AND source_key = ? AND entry_id = ?",
                (source, source_key, entry.entry_id),
            )
            conn.execute(
                f"INSERT INTO entries (source, source_key, {', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))})",
                (source, source_key, *entry.row()),
            )
            touched = {(entry.race_id, entry.bib)}
            if before is not None:
                touched.add((before.race_id, before.bib))
            self._outcome(conn, outcome, touched)
        return outcome

    def confirm(
        self,
        source: str,
        source_key: str,
        entry_id: str,
        *,
        key: str,
        service_id: str | None = None,
    ) -> SyncOutcome:
        """The service accepted the change ``key`` made to ``entry_id``: a pending delete
        removes the row, a created entry takes ``service_id``; the mark goes."""
        outcome = SyncOutcome()
        with self.cache._transaction() as conn:
            held = StartListCache._held(conn, source, source_key)
            entry = held.get(entry_id)
            touched: set[tuple[str, str]] = set()
            where = "source = ? AND source_key = ? AND entry_id = ?"
            if entry is not None:
                touched.add((entry.race_id, entry.bib))
                if entry.pending == "delete":
                    conn.execute(f"DELETE FROM entries WHERE {where}", (source, source_key, entry_id))
                elif service_id is not None and service_id != entry_id:
                    if service_id in held:  # a sync already brought the service's record
                        conn.execute(f"DELETE FROM entries WHERE {where}", (source, source_key, entry_id))
                    else:
                        conn.execute(
                            f"UPDATE entries SET entry_id = ?, pending = NULL WHERE {where}",
                            (service_id, source, source_key, entry_id),
                        )
                else:
                    conn.execute(
                        f"UPDATE entries SET pending = NULL WHERE {where}", (source, source_key, entry_id)
                    )
            conn.execute(
                "INSERT INTO writes (key, source, source_key, local_id, service_id, done_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET service_id = excluded.service_id",
                (key, source, source_key, entry_id, service_id or entry_id, time.time()),
            )
            self._outcome(conn, outcome, touched)
        return outcome

    def revert(self, source: str, source_key: str, entry_id: str, before: StartEntry | None) -> SyncOutcome:
        """The service refused: the entry as it was (``before``), or gone if it was new."""
        outcome = SyncOutcome()
        with self.cache._transaction() as conn:
            now = StartListCache._held(conn, source, source_key).get(entry_id)
            conn.execute(
                "DELETE FROM entries WHERE source = ? AND source_key = ? AND entry_id = ?",
                (source, source_key, entry_id),
            )
            touched: set[tuple[str, str]] = set()
            if now is not None:
                touched.add((now.race_id, now.bib))
            if before is not None:
                restored = replace(before, pending=None)
                conn.execute(
                    f"INSERT INTO entries (source, source_key, {', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))})",
                    (source, source_key, *restored.row()),
                )
                touched.add((before.race_id, before.bib))
            self._outcome(conn, outcome, touched)
        return outcome

    def service_id(self, key: str) -> str | None:
        """The service id the change ``key`` produced, if it was confirmed (the idempotency
        record: a change found here is never sent again)."""
        return self._one("SELECT service_id FROM writes WHERE key = ?", key)

    def resolve(self, source: str, source_key: str, entry_id: str) -> str | None:
        """The service id of ``entry_id``: itself unless it is a local id, else the id its
        creation produced (None while the creation is unanswered)."""
        if not entry_id.startswith(LOCAL_PREFIX):
            return entry_id
        return self._one(
            "SELECT service_id FROM writes WHERE source = ? AND source_key = ? AND local_id = ?",
            source,
            source_key,
            entry_id,
        )

    def entry(self, source: str, source_key: str, entry_id: str) -> StartEntry | None:
        found = [e for e in self.cache.entries(source, source_key) if e.entry_id == entry_id]
        return found[0] if found else None

    def _one(self, sql: str, *params: str) -> str | None:
        conn = self.cache._reader()
        if conn is None:
            return None
        with closing(conn):
            try:
                row = conn.execute(sql, params).fetchone()
            except sqlite3.OperationalError:
                return None
        return None if row is None else row[0]

    @staticmethod
    def _outcome(conn: sqlite3.Connection, outcome: SyncOutcome, touched: set[tuple[str, str]]) -> None:
        current = {
            (p.race_id, p.bib): p
            for p in StartListCache._participants(conn, sorted({race for race, _ in touched}))
            if (p.race_id, p.bib) in touched
        }
        outcome.participants = sorted(current.values(), key=_sort_key)
        outcome.cleared = sorted(touched - set(current))
