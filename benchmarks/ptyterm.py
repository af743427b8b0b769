"""racetui in a real pseudo-terminal, its output through a terminal emulator (pyte), with
frame-exact timing: the benchmarks' one terminal (``bench_pty``, ``bench_startup``).

Textual asks the terminal whether it supports synchronized output (DECRQM
``ESC [ ? 2026 $ p``); this terminal answers yes (``ESC [ ? 2026 ; 2 $ y``) as soon as it
sees the query, and Textual then brackets every frame with ``ESC [ ? 2026 h`` …
``ESC [ ? 2026 l``. A screen is looked at only where a frame ends (right after a SYNC_END
is fed), never in the middle of a partial redraw, and the time of a frame is the time of
the read that held its SYNC_END. If the answer is not taken (no SYNC_END ever comes), the
screen is looked at after every read instead and :attr:`Terminal.synced` says so.

The emulator's own work (pyte) is not counted: what the pty holds is read (and each read
timed) before any of it is fed to pyte, so Textual never waits on a full pty for it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Callable

import pyte

from benchmarks.simproc import ROOT, children, peak_rss_mb

__all__ = [
    "KEYS",
    "Terminal",
    "athletes_shown",
    "cursor_bib",
    "has_athletes",
    "loop_lag",
    "on_board",
    "on_health",
    "on_splits",
    "parse_size",
]

SYNC_QUERY = b"\x1b[?2026$p"
SYNC_ANSWER = b"\x1b[?2026;2$y"
SYNC_END = b"\x1b[?2026l"
_TAIL = max(len(SYNC_QUERY), len(SYNC_END)) - 1
KEYS = {"down": "\x1b[B", "up": "\x1b[A"}  # what a terminal sends for them
ROW_WITH_BIB = re.compile(r"^\s*(?:\d+|–|-)\s+(\d+)\s+\S")
COUNT = re.compile(r"([\d,]+) athletes")
LOOP_LAG = re.compile(r"UI loop: longest stall (\d+) ms \(last min\), (\d+) ms since start, p99 (\d+) ms")

Lines = list[str]
Check = Callable[["Terminal"], bool]  # looked at where a frame ends


def parse_size(text: str) -> tuple[int, int]:
    """``"120x36"`` → (columns, rows)."""
    cols, _, rows = text.lower().partition("x")
    if not cols.isdigit() or not rows.isdigit() or int(cols) < 20 or int(rows) < 5:
        raise ValueError(f"terminal size {text!r}: expected COLSxROWS, e.g. 80x24")
    return int(cols), int(rows)


class Terminal:
    """One process in a pty of ``cols`` × ``rows``; its output through pyte."""

    def __init__(self, argv: list[str], data_dir: str, cols: int = 120, rows: int = 36) -> None:
        env = dict(os.environ, RACETUI_DATA_DIR=data_dir, RACETUI_CONFIG=os.path.join(data_dir, "none.toml"))
        env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT), COLUMNS=str(cols), LINES=str(rows))
        env.pop("TEXTUAL", None)
        self.cols, self.rows = cols, rows
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.chdir(ROOT)
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.answered = False  # the sync query was seen and answered
        self.frames = 0  # SYNC_ENDs fed so far
        self.last_frame = float("nan")  # perf_counter of the read holding the latest SYNC_END
        self.last_read = float("nan")
        self.eof = False
        self._tail = b""

    @property
    def synced(self) -> bool:
        """Whether frames are bracketed (the answer was taken): done is judged at frame ends."""
        return self.frames > 0

    def lines(self) -> Lines:
        return list(self.screen.display)

    def _read(self, timeout: float) -> tuple[float, list[bytes]] | None:
        """One read (None when nothing came in ``timeout``): its time and its bytes cut after
        each SYNC_END, so that every piece but the last ends a frame."""
        if self.eof:
            return None
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return None
        try:
            chunk = os.read(self.fd, 1 << 16)
        except OSError:
            chunk = b""
        at = time.perf_counter()
        if not chunk:
            self.eof = True
            return None
        self.last_read = at
        seen = self._tail + chunk
        if not self.answered and SYNC_QUERY in seen:
            os.write(self.fd, SYNC_ANSWER)
            self.answered = True
        # Cut after every SYNC_END that ends in this chunk (one may begin in the last read).
        cuts, start = [], 0
        while (found := seen.find(SYNC_END, start)) != -1:
            start = found + len(SYNC_END)
            if start > len(self._tail):
                cuts.append(start - len(self._tail))
        self._tail = seen[-_TAIL:]
        out = [chunk[a:b] for a, b in zip([0, *cuts], [*cuts, len(chunk)], strict=True)]
        return at, out

    def _reads(self, timeout: float) -> list[tuple[float, list[bytes]]]:
        """Everything the pty holds, each read timed as it comes, before any of it goes to
        the emulator: Textual's writes wait while the pty is full, so feeding pyte between
        the reads of one frame would count the emulator's work in the frame's time."""
        first = self._read(timeout)
        if first is None:
            return []
        reads = [first]
        while len(reads) < 256 and (more := self._read(0.0)) is not None:
            reads.append(more)
        return reads

    def _feed(self, at: float, pieces: list[bytes], done: Check | None) -> bool:
        """Feed one read; with ``done``, whether it held at a frame's end (or after the read,
        unsynced)."""
        hit = False
        for index, piece in enumerate(pieces):
            if piece:
                self.stream.feed(piece)
            if index < len(pieces) - 1:
                self.frames += 1
                self.last_frame = at
                if done is not None and not hit and done(self):
                    hit = True
        if done is not None and not hit and not self.synced and done(self):
            hit = True
        return hit

    def wait(self, done: Check, timeout: float) -> float:
        """perf_counter of the read holding the end of the first frame after which ``done`` is
        true (nan on timeout or when the process ended). Only frames that end from now on
        count: what is on the screen already is not looked at."""
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0 or self.eof:
                return float("nan")
            hit = float("nan")
            for read in self._reads(min(left, 0.05)):
                if self._feed(*read, None if hit == hit else done):
                    hit = read[0]
            if hit == hit:
                return hit

    def drain(self, quiet: float = 0.02, limit: float = 2.0) -> None:
        """Read what is pending until the pty has been quiet for ``quiet`` seconds (at most
        ``limit``): output of earlier frames is not taken for the next key's."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            reads = self._reads(quiet)
            if not reads:
                return
            for read in reads:
                self._feed(*read, None)

    def settle(self, quiet: float, limit: float) -> bool:
        """Read until no frame has ended for ``quiet`` seconds (at most ``limit``): whether it
        settled."""
        deadline = time.perf_counter() + limit
        mark = time.perf_counter()
        while time.perf_counter() < deadline:
            for read in self._reads(min(quiet, deadline - time.perf_counter())):
                frames = self.frames
                self._feed(*read, None)
                if self.frames != frames:
                    mark = read[0]
            if time.perf_counter() - mark >= quiet:
                return True
            if self.eof:
                return False
        return False

    def press(self, key: str, done: Check, timeout: float = 15.0) -> float:
        """Seconds from writing ``key`` to the read ending the first frame that shows
        ``done`` (nan if none did in ``timeout``). Everything pending is read first."""
        self.drain()
        sent = time.perf_counter()
        os.write(self.fd, key.encode())
        return self.wait(done, timeout) - sent

    def rss(self) -> tuple[float, float]:
        """Peak RSS (MB) of the process and of its largest child (the hub)."""
        hub = children(self.pid)
        return peak_rss_mb(self.pid), max((peak_rss_mb(p) for p in hub), default=float("nan"))

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline:
            ended, _ = os.waitpid(self.pid, os.WNOHANG)
            if ended:
                break
            self.drain(0.05, 0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


# ------------------------------------------------- racetui's screens as the pty shows them
# Each is true on its own screen only (and false on the others the benchmarks switch
# between), and only once the screen is drawn with what it is for.


def on_board(term: Terminal) -> bool:
    """The leaderboard with rows: its "N athletes" line, a row with a bib, its footer."""
    lines = term.lines()
    return (
        bool(COUNT.search(lines[1]))
        and " p Point " in lines[-1]
        and any(ROW_WITH_BIB.match(line) for line in lines[3:8])
    )


def has_athletes(term: Terminal) -> bool:
    """The first leaderboard row with a bib (an empty board's column header is not it)."""
    return on_board(term)


def on_health(term: Terminal) -> bool:
    """The Health screen, its sources table and its UI-loop line drawn."""
    lines = term.lines()
    return (
        "Source story" in lines[-1]
        and lines[1].startswith("Source ")
        and any("Recent rejected input and errors" in line for line in lines)
        and any(line.lstrip().startswith("UI loop:") for line in lines)
    )


def on_splits(term: Terminal) -> bool:
    """The Splits screen: its own info line, a row with a bib."""
    lines = term.lines()
    return lines[1].lstrip().startswith("split ·") and any(ROW_WITH_BIB.match(line) for line in lines[3:8])


def athletes_shown(term: Terminal) -> int:
    """The leaderboard's count ("loading 14,000 of 50,000 athletes" counts 50,000 only when
    the header says so; 0 on another screen)."""
    found = COUNT.search(term.lines()[1])
    return int(found.group(1).replace(",", "")) if found else 0


def cursor_bib(term: Terminal, colour: str) -> str | None:
    """The bib on the board's cursor row: the row whose background is the cursor's."""
    for row in range(3, term.rows - 1):
        if term.screen.buffer[row][2].bg == colour:
            found = ROW_WITH_BIB.match(term.lines()[row])
            return found.group(1) if found else None
    return None


def loop_lag(term: Terminal) -> tuple[int, int, int] | None:
    """The Health screen's UI-loop line: longest stall in the last minute, since start, p99 (ms)."""
    for line in term.lines():
        found = LOOP_LAG.search(line)
        if found:
            return int(found.group(1)), int(found.group(2)), int(found.group(3))
    return None
