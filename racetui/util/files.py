"""Small files racetui keeps in its data dir (layouts, official marks, TV delays, hosted
v1.1 files): replaced atomically, and read back without ever raising for a bad one."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["JsonFile", "Spool", "read_json_object", "write_atomic", "write_json"]

log = logging.getLogger(__name__)


def write_atomic(path: Path, body: bytes | Iterable[bytes]) -> None:
    """Write ``body`` (bytes, or its pieces one after the other) to ``path`` so that a reader
    sees the old or the new file, never half (a temporary file of its own beside it, synced,
    then renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in (body,) if isinstance(body, bytes | bytearray | memoryview) else body:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Spool:
    """Bytes written in pieces and read back in pieces, held in memory up to ``limit`` and past
    it in an anonymous file of ``directory`` (no name: nothing is left behind, even by a
    crash), so a large body (a v1.1 message at 50,000 athletes is 47 MB) is never resident.

    Written from one thread; once written, any number of threads may read it, each with its
    own :meth:`chunks` (positioned reads, no shared offset)."""

    __slots__ = ("_buffer", "_directory", "_file", "_limit", "_size")

    def __init__(self, directory: Path | None = None, *, limit: int = 1 << 20) -> None:
        self._directory = directory
        self._limit = limit
        self._buffer: bytearray | None = bytearray()
        self._file: Any = None  # an unnamed temporary file, once past the limit
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._buffer is not None:
            if len(self._buffer) + len(data) <= self._limit:
                self._buffer += data
                self._size += len(data)
                return
            if self._directory is not None:
                self._directory.mkdir(parents=True, exist_ok=True)
            self._file = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115 (kept open: read later)
            self._file.write(self._buffer)
            self._buffer = None
        self._file.write(data)
        self._size += len(data)

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """What was written, ``size`` bytes at a time (the last piece shorter)."""
        if self._buffer is not None:
            view = memoryview(self._buffer)
            for start in range(0, self._size, size):
                yield bytes(view[start : start + size])
            return
        self._file.flush()
        fd = self._file.fileno()
        offset = 0
        while offset < self._size:
            piece = os.pread(fd, min(size, self._size - offset), offset)
            if not piece:
                raise OSError(f"spool: {self._size - offset} bytes missing at {offset}")
            offset += len(piece)
            yield piece

    def getvalue(self) -> bytes:
        """All of it as one ``bytes`` (small bodies, tests, a dry run)."""
        if self._buffer is not None:
            return bytes(self._buffer)
        return b"".join(self.chunks())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def write_json(path: Path, data: Any) -> None:
    """``data`` as readable JSON (sorted keys), atomically."""
    write_atomic(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def read_json_object(path: Path, what: str) -> tuple[dict[str, Any], str | None]:
    """The JSON object in ``path`` and None; or ``{}`` and why not, naming ``what`` the file
    is for ("TV delay file …: …"). A file that does not exist yet is ``{}`` with no problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {}, f"{what} {path}: {exc}"
    if not isinstance(data, dict):
        return {}, f"{what} {path}: not a table of events"
    return data, None


class JsonFile:
    """One small JSON object file of the data dir, read whole and rewritten whole: its path
    (given, or ``default()`` on first use, so no data dir is made before it is needed) and
    the last problem reading or writing it (``problem``: reported, never raised)."""

    def __init__(self, path: Path | None, default: Callable[[], Path], what: str) -> None:
        self._path = path
        self._default = default
        self.what = what
        self.problem: str | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = self._default()
        return self._path

    def read(self) -> dict[str, Any]:
        data, problem = read_json_object(self.path, self.what)
        if problem is not None:
            self.problem = problem
            log.warning("%s", problem)
        return data

    def write(self, data: Any, failed: str) -> bool:
        """Replace the file with ``data``; False (and ``problem`` says "``failed`` (path): why") if not."""
        try:
            write_json(self.path, data)
        except OSError as exc:
            self.problem = f"{failed} ({self.path}): {exc}"
            log.warning("%s", self.problem)
            return False
        return True
