"""The journal: every message a live source received, in order, for replay and post-mortems.

File format: gzip-compressed JSON lines, one record per line::

    {"t": 1763888823.512, "kind": "rest", "source": "BBT 10.0.0.5:80",
     "url": "/api/1.1/results/list?race_id=1&page=1&page_size=1000", "body": {...}}

- ``t`` is the receive time (unix seconds, float);
- ``kind`` is ``"rest"`` (a REST answer), ``"push"`` (one WebSocket message) or ``"feed"``
  (one World Triathlon v1.1 message);
- ``url`` is path and query only: never a scheme, host or user info, and query parameters
  that look like credentials are replaced by ``***``;
- ``body`` is the received JSON exactly as received (only line breaks between tokens
  become spaces), or the raw text as a JSON string when it was not JSON (a replay then
  rejects it exactly as the live source did).

Crash safety: the file is one gzip stream written with ``Z_SYNC_FLUSH`` after every record
and handed to the kernel with one unbuffered ``write``: a crash loses at most the record
being written, and a journal that is still being written (or was cut mid-write) reads back
up to its last complete line. Reopening a journal appends a new gzip member; standard
``zcat`` reads the result. The file is created ``0600`` (it may hold names of athletes),
and only when the first record arrives: a run that never received anything (the master
was unreachable, the URL wrong) leaves no empty journal behind to puzzle over.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import orjson

from racetui.config import data_dir
from racetui.util.secrets import safe_url

__all__ = ["KINDS", "Journal", "iter_journal", "not_a_journal", "read_journal", "scrub_url"]

log = logging.getLogger(__name__)

KINDS = frozenset({"rest", "push", "feed"})
_UNSET: Any = object()
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_GZIP_MAGIC = b"\x1f\x8b"


def scrub_url(url: str) -> str:
    """Path and query of ``url`` (no scheme, host or user info); credential-like query
    values become ``***`` (the one scrubber, :func:`racetui.util.secrets.safe_url`)."""
    if not url:
        return ""
    parts = urlsplit(safe_url(url))
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


class Journal:
    """An append-only gzip JSON-lines journal (see the module docstring for the format)."""

    def __init__(self, path: str | os.PathLike[str], *, source: str = "", compresslevel: int = 6) -> None:
        self.path = Path(path)
        self.source = source
        self.records = 0
        self.failed: str | None = None  # why writing stopped (disk full, ...)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd: int | None = None  # opened by the first record
        self._closed = False
        self._fresh = False  # True: a name chosen by open_default, created exclusively
        self._z = zlib.compressobj(compresslevel, zlib.DEFLATED, 31)  # 31: gzip wrapper

    @classmethod
    def open_default(cls, source_name: str) -> Journal:
        """A new journal in ``data_dir()/journals/``, named after the source and the time."""
        folder = data_dir() / "journals"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stem = f"{_SAFE_NAME.sub('-', source_name).strip('-') or 'source'}-{time.strftime('%Y%m%d-%H%M%S')}"
        journal = cls(_free_name(folder, stem), source=source_name)
        journal._fresh = True
        return journal

    def _open(self) -> int:
        """Create the file on the first record (exclusively for a name open_default chose:
        another run that took the name meanwhile makes this one move to the next free one)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        if not self._fresh:
            return os.open(self.path, flags, 0o600)
        while True:
            try:
                return os.open(self.path, flags | os.O_EXCL, 0o600)
            except FileExistsError:
                stem = self.path.name.removesuffix(".jsonl.gz")
                self.path = _free_name(self.path.parent, stem)

    # ----------------------------------------------------------------- write
    def record(
        self,
        kind: str,
        payload: bytes | str,
        received: float,
        url: str = "",
        *,
        source: str | None = None,
        body: Any = _UNSET,
    ) -> bool:
        """Append one received message, its bytes as received.

        ``body`` (optional) says the caller already decoded ``payload`` as JSON. Either way
        the JSON text itself goes into the line, never decoded and re-encoded: a 50,000-
        athlete v1.1 message is checked (msgspec's skip-only decode, UTF-8) in a tenth of
        the time a decode takes. Its line breaks (whitespace between JSON tokens, since a
        JSON string cannot hold a raw one) become spaces, so the line stays one line.

        Returns False when the record could not be written (the reason is in ``failed``);
        a journal problem never stops the source that feeds it.
        """
        if self._closed:
            return False
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
        if self._fd is None:
            try:
                self._fd = self._open()
            except OSError as exc:
                self.failed = (
                    f"{self.path}: cannot create the journal, recording stopped: {exc.strerror or exc}"
                )
                log.error("%s", self.failed)
                self._close_fd()
                return False
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        if body is _UNSET and not _is_json(raw):
            body_json = orjson.dumps(raw.decode("utf-8", errors="replace"))  # kept as text
        else:
            # Copied only when there is something to change: a 50,000-athlete body is tens
            # of MB, and each temporary copy's pages stay with the process afterwards.
            if b"\n" in raw:
                raw = raw.replace(b"\n", b" ")
            body_json = raw.strip() or b'""'
        head = orjson.dumps(
            {
                "t": float(received),
                "kind": kind,
                "source": self.source if source is None else source,
                "url": scrub_url(url),
            }
        )
        # The line goes through the compressor in pieces: joining it first made two more
        # copies of the body (94 MB at a time for a 50,000-athlete v1.1 message).
        z = self._z
        data = b"".join(
            (
                z.compress(head[:-1] + b',"body":'),
                z.compress(body_json),
                z.compress(b"}\n"),
                z.flush(zlib.Z_SYNC_FLUSH),
            )
        )
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            self.failed = f"{self.path}: journal write failed, recording stopped: {exc.strerror or exc}"
            log.error("%s", self.failed)
            self._close_fd()
            return False
        self.records += 1
        return True

    def close(self) -> None:
        """Finish the gzip member (the file then also reads with ``gzip``/``zcat``)."""
        if self._fd is None:
            self._closed = True
            _RESERVED.discard(self.path)
            return
        try:
            tail = self._z.flush(zlib.Z_FINISH)
            if tail:
                os.write(self._fd, tail)
        except OSError as exc:
            self.failed = f"{self.path}: journal close failed: {exc.strerror or exc}"
            log.error("%s", self.failed)
        self._close_fd()

    def _close_fd(self) -> None:
        self._closed = True
        _RESERVED.discard(self.path)
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, records={self.records})"


