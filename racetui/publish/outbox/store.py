"""The outbox itself: uploads in SQLite (WAL, every state change committed), one
delivering owner per file, crash recovery (``sending`` back to ``queued``), supersedable
groups and the per-group baseline of the last successful upload.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from racetui.publish.outbox.preview import apply_rows

log = logging.getLogger("racetui.publish")

OUTBOX_FILE = "outbox.sqlite3"
_SCHEMA_VERSION = 1
_KEEP_SETTLED = 2000  # settled items kept for the screen's history (newest)


class OutboxError(Exception):
    """A request the outbox cannot honour (unknown item, wrong state); names the item."""


class PublishError(Exception):
    """Something to publish cannot be built (no prog_id, no event mapping…); one line."""


class ItemState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"


SETTLED = frozenset({ItemState.SENT, ItemState.FAILED, ItemState.SUPERSEDED, ItemState.CANCELLED})


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One upload and everything the screen shows about it.

    ``headers`` never hold secrets. ``body`` is empty in listings made without bodies, in
    what the state changes return (only :meth:`Outbox.claim`, which hands the item to its
    sender, and :meth:`Outbox.get` read it back: a v1.1 message at 50,000 athletes is 47 MB)
    and for superseded items (their body is dropped: they are never sent). ``meta`` holds
    what publishers need (race ids, content hash, the rows for the diff baseline).
    """

    id: int
    target: str
    group: str
    supersedable: bool
    idempotency_key: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    size: int
    summary: str
    state: ItemState
    attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float | None
    sent_at: float | None
    status_code: int | None
    error: str | None
    response: str | None
    superseded_by: int | None
    meta: dict[str, Any]

    @property
    def settled(self) -> bool:
        return self.state in SETTLED

    def describe(self) -> str:
        """One line for listings and logs (no body, no secret)."""
        text = f"#{self.id} {self.state.value:<10} {self.target} {self.summary}"
        if self.status_code is not None:
            text += f" [{self.status_code}]"
        if self.error and self.state is not ItemState.SENT:
            text += f": {self.error}"
        return text


_COLUMNS = (
    "id, target, grp, supersedable, idem_key, method, url, headers, {body}, size, summary, state, attempts, "
    "created_at, updated_at, next_attempt_at, sent_at, status_code, error, response, superseded_by, meta"
)


def _row_to_item(row: sqlite3.Row | tuple[Any, ...]) -> OutboxItem:
    (
        id_,
        target,
        group,
        supersedable,
        key,
        method,
        url,
        headers,
        body,
        size,
        summary,
        state,
        attempts,
        created,
        updated,
        next_at,
        sent_at,
        status,
        error,
        response,
        superseded_by,
        meta,
    ) = tuple(row)
    return OutboxItem(
        id=int(id_),
        target=target,
        group=group,
        supersedable=bool(supersedable),
        idempotency_key=key,
        method=method,
        url=url,
        headers=json.loads(headers),
        body=bytes(body) if body is not None else b"",
        size=int(size),
        summary=summary,
        state=ItemState(state),
        attempts=int(attempts),
        created_at=float(created),
        updated_at=float(updated),
        next_attempt_at=next_at,
        sent_at=sent_at,
        status_code=status,
        error=error,
        response=response,
        superseded_by=superseded_by,
        meta=json.loads(meta),
    )


