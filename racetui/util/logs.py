"""Where log records go while the dashboard runs: a file in the data dir and the Health screen.

Textual owns the terminal: a log line written to stderr lands over the header and stays
there until the next full repaint (``… WARNING racetui.sources.feed: …: HTTP 404`` every
2 s). While the dashboard runs, :func:`dashboard_logging` moves the root logger's stderr
handlers aside, writes to ``<data dir>/logs/racetui.log`` (rotated, 0600) and keeps the
recent records in memory for the Health screen. Headless commands keep logging to stderr.
Records pass the one secrets filter (:mod:`racetui.util.secrets`) on every handler.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from racetui.util.secrets import install_log_filter

__all__ = ["DashboardLog", "RecentRecords", "dashboard_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RecentRecords(logging.Handler):
    """The last ``capacity`` formatted records (warnings and worse by default)."""

    def __init__(self, capacity: int = 200, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.lines: deque[str] = deque(maxlen=capacity)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a log record that cannot be formatted must not break the app
            self.handleError(record)


@dataclass
class DashboardLog:
    """What the Health screen shows about logging: the file, and the recent records."""

    path: Path | None
    recent: RecentRecords
    problem: str | None = None  # why there is no log file (the records are still on Health)
    saved: list[logging.Handler] = field(default_factory=list, repr=False)


def _is_terminal_stream(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return isinstance(handler, logging.StreamHandler) and stream in (sys.stderr, sys.stdout, sys.__stderr__)


@contextlib.contextmanager
def dashboard_logging(directory: Path, level: int | None = None) -> Iterator[DashboardLog]:
    """Log to ``directory/racetui.log`` and to memory (not the terminal) inside the block.

    ``level`` is the root logger's level meanwhile (default: as it is, i.e. as ``-v`` set
    it). A log file that cannot be opened is reported in :attr:`DashboardLog.problem`; the
    dashboard still runs.
    """
    root = logging.getLogger()
    terminal = [handler for handler in root.handlers if _is_terminal_stream(handler)]
    for handler in terminal:
        root.removeHandler(handler)
    old_level = root.level
    if level is not None:
        root.setLevel(level)
    recent = RecentRecords()
    root.addHandler(recent)
    log = DashboardLog(None, recent, saved=terminal)
    file_handler: logging.Handler | None = None
    path = directory / "racetui.log"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(file_handler)
        log.path = path
    except OSError as exc:
        log.problem = f"no log file at {path}: {exc.strerror or exc}"
    logging.captureWarnings(True)
    install_log_filter()
    try:
        yield log
    finally:
        logging.captureWarnings(False)
        root.removeHandler(recent)
        if file_handler is not None:
            root.removeHandler(file_handler)
            file_handler.close()
        root.setLevel(old_level)
        for handler in terminal:
            root.addHandler(handler)
