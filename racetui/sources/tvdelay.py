"""The TV delay remembered per event: a small JSON file in the data dir.

Keyed by the desk's :class:`~racetui.sources.desk.EventKey` text, so the delay a
commentator set for an event comes back when the dashboard is started again for it.
A file that cannot be read or written is reported (``problem``), never fatal.
"""

from __future__ import annotations

import logging
from pathlib import Path

from racetui.config import data_dir
from racetui.util.files import read_json_object, write_json

__all__ = ["TvDelayStore"]

log = logging.getLogger(__name__)


class TvDelayStore:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self.problem: str | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = data_dir() / "tv-delay.json"
        return self._path

    def _read(self) -> dict[str, int]:
        data, problem = read_json_object(self.path, "TV delay file")
        if problem is not None:
            self.problem = problem
            log.warning("%s", problem)
        return {k: int(v) for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}

    def get(self, event: str) -> int | None:
        return self._read().get(event)

    def put(self, event: str, ms: int) -> None:
        data = self._read()
        data[event] = int(ms)
        try:
            write_json(self.path, data)
        except OSError as exc:
            self.problem = f"TV delay not saved ({self.path}): {exc}"
            log.warning("%s", self.problem)
