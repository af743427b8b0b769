"""What the dashboard remembers between ticks, fed only from the engine's change sets.

The engine knows the current picture; the dashboard also wants a little history: the
latest passings per timing point (the Passes screen), every incident and status with
when it was first seen (the Incidents screen, "new since you last looked") and events for
watched athletes. :class:`Tracker` derives all three by comparing each athlete named in a
change set with what it saw last time: O(changed athletes) per tick, never O(field).

No Textual here.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import msgspec

from racetui.engine import AthleteNow, ChangeSet, Engine, RaceStandings
from racetui.model import IncidentKind, Status
from racetui.model.times import format_clock, round_up_to_second
from racetui.tui.clock import Clock, system_clock

__all__ = ["AthleteEvent", "IncidentRecord", "PassRecord", "Tracker", "Watchlist"]

PASSES_PER_POINT = 200


@dataclass(frozen=True, slots=True)
class PassRecord:
    seq: int
    race_id: str
    bib: str
    point_index: int
    point_id: str
    chip_ms: int
    gun_ms: int
    seen: datetime


class IncidentBadge(StrEnum):
    PENALTY = "PEN"
    DSQ = "DSQ"
    DNF = "DNF"
    DNS = "DNS"
    LAP = "LAP"
    NC = "NC"
    NOTE = "NOTE"


@dataclass(slots=True)
class IncidentRecord:
    """One line of the technical delegate's view: a penalty, a DSQ or a non-finish."""

    seq: int  # bumped when the record changes (e.g. a penalty is served): "new" again
    race_id: str
    bib: str
    badge: IncidentBadge
    text: str  # the rule / the wording
    served: bool
    seen: datetime  # time of day first seen by this dashboard
    race_ms: int | None  # the athlete's latest gun time when first seen
    point_id: str | None  # where the athlete was when first seen
    active: bool = True  # False once withdrawn from the athlete's record

    @property
    def unserved(self) -> bool:
        return self.active and self.badge is IncidentBadge.PENALTY and not self.served


@dataclass(frozen=True, slots=True)
class AthleteEvent:
    """Something that happened to an athlete in this tick (for watchlist notifications)."""

    race_id: str
    bib: str
    kind: str  # "pass", "status", "incident"
    text: str


class Watchlist:
    """Watched athletes, by (race id, bib)."""

    def __init__(self) -> None:
        self._items: set[tuple[str, str]] = set()

    def toggle(self, race_id: str, bib: str) -> bool:
        key = (race_id, bib)
        if key in self._items:
            self._items.discard(key)
            return False
        self._items.add(key)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(sorted(self._items))


class _Seen(msgspec.Struct, gc=False):
    """What the tracker saw of one athlete last time. One per athlete, replaced at every
    passing, so late in a race the whole field's worth was created after the field was
    frozen out of the collector's passes: 50,000 more objects each full pass walked.
    Holding a tuple of ints and an enum, it can be in no reference cycle: untracked
    (``gc=False``), the collector never walks it."""

    times: tuple[int | None, ...]
    status: Status


@dataclass
class _RaceMemory:
    seen: dict[str, _Seen] = field(default_factory=dict)
    passes: dict[int, list[tuple[int, int, PassRecord]]] = field(default_factory=dict)  # min-heaps
    incidents: dict[tuple[str, str], IncidentRecord] = field(default_factory=dict)
    by_bib: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    points: tuple[str, ...] | None = None  # the race's timing point ids when last seeded


_STATUS_BADGE = {
    Status.DSQ: IncidentBadge.DSQ,
    Status.DNF: IncidentBadge.DNF,
    Status.DNS: IncidentBadge.DNS,
    Status.LAP: IncidentBadge.LAP,
    Status.NC: IncidentBadge.NC,
}


def _incident_key(bib: str, badge: IncidentBadge, text: str) -> tuple[str, str]:
    return bib, f"{badge}:{text}"


