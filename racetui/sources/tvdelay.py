"""The TV delay remembered per event: a small JSON file in the data dir.

Keyed by the desk's :class:`~racetui.sources.desk.EventKey` text, so the delay a
commentator set for an event comes back when the dashboard is started again for it.
A file that cannot be read or written is reported (``problem``), never fatal.
"""

from __future__ import annotations

from pathlib import Path

from racetui.config import data_dir
from racetui.util.files import JsonFile

__all__ = ["TvDelayStore"]


class TvDelayStore(JsonFile):
    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path, lambda: data_dir() / "tv-delay.json", "TV delay file")

    def _read(self) -> dict[str, int]:
        data = self.read()
        return {k: int(v) for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}

    def get(self, event: str) -> int | None:
        return self._read().get(event)

    def put(self, event: str, ms: int) -> None:
        data = self._read()
        data[event] = int(ms)
        self.write(data, "TV delay not saved")
