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
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import msgspec

from racetui.engine import Athlete, ChangeSet, Engine, Override
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
    encode_changes,
    encode_frame,
    number_frame,
    override_rec,
    participant_rec,
    result_rec,
)
from racetui.model import Event, Participant, Passing, Race, Result
from racetui.sources.base import Pipeline, SourceHealth
from racetui.util.heap import HeapFreezer
from racetui.util.secrets import scrub

__all__ = ["FRAME_ITEMS", "ChangeLog", "FieldFreezer", "Hub", "HubPipeline", "health_rec", "snapshot_changes"]

log = logging.getLogger(__name__)

# Items per frame: a viewer decodes and applies one frame at a time, and one frame of this
# many athletes takes a few milliseconds (the engine's one-by-one indexing stays below
# its bulk threshold, so the replica's indexes are exact after every frame).
FRAME_ITEMS = 400


class FieldFreezer:
    """An engine's field kept out of the garbage collector's full passes
    (:class:`racetui.util.heap.HeapFreezer`: when it grows, and after a slow full pass)."""

    def __init__(self, minimum: int = 5000, step: int = 2000) -> None:
        self.heap = HeapFreezer(minimum, step)

    def __call__(self, engine: Engine) -> bool:
        return self.heap(sum(len(standings) for standings in engine.races.values()))


class ChangeLog(Protocol):
    """Where a :class:`HubPipeline` puts what its engine accepted."""

    def emit(self, changes: Iterable[Change]) -> None: ...

    def emit_results(self, race_id: str, bibs: list[str]) -> None:
        """The whole results of ``bibs`` as the engine holds them (read when they are sent)."""


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

    def remove_athletes(self, race_id: str, bibs: Iterable[str]) -> ChangeSet:
        changes = super().remove_athletes(race_id, bibs)
        removed = sorted(_touched(changes, race_id))
        if removed:
            self.changelog.emit([RemoveAthletes(race_id, removed)])
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
        """Only the athletes the engine changed travel, as the engine holds them; bibs the
        engine dropped (a complete list without them) travel as a removal."""
        touched = _touched(changes, race_id)
        if not touched:
            return
        standings = self.engine.races.get(race_id)
        if standings is None:
            return
        entries = standings.entries
        bibs = [r.bib for r in results if r.bib in touched and r.bib in entries]
        removed = [bib for bib in touched if bib not in entries]
        if bibs:
            self.changelog.emit_results(race_id, bibs)
        if removed:
            self.changelog.emit([RemoveAthletes(race_id, sorted(removed))])


def _chunks(items: list[Any], size: int = FRAME_ITEMS) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _athlete_result(standings: RaceStandings, athlete: Athlete) -> ResultRec:
    """An athlete's whole result as the engine holds it (splits in gun time)."""
    points = standings.points
    offset = athlete.offset_ms
    splits = {points[i].id: t + offset for i, t in enumerate(athlete.times) if t is not None}
    return result_rec(
        athlete.bib,
        athlete.participant,
        athlete.source_status,
        splits,
        athlete.source_incidents,
        athlete.legs,
        standings.source_reported(athlete.bib),
    )


def results_frame(
    engine: Engine, race_id: str, bibs: Sequence[str], *, overrides: bool = False
) -> list[Change]:
    """One frame's records: the results of ``bibs`` read from the engine *now* (a bib
    gone since is left out: its removal follows), and with ``overrides`` their desk
    decisions (a snapshot's)."""
    standings = engine.races.get(race_id)
    if standings is None:
        return []
    athletes = [a for bib in bibs if (a := standings.athlete(bib)) is not None]
    frame: list[Change] = [ApplyResults(race_id, [_athlete_result(standings, a) for a in athletes])]
    if overrides:
        frame += [override_rec(race_id, a.bib, a.override) for a in athletes if a.override is not None]
    return frame