class Tracker:
    """History the engine does not keep, built from change sets."""

    def __init__(self, engine: Engine, clock: Clock = system_clock, passes_per_point: int = PASSES_PER_POINT):
        self.engine = engine
        self.clock = clock
        self.passes_per_point = passes_per_point
        self.seq = 0
        self.races: dict[str, _RaceMemory] = {}
        self._backlog: dict[str, dict[str, None]] = {}
        self._removed = 0  # races forgotten: their incidents go without a sequence number
        self._new_count: tuple[int, int, int, int] | None = None  # (seq, removed, since, count)

    # ------------------------------------------------------------ feeding
    @property
    def backlog(self) -> int:
        """Athletes named by change sets but not looked at yet (see ``budget``)."""
        return sum(len(bibs) for bibs in self._backlog.values())

    def process(
        self, changes: ChangeSet, watch: Watchlist | None = None, *, budget: float | None = None
    ) -> list[AthleteEvent]:
        """Take one (merged) change set; return events for watched athletes.

        With ``budget`` (seconds) the work stops when the budget is spent and the rest of
        the named athletes wait for the next call: a first look at 50,000 athletes is spread
        over a few ticks instead of freezing one.
        """
        events: list[AthleteEvent] = []
        now = self.clock()
        for race_id in sorted(changes.races()):
            standings = self.engine.races.get(race_id)
            if standings is None:
                if self.races.pop(race_id, None) is not None:
                    self._removed += 1
                self._backlog.pop(race_id, None)
                continue
            memory = self.races.setdefault(race_id, _RaceMemory())
            pending = self._backlog.setdefault(race_id, {})
            if race_id in changes.structure:
                points = tuple(point.id for point in standings.points)
                if points != memory.points:
                    # Timing points were remapped: take every entry as it is now, without
                    # reporting its old times as new passings. Other setup changes (a
                    # re-sort, the start list) name the athletes they touched: a reseed of
                    # 50,000 was 170-250 ms of a UI tick.
                    memory.points = points
                    if memory.seen:
                        self._reseed(standings, memory, changes.athletes.get(race_id, set()))
                    pending.update(dict.fromkeys(standings.entries))
            pending.update(dict.fromkeys(changes.athletes.get(race_id, ())))
        deadline = None if budget is None else time.perf_counter() + budget
        for race_id in sorted(self._backlog):
            pending = self._backlog[race_id]
            standings = self.engine.races.get(race_id)
            if standings is None:
                pending.clear()
                continue
            memory = self.races.setdefault(race_id, _RaceMemory())
            # The budget is looked at between chunks: 512 athletes were up to 25 ms over a
            # 30 ms budget on a busy machine (a 55 ms UI tick); 128 keep it within a few ms.
            chunk = len(pending) if deadline is None else 128
            while pending:
                bibs = [pending.popitem()[0] for _ in range(min(chunk, len(pending)))]
                self._process_race(standings, memory, bibs, now, watch, events)
                if deadline is not None and time.perf_counter() >= deadline:
                    break
            if deadline is not None and time.perf_counter() >= deadline:
                break
        for race_id in [r for r, bibs in self._backlog.items() if not bibs]:
            del self._backlog[race_id]
        return events

    def _reseed(self, standings: RaceStandings, memory: _RaceMemory, keep_new: set[str]) -> None:
        valid = len(standings.points)
        for index in [i for i in memory.passes if i >= valid]:
            del memory.passes[index]
        for bib, entry in standings.entries.items():
            if bib in memory.seen and bib not in keep_new:
                memory.seen[bib] = _Seen(tuple(entry.times), entry.status)

    def _process_race(
        self,
        standings: RaceStandings,
        memory: _RaceMemory,
        bibs: Iterable[str],
        now: datetime,
        watch: Watchlist | None,
        events: list[AthleteEvent],
    ) -> None:
        race_id = standings.race.id
        new_passes: list[tuple[int, int, int, str]] = []  # (gun, index, chip, bib)
        for bib in bibs:
            entry = standings.peek(bib)  # read here and now, nothing of it kept but tuples
            old = memory.seen.get(bib)
            if entry is None:
                memory.seen.pop(bib, None)
                for key in memory.by_bib.pop(bib, set()):
                    record = memory.incidents.get(key)
                    if record is not None and record.active:
                        record.active = False
                        record.seq = self._next()
                continue
            times = tuple(entry.times)
            watched = watch is not None and (race_id, bib) in watch
            if old is None or old.times != times:
                old_times: tuple[int | None, ...] = old.times if old is not None else ()
                for index, chip in enumerate(times):
                    if chip is None:
                        continue
                    if index < len(old_times) and old_times[index] == chip:
                        continue
                    new_passes.append((chip + entry.offset_ms, index, chip, bib))
            if old is not None and old.status is not entry.status and watched:
                events.append(AthleteEvent(race_id, bib, "status", f"status {old.status} → {entry.status}"))
            memory.seen[bib] = _Seen(times, entry.status)
            self._incidents(standings, memory, entry, now, watched, events)
        if not new_passes:
            return
        # Each point keeps its latest passings by race time in a bounded min-heap, so the
        # order the work happens in does not matter.
        new_passes.sort()
        limit = self.passes_per_point
        for gun, index, chip, bib in new_passes:
            heap = memory.passes.setdefault(index, [])
            if len(heap) >= limit and gun <= heap[0][0]:
                continue
            point = standings.points[index]
            passed = PassRecord(self._next(), race_id, bib, index, point.id, chip, gun, now)
            if len(heap) >= limit:
                heapq.heapreplace(heap, (gun, passed.seq, passed))
            else:
                heapq.heappush(heap, (gun, passed.seq, passed))
            if watch is not None and (race_id, bib) in watch:
                position = standings.placing(bib, index)
                events.append(
                    AthleteEvent(
                        race_id,
                        bib,
                        "pass",
                        f"passed {point.name} in {_clock(gun)}" + (f" (#{position})" if position else ""),
                    )
                )

    def _incidents(
        self,
        standings: RaceStandings,
        memory: _RaceMemory,
        entry: AthleteNow,
        now: datetime,
        watched: bool,
        events: list[AthleteEvent],
    ) -> None:
        previous = memory.by_bib.get(entry.bib)
        if not entry.incidents and entry.status is Status.OK and not previous:
            return
        wanted: dict[tuple[str, str], tuple[IncidentBadge, str, bool]] = {}
        notes: list[str] = []
        has_dsq_incident = False
        for incident in entry.incidents:
            if incident.kind is IncidentKind.PENALTY:
                rule = f"{incident.seconds} s penalty for {incident.infringement}"
                wanted[_incident_key(entry.bib, IncidentBadge.PENALTY, rule)] = (
                    IncidentBadge.PENALTY,
                    rule,
                    incident.served,
                )
            elif incident.kind is IncidentKind.DSQ:
                has_dsq_incident = True
                text = incident.standard_text()
                wanted[_incident_key(entry.bib, IncidentBadge.DSQ, text)] = (IncidentBadge.DSQ, text, False)
            else:
                notes.append(incident.standard_text())
        status_badge = _STATUS_BADGE.get(entry.status)
        if status_badge is not None and not (status_badge is IncidentBadge.DSQ and has_dsq_incident):
            text = "; ".join(notes) if notes else f"status {entry.status}"
            wanted[_incident_key(entry.bib, status_badge, "status")] = (status_badge, text, False)
        elif notes:
            for note in notes:
                wanted[_incident_key(entry.bib, IncidentBadge.NOTE, note)] = (IncidentBadge.NOTE, note, False)
        previous = previous or set()
        at_point = standings.points[entry.last].id if entry.last >= 0 else None
        chip = entry.times[entry.last] if 0 <= entry.last < len(entry.times) else None
        gun = None if chip is None else chip + entry.offset_ms
        for key, (badge, text, served) in wanted.items():
            record = memory.incidents.get(key)
            if record is None:
                record = IncidentRecord(
                    self._next(), standings.race.id, entry.bib, badge, text, served, now, gun, at_point
                )
                memory.incidents[key] = record
                if watched:
                    events.append(AthleteEvent(standings.race.id, entry.bib, "incident", f"{badge} {text}"))
            elif record.served != served or record.text != text or not record.active:
                record.served, record.text, record.active = served, text, True
                record.seq = self._next()
                if watched:
                    state = "served" if served else "updated"
                    events.append(
                        AthleteEvent(standings.race.id, entry.bib, "incident", f"{badge} {state}: {text}")
                    )
        for key in previous - set(wanted):
            record = memory.incidents[key]
            if record.active:
                record.active = False
                record.seq = self._next()
        memory.by_bib[entry.bib] = set(wanted) | {k for k in previous if k in memory.incidents}

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    # -------------------------------------------------------------- reads
    def passes(
        self, race_id: str, point_indexes: Iterable[int] | None = None, limit: int = 500
    ) -> list[PassRecord]:
        """Latest passings of one race, newest (by race time) first, at some timing points."""
        memory = self.races.get(race_id)
        if memory is None:
            return []
        wanted = list(memory.passes) if point_indexes is None else list(point_indexes)
        items = [item for i in wanted for item in memory.passes.get(i, ())]
        return [record for _, _, record in heapq.nlargest(limit, items)]

    def incidents(self, race_id: str | None = None) -> list[IncidentRecord]:
        """Every incident and non-finish (all races when ``race_id`` is None), newest first."""
        memories = self.races.items() if race_id is None else [(race_id, self.races.get(race_id))]
        records = [r for _, m in memories if m is not None for r in m.incidents.values()]
        records.sort(key=lambda r: r.seq, reverse=True)
        return records

    def count_new_incidents(self, since: int) -> int:
        """Active incidents changed after sequence number ``since``.

        The header asks every tick; a marathon two hours in holds thousands of records
        (every DNF), so the count is kept until a record changes (each change takes a new
        sequence number) or a race is forgotten."""
        cached = self._new_count
        if cached is not None and cached[:3] == (self.seq, self._removed, since):
            return cached[3]
        records = (r for m in self.races.values() for r in m.incidents.values())
        count = sum(1 for r in records if r.active and r.seq > since)
        self._new_count = (self.seq, self._removed, since, count)
        return count

    def athlete_incidents(self, race_id: str, bib: str) -> list[IncidentRecord]:
        memory = self.races.get(race_id)
        if memory is None:
            return []
        return sorted(
            (memory.incidents[k] for k in memory.by_bib.get(bib, ()) if k in memory.incidents),
            key=lambda r: r.seq,
        )


def _clock(ms: int) -> str:
    return format_clock(round_up_to_second(ms))
