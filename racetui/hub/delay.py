"""One TV delay for everything the dashboard shows.

A commentator's screen must match the television picture, which runs seconds behind the
timing system. Instead of delaying each screen, the viewer delays the *frames* its replica
applies: every frame from the hub is kept with its arrival time and applied once
``now - delay`` has passed it. Rows, incidents, toasts (they come from the changes) and any
screen built on the replica's engine are delayed alike, and the clock the screens see
(:meth:`TvDelay.clock`) is shifted by the same amount.

- Frames are applied in arrival order, never dropped, never reordered; a snapshot that
  arrives while frames are held is held too (it is a frame like the others).
- Lowering the delay applies the frames now due at once; raising it holds new frames
  (what is shown cannot go back in time, so it stands still until the delay is reached).
- A second, *live* replica may be fed every frame at once: publishing and the incident
  desk work on live data whatever the delay.

No Textual here; times are milliseconds from an injected clock, so tests drive it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import msgspec

from racetui.engine import Engine
from racetui.hub.records import (
    ApplyPassings,
    ApplyResults,
    Clock,
    Frame,
    Health,
    HealthRec,
    Hello,
    Request,
    decode_frame,
    encode_request,
)
from racetui.hub.replica import Channel, Replica, Slices

__all__ = ["MAX_DELAY_MS", "DelayBuffer", "DelayedFollower", "TvDelay", "follow_delayed"]

MAX_DELAY_MS = 300_000  # 5 minutes: more than any broadcast delay
_T = TypeVar("_T")


@dataclass(slots=True)
class DelayBuffer(Generic[_T]):
    """Items in arrival order, each released once ``now - delay_ms`` reaches its arrival."""

    delay_ms: int = 0
    _items: deque[tuple[int, _T]] = field(default_factory=deque)

    def push(self, item: _T, at_ms: int) -> None:
        # Arrival times never go backwards in the buffer (a clock stepped back, say): an item
        # is never released before one that arrived earlier.
        if self._items and at_ms < self._items[-1][0]:
            at_ms = self._items[-1][0]
        self._items.append((at_ms, item))

    def due(self, now_ms: int) -> Iterator[_T]:
        """Release, oldest first, every item whose time has come."""
        items = self._items
        while items and items[0][0] + self.delay_ms <= now_ms:
            yield items.popleft()[1]

    def __iter__(self) -> Iterator[_T]:
        """The items held, oldest first (nothing is released)."""
        return (item for _, item in self._items)

    def next_due_ms(self) -> int | None:
        return self._items[0][0] + self.delay_ms if self._items else None

    def __len__(self) -> int:
        return len(self._items)


def clamp_delay(ms: int) -> int:
    return max(0, min(MAX_DELAY_MS, int(ms)))


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class TvDelay:
    """The delay the dashboard shows everything with, and the clock shifted by it.

    ``available`` is False when the dashboard has no hub (``--in-process``): nothing can be
    held back then, and :attr:`unavailable` says why.
    """

    def __init__(self, clock: Callable[[], datetime], *, available: bool = True) -> None:
        self.base_clock = clock
        self.available = available
        self.ms = 0
        self.listeners: list[Callable[[int], None]] = []
        self.follower: DelayedFollower | None = None  # set when the hub's frames flow
        # After a raise, what is shown stands still (it cannot go back in time) until
        # ``now - delay`` catches up with the moment shown when the delay was raised.
        self._floor: datetime | None = None

    def sync_to(self, race_id: str, bib: str, live_ms: int) -> int | None:
        """The delay that puts ``bib``'s latest passing on screen now (``live_ms``: the race
        time now, undelayed); None without a passing of theirs (or without a hub)."""
        return None if self.follower is None else self.follower.sync_to(race_id, bib, live_ms)

    unavailable = "the TV delay needs the hub (it is off with --in-process)"

    def set(self, ms: int) -> int:
        """Set the delay (clamped to 0–300 s); returns the delay now in force."""
        value = clamp_delay(ms) if self.available else 0
        if value != self.ms:
            self._floor = self.clock() if value > self.ms else None
            self.ms = value
            for listener in list(self.listeners):
                listener(value)
        return self.ms

    def clock(self) -> datetime:
        """What the screens call the time: the wall (or simulator) clock minus the delay."""
        now = self.base_clock()
        shifted = now - timedelta(milliseconds=self.ms) if self.ms else now
        floor = self._floor
        if floor is not None:
            if shifted < floor:
                return floor
            self._floor = None
        return shifted

    def now_ms(self) -> int:
        return _epoch_ms(self.base_clock())

    def label(self) -> str:
        """'TV −12 s' for the header; empty without a delay."""
        return f"TV −{self.ms / 1000:.0f} s" if self.ms else ""


class DelayedFollower:
    """Frames in (``push``), applied to ``replica`` when the delay says so (``steps_due``).

    ``live`` (optional) gets every frame at once. ``latest`` keeps, for each (race, bib),
    the race time of the athlete's latest passing in any frame, held or applied: the sync
    key uses it.
    """

    def __init__(
        self,
        replica: Replica,
        delay: TvDelay,
        *,
        live: Replica | None = None,
        on_health: Callable[[list[HealthRec]], None] | None = None,
        on_clock: Callable[[Clock], None] | None = None,
    ) -> None:
        self.replica = replica
        self.live = live
        # Sources' health and the timing system's clock are about now, not the picture:
        # they are handed on as they arrive, never held.
        self.on_health = on_health
        self.on_clock = on_clock
        self.delay = delay
        self.buffer: DelayBuffer[Frame | bytes] = DelayBuffer()
        self.latest: dict[tuple[str, str], int] = {}  # (race, bib) -> latest passing, race ms
        self.wake = asyncio.Event()
        delay.listeners.append(self._delay_changed)
        delay.follower = self
        self.buffer.delay_ms = delay.ms

    def _delay_changed(self, ms: int) -> None:
        self.buffer.delay_ms = ms
        self.wake.set()

    def push(self, data: bytes) -> Frame | bytes:
        """Take one encoded frame as it arrives: decoded once, noted, held."""
        try:
            item: Frame | bytes = decode_frame(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            item = data  # the replica counts and shows it when it is due
        if isinstance(item, Frame):
            latest = self.latest
            for change in item.changes:
                if isinstance(change, Health | Hello) and self.on_health is not None:
                    self.on_health(change.sources)
                elif isinstance(change, Clock) and self.on_clock is not None:
                    self.on_clock(change)
                elif isinstance(change, ApplyPassings):
                    for passing in change.items:
                        key = (passing.race_id, passing.bib)
                        latest[key] = max(latest.get(key, passing.time_ms), passing.time_ms)
                elif isinstance(change, ApplyResults):
                    for result in change.items:
                        if result.splits:
                            key = (change.race_id, result.bib)
                            newest = max(result.splits.values())
                            latest[key] = max(latest.get(key, newest), newest)
        self.buffer.push(item, self.delay.now_ms())
        return item

    def live_steps(self, item: Frame | bytes) -> Iterator[None]:
        if self.live is None:
            return iter(())
        return self.live.frame_steps(item) if isinstance(item, Frame) else self.live.steps(item)

    def steps_due(self) -> Iterator[None]:
        """Apply every frame now due, in steps (the caller may yield between two)."""
        replica = self.replica
        for item in self.buffer.due(self.delay.now_ms()):
            yield from replica.frame_steps(item) if isinstance(item, Frame) else replica.steps(item)

    def pump(self) -> None:
        """Apply everything due at once (tests, and a delay lowered with little to apply)."""
        for _ in self.steps_due():
            pass

    def snapshot_wanted(self) -> bool:
        wanted = self.replica.take_snapshot_request()
        if self.live is not None:
            wanted = self.live.take_snapshot_request() or wanted
        return wanted

    def sync_to(self, race_id: str, bib: str, live_ms: int) -> int | None:
        """The delay that makes ``bib``'s latest passing (held or shown) the moment on
        screen now, ``live_ms`` being the race time now (None: no passing of theirs)."""
        at = self.latest.get((race_id, bib))
        return None if at is None else clamp_delay(live_ms - at)

    def held(self) -> int:
        return len(self.buffer)

    def loading(self) -> bool:
        """A snapshot is being applied (the live replica takes it first, the shown one as it
        comes due)."""
        return any(r is not None and r.loading is not None for r in (self.replica, self.live))


async def follow_delayed(
    channel: Channel,
    follower: DelayedFollower,
    *,
    budget: float = 0.010,
    pause: Callable[[], Awaitable[Any]] | None = None,
    poll: float = 0.2,
    loading: Callable[[], bool] | None = None,
) -> None:
    """:func:`racetui.hub.replica.follow` with a TV delay: ask for a snapshot, then hold each
    frame until it is due and apply it; the live replica (if any) gets it at once.

    The loop wakes when a frame arrives, when the next held frame is due, when the delay
    changes, and at least every ``poll`` seconds (the clock may be a simulator's)."""

    def engines() -> list[Engine]:
        replicas = [follower.replica] if follower.live is None else [follower.replica, follower.live]
        return [replica.pipeline.engine for replica in replicas]

    slices = Slices(engines, budget=budget, rest=pause, loading=loading or follower.loading)
    await channel.send(encode_request(Request("snapshot")))

    async def steps(source: Iterator[None]) -> None:
        await slices.run(source)
        await slices.frame_done()

    receiving: asyncio.Task[bytes | None] = asyncio.ensure_future(channel.receive())
    woken: asyncio.Task[bool] = asyncio.ensure_future(follower.wake.wait())
    try:
        while True:
            await steps(follower.steps_due())
            if follower.snapshot_wanted():
                # one snapshot serves both replicas: each takes it in its turn
                await channel.send(encode_request(Request("snapshot")))
            due = follower.buffer.next_due_ms()
            timeout = poll
            if due is not None:
                timeout = max(0.0, min(poll, (due - follower.delay.now_ms()) / 1000))
            done, _ = await asyncio.wait({receiving, woken}, timeout=timeout, return_when="FIRST_COMPLETED")
            if woken in done:
                follower.wake.clear()
                woken = asyncio.ensure_future(follower.wake.wait())
            if receiving in done:
                data = receiving.result()
                if data is None:
                    # The hub is gone: what it sent still shows, on time; then stop.
                    while (due := follower.buffer.next_due_ms()) is not None:
                        await asyncio.sleep(max(0.0, min(poll, (due - follower.delay.now_ms()) / 1000)))
                        await steps(follower.steps_due())
                    return
                item = follower.push(data)
                await steps(follower.live_steps(item))
                receiving = asyncio.ensure_future(channel.receive())
    finally:
        slices.hold.release()  # ended or cancelled mid-load: the process's collector as it was
        for task in (receiving, woken):
            task.cancel()