class Outbox:
    """The SQLite outbox. Every method is one committed transaction; thread-safe.

    Opening it recovers from a crash: items left ``sending`` go back to ``queued`` (they
    are re-sent with their idempotency key) and, per supersedable group, only the newest
    pending item stays queued.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        owner: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (and create) the outbox. ``owner=True`` is for the one process that delivers:
        it takes an exclusive lock (a second deliverer would double-send) and recovers
        interrupted items. ``owner=False`` opens it to read, enqueue, retry or cancel while
        another process delivers."""
        if path is None:
            from racetui.config import data_dir

            path = data_dir() / OUTBOX_FILE
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.owner = owner
        self._clock = clock
        self._lock = threading.RLock()
        self._lock_fd: int | None = None
        if owner:
            self._take_lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._drop_lock()
            raise OutboxError(f"{self.path}: cannot open the outbox: {exc}") from None
        with contextlib.suppress(OSError):
            self.path.chmod(0o600)
        self.recovered = self._recover() if owner else 0

    def _take_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # no flock on this platform: single-process use assumed
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            if holder == str(os.getpid()):
                raise OutboxError(f"{self.path}: already open for delivery in this process") from None
            raise OutboxError(
                f"{self.path}: another racetui process (pid {holder}) is publishing from this outbox"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _drop_lock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------ plumbing
    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version >= _SCHEMA_VERSION:
            return
        with self._tx():
            # one statement at a time: executescript() would commit behind the transaction
            schema = """
                CREATE TABLE IF NOT EXISTS items (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    target TEXT NOT NULL,
                    grp TEXT NOT NULL,
                    supersedable INTEGER NOT NULL,
                    idem_key TEXT NOT NULL UNIQUE,
                    method TEXT NOT NULL,
                    url TEXT NOT NULL,
                    headers TEXT NOT NULL,
                    body BLOB,
                    size INTEGER NOT NULL,
                    summary TEXT NOT NULL,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL,
                    next_attempt_at REAL,
                    sent_at REAL,
                    status_code INTEGER,
                    error TEXT,
                    response TEXT,
                    superseded_by INTEGER,
                    meta TEXT NOT NULL
                );
                CREATE INDEX IF NOT EXISTS items_state ON items (state, target, id);
                CREATE INDEX IF NOT EXISTS items_group ON items (grp, id);
                CREATE TABLE IF NOT EXISTS baselines (
                    key TEXT PRIMARY KEY,
                    rows TEXT NOT NULL,
                    fields TEXT NOT NULL,
                    item_id INTEGER NOT NULL,
                    updated_at REAL NOT NULL
                );
                """
            for statement in schema.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._drop_lock()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch(
        self, where: str, params: Sequence[Any] = (), *, body: bool = True, tail: str = ""
    ) -> list[OutboxItem]:
        columns = _COLUMNS.format(body="body" if body else "NULL")
        with self._lock:
            rows = self._db.execute(f"SELECT {columns} FROM items WHERE {where} {tail}", params).fetchall()
        return [_row_to_item(row) for row in rows]

    def _supersede_older(self, db: sqlite3.Connection, group: str, newest: int, now: float) -> int:
        cursor = db.execute(
            "UPDATE items SET state=?, superseded_by=?, body=NULL, updated_at=?, next_attempt_at=NULL "
            "WHERE grp=? AND supersedable=1 AND id<? AND state IN (?, ?)",
            (ItemState.SUPERSEDED, newest, now, group, newest, ItemState.QUEUED, ItemState.FAILED),
        )
        return cursor.rowcount

    def _recover(self) -> int:
        """After a crash: ``sending`` -> ``queued``; keep only the newest pending per group."""
        now = self._clock()
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE items SET state=?, updated_at=?, next_attempt_at=?, "
                "error=COALESCE(error, 'interrupted while sending; re-sent with the same idempotency key') "
                "WHERE state=?",
                (ItemState.QUEUED, now, now, ItemState.SENDING),
            )
            recovered = cursor.rowcount
            groups = db.execute(
                "SELECT grp, MAX(id) FROM items WHERE supersedable=1 AND state=? GROUP BY grp",
                (ItemState.QUEUED,),
            ).fetchall()
            for group, newest in groups:
                self._supersede_older(db, group, int(newest), now)
            # Bounded history: drop the oldest settled items beyond the newest few thousand.
            db.execute(
                "DELETE FROM items WHERE state IN (?, ?, ?, ?) AND id NOT IN "
                "(SELECT id FROM items WHERE state IN (?, ?, ?, ?) ORDER BY id DESC LIMIT ?) "
                "AND id NOT IN (SELECT item_id FROM baselines)",
                (*sorted(SETTLED), *sorted(SETTLED), _KEEP_SETTLED),
            )
        if recovered:
            log.warning("outbox: %d upload(s) were interrupted mid-send; they will be re-sent", recovered)
        return recovered

    # ------------------------------------------------------------- writing
    def enqueue(
        self,
        *,
        target: str,
        group: str,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        supersedable: bool = False,
        summary: str = "",
        meta: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> OutboxItem:
        """Queue an upload (committed). A supersedable item supersedes older queued or
        failed items of its group. ``headers`` must not hold secrets."""
        now = self._clock()
        key = idempotency_key or uuid.uuid4().hex
        stored_headers = dict(headers or {})
        stored_headers.setdefault("Idempotency-Key", key)
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO items (target, grp, supersedable, idem_key, method, url, headers, body, size, "
                "summary, state, attempts, created_at, updated_at, next_attempt_at, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (
                    target,
                    group,
                    int(supersedable),
                    key,
                    method,
                    url,
                    json.dumps(stored_headers),
                    body,
                    len(body),
                    summary,
                    ItemState.QUEUED,
                    now,
                    now,
                    now,
                    json.dumps(dict(meta or {})),
                ),
            )
            item_id = int(cursor.lastrowid or 0)
            superseded = self._supersede_older(db, group, item_id, now) if supersedable else 0
        if superseded:
            log.info("outbox: #%d supersedes %d older upload(s) of %s", item_id, superseded, group)
        return self.get(item_id, body=False)  # the caller holds the body: no second copy

    def claim(self, item_id: int) -> OutboxItem | None:
        """``queued`` -> ``sending`` (committed before the request leaves); None if it is
        no longer queued (superseded or cancelled meanwhile)."""
        now = self._clock()
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE items SET state=?, attempts=attempts+1, updated_at=? WHERE id=? AND state=?",
                (ItemState.SENDING, now, item_id, ItemState.QUEUED),
            )
            if cursor.rowcount != 1:
                return None
        return self.get(item_id)

    def mark_sent(self, item_id: int, status_code: int | None, response: str | None) -> OutboxItem:
        """``sending`` -> ``sent``; the item's baselines become the last successful upload."""
        now = self._clock()
        item = self.get(item_id, body=False)
        with self._tx() as db:
            db.execute(
                "UPDATE items SET state=?, sent_at=?, updated_at=?, status_code=?, response=?, error=NULL, "
                "next_attempt_at=NULL WHERE id=?",
                (ItemState.SENT, now, now, status_code, response, item_id),
            )
            for baseline in item.meta.get("baselines", ()):
                key = str(baseline["key"])
                rows = dict(baseline.get("rows") or {})
                mode = str(baseline.get("mode", "replace"))
                if mode != "replace":
                    old = db.execute("SELECT rows FROM baselines WHERE key=?", (key,)).fetchone()
                    rows = apply_rows(json.loads(old[0]) if old else {}, rows, mode)
                db.execute(
                    "INSERT INTO baselines (key, rows, fields, item_id, updated_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET rows=excluded.rows, fields=excluded.fields, "
                    "item_id=excluded.item_id, updated_at=excluded.updated_at",
                    (key, json.dumps(rows), json.dumps(baseline.get("fields") or {}), item_id, now),
                )
        return self.get(item_id, body=False)

    def mark_retry(
        self,
        item_id: int,
        *,
        status_code: int | None,
        error: str,
        next_attempt_at: float,
        response: str | None,
    ) -> OutboxItem:
        """``sending`` -> ``queued`` for a later attempt, or ``superseded`` when a newer
        item of its group arrived while it was in flight."""
        now = self._clock()
        with self._tx() as db:
            item = self._fetch("id=?", (item_id,), body=False)[0]
            newer = (
                db.execute(
                    "SELECT MAX(id) FROM items WHERE grp=? AND id>? AND state IN (?, ?, ?)",
                    (item.group, item_id, ItemState.QUEUED, ItemState.SENDING, ItemState.SENT),
                ).fetchone()[0]
                if item.supersedable
                else None
            )
            if newer is not None:
                db.execute(
                    "UPDATE items SET state=?, superseded_by=?, body=NULL, updated_at=?, status_code=?, "
                    "error=?, response=?, next_attempt_at=NULL WHERE id=?",
                    (ItemState.SUPERSEDED, newer, now, status_code, error, response, item_id),
                )
            else:
                db.execute(
                    "UPDATE items SET state=?, updated_at=?, status_code=?, error=?, response=?, "
                    "next_attempt_at=? WHERE id=?",
                    (ItemState.QUEUED, now, status_code, error, response, next_attempt_at, item_id),
                )
        return self.get(item_id, body=False)

    def mark_failed(
        self, item_id: int, *, status_code: int | None, error: str, response: str | None
    ) -> OutboxItem:
        """-> ``failed``: not retried until a user asks (:meth:`retry`)."""
        now = self._clock()
        with self._tx() as db:
            db.execute(
                "UPDATE items SET state=?, updated_at=?, status_code=?, error=?, response=?, "
                "next_attempt_at=NULL WHERE id=?",
                (ItemState.FAILED, now, status_code, error, response, item_id),
            )
        return self.get(item_id, body=False)

    def release(self, item_id: int) -> None:
        """An attempt abandoned by a clean shutdown: ``sending`` -> ``queued``."""
        now = self._clock()
        with self._tx() as db:
            db.execute(
                "UPDATE items SET state=?, updated_at=?, next_attempt_at=? WHERE id=? AND state=?",
                (ItemState.QUEUED, now, now, item_id, ItemState.SENDING),
            )

    def retry(self, item_id: int) -> OutboxItem:
        """A user's retry of a failed (or cancelled) item: back to ``queued``.

        A superseded item, or one with a newer item in its supersedable group, is never
        re-sent (it would be stale): that raises :class:`OutboxError` naming the newer one.
        """
        now = self._clock()
        with self._tx() as db:
            found = self._fetch("id=?", (item_id,), body=False)
            if not found:
                raise OutboxError(f"outbox item #{item_id}: no such item")
            item = found[0]
            if item.state is ItemState.SUPERSEDED:
                raise OutboxError(
                    f"outbox item #{item_id}: superseded by the newer #{item.superseded_by}; retry that one"
                )
            if item.state not in (ItemState.FAILED, ItemState.CANCELLED):
                raise OutboxError(
                    f"outbox item #{item_id}: is {item.state.value}, only failed items can be retried"
                )
            if item.supersedable:
                newer = db.execute(
                    "SELECT MAX(id) FROM items WHERE grp=? AND id>? AND state!=?",
                    (item.group, item_id, ItemState.CANCELLED),
                ).fetchone()[0]
                if newer is not None:
                    raise OutboxError(
                        f"outbox item #{item_id}: superseded by the newer #{newer}; retry that one"
                    )
            db.execute(
                "UPDATE items SET state=?, updated_at=?, next_attempt_at=? WHERE id=?",
                (ItemState.QUEUED, now, now, item_id),
            )
        return self.get(item_id, body=False)

    def cancel(self, item_id: int) -> OutboxItem:
        """A user's cancel of a queued or failed item (it will not be sent)."""
        now = self._clock()
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE items SET state=?, updated_at=?, next_attempt_at=NULL WHERE id=? AND state IN (?, ?)",
                (ItemState.CANCELLED, now, item_id, ItemState.QUEUED, ItemState.FAILED),
            )
            if cursor.rowcount != 1:
                item = self._fetch("id=?", (item_id,), body=False)
                if not item:
                    raise OutboxError(f"outbox item #{item_id}: no such item")
                raise OutboxError(f"outbox item #{item_id}: is {item[0].state.value}, cannot cancel")
        return self.get(item_id, body=False)

    # ------------------------------------------------------------- reading
    def get(self, item_id: int, *, body: bool = True) -> OutboxItem:
        found = self._fetch("id=?", (item_id,), body=body)
        if not found:
            raise OutboxError(f"outbox item #{item_id}: no such item")
        return found[0]

    def items(
        self,
        *,
        states: Iterable[ItemState] | None = None,
        target: str | None = None,
        limit: int = 200,
        body: bool = False,
    ) -> list[OutboxItem]:
        """Newest first (for screens and listings)."""
        where, params = self._filter(states, target)
        return self._fetch(where, params, body=body, tail=f"ORDER BY id DESC LIMIT {int(limit)}")

    def pending(self, target: str | None = None, *, body: bool = False) -> list[OutboxItem]:
        """Queued and sending items, oldest first (delivery order)."""
        where, params = self._filter((ItemState.QUEUED, ItemState.SENDING), target)
        return self._fetch(where, params, body=body, tail="ORDER BY id")

    def next_queued(self, target: str) -> OutboxItem | None:
        found = self._fetch(
            "state=? AND target=?", (ItemState.QUEUED, target), body=False, tail="ORDER BY id LIMIT 1"
        )
        return found[0] if found else None

    def latest_in_group(self, group: str, *, states: Iterable[ItemState] | None = None) -> OutboxItem | None:
        where, params = self._filter(states, None)
        found = self._fetch(
            f"grp=? AND {where}", (group, *params), body=False, tail="ORDER BY id DESC LIMIT 1"
        )
        return found[0] if found else None

    def counts(self, target: str | None = None) -> dict[ItemState, int]:
        where, params = self._filter(None, target)
        with self._lock:
            rows = self._db.execute(f"SELECT state, COUNT(*) FROM items WHERE {where} GROUP BY state", params)
            found = {ItemState(state): int(n) for state, n in rows.fetchall()}
        return {state: found.get(state, 0) for state in ItemState}

    def baseline(self, key: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """The rows and fields of the last successful upload for ``key`` (None: never sent)."""
        with self._lock:
            row = self._db.execute("SELECT rows, fields FROM baselines WHERE key=?", (key,)).fetchone()
        return None if row is None else (json.loads(row[0]), json.loads(row[1]))

    def projected(self, key: str) -> dict[str, str]:
        """What the server will hold for ``key`` once every pending item is delivered:
        the baseline with the rows of queued and sending items applied in order."""
        base = self.baseline(key)
        rows = dict(base[0]) if base else {}
        for item in self.pending():
            for baseline in item.meta.get("baselines", ()):
                if baseline.get("key") == key:
                    rows = apply_rows(rows, baseline.get("rows") or {}, str(baseline.get("mode", "replace")))
        return rows

    @staticmethod
    def _filter(states: Iterable[ItemState] | None, target: str | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if states is not None:
            wanted = [ItemState(s).value for s in states]
            clauses.append(f"state IN ({','.join('?' * len(wanted))})" if wanted else "0")
            params.extend(wanted)
        if target is not None:
            clauses.append("target=?")
            params.append(target)
        return (" AND ".join(clauses) or "1"), params
