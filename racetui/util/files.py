"""Small files racetui keeps in its data dir (layouts, official marks, TV delays, hosted
v1.1 files): replaced atomically, and read back without ever raising for a bad one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["read_json_object", "write_atomic", "write_json"]


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
