"""The persistent outbox and the service that delivers it.

Every upload (a World Triathlon v1.1 message, an OpenTrack road/XC payload, a hosted file)
is first written to an SQLite outbox (``data_dir()/outbox.sqlite3``, WAL, every state
change committed), then delivered by :class:`PublishService`. Nothing is lost:

* an item is ``queued`` until a worker claims it (``sending``, committed *before* the
  request leaves), then ``sent``, ``failed`` (a 4xx: needs a user action), or back to
  ``queued`` with a backoff (5xx, timeouts, refused connections);
* a crash or ``kill -9`` mid-upload leaves the item ``sending``: opening the outbox puts
  it back to ``queued`` and it is re-sent with the same ``Idempotency-Key`` header;
* items of a *supersedable* group (a race's v1.1 message, an OpenTrack ``replace`` of
  one event) keep only the newest: enqueuing a newer one marks older queued or failed
  ones ``superseded`` (never sent). Other items (OpenTrack ``append``/``update``) are
  all kept and sent in order.

Stored headers never hold a secret: senders add ``apikey`` / ``Authorization`` at send
time, and every text that comes back from a server is scrubbed of secret values before
it is stored, logged or shown.

The preview helpers (:func:`diff_rows`, :func:`render_diff`) compare what would be sent
against the last successful upload (the *baseline*, kept per group in the outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from racetui.model.bibs import bib_key
from racetui.util.retry import Backoff, parse_retry_after
from racetui.util.secrets import scrub

__all__ = [
    "SETTLED",
    "Backoff",
    "FieldChange",
    "ItemState",
    "Outbox",
    "OutboxError",
    "OutboxItem",
    "Outcome",
    "PublishDiff",
    "PublishError",
    "PublishService",
    "RowChange",
    "SendResult",
    "Sender",
    "TargetStatus",
    "apply_rows",
    "classify_response",
    "diff_rows",
    "render_diff",
    "server_message",
    "transport_failure",
]

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

    ``headers`` never hold secrets. ``body`` is empty in listings made without bodies and
    for superseded items (their body is dropped: they are never sent). ``meta`` holds
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
        return self.get(item_id)

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
        item = self.get(item_id)
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
        return self.get(item_id)

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
        return self.get(item_id)

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
        return self.get(item_id)

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
        return self.get(item_id)

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
        return self.get(item_id)

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


# ====================================================================== diff


@dataclass(frozen=True, slots=True)
class RowChange:
    """One bib in a preview: ``before``/``after`` are the displayed values (None: absent)."""

    bib: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class FieldChange:
    name: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class PublishDiff:
    """What an upload changes against the last successful one.

    ``first`` is True when nothing was ever sent for this key (everything is added).
    ``ignored`` lists bibs an ``append`` would leave unchanged on the server although
    their value differs here.
    """

    added: tuple[RowChange, ...] = ()
    changed: tuple[RowChange, ...] = ()
    removed: tuple[RowChange, ...] = ()
    ignored: tuple[RowChange, ...] = ()
    fields: tuple[FieldChange, ...] = ()
    unchanged: int = 0
    first: bool = False

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.fields)

    def counts(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed", f"{len(self.removed)} removed"]
        if self.ignored:
            parts.append(f"{len(self.ignored)} ignored")
        parts.append(f"{self.unchanged} unchanged")
        return ", ".join(parts)


def apply_rows(server: Mapping[str, str], rows: Mapping[str, str], mode: str) -> dict[str, str]:
    """What the server holds after an upload of ``rows`` in ``mode`` (replace, append, update)."""
    if mode == "replace":
        return dict(rows)
    result = dict(server)
    for bib, value in rows.items():
        if mode == "update" or bib not in result:
            result[bib] = value
    return result


def diff_rows(
    before: Mapping[str, str] | None,
    after: Mapping[str, str],
    *,
    mode: str = "replace",
    before_fields: Mapping[str, str | None] | None = None,
    after_fields: Mapping[str, str | None] | None = None,
) -> PublishDiff:
    """Pure: the change an upload of ``after`` (bib -> displayed value) makes on a server
    holding ``before`` (None: nothing was ever sent), for ``mode`` replace/append/update.

    Only ``replace`` removes bibs; ``append`` leaves existing bibs unchanged (listed as
    ``ignored`` when their value differs). Top-level ``fields`` (status, sandbox…) are
    compared too.
    """
    if mode not in ("replace", "append", "update"):
        raise ValueError(f"mode: expected replace, append or update, got {mode!r}")
    old = dict(before or {})
    added: list[RowChange] = []
    changed: list[RowChange] = []
    ignored: list[RowChange] = []
    unchanged = 0
    for bib in sorted(after, key=bib_key):
        value = after[bib]
        if bib not in old:
            added.append(RowChange(bib, None, value))
        elif old[bib] == value:
            unchanged += 1
        elif mode == "append":
            ignored.append(RowChange(bib, old[bib], value))
        else:
            changed.append(RowChange(bib, old[bib], value))
    removed: list[RowChange] = []
    if mode == "replace":
        removed = [RowChange(bib, old[bib], None) for bib in sorted(old, key=bib_key) if bib not in after]
    fields: list[FieldChange] = []
    if after_fields is not None:
        previous = dict(before_fields or {})
        for name, new in after_fields.items():
            if previous.get(name) != new:
                fields.append(FieldChange(name, previous.get(name), new))
    return PublishDiff(
        added=tuple(added),
        changed=tuple(changed),
        removed=tuple(removed),
        ignored=tuple(ignored),
        fields=tuple(fields),
        unchanged=unchanged,
        first=before is None,
    )


def render_diff(diff: PublishDiff, *, title: str = "", limit: int = 15) -> str:
    """The preview as text: a header line with counts, then up to ``limit`` lines per kind."""
    head = f"{title}: " if title else ""
    if diff.first:
        head += "first upload; "
    lines = [head + (diff.counts() if not diff.empty else "no change since the last successful upload")]
    for change in diff.fields:
        lines.append(
            f"  ~ {change.name}: {change.before if change.before is not None else '-'} -> {change.after}"
        )

    def section(mark: str, rows: Sequence[RowChange], show: Callable[[RowChange], str]) -> None:
        for row in rows[:limit]:
            lines.append(f"  {mark} {row.bib:>6}  {show(row)}")
        if len(rows) > limit:
            lines.append(f"  {mark} … and {len(rows) - limit} more")

    section("+", diff.added, lambda r: str(r.after))
    section("~", diff.changed, lambda r: f"{r.before} -> {r.after}")
    section("-", diff.removed, lambda r: f"{r.before} (removed)")
    section("=", diff.ignored, lambda r: f"{r.before} kept (append leaves it; here {r.after})")
    return "\n".join(lines)


# ================================================================= delivery


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # 5xx, timeout, refused: back off and try again
    FAILED = "failed"  # 4xx: needs a user action


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt gave. ``message`` is one line, already scrubbed of secrets.

    ``hold`` stops the target (no further sends) until a user resumes it: credentials
    that a server refused will be refused again.
    """

    outcome: Outcome
    status_code: int | None = None
    message: str = ""
    response: str | None = None
    retry_after: float | None = None
    hold: bool = False