def _ranked_bibs(standings: RaceStandings) -> list[str]:
    """Every bib held, in the overall order as far as it is indexed: the order's keys end
    with the bib (one pass, no snapshot per athlete). While a source holds the engine
    (mid-sync) changes wait unindexed: those athletes follow, in the order they came."""
    bibs = [key[-1] for key in standings.overall]
    if standings.deferred or len(bibs) != len(standings):
        seen = set(bibs)
        bibs = [bib for bib in bibs if bib in standings]
        bibs += [bib for bib in standings.bibs() if bib not in seen]
    return bibs


def snapshot_changes(engine: Engine, errors: Sequence[str] = ()) -> Iterator[list[Change]]:
    """The engine's whole state as change records, in frames of at most ``FRAME_ITEMS``
    athletes, the first starting with :class:`Reset` (how many athletes and frames
    follow), with the latest ``errors`` so a viewer that joins late still sees what went
    wrong. Athletes come in the overall order (the leaders' frame first: a viewer shows
    the top of the board while the rest loads).

    A generator: the bibs are taken when the first frame is, and each later frame reads
    its athletes from the engine when it is taken (a hub sends them as its socket drains,
    never holding the whole field encoded). Athletes changed meanwhile travel as they are
    then; their own change frames follow the snapshot anyway."""
    engine.settle(place=True)  # every athlete in the overall order, at its place
    order = {race_id: _ranked_bibs(standings) for race_id, standings in engine.races.items()}
    total = sum(len(bibs) for bibs in order.values())
    frames = 1 + sum(-(-len(bibs) // FRAME_ITEMS) for bibs in order.values())
    head: list[Change] = [Reset(athletes=total, frames=frames)]
    if engine.event is not None:
        head.append(SetEvent(engine.event.model_dump_json().encode()))
    for standings in engine.races.values():
        head.append(SetRace(standings.race.model_dump_json().encode()))
    if errors:
        head.append(Errors(list(errors[-50:])))
    yield head
    for race_id, bibs in order.items():
        for chunk in _chunks(bibs):
            yield results_frame(engine, race_id, chunk, overrides=True)


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

    Frames wait in an ordered outbox, numbered and encoded only when they leave it; a bulk
    of results (a v1.1 feed's first message: 50,000 athletes) or a snapshot waits there as
    a generator that reads ``FRAME_ITEMS`` athletes from the engine per frame. With a
    ``publish`` callable every frame leaves at once (each :meth:`flush`). Without one
    (``publish=None``) the transport takes them with :meth:`next_frame` as it can send
    them, told by ``ready`` that there are some: the field is then never held encoded,
    only the frame on its way.
    """

    def __init__(
        self,
        sources: Sequence[Any],
        publish: Callable[[bytes], None] | None,
        *,
        ready: Callable[[], None] | None = None,
        health_interval: float = 0.25,
        settle_interval: float = 0.2,
        settle_most: float = 2.0,
    ) -> None:
        self.sources = list(sources)
        self.publish = publish
        self.ready = ready
        self.pipeline = HubPipeline(self)
        self.engine = self.pipeline.engine
        self.seq = 0
        self.health_interval = health_interval
        self.settle_interval = settle_interval
        self.settle_most = settle_most  # the longest a busy engine goes without a settle
        self._buffer: list[Change] = []
        self._items = 0
        # frames to send: a frame's records (encoded), or a generator of frames
        self._outbox: deque[msgspec.Raw | Iterator[tuple[list[Change], bool]]] = deque()
        self._flush_scheduled = False
        self._last_health: Any = None
        self._freeze = FieldFreezer()
        self._stopped: set[int] = set()  # sources whose run() ended in an error

    # ------------------------------------------------------------ the stream
    def emit(self, changes: Iterable[Change]) -> None:
        for change in changes:
            size = len(getattr(change, "items", ()) or ())
            if self._items and self._items + size > FRAME_ITEMS:
                self._close_frame()
            self._buffer.append(change)
            self._items += max(size, 1)
        self._schedule()

    def emit_results(self, race_id: str, bibs: list[str]) -> None:
        """Results of ``bibs`` from the engine: at once for a frame's worth, else read
        frame by frame as the frames leave (see the class docstring)."""
        if len(bibs) <= FRAME_ITEMS:
            self.emit(results_frame(self.engine, race_id, bibs))
            return
        self._close_frame()
        engine = self.engine
        self._outbox.append((results_frame(engine, race_id, chunk), False) for chunk in _chunks(bibs))
        self._schedule()

    def _schedule(self) -> None:
        if (self._buffer or self._outbox) and not self._flush_scheduled:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._flush_scheduled = True
            except RuntimeError:  # no loop (a synchronous caller): send now
                self.flush()

    def _close_frame(self) -> None:
        if self._buffer:
            self._outbox.append(encode_changes(self._buffer))
            self._buffer, self._items = [], 0

    def flush(self) -> None:
        """The records emitted so far make a frame; with ``publish`` every waiting frame
        leaves now, else ``ready`` says there are frames to take."""
        self._flush_scheduled = False
        self._close_frame()
        if not self._outbox:
            return
        if self.publish is None:
            if self.ready is not None:
                self.ready()
            return
        while (frame := self.next_frame()) is not None:
            self.publish(frame)

    def next_frame(self) -> bytes | None:
        """The next frame, numbered and encoded now (None: nothing waits)."""
        while self._outbox:
            item = self._outbox[0]
            if isinstance(item, msgspec.Raw):
                self._outbox.popleft()
                self.seq += 1
                return number_frame(self.seq, item)
            taken = next(item, None)
            if taken is None:
                self._outbox.popleft()
                continue
            changes, snapshot = taken
            if not snapshot:
                self.seq += 1
            return encode_frame(Frame(self.seq, changes, snapshot=snapshot))
        return None

    def snapshot(self) -> list[bytes]:
        """Everything up to the last numbered frame, as snapshot frames (flushes first so
        the snapshot covers exactly ``seq``)."""
        self.flush()
        while self.next_frame() is not None:  # pulled, nobody takes the frames it covers
            pass
        return [
            encode_frame(Frame(self.seq, f, snapshot=True))
            for f in snapshot_changes(self.engine, self.pipeline.errors)
        ]

    def request_snapshot(self) -> None:
        """A snapshot for a viewer that takes frames with :meth:`next_frame`: it replaces
        every frame still waiting (it covers them) and is itself read from the engine
        frame by frame as it leaves; frames emitted after this call follow it."""
        self._buffer, self._items = [], 0
        self._outbox.clear()
        self._outbox.append((frame, True) for frame in snapshot_changes(self.engine, self.pipeline.errors))
        self._schedule()

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
            self._stopped.add(id(source))  # its load (whatever it says) is not arriving any more
            source.health.error(f"{type(exc).__name__}: {exc}")
            self.error(f"{source.name} stopped: {type(exc).__name__}: {exc}")

    async def _housekeeping(self) -> None:
        last_settle = 0.0
        last_clock = 0.0
        seen = -1  # the engine's version at the last turn
        while True:
            await asyncio.sleep(self.health_interval)
            now = time.monotonic()
            self.send_health()
            version = self.engine.version
            quiet = version == seen or now - last_settle >= self.settle_most
            if now - last_settle >= self.settle_interval and (quiet or self._loading()):
                last_settle = now
                # Bulk loads re-sorted; passers' overall places wait for a read (a snapshot).
                # Not while a load is still arriving (a v1.1 reader's 2,500-athlete slices):
                # each re-sort is of the whole field so far (0.1-0.26 s of CPU at 20,000-
                # 50,000 athletes), once per slice was 20 of them, and even once every 2 s
                # a quarter of the hub's CPU while a first message loads. Reads settle for
                # themselves meanwhile; a first load re-sorts once, after its last slice.
                if not self._loading():
                    self.engine.settle(place=False)
                self._freeze(self.engine)
            seen = self.engine.version
            if now - last_clock >= 1.0:
                last_clock = now
                self.send_clocks()

    def _loading(self) -> bool:
        """A source's first load is still arriving (it says how far it has come)."""
        return any(
            getattr(source.health, "progress", None) and id(source) not in self._stopped
            for source in self.sources
        )

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
