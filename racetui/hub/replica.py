"""A viewer's replica: a pipeline fed from a hub's snapshot and then its numbered frames.

The dashboard (and later ``export``, ``publish``, browser tabs) hold a :class:`ReplicaPipeline`
instead of running sources: screens and publishers read its engine exactly as before, but
nothing here parses a wire format or writes a journal. :class:`Replica` applies one frame at
a time (a frame holds at most a few hundred athletes) and gives the event loop back whenever
it has worked for ``budget`` seconds, so a 50,000-athlete load never stalls the screen; a
frame whose number is not the next one means frames were lost, and the replica asks for a
snapshot again instead of drifting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import msgspec

from racetui.engine import ChangeSet, Engine
from racetui.hub.core import FieldFreezer
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
    Hello,
    RemoveAthletes,
    Request,
    Reset,
    SetEvent,
    SetOverride,
    SetRace,
    as_any,
    decode_frame,
    encode_request,
    event_from,
    override_from,
    participant_from,
    race_from,
    result_from,
)
from racetui.sources.base import Pipeline
from racetui.util.heap import FullPassHold

__all__ = ["SLICE", "Channel", "Replica", "ReplicaPipeline", "Slices", "follow", "give_way"]

# Athletes applied in one step: new athletes cost the engine a few dozen ordered-list
# inserts each (overall, every point, gender and category), so a step stays at a few
# milliseconds even on a busy machine, and the loop gets a turn between steps.
SLICE = 25
# Athletes whose changes one turn's :meth:`Engine.keep_up` looks at, per race: 6-10 ms at
# 2-3 µs each (measured at 50,000). A load's slices change fewer between two turns, so it
# keeps pace; after a reset of the change log (new points or waves) a 50,000-athlete field
# is seen again over twenty turns.
KEEP_UP_MOST = 2_500

log = logging.getLogger(__name__)


async def give_way() -> None:
    """Let everything else the loop has to do run before the next slice of a load.

    One ``sleep(0)`` is not enough: the task is queued again at once, ahead of the timers
    that come due and the input that arrives meanwhile (asyncio queues those when its next
    iteration starts), so it would run a second slice before any of them, doubling every
    stall. The second ``sleep(0)`` comes back only after them."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


class Channel(Protocol):
    """A viewer's end of a hub's stream: frames in, requests out (any transport)."""

    async def receive(self) -> bytes | None:
        """The next encoded frame; None when the hub is gone."""

    async def send(self, data: bytes) -> None:
        """An encoded :class:`~racetui.hub.records.Request` to the hub."""


class ReplicaPipeline(Pipeline):
    """A :class:`Pipeline` that also forgets everything (a snapshot) and removes athletes."""

    def reset(self) -> ChangeSet:
        engine = self.engine
        changes = ChangeSet(structure=set(engine.races))
        engine.races.clear()
        engine.event = None
        engine.version += 1
        changes.version = engine.version
        return self._applied(changes)

    def remove_athletes(self, race_id: str, bibs: Iterable[str]) -> ChangeSet:
        changes = ChangeSet()
        standings = self.engine.races.get(race_id)
        if standings is not None:
            for bib in bibs:
                old = standings.remove_entry(bib)
                if old is not None:
                    changes.touch(race_id, bib, (old, max(old, len(standings.entries) - 1)))
        if changes:
            self.engine.version += 1
        changes.version = self.engine.version
        return self._applied(changes)

    def add_errors(self, errors: Sequence[str]) -> None:
        self._applied(ChangeSet(errors=list(errors)))


