"""What every source shares: the pipeline it feeds and the health it reports.

A source (BBT client, v1.1 feed poller, replay) turns wire messages into deltas and
applies them through a :class:`Pipeline`. The pipeline owns the engine, merges the change
sets of everything applied since the last tick, and tells listeners (publishers) that
something changed. The dashboard drains one merged change set per UI tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from racetui.engine import ChangeSet, Engine, Override
from racetui.model import Event, Participant, Passing, Race, Result

__all__ = ["FeedState", "Pipeline", "Source", "SourceHealth", "SourceMode"]


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
class SourceHealth:
    """Feed health, headless: the dashboard's header and Health screen read this."""

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

    def received(self) -> None:
        self.last_message = self.clock()
        self.messages += 1
        if self.state is not FeedState.CONNECTED:
            self.state = FeedState.CONNECTED

    def error(self, message: str) -> None:
        self.last_error = message
        self.state = FeedState.ERROR

    def reject(self, message: str) -> None:
        """A bad message: counted and remembered, the last good state stays."""
        self.rejected += 1
        self.last_error = message

    def age(self) -> float | None:
        return None if self.last_message is None else self.clock() - self.last_message

    def effective_state(self) -> FeedState:
        """CONNECTED turns STALE when nothing arrived for ``stale_after`` seconds."""
        age = self.age()
        if self.state is FeedState.CONNECTED and age is not None and age > self.stale_after:
            return FeedState.STALE
        return self.state


class Source(Protocol):
    name: str
    health: SourceHealth

    async def run(self, pipeline: Pipeline) -> None:
        """Feed the pipeline until cancelled. Never raises for bad input or a lost peer."""


Listener = Callable[[ChangeSet], None]


class Pipeline:
    """The engine plus the change sets not yet taken by the screen."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine()
        self.pending = ChangeSet()
        self.listeners: list[Listener] = []
        self.errors: list[str] = []  # recent per-field errors, newest last (bounded)

    def _applied(self, changes: ChangeSet) -> ChangeSet:
        if changes.errors:
            self.errors.extend(changes.errors)
            del self.errors[:-200]
        if changes:
            self.pending.merge(changes)
            for listener in list(self.listeners):
                listener(changes)
        return changes

    def drain(self) -> ChangeSet:
        """Everything changed since the last drain, merged (one redraw per UI tick)."""
        self.pending.merge(self.engine.settle())
        changes, self.pending = self.pending, ChangeSet(version=self.engine.version)
        return changes

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Wrap a source's full sync (thousands of items over many requests): everything
        applied inside is re-sorted once at the end, and screens keep showing the last
        sorted state meanwhile instead of re-sorting on every tick."""
        with self.engine.hold():
            yield
        self._applied(self.engine.settle())

    def load_event(self, event: Event) -> ChangeSet:
        return self._applied(self.engine.load_event(event))

    def upsert_race(self, race: Race) -> ChangeSet:
        return self._applied(self.engine.upsert_race(race))

    def add_participants(self, participants: Iterable[Participant]) -> ChangeSet:
        return self._applied(self.engine.add_participants(participants))

    def apply_passings(self, passings: Iterable[Passing]) -> ChangeSet:
        return self._applied(self.engine.apply_passings(passings))

    def apply_results(self, race_id: str, results: Sequence[Result], *, complete: bool = False) -> ChangeSet:
        return self._applied(self.engine.apply_results(race_id, results, complete=complete))

    def apply_snapshot(self, race: Race, results: Sequence[Result]) -> ChangeSet:
        return self._applied(self.engine.apply_snapshot(race, results))

    def set_override(self, race_id: str, bib: str, override: Override | None) -> ChangeSet:
        return self._applied(self.engine.set_override(race_id, bib, override))
