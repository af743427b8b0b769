"""Small files racetui keeps in its data dir (layouts, official marks, TV delays, hosted
v1.1 files): replaced atomically, and read back without ever raising for a bad one."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["JsonFile", "read_json_object", "write_atomic", "write_json"]

log = logging.getLogger(__name__)


def write_atomic(path: Path, body: bytes) -> None:
    """Write ``body`` to ``path`` so that a reader sees the old or the new file, never half
    (a temporary file of its own beside it, synced, then renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