class Replica:
    """Applies a hub's frames to a :class:`ReplicaPipeline`.

    ``loading`` is ``(athletes applied, athletes in the snapshot)`` while a snapshot is
    being applied, else None; ``synced`` is False until the first snapshot is complete.
    """

    def __init__(
        self,
        pipeline: ReplicaPipeline | None = None,
        *,
        on_health: Callable[[list[HealthRec]], None] | None = None,
        on_clock: Callable[[Clock], None] | None = None,
    ) -> None:
        self.pipeline = pipeline or ReplicaPipeline(Engine())
        self.on_health = on_health
        self.on_clock = on_clock
        self.seq: int | None = None  # the last frame applied (None: waiting for a snapshot)
        self.loading: tuple[int, int] | None = None
        self.synced = False
        self.gaps = 0
        self.snapshots = 0
        self.rejected = 0
        self.frames = 0
        self.want_snapshot = False
        self._snapshot_frames = 0
        self._snapshot_seen = 0

    # -------------------------------------------------------------- frames
    def handle(self, data: bytes) -> bool:
        """Apply one encoded frame at once. True when the replica needs a snapshot (a gap)."""
        for _ in self.steps(data):
            pass
        return self.take_snapshot_request()

    def apply(self, frame: Frame) -> bool:
        for _ in self.frame_steps(frame):
            pass
        return self.take_snapshot_request()

    def take_snapshot_request(self) -> bool:
        wanted, self.want_snapshot = self.want_snapshot, False
        return wanted

    def steps(self, data: bytes) -> Iterator[None]:
        """Apply one encoded frame in steps of at most ``SLICE`` athletes: the engine is
        consistent after every step, so the caller may let the loop run between two."""
        try:
            frame = decode_frame(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.rejected += 1
            self.pipeline.add_errors([f"hub frame: not a change frame ({exc}); skipped"])
            return
        yield from self.frame_steps(frame)

    def frame_steps(self, frame: Frame) -> Iterator[None]:
        self.frames += 1
        if frame.snapshot:
            yield from self._snapshot_steps(frame)
            return
        if self.seq is None or self._snapshot_seen:
            return  # waiting for (the rest of) a snapshot: it covers this frame
        if frame.seq <= self.seq:
            return  # already covered by the snapshot
        if frame.seq != self.seq + 1:
            self.gaps += 1
            log.warning("hub stream: frame %d after %d: re-reading the snapshot", frame.seq, self.seq)
            self.seq = None
            self.want_snapshot = True
            return
        self.seq = frame.seq
        yield from self._change_steps(frame.changes)

    def _snapshot_steps(self, frame: Frame) -> Iterator[None]:
        first = frame.changes[0] if frame.changes else None
        if isinstance(first, Reset):
            self._snapshot_frames = first.frames
            self._snapshot_seen = 0
            self.loading = (0, first.athletes)
        elif not self._snapshot_seen:
            return  # the tail of a snapshot whose start we did not see
        self._snapshot_seen += 1
        yield from self._change_steps(frame.changes)
        if self._snapshot_seen >= self._snapshot_frames:
            self.seq = frame.seq
            self._snapshot_seen = 0
            self.loading = None
            self.synced = True
            self.snapshots += 1

    def _change_steps(self, changes: list[Change]) -> Iterator[None]:
        pipeline = self.pipeline
        for change in changes:
            items = getattr(change, "items", None)
            parts = (
                [change]
                if not isinstance(items, list) or len(items) <= SLICE
                else [
                    msgspec.structs.replace(change, items=items[start : start + SLICE])
                    for start in range(0, len(items), SLICE)
                ]
            )
            for part in parts:
                try:
                    self._apply_one(pipeline, part)
                except (ValueError, KeyError, TypeError) as exc:  # a record the model refuses
                    self.rejected += 1
                    pipeline.add_errors([f"hub {type(change).__name__}: {exc}"])
                yield

    def _apply_one(self, pipeline: ReplicaPipeline, change: Change) -> None:
        if isinstance(change, ApplyPassings):
            pipeline.apply_passings(as_any(change.items))
            pipeline.engine.place_moved()  # this slice pays for its own passers' places
        elif isinstance(change, ApplyResults):
            pipeline.apply_results(change.race_id, [result_from(change.race_id, r) for r in change.items])
            if self.loading is not None:
                done, total = self.loading
                self.loading = (min(total, done + len(change.items)), total)
        elif isinstance(change, AddParticipants):
            pipeline.add_participants([participant_from(p) for p in change.items])
        elif isinstance(change, SetOverride):
            pipeline.set_override(change.race_id, change.bib, override_from(change))
        elif isinstance(change, RemoveAthletes):
            pipeline.remove_athletes(change.race_id, change.bibs)
        elif isinstance(change, SetRace):
            pipeline.upsert_race(race_from(change))
        elif isinstance(change, SetEvent):
            pipeline.load_event(event_from(change))
        elif isinstance(change, Errors):
            pipeline.add_errors(change.items)
        elif isinstance(change, Health | Hello) and self.on_health is not None:
            self.on_health(change.sources)
        elif isinstance(change, Clock) and self.on_clock is not None:
            self.on_clock(change)
        elif isinstance(change, Reset):
            pipeline.reset()

    def progress(self) -> str | None:
        """'loading 23,000 of 50,000 athletes' while a snapshot is applied."""
        if self.loading is None:
            return None if self.synced else "waiting for the hub"
        done, total = self.loading
        return f"loading {done:,} of {total:,} athletes"


class Slices:
    """A viewer's work applied in slices of ``budget`` seconds, the loop given a turn
    (``rest``) between two, for :func:`follow` and the TV delay's follower alike.

    Before each turn the ``engines``' reads are followed (:meth:`Engine.keep_up`: the
    header's race end and latest passing, this slice's share of that work, instead of one
    step of 100-160 ms over the whole load's change log at the first tick after it); after
    each frame a field that grew is frozen out of the collector's full passes (from the
    first athletes on: until the first freeze a full pass walks everything the process
    built before, 18-27 ms of a viewer's loop while a 50,000-athlete field loaded)."""

    def __init__(
        self,
        engines: Callable[[], Iterable[Engine]],
        *,
        budget: float = 0.010,
        rest: Callable[[], Awaitable[Any]] | None = None,
        loading: Callable[[], bool] | None = None,
    ) -> None:
        self.engines = engines
        self.budget = budget
        self.rest = rest or give_way
        self.freeze = FieldFreezer(minimum=1)
        # while a load arrives (``loading``: a snapshot applied, or the hub's sources
        # still loading), no full collection: see FullPassHold
        self.loading = loading
        self.hold = FullPassHold()
        self.started = time.perf_counter()

    async def run(self, steps: Iterable[None]) -> None:
        for _ in steps:
            if time.perf_counter() - self.started >= self.budget:
                await self.turn()

    async def turn(self) -> None:
        for engine in self.engines():
            engine.keep_up(KEEP_UP_MOST)
        self._watch_load()
        await self.rest()
        self.started = time.perf_counter()

    def _watch_load(self) -> bool:
        """Full passes held while loading: True while held, or when the load's end froze."""
        if self.loading is None:
            return False
        return self.hold(self.loading()) or self.hold.held

    async def frame_done(self) -> None:
        if self._watch_load():
            return
        frozen = False
        for engine in self.engines():
            if engine.races and self.freeze(engine):
                frozen = True
                break  # one heap: one freeze is for every engine in this process
        if frozen:
            await self.rest()
            self.started = time.perf_counter()


async def follow(
    channel: Channel,
    replica: Replica,
    *,
    budget: float = 0.010,
    pause: Callable[[], Awaitable[Any]] | None = None,
    loading: Callable[[], bool] | None = None,
) -> None:
    """Ask for a snapshot, then apply every frame until the hub is gone.

    After ``budget`` seconds of applying, the loop gets a turn (``pause``, default
    :func:`give_way`): screens draw and keys are handled between frames (see
    :class:`Slices`).
    """
    slices = Slices(
        lambda: (replica.pipeline.engine,),
        budget=budget,
        rest=pause,
        loading=loading or (lambda: replica.loading is not None),
    )
    try:
        await channel.send(encode_request(Request("snapshot")))
        while True:
            data = await channel.receive()
            if data is None:
                return
            await slices.run(replica.steps(data))
            await slices.frame_done()
            if replica.take_snapshot_request():
                await channel.send(encode_request(Request("snapshot", after=replica.seq or 0)))
    finally:
        slices.hold.release()  # ended or cancelled mid-load: the process's collector as it was
