"""The pipeline: the engine, the change sets not yet drawn, and who listens.

Sources apply deltas through a :class:`Pipeline`; it merges the change sets of everything
applied since the last UI tick and tells listeners (publishers, the start-list cache) what
changed. The dashboard drains one merged change set per tick. It is pure (no I/O), so
it sits with the engine: sources, publishers and screens all depend on it, not on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from racetui.engine.engine import ChangeSet, Engine
from racetui.engine.standings import Override
from racetui.model import Event, Participant, Passing, Race, Result

__all__ = ["Listener", "Pipeline"]

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

    def remove_athletes(self, race_id: str, bibs: Iterable[str]) -> ChangeSet:
        """Athletes the timing system deleted: gone from every ranking and upload."""
        return self._applied(self.engine.remove_athletes(race_id, bibs))

    def apply_snapshot(self, race: Race, results: Sequence[Result]) -> ChangeSet:
        return self._applied(self.engine.apply_snapshot(race, results))

    def set_override(self, race_id: str, bib: str, override: Override | None) -> ChangeSet:
        return self._applied(self.engine.set_override(race_id, bib, override))