class Sender(Protocol):
    """Delivers outbox items of one target. ``send`` never raises for network trouble."""

    name: str  # the outbox target it delivers
    min_interval: float  # seconds from the end of one request to the start of the next

    def destination(self) -> str:
        """Where it sends, for screens (no secret)."""

    async def send(self, item: OutboxItem) -> SendResult: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class TargetStatus:
    """A delivery target as a screen shows it (times are ``time.time()``)."""

    name: str
    destination: str
    held: str | None = None  # why sending is stopped until a user resumes
    in_flight: int | None = None  # item id being sent
    last_attempt_at: float | None = None
    last_success_at: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    failures: int = 0  # consecutive retryable failures
    retry_at: float | None = None  # next attempt after a failure
    sent: int = 0
    _last_end: float = field(default=-1e18, repr=False)  # monotonic end of the last attempt
    _backoff_until: float = field(default=0.0, repr=False)  # monotonic


ItemListener = Callable[[OutboxItem], None]


class PublishService:
    """Delivers the outbox: one worker per target, rate-limited, with backoff and holds.

    Headless: the dashboard's publish screen reads :meth:`targets` and :meth:`items` and
    calls :meth:`retry`, :meth:`cancel`, :meth:`resume`; ``listeners`` are called with every
    item whose state changed (in the event loop's thread).
    """

    def __init__(
        self,
        outbox: Outbox,
        senders: Iterable[Sender] = (),
        *,
        backoff: Backoff | None = None,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.listeners: list[ItemListener] = []
        self._clock = clock
        self._senders: dict[str, Sender] = {}
        self._status: dict[str, TargetStatus] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        for sender in senders:
            self.add_sender(sender)

    # ------------------------------------------------------------- setup
    def add_sender(self, sender: Sender) -> None:
        self._senders[sender.name] = sender
        self._status.setdefault(sender.name, TargetStatus(name=sender.name, destination=sender.destination()))
        self._wake.setdefault(sender.name, asyncio.Event())
        if self._running and sender.name not in self._tasks:
            self._tasks[sender.name] = asyncio.create_task(self._worker(sender.name))

    def sender(self, name: str) -> Sender | None:
        return self._senders.get(name)

    # ------------------------------------------------------------ reading
    def targets(self) -> list[TargetStatus]:
        return list(self._status.values())

    def target(self, name: str) -> TargetStatus:
        return self._status[name]

    def items(self, **filters: Any) -> list[OutboxItem]:
        """The outbox, newest first (see :meth:`Outbox.items`)."""
        return self.outbox.items(**filters)

    # ------------------------------------------------------------ actions
    def submit(self, **item: Any) -> OutboxItem:
        """:meth:`Outbox.enqueue` and wake the target's worker."""
        queued = self.outbox.enqueue(**item)
        self._notify(queued)
        self.wake(queued.target)
        return queued

    def wake(self, target: str | None = None) -> None:
        for name, event in self._wake.items():
            if target is None or name == target:
                event.set()

    def retry(self, item_id: int) -> OutboxItem:
        """Re-queue a failed item (a user's action); also lifts its target's hold."""
        item = self.outbox.retry(item_id)
        status = self._status.get(item.target)
        if status is not None:
            status.held = None
            status.failures = 0
            status._backoff_until = 0.0
            status.retry_at = None
        self._notify(item)
        self.wake(item.target)
        return item

    def cancel(self, item_id: int) -> OutboxItem:
        item = self.outbox.cancel(item_id)
        self._notify(item)
        return item

    def resume(self, target: str) -> None:
        """Lift a hold (after the user fixed credentials) and try again now."""
        status = self._status[target]
        status.held = None
        status.failures = 0
        status._backoff_until = 0.0
        status.retry_at = None
        self.wake(target)

    def ready_in(self, target: str) -> float:
        """Seconds until the target may start its next request (0: now)."""
        status = self._status.get(target)
        sender = self._senders.get(target)
        if status is None or sender is None:
            return 0.0
        start = max(status._backoff_until, status._last_end + sender.min_interval)
        return max(0.0, start - self._clock())

    def _notify(self, item: OutboxItem) -> None:
        self._changed.set()
        for listener in list(self.listeners):
            try:
                listener(item)
            except Exception:  # a listener's bug must not stop deliveries
                log.exception("publish listener failed")

    # ------------------------------------------------------------ running
    async def run(self) -> None:
        """Deliver until cancelled (one worker task per target)."""
        self._running = True
        try:
            for name in self._senders:
                if name not in self._tasks:
                    self._tasks[name] = asyncio.create_task(self._worker(name))
            while True:
                await asyncio.sleep(3600)
        finally:
            self._running = False
            tasks = list(self._tasks.values())
            self._tasks.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        for sender in self._senders.values():
            with contextlib.suppress(Exception):
                await sender.aclose()

    async def wait_settled(
        self, item_ids: Iterable[int] | None = None, *, timeout: float | None = None
    ) -> bool:
        """Wait until the given items (default: every pending item of our targets) are
        sent, failed, superseded or cancelled. False on timeout."""
        ids = None if item_ids is None else list(item_ids)
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            self._changed.clear()
            if ids is None:
                pending = [i for i in self.outbox.pending() if i.target in self._senders]
                held = {name for name, s in self._status.items() if s.held}
                if all(i.target in held for i in pending):
                    return True
            else:
                if all(self.outbox.get(i, body=False).settled for i in ids):
                    return True
            remaining = None if deadline is None else deadline - self._clock()
            if remaining is not None and remaining <= 0:
                return False
            wait = self.poll_interval if remaining is None else min(self.poll_interval, remaining)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)

    async def _sleep(self, name: str, seconds: float) -> None:
        event = self._wake[name]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(0.0, seconds))
        event.clear()

    async def _worker(self, name: str) -> None:
        sender = self._senders[name]
        status = self._status[name]
        while True:
            try:
                if status.held:
                    await self._sleep(name, self.poll_interval)
                    continue
                wait = self.ready_in(name)
                if wait > 0:
                    await self._sleep(name, wait)
                    continue
                candidate = self.outbox.next_queued(name)
                if candidate is None:
                    await self._sleep(name, self.poll_interval)
                    continue
                item = self.outbox.claim(candidate.id)
                if item is None:
                    continue
                await self._attempt(sender, status, item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the outbox itself failed (disk full…): keep trying
                log.error("publish %s: %s", name, exc)
                status.last_error = f"outbox: {exc}"
                await asyncio.sleep(self.poll_interval)

    async def _attempt(self, sender: Sender, status: TargetStatus, item: OutboxItem) -> None:
        status._last_end = self._clock()  # also while in flight: nothing else starts
        status.last_attempt_at = time.time()
        status.in_flight = item.id
        self._notify(item)
        try:
            result = await sender.send(item)
        except asyncio.CancelledError:
            self.outbox.release(item.id)
            status.in_flight = None
            raise
        except Exception as exc:  # a sender bug: treat as retryable, never lose the item
            log.exception("publish %s: sending #%d failed", sender.name, item.id)
            result = SendResult(Outcome.RETRY, message=f"internal error: {type(exc).__name__}")
        # The interval counts from the end of an attempt: the server then sees two requests
        # at least ``min_interval`` apart, whatever the connection set-up or latency.
        status._last_end = self._clock()
        status.in_flight = None
        status.last_status = result.status_code
        if result.outcome is Outcome.SENT:
            updated = self.outbox.mark_sent(item.id, result.status_code, result.response)
            status.failures = 0
            status._backoff_until = 0.0
            status.retry_at = None
            status.last_success_at = time.time()
            status.last_error = None
            status.sent += 1
            log.info("publish %s: #%d sent (%s)", sender.name, item.id, result.message)
        elif result.outcome is Outcome.RETRY:
            status.failures += 1
            delay = self.backoff.delay(status.failures, result.retry_after)
            status._backoff_until = self._clock() + delay
            status.retry_at = time.time() + delay
            status.last_error = result.message
            updated = self.outbox.mark_retry(
                item.id,
                status_code=result.status_code,
                error=result.message,
                next_attempt_at=time.time() + delay,
                response=result.response,
            )
            log.warning(
                "publish %s: #%d will be retried in %.1fs: %s", sender.name, item.id, delay, result.message
            )
        else:
            updated = self.outbox.mark_failed(
                item.id, status_code=result.status_code, error=result.message, response=result.response
            )
            status.last_error = result.message
            if result.hold:
                status.held = result.message
            log.error("publish %s: #%d failed: %s", sender.name, item.id, result.message)
        self._notify(updated)


# ========================================================== HTTP answers

_RETRYABLE_4XX = frozenset({408, 425, 429})


def server_message(text: str, *, limit: int = 300) -> str:
    """The server's own reason, one line: ``message``/``detail``/``error`` of a JSON answer
    (World Triathlon wraps failures as ``{"status":"fail","data":{...}}``), else the text."""
    text = text.strip()
    found: str | None = None
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None

    def pick(value: Any) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            for name in ("message", "detail", "error", "errors", "reason", "data"):
                if name in value:
                    inner = pick(value[name])
                    if inner:
                        return inner
            if value:
                return "; ".join(
                    str(pick(v) or v) if k in ("non_field_errors", "__all__") else f"{k}: {pick(v) or v}"
                    for k, v in value.items()
                )
        if isinstance(value, list) and value:
            return "; ".join(str(pick(v) or v) for v in value)
        return None

    if isinstance(data, dict | list):
        found = pick(data)
    one_line = " ".join((found or text).split())
    return one_line[:limit] + ("…" if len(one_line) > limit else "")


def classify_response(
    status_code: int,
    text: str,
    *,
    reason: str = "",
    retry_after: str | None = None,
    secrets: Iterable[str] = (),
    hold_on: Iterable[int] = (401, 403),
) -> SendResult:
    """An HTTP answer as a :class:`SendResult`: 2xx sent; 408/425/429 and 5xx retried;
    any other status failed with the server's message (auth refusals also hold the target)."""
    secrets = list(secrets)
    body = scrub(text[:4000], secrets)
    detail = scrub(server_message(text), secrets)
    head = f"{status_code} {reason}".strip()
    message = f"{head}: {detail}" if detail else head
    if 200 <= status_code < 300:
        return SendResult(Outcome.SENT, status_code, head, body)
    after = parse_retry_after(retry_after)
    if status_code >= 500 or status_code in _RETRYABLE_4XX:
        return SendResult(Outcome.RETRY, status_code, message, body, retry_after=after)
    return SendResult(Outcome.FAILED, status_code, message, body, hold=status_code in set(hold_on))


def transport_failure(exc: BaseException, what: str = "") -> SendResult:
    """A request that got no answer (timeout, refused, reset): retried with backoff."""
    import httpx

    prefix = f"{what}: " if what else ""
    if isinstance(exc, httpx.TimeoutException):
        message = f"{prefix}no answer in time ({type(exc).__name__})"
    elif isinstance(exc, httpx.ConnectError):
        message = f"{prefix}cannot connect ({' '.join(str(exc).split()) or type(exc).__name__})"
    else:
        message = f"{prefix}{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return SendResult(Outcome.RETRY, None, message)
