"""The hub: sources → journal → engine → numbered change records, plus snapshots.

:class:`HubPipeline` is the :class:`~racetui.sources.base.Pipeline` the sources feed in
the hub. It applies every delta to the hub's own engine (the sources, their journals and
this engine are the whole ingest cost, kept away from any screen) and then describes what
the engine *accepted* as change records: a v1.1 full message of 50,000 athletes in which
300 changed becomes 300 results, a passing that changed nothing becomes nothing.

:class:`Hub` numbers the records into frames and hands the encoded frames to a ``publish``
callable (the transport: a local pipe, later Redis Streams); :meth:`Hub.snapshot` is the
engine's whole state as the same records, for a new viewer or one that saw a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from racetui.engine import ChangeSet, Engine, Override
from racetui.engine.standings import RaceStandings
from racetui.hub.records import (
    AddParticipants,
    ApplyPassings,
    ApplyResults,
    Change,
    Clock,
    Errors,
    Frame,
    Health,
    HealthRec,
    PassingRec,
    RemoveAthletes,
    Reset,
    ResultRec,
    SetEvent,
    SetRace,
    encode_frame,
    override_rec,
    participant_rec,
    result_rec,
)
from racetui.model import Event, Participant, Passing, Race, Result
from racetui.sources.base import Pipeline, SourceHealth
from racetui.util.secrets import scrub

__all__ = ["FRAME_ITEMS", "ChangeLog", "FieldFreezer", "Hub", "HubPipeline", "health_rec", "snapshot_changes"]

log = logging.getLogger(__name__)

# Items per frame: a viewer decodes and applies one frame at a time, and one frame of this
# many athletes takes a few milliseconds (the engine's one-by-one indexing stays below
# its bulk threshold, so the replica's indexes are exact after every frame).
FRAME_ITEMS = 400


class FieldFreezer:
    """Keeps a big loaded field out of the garbage collector's passes.

    An engine's entries, keys and sorted lists live as long as the race; with 50,000
    athletes a full collection walks millions of objects and stalls the loop for 100 ms
    or more, again and again while the field loads. Once the field reaches ``minimum``
    athletes and each time it grows by a quarter, the young generations are collected
    (cheap) and everything alive is frozen (``gc.freeze()``): later passes skip it.
    """

    def __init__(self, minimum: int = 5000) -> None:
        self.minimum = minimum
        self.frozen_at = 0

    def __call__(self, engine: Engine) -> bool:
        total = sum(len(standings) for standings in engine.races.values())
        if total < self.minimum or total <= self.frozen_at * 1.25:
            return False
        gc.collect(1)
        gc.freeze()
        self.frozen_at = total
        return True


class ChangeLog(Protocol):
    """Where a :class:`HubPipeline` puts what its engine accepted."""

    def emit(self, changes: Iterable[Change]) -> None: ...


def _touched(changes: ChangeSet, race_id: str) -> set[str]:
    return changes.athletes.get(race_id, set())


class HubPipeline(Pipeline):
    """A pipeline that records every accepted change into a :class:`ChangeLog`.

    The public surface is :class:`Pipeline`'s: sources do not know they feed a hub. Nothing
    is kept pending for a screen (there is none here); the hub re-indexes on its own timer.
    """

    def __init__(self, changelog: ChangeLog, engine: Engine | None = None) -> None:
        super().__init__(engine)
        self.changelog = changelog

    def _applied(self, changes: ChangeSet) -> ChangeSet:
        if changes.errors:
            self.errors.extend(changes.errors)
            del self.errors[:-200]
            self.changelog.emit([Errors(list(changes.errors))])
        if changes:
            for listener in list(self.listeners):
                listener(changes)
        return changes

    def drain(self) -> ChangeSet:
        changes = self.engine.settle()
        self.pending = ChangeSet(version=self.engine.version)
        return changes

    def load_event(self, event: Event) -> ChangeSet:
        changes = super().load_event(event)
        self.changelog.emit([SetEvent(event.model_dump_json().encode())])
        return changes

    def upsert_race(self, race: Race) -> ChangeSet:
        changes = super().upsert_race(race)
        if changes.structure:
            self.changelog.emit([SetRace(race.model_dump_json().encode())])
        return changes

    def add_participants(self, participants: Iterable[Participant]) -> ChangeSet:
        batch = list(participants)
        changes = super().add_participants(batch)
        if changes:
            items = [participant_rec(p) for p in batch if p.bib in _touched(changes, p.race_id)]
            self.changelog.emit(AddParticipants(chunk) for chunk in _chunks(items))
        return changes

    def apply_passings(self, passings: Iterable[Passing]) -> ChangeSet:
        batch = passings if isinstance(passings, Sequence) else list(passings)
        changes = super().apply_passings(batch)
        if changes:
            items = [
                PassingRec(p.race_id, p.bib, p.point_id, p.time_ms)
                for p in batch
                if p.bib in _touched(changes, p.race_id)
            ]
            self.changelog.emit(ApplyPassings(chunk) for chunk in _chunks(items))
        return changes

    def apply_results(self, race_id: str, results: Sequence[Result], *, complete: bool = False) -> ChangeSet:
        changes = super().apply_results(race_id, results, complete=complete)
        self._record_results(race_id, results, changes)
        return changes

    def apply_snapshot(self, race: Race, results: Sequence[Result]) -> ChangeSet:
        changes = super().apply_snapshot(race, results)
        if race.id in changes.structure:
            self.changelog.emit([SetRace(race.model_dump_json().encode())])
        self._record_results(race.id, results, changes)
        return changes

    def set_override(self, race_id: str, bib: str, override: Override | None) -> ChangeSet:
        changes = super().set_override(race_id, bib, override)
        if changes:
            self.changelog.emit([override_rec(race_id, bib, override)])
        return changes

    def _record_results(self, race_id: str, results: Sequence[Result], changes: ChangeSet) -> None:
        """Only the athletes the engine changed travel; bibs the engine dropped (a complete
        list without them) travel as a removal."""
        touched = _touched(changes, race_id)
        if not touched:
            return
        standings = self.engine.races.get(race_id)
        if standings is None:
            return
        entries = standings.entries
        items = [
            result_rec(r.bib, r.participant, r.status, r.splits, r.incidents, r.legs, r.reported)
            for r in results
            if r.bib in touched and r.bib in entries
        ]
        removed = [bib for bib in touched if bib not in entries]
        records: list[Change] = [ApplyResults(race_id, chunk) for chunk in _chunks(items)]
        if removed:
            records.append(RemoveAthletes(race_id, sorted(removed)))
        self.changelog.emit(records)


def _chunks(items: list[Any], size: int = FRAME_ITEMS) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _entry_result(standings: RaceStandings, entry: Any) -> ResultRec:
    held = standings.held(entry.bib)
    splits = held.splits if held is not None else {}
    return result_rec(
        entry.bib,
        entry.participant,
        entry.source_status,
        splits,
        entry.source_incidents,
        entry.legs,
        standings.source_reported(entry.bib),
    )


def snapshot_changes(engine: Engine, errors: Sequence[str] = ()) -> list[list[Change]]:
    """The engine's whole state as change records, in frames of at most ``FRAME_ITEMS``
    athletes, the first starting with :class:`Reset` (how many athletes follow), with the
    latest ``errors`` so a viewer that joins late still sees what went wrong."""
    total = sum(len(standings.entries) for standings in engine.races.values())
    head: list[Change] = [Reset(athletes=total)]
    if engine.event is not None:
        head.append(SetEvent(engine.event.model_dump_json().encode()))
    for standings in engine.races.values():
        head.append(SetRace(standings.race.model_dump_json().encode()))
    if errors:
        head.append(Errors(list(errors[-50:])))
    frames: list[list[Change]] = [head]
    for race_id, standings in engine.races.items():
        entries = list(standings.entries.values())
        for chunk in _chunks(entries):
            frame: list[Change] = [ApplyResults(race_id, [_entry_result(standings, e) for e in chunk])]
            frame += [override_rec(race_id, e.bib, e.override) for e in chunk if e.override is not None]
            frames.append(frame)
    head[0] = Reset(athletes=total, frames=len(frames))
    return frames


def health_rec(name: str, health: SourceHealth, kind: str = "") -> HealthRec:
    return HealthRec(
        name,
        str(health.mode),
        str(health.state),
        health.age(),
        health.messages,
        health.rejected,
        health.reconnects,
        None if health.last_error is None else scrub(health.last_error),
        health.journal_path,
        health.stale_after,
        kind,
        health.progress,
    )


class Hub:
    """Sources feeding a :class:`HubPipeline`; frames out through ``publish``.

    Records emitted during one turn of the event loop travel in one frame (split at
    ``FRAME_ITEMS`` items), so a push of 300 passings a second is a handful of frames.
    """

    def __init__(
        self,
        sources: Sequence[Any],
        publish: Callable[[bytes], None],
        *,
        health_interval: float = 0.25,
        settle_interval: float = 0.2,
    ) -> None:
        self.sources = list(sources)
        self.publish = publish
        self.pipeline = HubPipeline(self)
        self.engine = self.pipeline.engine
        self.seq = 0
        self.health_interval = health_interval
        self.settle_interval = settle_interval
        self._buffer: list[Change] = []
        self._items = 0
        self._flush_scheduled = False
        self._last_health: Any = None
        self._freeze = FieldFreezer()

    # ------------------------------------------------------------ the stream
    def emit(self, changes: Iterable[Change]) -> None:
        for change in changes:
            size = len(getattr(change, "items", ()) or ())
            if self._items and self._items + size > FRAME_ITEMS:
                self.flush()
            self._buffer.append(change)
            self._items += max(size, 1)
        if self._buffer and not self._flush_scheduled:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._flush_scheduled = True
            except RuntimeError:  # no loop (a synchronous caller): send now
                self.flush()

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._buffer:
            return
        self.seq += 1
        changes, self._buffer, self._items = self._buffer, [], 0
        self.publish(encode_frame(Frame(self.seq, changes)))

    def snapshot(self) -> list[bytes]:
        """Everything up to the last numbered frame, as snapshot frames (flushes first so
        the snapshot covers exactly ``seq``)."""
        self.flush()
        self.engine.settle(place=False)  # a snapshot reads entries, not rankings
        return [
            encode_frame(Frame(self.seq, f, snapshot=True))
            for f in snapshot_changes(self.engine, self.pipeline.errors)
        ]

    def error(self, message: str) -> None:
        """The hub's own failure, for the viewers' Health screen (never a terminal)."""
        text = scrub(message)
        self.pipeline.errors.append(text)
        del self.pipeline.errors[:-200]
        self.emit([Errors([text])])

    # ------------------------------------------------------------- running
    async def run(self) -> None:
        """Run every source and the housekeeping until cancelled."""
        tasks = [asyncio.create_task(self._run_source(s), name=f"source {s.name}") for s in self.sources]
        tasks.append(asyncio.create_task(self._housekeeping(), name="hub housekeeping"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            self.flush()

    async def _run_source(self, source: Any) -> None:
        try:
            await source.run(self.pipeline)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source must never take the hub down
            source.health.error(f"{type(exc).__name__}: {exc}")
            self.error(f"{source.name} stopped: {type(exc).__name__}: {exc}")

    async def _housekeeping(self) -> None:
        last_settle = 0.0
        last_clock = 0.0
        while True:
            await asyncio.sleep(self.health_interval)
            now = time.monotonic()
            self.send_health()
            if now - last_settle >= self.settle_interval:
                last_settle = now
                # Bulk loads re-sorted; passers' overall places wait for a read (a snapshot).
                self.engine.settle(place=False)
                self._freeze(self.engine)
            if now - last_clock >= 1.0:
                last_clock = now
                self.send_clocks()

    def health_records(self) -> list[HealthRec]:
        return [health_rec(s.name, s.health, type(s).__name__) for s in self.sources]

    def send_health(self, *, force: bool = False) -> None:
        """Health when it changed (at most every ``health_interval``)."""
        records = self.health_records()
        signature = [
            (r.state, r.messages, r.rejected, r.reconnects, r.last_error, r.progress) for r in records
        ]
        if force or signature != self._last_health:
            self._last_health = signature
            self.emit([Health(records)])

    def send_clocks(self) -> None:
        for source in self.sources:
            anchor = getattr(source, "clock_anchor", None)
            if callable(anchor):
                event = anchor()
                if event is not None:
                    self.emit([Clock(source.name, time.time(), float(event))])
