"""What every source shares: the health it reports and the ``Source`` protocol.

A source (BBT client, v1.1 feed poller, replay) turns wire messages into deltas and
applies them through a :class:`~racetui.engine.Pipeline` (the engine plus the change sets
not yet drawn; it lives in the engine layer so publishers and screens use it without
depending on sources). ``Pipeline`` is re-exported here for the sources' convenience.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from racetui.engine.pipeline import Pipeline

__all__ = ["FeedState", "Pipeline", "Problem", "Source", "SourceHealth", "SourceMode", "source_kinds"]


class SourceMode(StrEnum):
    PUSH = "push"
    POLLING = "polling"
    FILE = "file"
    REPLAY = "replay"


class FeedState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STALE = "stale"
    ERROR = "error"
    STOPPED = "stopped"


@dataclass
class Problem:
    """One thing that went wrong with a source, in full: the Health screen lists these.

    The same message again (a URL answering 404 on every poll) only bumps ``count`` and
    ``last``: the list keeps distinct reasons, not one reason fifty times."""

    kind: str  # "rejected" (a bad message, last good state kept) or "error" (no message)
    message: str
    first: float  # wall-clock time.time()
    last: float
    count: int = 1


@dataclass
class SourceHealth:
    """Feed health, headless: the dashboard's header and Health screen read this.

    ``problems`` keeps the recent distinct rejections and errors with their full reasons;
    ``progress`` says how far a first load has come, for the header while it runs;
    ``details`` is what a source wants on its story in the Health screen beyond the counts
    (e.g. what a BBT master supports), label -> text; ``next_retry`` is the ``clock()`` time
    of the next attempt after a failure (``None``: not waiting), so that an empty board can
    say "retrying in 4 s".
    """

    name: str
    mode: SourceMode = SourceMode.POLLING
    state: FeedState = FeedState.CONNECTING
    last_message: float | None = None  # time.monotonic() of the last good message
    messages: int = 0
    rejected: int = 0
    reconnects: int = 0
    last_error: str | None = None
    journal_path: str | None = None
    stale_after: float = 10.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    problems: list[Problem] = field(default_factory=list, repr=False)
    details: dict[str, str] = field(default_factory=dict, repr=False)
    next_retry: float | None = None
    wall: Callable[[], float] = field(default=time.time, repr=False)
    progress: str | None = None  # "loading 14,000 of 50,000 athletes" while a first load runs

    MAX_PROBLEMS = 50

    def _problem(self, kind: str, message: str) -> None:
        now = self.wall()
        for problem in reversed(self.problems[-5:]):
            if problem.kind == kind and problem.message == message:
                problem.count += 1
                problem.last = now
                return
        self.problems.append(Problem(kind, message, now, now))
        del self.problems[: -self.MAX_PROBLEMS]

    def received(self) -> None:
        self.last_message = self.clock()
        self.messages += 1
        self.next_retry = None
        if self.state is not FeedState.CONNECTED:
            self.state = FeedState.CONNECTED

    def error(self, message: str) -> None:
        self.last_error = message
        self.state = FeedState.ERROR
        self._problem("error", message)

    def reject(self, message: str) -> None:
        """A bad message: counted and remembered, the last good state stays."""
        self.rejected += 1
        self.last_error = message
        self._problem("rejected", message)

    def retry_in(self) -> float | None:
        """Seconds to the next attempt after a failure (None: not waiting for one)."""
        if self.next_retry is None:
            return None
        return max(0.0, self.next_retry - self.clock())

    def age(self) -> float | None:
        return None if self.last_message is None else self.clock() - self.last_message

    def effective_state(self) -> FeedState:
        """CONNECTED turns STALE when nothing arrived for ``stale_after`` seconds."""
        age = self.age()
        if self.state is FeedState.CONNECTED and age is not None and age > self.stale_after:
            return FeedState.STALE
        return self.state


class Source(Protocol):
    """Anything that feeds a pipeline: a timing client, a feed poller, a replay, a cache."""

    @property
    def name(self) -> str: ...

    @property
    def health(self) -> SourceHealth: ...

    async def run(self, pipeline: Pipeline) -> None:
        """Feed the pipeline until cancelled. Never raises for bad input or a lost peer."""


def source_kinds(sources: Iterable[object]) -> str:
    """What the sources are, in one stable word ("BBTSource+FeedSource"; "racetui" for none).

    Part of the key desk entries, TV delays and notes are kept under, so it must not depend
    on where the sources run: a hub's sources seen through its channel (``kind`` set from the
    hub's health records) name the same kinds as the sources themselves."""
    kinds = sorted({getattr(source, "kind", None) or type(source).__name__ for source in sources})
    return "+".join(kinds) or "racetui"
