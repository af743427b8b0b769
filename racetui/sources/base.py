"""What every source shares: the health it reports and the ``Source`` protocol.

A source (BBT client, v1.1 feed poller, replay) turns wire messages into deltas and
applies them through a :class:`~racetui.engine.Pipeline` (the engine plus the change sets
not yet drawn; it lives in the engine layer so publishers and screens use it without
depending on sources). ``Pipeline`` is re-exported here for the sources' convenience.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from racetui.engine.pipeline import Pipeline

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
