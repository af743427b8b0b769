"""The outbox itself: uploads in SQLite (WAL, every state change committed), one
delivering owner per file, crash recovery (``sending`` back to ``queued``), supersedable
groups and the per-group baseline of the last successful upload.

An item's body is kept apart from its row, in the ``bodies`` table as pieces of at most
1 MiB, written in the transaction that inserts the row (an item never exists without its
body) and read back a piece at a time when it is sent. A state change then rewrites a small
row: with the body in the row, SQLite read and rewrote the whole record, a v1.1 message at
50,000 athletes is 47 MB, twice over for every claim and every answer. A sent or superseded
item's body is dropped (it is never sent again). So are the rows an item carries for the
diff baseline (``meta["baselines"]`` when queued: 50,000 rows are 3 MB of JSON): kept in
``item_baselines``, read when the item is sent or projected, never by a listing or a state
change. Outboxes of schema 1 and 2 are moved over when opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from racetui.publish.outbox.preview import apply_rows
from racetui.util.files import Spool

log = logging.getLogger("racetui.publish")

OUTBOX_FILE = "outbox.sqlite3"
# 2: bodies in their own table, in pieces (1: in the items row); 3: an item's baselines (the
# rows it would make the server hold) in their own table (2: in its meta)
_SCHEMA_VERSION = 3
BODY_PIECE = 1 << 20  # bytes of a body per row of ``bodies``
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

    ``headers`` never hold secrets. ``body`` is only read by :meth:`Outbox.get` (a v1.1
    message at 50,000 athletes is 47 MB): it is empty in listings made without bodies, in
    what the state changes return, and for sent and superseded items (their body is dropped:
    they are never sent again). The item :meth:`Outbox.claim` hands to its sender reads its
    body from the outbox instead (:meth:`read_body`, or :meth:`stream` a piece at a time);
    ``size`` is the body's length either way. ``meta`` holds what publishers need (race
    ids, content hash). The rows for the diff baseline given in ``meta["baselines"]`` are
    kept apart (:meth:`Outbox.item_baselines`).
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
    stored: StoredBody | None = field(default=None, compare=False, repr=False)

    @property
    def settled(self) -> bool:
        return self.state in SETTLED

    def read_body(self) -> bytes:
        """The whole body: read from the outbox for a claimed item (small bodies)."""
        return self.body if self.stored is None else self.stored.read()

    def chunks(self) -> Iterator[bytes]:
        """The body a piece at a time, read here (a worker thread writing a file)."""
        if self.stored is None:
            if self.body:
                yield self.body
            return
        yield from self.stored.chunks()

    async def stream(self) -> AsyncIterator[bytes]:
        """The body a piece of at most 1 MiB at a time, each read in a worker thread (the
        outbox's lock may be held by a thread queuing a large body): for an upload with
        ``Content-Length: size``."""
        if self.stored is None:
            if self.body:
                yield self.body
            return
        async for piece in self.stored.aiter():
            yield piece

    def describe(self) -> str:
        """One line for listings and logs (no body, no secret)."""
        text = f"#{self.id} {self.state.value:<10} {self.target} {self.summary}"
        if self.status_code is not None:
            text += f" [{self.status_code}]"
        if self.error and self.state is not ItemState.SENT:
            text += f": {self.error}"
        return text


class StoredBody:
    """An item's body in the outbox, read a piece at a time (each piece one short query
    under the outbox's lock). What was queued is never changed; a piece that went missing
    (the item was dropped meanwhile) raises :class:`OutboxError`."""

    __slots__ = ("_outbox", "item_id", "size")

    def __init__(self, outbox: Outbox, item_id: int, size: int) -> None:
        self._outbox = outbox
        self.item_id = item_id
        self.size = size

    def chunks(self) -> Iterator[bytes]:
        seq = done = 0
        while done < self.size:
            piece = self._outbox._body_piece(self.item_id, seq)
            done += len(piece)
            seq += 1
            yield piece

    async def aiter(self) -> AsyncIterator[bytes]:
        seq = done = 0
        while done < self.size:
            piece = await asyncio.to_thread(self._outbox._body_piece, self.item_id, seq)
            done += len(piece)
            seq += 1
            yield piece

    def read(self) -> bytes:
        return b"".join(self.chunks())


_COLUMNS = (
    "id, target, grp, supersedable, idem_key, method, url, headers, size, summary, state, attempts, "
    "created_at, updated_at, next_attempt_at, sent_at, status_code, error, response, superseded_by, meta"
)


def _row_to_item(row: sqlite3.Row | tuple[Any, ...], body: bytes = b"") -> OutboxItem:
    (
        id_,
        target,
        group,
        supersedable,
        key,
        method,
        url,
        headers,
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
        body=body,
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
            version = self._db.execute("PRAGMA user_version").fetchone()[0]  # another process?
            if version >= _SCHEMA_VERSION:
                return
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
                CREATE TABLE IF NOT EXISTS bodies (
                    item_id INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (item_id, seq)
                );
                CREATE TABLE IF NOT EXISTS item_baselines (
                    item_id INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    key TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    rows TEXT NOT NULL,
                    fields TEXT NOT NULL,
                    PRIMARY KEY (item_id, seq)
                );
                """
            for statement in schema.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            moved = self._move_bodies() if version == 1 else 0
            if version in (1, 2):
                self._move_baselines()
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        if moved:
            log.info("outbox: %d queued or kept upload body(ies) moved to the bodies table", moved)

    def _move_bodies(self) -> int:
        """Schema 1 -> 2: every body still in its row goes to ``bodies`` (read a piece at a
        time through SQLite's incremental blob I/O, never whole), inside the migration's
        transaction: a crash leaves the outbox of schema 1, moved again on the next open."""
        db = self._db
        ids = [
            int(row[0])
            for row in db.execute("SELECT id FROM items WHERE body IS NOT NULL AND length(body) > 0")
        ]
        for item_id in ids:
            with db.blobopen("items", "body", item_id, readonly=True) as blob:
                seq = 0
                while piece := blob.read(BODY_PIECE):
                    db.execute(
                        "INSERT INTO bodies (item_id, seq, data) VALUES (?, ?, ?)", (item_id, seq, piece)
                    )
                    seq += 1
        db.execute("UPDATE items SET body=NULL WHERE body IS NOT NULL")
        return len(ids)

    def _move_baselines(self) -> None:
        """Schema 2 -> 3: ``meta["baselines"]`` to ``item_baselines``, one item at a time (kept
        for the items that may still be sent; a sent or superseded item's are dropped)."""
        db = self._db
        found = db.execute("SELECT id, state FROM items WHERE instr(meta, '\"baselines\"') > 0").fetchall()
        for item_id, state in found:
            meta = json.loads(db.execute("SELECT meta FROM items WHERE id=?", (item_id,)).fetchone()[0])
            baselines = meta.pop("baselines", None)
            if baselines and state not in (ItemState.SENT, ItemState.SUPERSEDED):
                self._put_baselines(item_id, baselines)
            db.execute("UPDATE items SET meta=? WHERE id=?", (json.dumps(meta), item_id))

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
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE {where} {tail}", params).fetchall()
            if not body:
                return [_row_to_item(row) for row in rows]
            return [_row_to_item(row, self._whole_body(int(row[0]))) for row in rows]

    def _whole_body(self, item_id: int) -> bytes:
        """What is stored of the body (empty once dropped); :meth:`get` only."""
        with self._lock:
            pieces = self._db.execute("SELECT data FROM bodies WHERE item_id=? ORDER BY seq", (item_id,))
            return b"".join(bytes(row[0]) for row in pieces)

    def _body_piece(self, item_id: int, seq: int) -> bytes:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM bodies WHERE item_id=? AND seq=?", (item_id, seq)
            ).fetchone()
        if row is None:
            raise OutboxError(f"outbox item #{item_id}: its body is gone (piece {seq})")
        return bytes(row[0])

    @staticmethod
    def _drop_bodies(db: sqlite3.Connection, *item_ids: int) -> None:
        """An item that is never sent again: its body and its rows go."""
        db.executemany("DELETE FROM bodies WHERE item_id=?", [(i,) for i in item_ids])
        db.executemany("DELETE FROM item_baselines WHERE item_id=?", [(i,) for i in item_ids])

    def _supersede_older(self, db: sqlite3.Connection, group: str, newest: int, now: float) -> int:
        older = [
            int(row[0])
            for row in db.execute(
                "SELECT id FROM items WHERE grp=? AND supersedable=1 AND id<? AND state IN (?, ?)",
                (group, newest, ItemState.QUEUED, ItemState.FAILED),
            )
        ]
        if older:
            db.executemany(
                "UPDATE items SET state=?, superseded_by=?, updated_at=?, next_attempt_at=NULL WHERE id=?",
                [(ItemState.SUPERSEDED, newest, now, item_id) for item_id in older],
            )
            self._drop_bodies(db, *older)
        return len(older)

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
            db.execute("DELETE FROM bodies WHERE item_id NOT IN (SELECT id FROM items)")
            db.execute("DELETE FROM item_baselines WHERE item_id NOT IN (SELECT id FROM items)")
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
        body: bytes | Spool,
        headers: Mapping[str, str] | None = None,
        supersedable: bool = False,
        summary: str = "",
        meta: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> OutboxItem:
        """Queue an upload (committed, its body with it). A supersedable item supersedes
        older queued or failed items of its group. ``headers`` must not hold secrets.
        ``body`` may be a :class:`~racetui.util.files.Spool` (a large body on disk): it is
        copied a piece at a time, never whole in memory."""
        now = self._clock()
        key = idempotency_key or uuid.uuid4().hex
        stored_headers = dict(headers or {})
        stored_headers.setdefault("Idempotency-Key", key)
        stored_meta = dict(meta or {})
        baselines = stored_meta.pop("baselines", None)
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO items (target, grp, supersedable, idem_key, method, url, headers, size, "
                "summary, state, attempts, created_at, updated_at, next_attempt_at, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (
                    target,
                    group,
                    int(supersedable),
                    key,
                    method,
                    url,
                    json.dumps(stored_headers),
                    len(body),
                    summary,
                    ItemState.QUEUED,
                    now,
                    now,
                    now,
                    json.dumps(stored_meta),
                ),
            )
            item_id = int(cursor.lastrowid or 0)
            if baselines:
                self._put_baselines(item_id, baselines)
            pieces = body.chunks(BODY_PIECE) if isinstance(body, Spool) else _pieces(body)
            db.executemany(
                "INSERT INTO bodies (item_id, seq, data) VALUES (?, ?, ?)",
                ((item_id, seq, piece) for seq, piece in enumerate(pieces)),
            )
            superseded = self._supersede_older(db, group, item_id, now) if supersedable else 0
        if superseded:
            log.info("outbox: #%d supersedes %d older upload(s) of %s", item_id, superseded, group)
        return self.get(item_id, body=False)  # the caller holds the body: no second copy

    def claim(self, item_id: int) -> OutboxItem | None:
        """``queued`` -> ``sending`` (committed before the request leaves); None if it is
        no longer queued (superseded or cancelled meanwhile). The item reads its body from
        the outbox when its sender asks (:meth:`OutboxItem.stream`)."""
        now = self._clock()
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE items SET state=?, attempts=attempts+1, updated_at=? WHERE id=? AND state=?",
                (ItemState.SENDING, now, item_id, ItemState.QUEUED),
            )
            if cursor.rowcount != 1:
                return None
        item = self.get(item_id, body=False)
        return dataclasses.replace(item, stored=StoredBody(self, item.id, item.size))

    def mark_sent(self, item_id: int, status_code: int | None, response: str | None) -> OutboxItem:
        """``sending`` -> ``sent``; the item's baselines become the last successful upload."""
        now = self._clock()
        with self._tx() as db:
            db.execute(
                "UPDATE items SET state=?, sent_at=?, updated_at=?, status_code=?, response=?, error=NULL, "
                "next_attempt_at=NULL WHERE id=?",
                (ItemState.SENT, now, now, status_code, response, item_id),
            )
            upsert = (
                "ON CONFLICT(key) DO UPDATE SET rows=excluded.rows, fields=excluded.fields, "
                "item_id=excluded.item_id, updated_at=excluded.updated_at"
            )
            given = db.execute(
                "SELECT seq, key, mode FROM item_baselines WHERE item_id=? ORDER BY seq", (item_id,)
            ).fetchall()
            for seq, key, mode in given:
                if mode == "replace":  # copied as stored: 50,000 rows are never parsed here
                    db.execute(
                        "INSERT INTO baselines (key, rows, fields, item_id, updated_at) "
                        "SELECT key, rows, fields, ?, ? FROM item_baselines WHERE item_id=? AND seq=? "
                        + upsert,
                        (item_id, now, item_id, seq),
                    )
                    continue
                rows, fields = db.execute(
                    "SELECT rows, fields FROM item_baselines WHERE item_id=? AND seq=?", (item_id, seq)
                ).fetchone()
                old = db.execute("SELECT rows FROM baselines WHERE key=?", (key,)).fetchone()
                merged = apply_rows(json.loads(old[0]) if old else {}, json.loads(rows), mode)
                db.execute(
                    "INSERT INTO baselines (key, rows, fields, item_id, updated_at) VALUES (?, ?, ?, ?, ?) "
                    + upsert,
                    (key, json.dumps(merged), fields, item_id, now),
                )
            self._drop_bodies(db, item_id)  # never sent again
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
                    "UPDATE items SET state=?, superseded_by=?, updated_at=?, status_code=?, "
                    "error=?, response=?, next_attempt_at=NULL WHERE id=?",
                    (ItemState.SUPERSEDED, newer, now, status_code, error, response, item_id),
                )
                self._drop_bodies(db, item_id)
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

    def _put_baselines(self, item_id: int, baselines: Iterable[Mapping[str, Any]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO item_baselines (item_id, seq, key, mode, rows, fields) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    item_id,
                    seq,
                    str(baseline["key"]),
                    str(baseline.get("mode", "replace")),
                    # orjson: the standard library's encoder holds the GIL for the whole
                    # 50,000 rows (tens of ms the dashboard's loop waited), orjson a few
                    orjson.dumps(dict(baseline.get("rows") or {})).decode(),
                    orjson.dumps(dict(baseline.get("fields") or {})).decode(),
                )
                for seq, baseline in enumerate(baselines)
            ),
        )

    def item_baselines(self, item_id: int) -> list[dict[str, Any]]:
        """The ``meta["baselines"]`` an item was queued with, each with its ``key``,
        ``mode``, ``rows`` and ``fields`` (empty once sent or superseded)."""
        with self._lock:
            found = self._db.execute(
                "SELECT key, mode, rows, fields FROM item_baselines WHERE item_id=? ORDER BY seq", (item_id,)
            ).fetchall()
        return [
            {"key": key, "mode": mode, "rows": orjson.loads(rows), "fields": orjson.loads(fields)}
            for key, mode, rows, fields in found
        ]

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
            for baseline in self.item_baselines(item.id):
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


def _pieces(body: bytes) -> Iterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), BODY_PIECE):
        yield bytes(view[start : start + BODY_PIECE])