_RESERVED: set[Path] = set()  # names open_default gave out whose file does not exist yet


def _free_name(folder: Path, stem: str) -> Path:
    """The first ``stem[-n].jsonl.gz`` in ``folder`` that neither exists nor was given out."""
    for n in range(1, 1000):
        candidate = folder / (f"{stem}.jsonl.gz" if n == 1 else f"{stem}-{n}.jsonl.gz")
        if candidate not in _RESERVED and not candidate.exists():
            _RESERVED.add(candidate)
            return candidate
    raise OSError(f"{folder}: cannot create a new journal file for {stem!r}")


def _is_json(raw: bytes) -> bool:
    """Whether ``raw`` is one JSON document in UTF-8 (validated, nothing built)."""
    try:
        if not raw.isascii():  # checked a megabyte at a time: a whole str is another copy
            check = codecs.getincrementaldecoder("utf-8")()
            view = memoryview(raw)
            for start in range(0, len(raw), _CHUNK):
                check.decode(view[start : start + _CHUNK])
            check.decode(b"", final=True)
        msgspec.json.decode(raw, type=msgspec.Raw)
    except (UnicodeDecodeError, msgspec.DecodeError):
        return False
    return True


_CHUNK = 1 << 20


# ------------------------------------------------------------------------ read
def iter_journal(
    path: str | os.PathLike[str], on_error: Callable[[str], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield every complete record of a journal, oldest first.

    A journal still being written, or cut mid-write, yields everything up to its last
    complete line; a corrupt or cut tail is reported through ``on_error`` (default: a
    logged warning) and iteration stops cleanly. A line that is not a valid record is
    reported and skipped. Plain (uncompressed) JSON-lines files are read too.
    """
    report = on_error or (lambda message: log.warning("%s", message))
    path = Path(path)
    lineno = 0
    for line, problem in _lines(path):
        if problem is not None:
            report(f"{path}: {problem} after line {lineno}; the rest is not readable")
            return
        lineno += 1
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report(f"{path}: line {lineno}: not JSON ({exc}); skipped")
            continue
        reason = _invalid(record)
        if reason:
            report(f"{path}: line {lineno}: {reason}; skipped")
            continue
        yield record


def _invalid(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    t = record.get("t")
    if isinstance(t, bool) or not isinstance(t, int | float):
        return f"t: expected a unix time, got {t!r}"
    if record.get("kind") not in KINDS:
        return f"kind: expected rest, push or feed, got {record.get('kind')!r}"
    if "body" not in record:
        return "body: missing"
    return None


def _lines(path: Path, chunk_size: int = 1 << 16) -> Iterator[tuple[bytes, str | None]]:
    """Complete lines, then at most one ``(b"", problem)`` describing a bad tail."""
    with open(path, "rb") as handle:
        head = handle.read(2)
        handle.seek(0)
        compressed = head == _GZIP_MAGIC
        z = zlib.decompressobj(31) if compressed else None
        pending = b""
        while True:
            chunk = handle.read(chunk_size)
            if not chunk:
                break
            if z is None:
                data = chunk
            else:
                saved = z.copy()
                try:
                    data, z = _inflate(z, chunk)
                except (zlib.error, _NotGzip) as exc:
                    # Find the last good byte: replay this chunk byte by byte.
                    z = saved
                    for start in range(len(chunk)):
                        try:
                            data, z = _inflate(z, chunk[start : start + 1])
                        except (zlib.error, _NotGzip):
                            break
                        lines, pending = _split(pending + data)
                        for line in lines:
                            yield line, None
                    reason = str(exc) if isinstance(exc, _NotGzip) else f"corrupt compressed data ({exc})"
                    yield b"", reason
                    return
            lines, pending = _split(pending + data)
            for line in lines:
                yield line, None
        if pending.strip():
            yield b"", "an incomplete last line (cut mid-write)"
        elif z is not None and not z.eof and handle.tell() > 0 and not _sync_flushed(path):
            # Still being written (sync-flushed, not finished) is normal; anything else is a cut.
            yield b"", "a compressed stream cut mid-write (every line before it complete)"


class _NotGzip(Exception):
    pass


def _inflate(z: Any, chunk: bytes) -> tuple[bytes, Any]:
    """Decompress ``chunk``; a new gzip member may start after the end of the previous one."""
    data = z.decompress(chunk)
    while z.eof and z.unused_data:
        rest = z.unused_data
        if not rest.startswith(_GZIP_MAGIC[: len(rest)]):
            raise _NotGzip("garbage after the end of a gzip member")
        z = zlib.decompressobj(31)
        data += z.decompress(rest)
    return data, z


def _split(data: bytes) -> tuple[list[bytes], bytes]:
    if b"\n" not in data:
        return [], data
    *lines, rest = data.split(b"\n")
    return [line for line in lines if line.strip()], rest


def _sync_flushed(path: Path) -> bool:
    """Whether the file ends on a sync-flush marker (an open journal, not a cut one)."""
    size = path.stat().st_size
    if size < 4:
        return False
    with open(path, "rb") as handle:
        handle.seek(size - 4)
        return handle.read(4) == b"\x00\x00\xff\xff"


def not_a_journal(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` is plainly not a journal (None when it may be one).

    Someone holding a World Triathlon v1.1 message file naturally tries ``--replay`` on
    it; reading it as JSON lines would only say "incomplete last line". A gzip file, or
    one whose first line is a journal record, passes; a whole JSON document is named for
    what it is, with the command that opens it.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            if handle.read(2) == _GZIP_MAGIC:
                return None
            handle.seek(0)
            first = handle.readline(1 << 20)
            try:
                if _invalid(orjson.loads(first)) is None:
                    return None
            except orjson.JSONDecodeError:
                pass
            handle.seek(0)
            document = orjson.loads(handle.read())
    except OSError:
        return None  # the reader says why it cannot read the file
    except orjson.JSONDecodeError:
        return None  # not one JSON document either: the reader reports its lines
    if isinstance(document, dict) and ("prog_id" in document or "athletes" in document):
        return (
            f"{path}: a World Triathlon v1.1 message, not a recorded journal;"
            f" open it with: racetui feed {path}"
        )
    return f"{path}: one JSON document, not a recorded journal (JSON lines from connect or feed)"


def read_journal(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every readable record (convenience for tests and tools)."""
    return list(iter_journal(path))
