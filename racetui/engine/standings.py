"""Standings of one race, kept in ordered structures so that one passing costs O(log n),
and the engine's read side: the rows every screen, export and upload shows.

The ranking rules are :mod:`racetui.engine.ranking`. The whole field is kept ordered at
all times: one overall ``SortedList`` of :data:`~racetui.engine.ranking.OverallKey` and
one ``SortedList`` of :data:`~racetui.engine.ranking.PointKey` per timing point. Orderings
of a slice of the field (a gender, category or wave; overall or at one point) are built
only when a view asks for one, kept up to date while views keep reading them, and
dropped when no one has read them for a while: a passing costs three list operations
plus one per slice someone is looking at, not one per gender and category of the race.

Read it through :meth:`RaceStandings.view` (rows with ranks and gaps),
:meth:`RaceStandings.splits` (one athlete at every point), :meth:`RaceStandings.athlete`
(what the engine holds about one athlete, as a frozen snapshot), :meth:`RaceStandings.held`
(what a source already delivered) and :meth:`RaceStandings.counts`. The entries
themselves are private to the engine.

A message of the whole field (an upload, an export) reads a :class:`StandingsSnapshot`:
:meth:`RaceStandings.snapshot` in one go, or :meth:`RaceStandings.reader` a slice of
athletes at a time, so that the loop that applies changes (the dashboard's replica) is never
held for the whole field; either way the snapshot is the standings at one version.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, Protocol

from sortedcontainers import SortedList

from racetui.engine.ranking import (
    Filter,
    OverallKey,
    PointKey,
    key_status_rank,
    key_time,
    overall_key,
    place_key,
    placed_at_point,
    point_key,
    status_rank,
    takes_place,
)
from racetui.model.bibs import start_number
from racetui.model.incidents import Incident, IncidentKind
from racetui.model.race import (
    ClockState,
    Participant,
    Race,
    RankBy,
    RelayLeg,
    Reported,
    Status,
    TimingPoint,
)

__all__ = [
    "PLACED_LATER",
    "Athlete",
    "AthleteNow",
    "Counts",
    "Entry",
    "Filter",
    "Held",
    "LeaderboardView",
    "Override",
    "RaceStandings",
    "Row",
    "SnapshotReader",
    "SplitRow",
    "StandingsSnapshot",
    "merge_incidents",
    "status_rank",
]

# The change log keeps at least this many bibs (and four per athlete) before it forgets.
_LOG_KEEP = 100_000
# Slice orderings unread for this many settles (UI ticks) are dropped.
_IDLE_TICKS = 600
# What :meth:`RaceStandings.pass_point` returns when the athlete's overall place is taken
# at the next read or settle (which reports the rows that moved).
PLACED_LATER: tuple[int, int] = (-1, -1)
# More moved athletes than 1 in this many of the field: the overall order is re-placed in
# one merge instead of one remove and one insert each.
_MERGE_RATIO = 3

# What a snapshot copies of an entry: the fields of an :class:`Athlete`, in its order, then
# the source's positions (one C call per athlete: the fields are immutable, the entry is not).
_HOLD = attrgetter(
    "bib",
    "participant",
    "status",
    "source_status",
    "incidents",
    "source_incidents",
    "legs",
    "override",
    "times",
    "offset_ms",
    "last",
    "reported",
)
_FIELDS = 11  # an Athlete's
_WIDTH = 12  # what _HOLD copies
# Athletes a :class:`SnapshotReader` step reads (about 2 µs each: a few ms a step).
READ_SLICE = 2_000
# Athletes whose latest passing the ends keep (_Ends.top): a holder going back is a look
# at these, not a scan of 50,000 athletes (150-250 ms of a dashboard's loop, live)
_TOP = 64
# Starts over this often (the race set anew, the change log trimmed) before reading the
# rest in one step: it ends, at worst with one whole-field step, the one-shot read's.
_RESTARTS = 3


def _last(times: Sequence[int | None]) -> int:
    """Index of the furthest point with a time (-1: none)."""
    for index in range(len(times) - 1, -1, -1):
        if times[index] is not None:
            return index
    return -1


def _index_of(points: Sequence[TimingPoint], point_id: str) -> int | None:
    for index, point in enumerate(points):
        if point.id == point_id:
            return index
    return None


@dataclass(slots=True, frozen=True)
class Override:
    """What the incident desk says about one athlete; it wins over the source.

    ``status`` None leaves the source's status alone (a penalty only); ``Status.OK`` is an
    explicit reinstatement that overrides a source's DSQ.
    """

    status: Status | None = None
    incidents: tuple[Incident, ...] = ()


def _incident_key(incident: Incident) -> tuple[object, ...]:
    if incident.kind is IncidentKind.PENALTY:
        return (incident.kind, incident.seconds, (incident.infringement or "").casefold())
    if incident.kind is IncidentKind.DSQ:
        return (incident.kind, (incident.infringement or "").casefold())
    return (incident.kind, incident.text.casefold())


def merge_incidents(desk: Sequence[Incident], source: Sequence[Incident]) -> list[Incident]:
    """The desk's incidents, then the source's that the desk does not already cover
    (a penalty the desk marked served is not brought back unserved by the source)."""
    covered = {_incident_key(i) for i in desk}
    return [*desk, *(i for i in source if _incident_key(i) not in covered)]


class _Named:
    """Who an athlete is, read from the start list: shared by :class:`Entry` and
    :class:`Athlete` (no slots of its own, so both stay slotted)."""

    __slots__ = ()
    participant: Participant | None

    def name(self) -> str:
        return self.participant.display_name() if self.participant else ""

    @property
    def gender(self) -> str | None:
        return self.participant.gender if self.participant else None

    @property
    def category(self) -> str | None:
        return self.participant.category if self.participant else None

    @property
    def wave_id(self) -> str | None:
        return self.participant.wave_id if self.participant else None


@dataclass(slots=True, eq=False)
class Entry(_Named):
    """One athlete or relay team in a race, with chip times per timing point index.

    Private to the engine: everything outside reads :class:`Athlete` snapshots and rows."""

    bib: str
    number: int
    participant: Participant | None = None
    status: Status = Status.OK
    offset_ms: int = 0  # wave start offset after the gun
    # chip time per point index; a tuple, replaced on change, so the indexed copy is shared
    times: tuple[int | None, ...] = ()
    last: int = -1  # furthest point index with a time
    # tuples: shared empty defaults cost nothing per athlete (50,000 of them)
    incidents: tuple[Incident, ...] = ()
    legs: tuple[RelayLeg, ...] = ()
    key: OverallKey = (0, "")
    # What the source said; ``status``/``incidents`` above are the effective values once
    # the incident desk's override (if any) is merged in.
    source_status: Status = Status.OK
    source_incidents: tuple[Incident, ...] = ()
    override: Override | None = None
    reported: Reported | None = None  # the source's own positions, while still true
    # what the field's ordered structures hold: ranking times per point and whether
    # placed at points; None while not indexed
    indexed: tuple[tuple[int | None, ...], bool] | None = None

    def effective(self) -> tuple[Status, tuple[Incident, ...]]:
        if self.override is None:
            return self.source_status, self.source_incidents
        status = self.override.status if self.override.status is not None else self.source_status
        return status, tuple(merge_incidents(self.override.incidents, self.source_incidents))

    def ranking_times(self, by_gun: bool) -> tuple[int | None, ...]:
        if not by_gun or not self.offset_ms:
            return self.times
        offset = self.offset_ms
        return tuple(None if t is None else t + offset for t in self.times)

    def make_key(self, by_gun: bool) -> OverallKey:
        at = self.last
        time = self.times[at] if at >= 0 else None
        if time is not None and by_gun:
            time += self.offset_ms
        return overall_key(self.status, at, time, self.number, self.bib)


# --------------------------------------------------------------------- read side
@dataclass(slots=True, frozen=True)
class Athlete(_Named):
    """What the engine holds about one athlete (or relay team), as a frozen snapshot."""

    bib: str
    participant: Participant | None
    status: Status  # effective: the desk's word over the source's
    source_status: Status
    incidents: tuple[Incident, ...]  # effective: the desk's merged with the source's
    source_incidents: tuple[Incident, ...]
    legs: tuple[RelayLeg, ...]
    override: Override | None  # the incident desk's word, winning over the source's
    times: tuple[int | None, ...]  # chip time per point index
    offset_ms: int  # wave start after the gun
    last: int  # furthest point index passed, -1 before the first

    @property
    def local(self) -> bool:
        """True when the incident desk overrides the source for this athlete."""
        return self.override is not None

    def gun_time(self, index: int) -> int | None:
        chip = self.times[index] if 0 <= index < len(self.times) else None
        return None if chip is None else chip + self.offset_ms


class AthleteNow(Protocol):
    """What :meth:`RaceStandings.peek` shows of an athlete: read only, and only until the
    race's next change (it is the engine's own record, not a snapshot)."""

    @property
    def bib(self) -> str: ...
    @property
    def status(self) -> Status: ...
    @property
    def incidents(self) -> tuple[Incident, ...]: ...
    @property
    def times(self) -> tuple[int | None, ...]: ...
    @property
    def offset_ms(self) -> int: ...
    @property
    def last(self) -> int: ...


@dataclass(slots=True, frozen=True)
class Held:
    """What a source already delivered for an athlete (to merge a partial update into)."""

    status: Status  # the source's, not the desk's
    incidents: tuple[Incident, ...]
    splits: dict[str, int]  # point id -> gun time ms


@dataclass(slots=True, frozen=True)
class Row:
    """What a screen shows for one leaderboard line; computed on demand, O(log n).

    Times and gaps are in the view's ranking time (chip or gun, :attr:`LeaderboardView.rank_by`);
    ``time_ms`` is the chip time and ``gun_ms`` the gun time whatever the view ranks by."""

    index: int  # 0-based place in the view
    rank: int | None  # place in this view, shared by equal times; None when not placed
    position: int | None  # place in the whole field at the athlete's own latest point
    bib: str
    name: str
    country: str | None
    club: str | None
    gender: str | None
    category: str | None
    wave_id: str | None
    status: Status
    point_index: int  # -1 before the first point
    point_id: str | None
    time_ms: int | None  # chip time at the point
    gun_ms: int | None
    split_ms: int | None  # since the previous point passed
    gap_leader_ms: int | None  # to this view's leader at the point
    gap_ahead_ms: int | None  # to the athlete just ahead in this view at the point
    incidents: tuple[Incident, ...]
    local: bool = False  # the incident desk overrides the source for this athlete


@dataclass(slots=True, frozen=True)
class SplitRow:
    """One athlete at one timing point they passed (whole-field places and gaps)."""

    point_index: int
    point_id: str
    point_name: str
    time_ms: int  # chip time
    gun_ms: int
    split_ms: int  # since the previous point passed (or the start)
    position: int | None  # None for DSQ and DNS
    gap_leader_ms: int | None
    gap_ahead_ms: int | None
    gender_position: int | None = None
    category_position: int | None = None


@dataclass(slots=True, frozen=True)
class Counts:
    """How many athletes: in the race, started, finished, per status, past each point."""

    athletes: int
    started: int  # passed at least one point
    finished: int  # passed the finish point (racing or not)
    by_status: dict[Status, int]
    passed: tuple[int, ...]  # placed athletes past each point index


class _Ordering:
    """The order of one slice of the field (overall, or at one point), kept while read."""

    __slots__ = ("by_gun", "filter", "keys", "ordered", "point", "used")

    def __init__(self, point: int | None, flt: Filter, by_gun: bool, tick: int) -> None:
        self.point = point
        self.filter = flt
        self.by_gun = by_gun
        self.keys: dict[str, tuple[Any, ...]] = {}
        self.ordered: SortedList = SortedList()
        self.used = tick

    def key(self, entry: Entry) -> tuple[Any, ...] | None:
        if not self.filter.matches(entry.gender, entry.category, entry.wave_id):
            return None
        if self.point is None:
            return entry.make_key(self.by_gun)
        if not placed_at_point(entry.status):
            return None
        chip = entry.times[self.point] if self.point < len(entry.times) else None
        if chip is None:
            return None
        return point_key(chip + entry.offset_ms if self.by_gun else chip, entry.number, entry.bib)

    def build(self, entries: Iterable[Entry]) -> None:
        keys = {}
        for entry in entries:
            key = self.key(entry)
            if key is not None:
                keys[entry.bib] = key
        self.keys = keys
        self.ordered = SortedList(keys.values())

    def update(self, entry: Entry) -> None:
        old = self.keys.pop(entry.bib, None)
        if old is not None:
            self.ordered.remove(old)
        key = self.key(entry)
        if key is not None:
            self.keys[entry.bib] = key
            self.ordered.add(key)

    def drop(self, bib: str) -> None:
        old = self.keys.pop(bib, None)
        if old is not None:
            self.ordered.remove(old)


class _Athletes(Mapping[str, Athlete]):
    """The athletes of a race by bib, read-only: each value is a fresh :class:`Athlete`."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[str, Entry]) -> None:
        self._entries = entries

    def __getitem__(self, bib: str) -> Athlete:
        return RaceStandings._snapshot(self._entries[bib])

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, bib: object) -> bool:
        return bib in self._entries


def _same_field(old: Race, new: Race) -> bool:
    """``new`` leaves every athlete's times, gun offsets and place as ``old`` had them."""
    return old.points == new.points and old.waves == new.waves and old.rank_by == new.rank_by


def _latest_gun(entry: Entry) -> int:
    """The gun time of an athlete's latest passing (the entry has passed a point)."""
    return max(t for t in entry.times if t is not None) + entry.offset_ms


class _Ends:
    """What :meth:`RaceStandings.ended_ms` and :meth:`RaceStandings.last_passing_ms` stand
    on, kept from the change log: the latest passing and whose it is, one athlete still out
    on the course and one past the finish (None: there is none)."""

    __slots__ = ("finish", "finisher", "floor", "holder", "last", "out", "position", "top", "unseen")

    def __init__(self, position: int, finish: int, unseen: list[str] | None = None) -> None:
        self.position = position
        self.finish = finish
        self.last: int | None = None
        self.holder: str | None = None
        self.out: str | None = None
        self.finisher: str | None = None
        # The latest passings, so that the holder going back (a result that trims the
        # time of the passing just seen, a correction) is not a scan of the whole field:
        # ``top`` holds the gun time of the latest passing of a few athletes, and every
        # athlete not in it has passed no later than ``floor`` (None: every athlete with a
        # passing is in it).
        self.top: dict[str, int] = {}
        self.floor: int | None = None
        # Built afresh (after a reset of the change log) from every athlete, in chunks:
        # the bibs not looked at yet. The figures are known once it is empty.
        self.unseen = unseen or []

    def take_unseen(self, standings: RaceStandings, most: int | None) -> int:
        """Look at up to ``most`` (None: all) of the athletes not seen yet; how many."""
        unseen = self.unseen
        if most is None or most >= len(unseen):
            chunk, self.unseen = unseen, []
        else:
            chunk = unseen[len(unseen) - most :]
            del unseen[len(unseen) - most :]
        # Taking an athlete is following its change: nothing was held before, so nothing
        # is taken away (an athlete seen twice, here and in the log, counts once).
        self.follow(standings, set(chunk))
        return len(chunk)

    def is_out(self, entry: Entry) -> bool:
        return entry.last >= 0 and entry.times[self.finish] is None and entry.status is Status.OK

    def is_finisher(self, entry: Entry) -> bool:
        return entry.last >= 0 and entry.times[self.finish] is not None

    def scan_last(self, entries: dict[str, Entry]) -> None:
        """The latest passing from the whole field (``top`` built again): only when every
        athlete ``top`` held went back past ``floor``."""
        guns = ((_latest_gun(entry), bib) for bib, entry in entries.items() if entry.last >= 0)
        best = heapq.nlargest(_TOP + 1, guns)
        self.top = {bib: gun for gun, bib in best[:_TOP]}
        self.floor = best[_TOP][0] if len(best) > _TOP else None
        self.last, self.holder = best[0] if best else (None, None)

    def last_from_top(self, entries: dict[str, Entry]) -> None:
        """The latest passing after its holder went back or left: the best of ``top``
        (each of them no earlier than ``floor``, which nobody outside passed after; one
        that went back past it left ``top``), else a scan of the field."""
        top = self.top
        if top:
            holder = max(top, key=top.__getitem__)
            self.last, self.holder = top[holder], holder
        elif self.floor is None:
            self.last = self.holder = None  # nobody has passed
        else:
            self.scan_last(entries)

    def _prune_top(self) -> None:
        """Keep the ``_TOP`` latest; ``floor`` rises to the latest of those let go."""
        ranked = sorted(self.top.items(), key=lambda item: item[1], reverse=True)
        self.top = dict(ranked[:_TOP])
        self.floor = ranked[_TOP][1] if self.floor is None else max(self.floor, ranked[_TOP][1])

    def scan_out(self, standings: RaceStandings) -> None:
        """From the back of the overall order first: the athlete furthest behind stays out
        longest, so the next scan comes late (the order may lag behind the entries; the
        field itself is the fallback)."""
        entries = standings._entries
        self.out = None
        for key in reversed(standings.overall):
            entry = entries.get(key[1])
            if entry is not None and self.is_out(entry):
                self.out = key[1]
                return
        self.out = next((bib for bib, e in entries.items() if self.is_out(e)), None)

    def scan_finisher(self, entries: dict[str, Entry]) -> None:
        self.finisher = next((bib for bib, e in entries.items() if self.is_finisher(e)), None)

    def follow(self, standings: RaceStandings, bibs: set[str]) -> None:
        """Take the changes of ``bibs``; scan only for what a change took away."""
        entries = standings._entries
        rescan_last = False
        out_before, finisher_before = self.out is not None, self.finisher is not None
        last, holder, out, finisher, finish = self.last, self.holder, self.out, self.finisher, self.finish
        ok = Status.OK
        top, floor = self.top, self.floor
        # is_out / is_finisher and _latest_gun, inlined: 2-3 µs an athlete otherwise, and a
        # whole field is followed after a reset of the change log
        for bib in bibs:
            entry = entries.get(bib)
            if entry is None or entry.last < 0:
                top.pop(bib, None)
                if bib == holder:
                    rescan_last = True
                if bib == out:
                    out = None
                if bib == finisher:
                    finisher = None
                continue
            times = entry.times
            gun = max([t for t in times if t is not None]) + entry.offset_ms
            if floor is None or gun > floor:
                top[bib] = gun
                if len(top) > 2 * _TOP:
                    self._prune_top()
                    top, floor = self.top, self.floor
            elif bib in top:
                del top[bib]  # no later than floor: outside, as the others
            if last is None or gun > last:
                last, holder = gun, bib
            elif bib == holder and gun < last:
                rescan_last = True
            if times[finish] is None:
                if entry.status is ok:
                    if out is None:
                        out = bib
                elif bib == out:
                    out = None
                if bib == finisher:
                    finisher = None
            else:
                if finisher is None:
                    finisher = bib
                if bib == out:
                    out = None
        self.last, self.holder, self.out, self.finisher = last, holder, out, finisher
        if rescan_last:
            self.last_from_top(entries)
        if self.out is None and out_before:
            self.scan_out(standings)
        if self.finisher is None and finisher_before:
            self.scan_finisher(entries)


_SERIALS = itertools.count(1)


class RaceStandings:
    """The live standings of one race."""

    def __init__(self, race: Race) -> None:
        self.race = race
        # Unique for the life of the process (an ``id()`` is reused once an object is
        # freed): what a reader keys "already seen these standings" on.
        self.serial = next(_SERIALS)
        self._entries: dict[str, Entry] = {}
        self.overall: SortedList = SortedList()
        self._at_point: list[SortedList] = []
        self._orderings: dict[tuple[int | None, Filter, bool], _Ordering] = {}
        self._tick = 0
        self.points: list[TimingPoint] = []
        self.point_index: dict[str, int] = {}
        self.wave_offsets: dict[str, int] = {}
        self.by_gun = race.rank_by is RankBy.GUN
        self._pending: dict[str, Entry] = {}  # changed, not yet re-indexed (deferred mode)
        # Passed a point on the hot path: their point lists are exact, their overall key
        # (and overall slice orderings) are re-placed at the next read or settle.
        self._moved: dict[str, Entry] = {}
        self._span: tuple[int, int] | None = None  # overall rows re-placed, not yet reported
        self.on_hold = False  # a source is mid-sync: reads skip the expensive rebuild
        self._mutations = 0  # bumped by every change (what caches of whole-field reads key on)
        # Bibs in the order they changed, for readers that follow changes rather than
        # re-reading the field (projections): :meth:`changed_since`; bounded.
        self._log: list[str] = []
        self._log_start = 0  # log position of ``_log[0]``
        self._ended: tuple[int, int | None, int | None] = (-1, None, None)
        self._ends_seen: _Ends | None = None  # what ``_ended`` is kept from
        self.set_race(race, _first=True)

    # ----------------------------------------------------------------- setup
    def set_race(self, race: Race, *, _first: bool = False) -> bool:
        """Take new race data; returns True when the order changed as a whole (points,
        or what the race ranks by): then everything is re-sorted."""
        old = None if _first else self.race
        self.race = race
        self._mutations += 1
        if old is None or not _same_field(old, race):
            self._log_start += len(self._log) + 1  # anything may have changed: readers re-read
            self._log.clear()
        # else only the race's own data changed (its clock, name, weather): every athlete is
        # as it was, and the readers that follow the change log carry on from where they are
        # (a scan of a 50,000-athlete field for the race's end, 126 ms of the dashboard's
        # loop, came with each clock update of a BBT race)
        old_offsets = self.wave_offsets
        self.wave_offsets = {wave.id: wave.offset_ms for wave in race.waves}
        points = sorted(race.points, key=lambda p: (p.order, p.id))
        changed = _first or [p.id for p in points] != [p.id for p in self.points]
        if changed and not _first:
            # Re-map every entry's times onto the new point order.
            remap = {i: j for i, p in enumerate(self.points) if (j := _index_of(points, p.id)) is not None}
            for entry in self._entries.values():
                times: list[int | None] = [None] * len(points)
                for i, value in enumerate(entry.times):
                    if i in remap:
                        times[remap[i]] = value
                entry.times = tuple(times)
        self.points = points
        self.point_index = {p.id: i for i, p in enumerate(points)}
        by_gun = race.rank_by is RankBy.GUN
        if by_gun != self.by_gun or (by_gun and old_offsets != self.wave_offsets):
            changed = True
        self.by_gun = by_gun
        for entry in self._entries.values():
            # A wave start re-timed: chip times (what ranks) stand, gun times follow.
            wave = entry.wave_id
            entry.offset_ms = self.wave_offsets.get(wave, 0) if wave else 0
        if old_offsets != self.wave_offsets:
            self._orderings.clear()
        if changed:
            for entry in self._entries.values():
                entry.last = _last(entry.times)
            self._pending.update(self._entries)
            self._rebuild()
        return changed and not _first

    # -------------------------------------------------------------- indexing
    #
    # Every entry is in the overall list (its key) and, unless DSQ/DNS, in the list of every
    # point it passed (ranking time, number, bib). ``entry.indexed`` remembers exactly what
    # was put in, so an entry can change first and be re-indexed later (deferred mode).

    def _insert(self, entry: Entry) -> None:
        entry.key = entry.make_key(self.by_gun)
        self.overall.add(entry.key)
        placed = placed_at_point(entry.status)
        ranking = entry.ranking_times(self.by_gun)
        entry.indexed = (ranking, placed)
        if placed:
            for index, time in enumerate(ranking):
                if time is not None:
                    self._at_point[index].add((time, entry.number, entry.bib))
        self._slices_update(entry, None)

    def _remove(self, entry: Entry) -> None:
        if entry.indexed is None:
            return
        ranking, placed = entry.indexed
        entry.indexed = None
        self.overall.remove(entry.key)
        if placed:
            for index, time in enumerate(ranking):
                if time is not None:
                    self._at_point[index].remove((time, entry.number, entry.bib))

    def _slices_update(self, entry: Entry, point: int | None, *, every: bool = True) -> None:
        """Re-place ``entry`` in the slice orderings someone reads (all of them, or the
        overall ones and those at ``point`` after a passing there)."""
        for ordering in self._orderings.values():
            if every or ordering.point is None or ordering.point == point:
                ordering.update(entry)

    def _rebuild(self) -> None:
        """Index every entry from scratch: one sort per point and one overall."""
        overall: list[OverallKey] = []
        at_point: list[list[PointKey]] = [[] for _ in self.points]
        by_gun = self.by_gun
        for entry in self._entries.values():
            entry.key = key = entry.make_key(by_gun)
            placed = placed_at_point(entry.status)
            ranking = entry.ranking_times(by_gun)
            entry.indexed = (ranking, placed)
            overall.append(key)
            if placed:
                number, bib = entry.number, entry.bib
                for index, time in enumerate(ranking):
                    if time is not None:
                        at_point[index].append((time, number, bib))
        # SortedList sorts its input: on sorted input that is one linear pass.
        self.overall = SortedList(overall)
        self._at_point = [SortedList(v) for v in at_point]
        for ordering in self._orderings.values():
            ordering.build(self._entries.values())
        self._pending.clear()
        if self._moved:
            self._moved.clear()
            self._span = (0, max(0, len(self._entries) - 1))

    def _place_moved(self) -> None:
        """Re-place in the overall order the entries that passed a point since the last
        read: one by one when few, else in one merge (the unmoved keys stay in order, the
        moved ones are sorted among themselves, and one linear merge joins the two)."""
        moved = self._moved
        if not moved:
            return
        self._moved = {}
        entries, pending, by_gun = self._entries, self._pending, self.by_gun
        live = [
            e
            for e in moved.values()
            if e.indexed is not None and entries.get(e.bib) is e and e.bib not in pending
        ]
        overall = self.overall
        span = self._span
        if len(live) * _MERGE_RATIO > len(overall):
            span = (0, max(0, len(overall) - 1))
            fresh: list[OverallKey] = []
            for entry in live:
                entry.key = key = entry.make_key(by_gun)
                fresh.append(key)
            bibs = {e.bib for e in live}  # a key's bib is its last item (a str: hash cached)
            kept = [k for k in overall if k[1] not in bibs]
            fresh.sort()
            kept += fresh
            self.overall = SortedList(kept)  # two sorted runs: one linear merge
        else:
            for entry in live:
                key = entry.make_key(by_gun)
                if key != entry.key:
                    old = overall.bisect_left(entry.key)
                    overall.remove(entry.key)
                    overall.add(key)
                    entry.key = key
                    new = overall.bisect_left(key)
                    low, high = (old, new) if old <= new else (new, old)
                    span = (low, high) if span is None else (min(low, span[0]), max(high, span[1]))
        self._span = span
        if self._orderings:
            overall_slices = [o for o in self._orderings.values() if o.point is None]
            for entry in live:
                for ordering in overall_slices:
                    ordering.update(entry)

    def place_moved(self) -> None:
        """Give the passers since the last read their overall places now (a replica, after
        each slice of passings: the next read does not take a load's worth at once)."""
        if self._moved:
            self._place_moved()

    def settle(self, *, full: bool = True, place: bool = True) -> bool:
        """Bring the ordered structures up to date with entries changed in deferred mode:
        a few are re-indexed one by one, many in one rebuild (skipped unless ``full``).
        Returns True when the structures are current. Slice orderings unread for a while
        are dropped here. ``place`` False leaves athletes who passed a point to the next
        read (a hub that reads no ranking); :meth:`take_span` says which rows moved.

        Every read settles first; while the engine is *held* (a source is mid-sync) reads
        only do the cheap part, and meanwhile see the last indexed state, which stays
        consistent (each entry's indexed key is what the lists hold)."""
        self._tick += 1
        idle = [k for k, o in self._orderings.items() if o.used < self._tick - _IDLE_TICKS]
        for key in idle:
            del self._orderings[key]
        if place and self._moved:
            self._place_moved()
        return self._settle(full=full)

    def take_span(self) -> tuple[int, int] | None:
        """The (first, last) overall rows that athletes re-placed after a passing moved
        between since the last call (None: none moved)."""
        span, self._span = self._span, None
        return span

    def _settle(self, *, full: bool) -> bool:
        # Athletes who passed a point on the hot path are re-placed overall by the next
        # read (:meth:`_fresh`), not here: a hub that never reads a ranking between two
        # snapshots pays one point-list move per passing and nothing more.
        if not self._pending:
            return True
        if len(self._pending) * 8 > len(self._entries):
            if not full:
                return False
            self._rebuild()
            return True
        for entry in self._pending.values():
            self._remove(entry)
            if self._entries.get(entry.bib) is entry:
                self._insert(entry)
            else:
                for ordering in self._orderings.values():
                    ordering.drop(entry.bib)
        self._pending.clear()
        return True

    def _fresh(self) -> None:
        if self._moved:
            self._place_moved()
        self._settle(full=not self.on_hold)

    @property
    def version(self) -> tuple[int, int]:
        """Changes with every change to the field and with every settle: what a cache of a
        whole-field read (the leaderboard's groups) keys on."""
        return self._mutations, len(self._pending)

    @property
    def deferred(self) -> bool:
        """True while changes wait for :meth:`settle` (then ranks are not computed per change)."""
        return bool(self._pending)

    def _note(self, bib: str) -> None:
        log = self._log
        log.append(bib)
        if len(log) > _LOG_KEEP and len(log) > 4 * len(self._entries):
            drop = len(log) // 2
            del log[:drop]
            self._log_start += drop

    @property
    def log_position(self) -> int:
        """Where the change log is now (for :meth:`changed_since`)."""
        return self._log_start + len(self._log)

    def changed_since(self, position: int) -> list[str] | None:
        """The bibs changed (passed, updated, added, removed) since ``position`` (an earlier
        :attr:`log_position`), oldest first, repeats included; None when the log no longer
        reaches back that far or the race itself changed: then read the whole field."""
        if position < self._log_start:
            return None
        return self._log[position - self._log_start :]

    def _touched(self, entry: Entry, defer: bool) -> tuple[int, int] | None:
        """After a change to ``entry``: re-index it now (returning its old and new overall
        index) or leave that to the next settle (returning the whole field: anything may move)."""
        self._mutations += 1
        self._note(entry.bib)
        if defer:
            self._pending[entry.bib] = entry
            return 0, max(0, len(self._entries) - 1)
        # Re-indexed whole here: out of the passers waiting for their overall place. The
        # others wait on (placing them all here made one update after a load's passings
        # a step of 100+ ms): the order still holds their old keys, sorted, so the indexes
        # below are those of the list as it is, and each later move reports its own rows.
        self._moved.pop(entry.bib, None)
        old = int(self.overall.bisect_left(entry.key)) if entry.indexed is not None else len(self.overall)
        self._remove(entry)
        self._insert(entry)
        return old, int(self.overall.bisect_left(entry.key))

    # ------------------------------------------------------------ mutations
    #
    # Every mutation takes ``defer``: False keeps the indexes exact at once and returns the
    # rows that moved (a live passing); True only records the change, for bulk loads where
    # re-sorting once beats tens of thousands of inserts. The engine picks by batch size.

    def _entry(self, bib: str) -> tuple[Entry, bool]:
        entry = self._entries.get(bib)
        if entry is not None:
            return entry, False
        entry = Entry(bib=bib, number=start_number(bib), times=(None,) * len(self.points))
        self._entries[bib] = entry
        return entry, True

    def ensure_entry(self, bib: str) -> bool:
        """Hold an (empty) entry for ``bib``; True when it was not held before."""
        entry, created = self._entry(bib)
        if created:
            self._note(bib)
            self._insert(entry)
        return created

    def pass_point(
        self, bib: str, point_id: str, gun_ms: int, *, defer: bool = False
    ) -> tuple[int, int] | None:
        """Record a passing (gun time). Returns the (old, new) overall index, None if
        unchanged, or :data:`PLACED_LATER`: the athlete's overall place is taken at the
        next read or settle, which reports the rows that moved."""
        index = self.point_index.get(point_id)
        if index is None:
            raise KeyError(f"point_id: unknown timing point {point_id!r} in race {self.race.id!r}")
        entry = self._entries.get(bib)
        created = entry is None
        if entry is None:
            entry, created = self._entry(bib)
        chip = gun_ms - entry.offset_ms
        times = entry.times
        if times[index] == chip and not created:
            return None
        entry.times = times = (*times[:index], chip, *times[index + 1 :])
        entry.reported = None  # racetui's own data now: the source's positions no longer hold
        self._mutations += 1
        self._note(bib)
        if index > entry.last:
            entry.last = index
        if defer or created or self._pending:
            return self._touched(entry, defer or bool(self._pending))
        # The hot path of a live race: one key moves in the point's list now; the overall
        # order takes the athlete's new place at the next read or settle (many passings
        # between two reads cost one merge, not one move each), which reports the rows
        # that moved (:meth:`take_span`).
        ranking, placed = entry.indexed or ((), False)
        if placed:
            time = chip + entry.offset_ms if self.by_gun else chip
            at = self._at_point[index]
            number = entry.number
            previous = ranking[index]
            if previous is not None:
                at.remove((previous, number, bib))
            at.add((time, number, bib))
            # chip ranks (or no wave offset): the times are the ranking
            ranking = times if time == chip else (*ranking[:index], time, *ranking[index + 1 :])
        else:
            ranking = entry.ranking_times(self.by_gun)
        entry.indexed = (ranking, placed)
        self._moved[bib] = entry
        if self._orderings:
            for ordering in self._orderings.values():
                if ordering.point == index:
                    ordering.update(entry)
        return PLACED_LATER

    def update_entry(
        self,
        bib: str,
        *,
        participant: Participant | None = None,
        status: Status | None = None,
        times: dict[str, int] | None = None,
        incidents: list[Incident] | None = None,
        legs: list[RelayLeg] | None = None,
        reported: Reported | None = None,
        defer: bool = False,
    ) -> tuple[int, int] | None:
        """Replace any of an entry's fields (``times`` are gun times by point id, complete).

        ``reported`` is the source's own positions and differences (a v1.1 feed); an update
        with ``times`` and without it means the source does not rank, and drops any held.
        Returns the (old, new) overall index when anything changed, else None.
        """
        entry, created = self._entry(bib)
        new_times: tuple[int | None, ...] | None = None
        offset = entry.offset_ms
        if participant is not None and participant.wave_id != entry.wave_id:
            offset = self.wave_offsets.get(participant.wave_id, 0) if participant.wave_id else 0
        if times is not None:
            building: list[int | None] = [None] * len(self.points)
            for point_id, gun in times.items():
                index = self.point_index.get(point_id)
                if index is None:
                    if created:
                        del self._entries[bib]
                    raise KeyError(f"point_id: unknown timing point {point_id!r} in race {self.race.id!r}")
                building[index] = gun - offset
            new_times = tuple(building)
        elif offset != entry.offset_ms:
            new_times = tuple(None if t is None else t + entry.offset_ms - offset for t in entry.times)
        new_reported = reported if (reported is not None or times is not None) else entry.reported
        changed = (
            created
            or (participant is not None and participant != entry.participant)
            or (status is not None and status != entry.source_status)
            or (new_times is not None and new_times != entry.times)
            or (incidents is not None and tuple(incidents) != entry.source_incidents)
            or (legs is not None and tuple(legs) != entry.legs)
            or new_reported != entry.reported
        )
        if not changed:
            return None
        if participant is not None:
            entry.participant = participant
        entry.offset_ms = offset
        if status is not None:
            entry.source_status = status
        if incidents is not None:
            entry.source_incidents = tuple(incidents)
        entry.status, entry.incidents = entry.effective()
        if new_times is not None:
            entry.times = new_times
            entry.last = _last(new_times)
        if legs is not None:
            entry.legs = tuple(legs)
        entry.reported = new_reported
        return self._touched(entry, defer or bool(self._pending))

    def set_override(self, bib: str, override: Override | None) -> tuple[int, int] | None:
        """The incident desk's word on an athlete (None withdraws it): status and incidents
        are re-merged and the athlete re-placed. Returns the (old, new) index if changed."""
        entry, created = self._entry(bib)
        if not created and entry.override == override:
            return None
        entry.override = override
        entry.status, entry.incidents = entry.effective()
        return self._touched(entry, bool(self._pending))

    def remove_entry(self, bib: str) -> int | None:
        entry = self._entries.pop(bib, None)
        if entry is None:
            return None
        self._pending.pop(bib, None)
        self._mutations += 1
        self._note(bib)
        if self._moved:
            self._place_moved()
        old = int(self.overall.bisect_left(entry.key)) if entry.indexed is not None else len(self.overall)
        self._remove(entry)
        for ordering in self._orderings.values():
            ordering.drop(bib)
        return old

    # ---------------------------------------------------------------- reads
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, bib: object) -> bool:
        return bib in self._entries

    @property
    def entries(self) -> Mapping[str, Athlete]:
        """Every athlete by bib, as read-only snapshots (``get``, ``items``, ``in``)."""
        return _Athletes(self._entries)

    def bibs(self) -> list[str]:
        """Every bib held, in the order athletes first appeared."""
        return list(self._entries)

    def athlete(self, bib: str) -> Athlete | None:
        """A snapshot of what the engine holds about ``bib`` (None: not in this race)."""
        entry = self._entries.get(bib)
        return None if entry is None else self._snapshot(entry)

    def peek(self, bib: str) -> AthleteNow | None:
        """``bib`` as held now, without a snapshot's copy (None: not in this race): for a
        reader that looks at every changed athlete each tick and keeps only the immutable
        parts (the tracker: building an :class:`Athlete` was 40 % of its live work)."""
        return self._entries.get(bib)

    @staticmethod
    def _snapshot(entry: Entry) -> Athlete:
        return Athlete(
            bib=entry.bib,
            participant=entry.participant,
            status=entry.status,
            source_status=entry.source_status,
            incidents=entry.incidents,
            source_incidents=entry.source_incidents,
            legs=entry.legs,
            override=entry.override,
            times=entry.times,
            offset_ms=entry.offset_ms,
            last=entry.last,
        )

    def row(self, bib: str) -> Row | None:
        """The athlete's row in the whole field's overall view (None: not in this race)."""
        self._fresh()
        entry = self._entries.get(bib)
        if entry is None:
            return None
        return self._row(entry, int(self.overall.bisect_left(entry.key)), None, Filter())

    def athletes(self) -> Iterator[Athlete]:
        """Every athlete held, in the order they first appeared (not ranked)."""
        for entry in list(self._entries.values()):
            yield self._snapshot(entry)

    def ordered(self) -> Iterator[Athlete]:
        """Every athlete in the overall order (the v1.1 athletes array)."""
        self._fresh()
        entries = self._entries
        for key in list(self.overall):
            yield self._snapshot(entries[key[1]])

    def snapshot(self) -> StandingsSnapshot:
        """The whole field's read side at this version, in one go (see :meth:`reader`)."""
        reader = SnapshotReader(self, None)
        reader.step()
        assert reader.result is not None
        return reader.result

    def reader(self, size: int | None = READ_SLICE) -> SnapshotReader:
        """A :class:`SnapshotReader`: the same snapshot, ``size`` athletes a step."""
        return SnapshotReader(self, size)

    def _passed_all(self) -> tuple[int, ...]:
        """:meth:`passed` of every point at once (settled by the caller)."""
        counts = [len(at) for at in self._at_point]
        for entry in self._unplaced():
            if entry.indexed:
                for index, time in enumerate(entry.indexed[0]):
                    if time is not None and index < len(counts):
                        counts[index] += 1
        return tuple(counts)

    def held(self, bib: str) -> Held | None:
        """What the sources delivered for ``bib`` (its status, incidents and gun times by
        point id), for a source that merges a partial update into a whole result."""
        entry = self._entries.get(bib)
        if entry is None:
            return None
        points = self.points
        offset = entry.offset_ms
        splits = {points[i].id: t + offset for i, t in enumerate(entry.times) if t is not None}
        return Held(entry.source_status, entry.source_incidents, splits)

    def held_time(self, bib: str, point_id: str) -> int | None:
        """The gun time held for ``bib`` at ``point_id`` (None: none), the hot path of a
        source deciding whether a pushed passing is news."""
        entry = self._entries.get(bib)
        index = self.point_index.get(point_id)
        if entry is None or index is None:
            return None
        chip = entry.times[index]
        return None if chip is None else chip + entry.offset_ms

    def reported(self, bib: str) -> Reported | None:
        """The source's own positions and differences for ``bib``, while nothing in
        racetui changed the athlete (no desk decision, no passing from elsewhere)."""
        entry = self._entries.get(bib)
        if entry is None or entry.override is not None:
            return None
        return entry.reported

    def source_reported(self, bib: str) -> Reported | None:
        """The source's own positions as held, desk or not (for a replica of this engine)."""
        entry = self._entries.get(bib)
        return None if entry is None else entry.reported

    def genders(self) -> list[str]:
        return sorted({g for e in self._entries.values() if (g := e.gender)})

    def categories(self, *, gender: str | None = None, wave_id: str | None = None) -> list[str]:
        """Categories present among the athletes of ``gender`` and ``wave_id`` (None: any)."""
        flt = Filter(gender=gender, wave_id=wave_id)
        found = {
            c for e in self._entries.values() if (c := e.category) and flt.matches(e.gender, c, e.wave_id)
        }
        return sorted(found)

    def names(self) -> Iterator[tuple[str, str]]:
        """``(bib, display name)`` of every athlete (for search)."""
        for entry in list(self._entries.values()):
            yield entry.bib, entry.name()

    def counts(self) -> Counts:
        self._fresh()
        by_status: dict[Status, int] = {}
        started = finished = 0
        finish = next((i for i, p in enumerate(self.points) if p.is_finish), len(self.points) - 1)
        for entry in self._entries.values():
            by_status[entry.status] = by_status.get(entry.status, 0) + 1
            if entry.last >= 0:
                started += 1
                if finish >= 0 and entry.times[finish] is not None:
                    finished += 1
        return Counts(
            athletes=len(self._entries),
            started=started,
            finished=finished,
            by_status=by_status,
            passed=tuple(len(at) for at in self._at_point),
        )

    def ended_ms(self) -> int | None:
        """The race time the race ended at (its last passing), once it is over: official,
        or everyone who started is in (past the finish, or out: DNF, DSQ...). None while
        anyone is still out on the course, or before anyone finished. Computed once per
        change of the field (the header reads it every tick)."""
        self._ends()
        return self._ended[1]

    def last_passing_ms(self) -> int | None:
        """The race (gun) time of the latest passing held (None: none yet)."""
        self._ends()
        return self._ended[2]

    def keep_up(self, most: int | None = None) -> None:
        """Follow the change log so far for the figures the reads keep (see ``_ends``):
        with ``most``, only that many athletes' changes this time (a replica between the
        slices of a load; the next read takes the rest)."""
        self._ends(most)

    def _ends(self, most: int | None = None) -> None:
        """Follow the change log: only the athletes changed since the last read are looked
        at. A scan of the field is needed only when a change takes away what the figures
        stood on (the holder of the latest passing went back or left, the athlete seen out
        on the course or past the finish is no more), not on every tick of a live race.
        After a reset of the log (new points or waves) every athlete is looked at again,
        in chunks of ``most`` when given."""
        if self._ended[0] == self._mutations:
            return
        ends = self._ends_seen
        changed = None if ends is None else self.changed_since(ends.position)
        if ends is None or changed is None:
            ends = self._ends_seen = _Ends(self.log_position, self._finish_index(), list(self._entries))
            changed = []
        if ends.unseen:
            taken = ends.take_unseen(self, most)
            if ends.unseen:
                return  # not known yet: the next keep_up or read goes on
            most = None if most is None else max(0, most - taken)
            if most == 0:
                return
        if most is not None and len(changed) > most:
            ends.position += most
            ends.follow(self, set(changed[:most]))
            return
        ends.position = self.log_position
        if changed:
            ends.follow(self, set(changed))
        official = self.race.clock is not None and self.race.clock.state is ClockState.OFFICIAL
        ended: int | None = None
        if self.points and (official or (ends.out is None and ends.finisher is not None)):
            ended = ends.last
        self._ended = (self._mutations, ended, ends.last)

    def _finish_index(self) -> int:
        return next((i for i, p in enumerate(self.points) if p.is_finish), len(self.points) - 1)

    def latest_point(self) -> int:
        """Index of the furthest point anyone has passed (-1 before the first passing);
        a DSQ athlete out in front counts: the spec delivers their times too. Like every
        read, it sees the indexed state (consistent while a source is mid-sync)."""
        self._fresh()
        furthest = -1
        for index in range(len(self._at_point) - 1, -1, -1):
            if self._at_point[index]:
                furthest = index
                break
        if furthest == len(self._at_point) - 1:
            return furthest  # someone finished: nobody out of the point lists is further
        for entry in self._unplaced():
            furthest = max(furthest, _last(entry.indexed[0]) if entry.indexed else -1)
        return furthest

    def _unplaced(self) -> Iterator[Entry]:
        """DNS and DSQ athletes (the tail of the overall order): not in the point lists."""
        dns = status_rank(Status.DNS)
        for key in reversed(self.overall):
            if key_status_rank(key) < dns:
                return
            yield self._entries[key[1]]

    def passed(self, index: int) -> int:
        """How many athletes have passed point ``index`` (DSQ and DNS included)."""
        self._fresh()
        if not 0 <= index < len(self._at_point):
            return 0
        extra = sum(1 for e in self._unplaced() if e.indexed and e.indexed[0][index] is not None)
        return len(self._at_point[index]) + extra

    def leader_ms(self, index: int, flt: Filter | None = None) -> int | None:
        """The leader's ranking time at point ``index`` (of the slice ``flt``)."""
        self._fresh()
        ordered = self._point_order(index, flt or Filter())
        return ordered[0][0] if ordered else None

    def placing(self, bib: str, index: int, flt: Filter | None = None) -> int | None:
        """The athlete's place at point ``index`` in the whole field (or the slice ``flt``);
        None when they have no time there, or take no place (DSQ, DNS)."""
        self._fresh()
        entry = self._entries.get(bib)
        if entry is None or not 0 <= index < len(entry.times) or entry.times[index] is None:
            return None
        if not placed_at_point(entry.status):
            return None
        flt = flt or Filter()
        if flt and not flt.matches(entry.gender, entry.category, entry.wave_id):
            return None
        by_gun = self._view_by_gun(flt)
        chip = entry.times[index]
        assert chip is not None
        time = chip + entry.offset_ms if by_gun else chip
        return int(self._point_order(index, flt).bisect_left((time,))) + 1

    def split(self, bib: str, index: int, *, groups: bool = False) -> SplitRow | None:
        """The athlete at point ``index`` (None: not passed); ``groups`` adds gender and
        category places (building those orderings on first use)."""
        self._fresh()
        entry = self._entries.get(bib)
        if entry is None:
            return None
        previous = next((t for t in reversed(entry.times[:index]) if t is not None), 0)
        return self._split(entry, index, previous, groups)

    def splits(self, bib: str, *, groups: bool = False) -> list[SplitRow]:
        """The athlete at every point passed, in course order."""
        self._fresh()
        entry = self._entries.get(bib)
        if entry is None:
            return []
        out: list[SplitRow] = []
        previous = 0
        for index, chip in enumerate(entry.times):
            if chip is None:
                continue
            row = self._split(entry, index, previous, groups)
            if row is not None:
                out.append(row)
            previous = chip
        return out

    def _split(self, entry: Entry, index: int, previous: int, groups: bool) -> SplitRow | None:
        chip = entry.times[index] if 0 <= index < len(entry.times) else None
        if chip is None:
            return None
        by_gun = self.by_gun
        time = chip + entry.offset_ms if by_gun else chip
        ordered = self._at_point[index]
        placed = placed_at_point(entry.status)
        position = int(ordered.bisect_left((time,))) + 1 if placed else None
        leader = ordered[0][0] if ordered else None
        where = int(ordered.bisect_left((time, entry.number, entry.bib)))
        gender_position = category_position = None
        if groups and placed:
            if entry.gender:
                gender_position = self.placing(entry.bib, index, Filter(gender=entry.gender))
            if entry.category:
                category_position = self.placing(entry.bib, index, Filter(category=entry.category))
        point = self.points[index]
        return SplitRow(
            point_index=index,
            point_id=point.id,
            point_name=point.name,
            time_ms=chip,
            gun_ms=chip + entry.offset_ms,
            split_ms=chip - previous,
            position=position,
            gap_leader_ms=None if leader is None else max(0, time - leader),
            gap_ahead_ms=time - ordered[where - 1][0] if where > 0 else None,
            gender_position=gender_position,
            category_position=category_position,
        )

    # ----------------------------------------------------------- orderings
    def _view_by_gun(self, flt: Filter) -> bool:
        return self.by_gun and not flt.by_chip

    def _slice(self, point: int | None, flt: Filter) -> _Ordering:
        by_gun = self._view_by_gun(flt)
        key = (point, flt, by_gun)
        ordering = self._orderings.get(key)
        if ordering is None:
            ordering = self._orderings[key] = _Ordering(point, flt, by_gun, self._tick)
            ordering.build(self._entries.values())
        ordering.used = self._tick
        return ordering

    def _overall_order(self, flt: Filter) -> SortedList:
        return self.overall if not flt else self._slice(None, flt).ordered

    def _point_order(self, index: int, flt: Filter) -> SortedList:
        return self._at_point[index] if not flt else self._slice(index, flt).ordered

    def view(
        self,
        *,
        point_id: str | None = None,
        gender: str | None = None,
        category: str | None = None,
        wave_id: str | None = None,
    ) -> LeaderboardView:
        """Rows of the whole field or a slice of it, overall or at one timing point."""
        return LeaderboardView(
            self, point_id=point_id, flt=Filter(gender=gender or None, category=category, wave_id=wave_id)
        )

    def _row(self, entry: Entry, index: int, point: int | None, flt: Filter) -> Row:
        by_gun = self._view_by_gun(flt)
        at = entry.last if point is None else point
        chip = entry.times[at] if 0 <= at < len(entry.times) else None
        position = rank = gap_leader = gap_ahead = split = None
        if chip is not None:
            field_time = chip + entry.offset_ms if self.by_gun else chip
            if placed_at_point(entry.status):
                position = int(self._at_point[at].bisect_left((field_time,))) + 1
            time = chip + entry.offset_ms if by_gun else chip
            ordered = self._point_order(at, flt)
            if ordered:
                gap_leader = max(0, time - ordered[0][0])
            where = int(ordered.bisect_left((time, entry.number, entry.bib)))
            gap_ahead = time - ordered[where - 1][0] if where > 0 else None
            earlier = next((t for t in reversed(entry.times[:at]) if t is not None), None)
            split = chip - earlier if earlier is not None else chip
            if point is None:
                if takes_place(entry.status, entry.last):
                    key = entry.make_key(by_gun)
                    rank = int(self._overall_order(flt).bisect_left(place_key(key))) + 1
            elif placed_at_point(entry.status):
                rank = int(ordered.bisect_left((time,))) + 1
        participant = entry.participant
        return Row(
            index=index,
            rank=rank,
            position=position,
            bib=entry.bib,
            name=entry.name(),
            country=participant.country if participant else None,
            club=participant.club if participant else None,
            gender=entry.gender,
            category=entry.category,
            wave_id=entry.wave_id,
            status=entry.status,
            point_index=at,
            point_id=self.points[at].id if 0 <= at < len(self.points) else None,
            time_ms=chip,
            gun_ms=None if chip is None else chip + entry.offset_ms,
            split_ms=split,
            gap_leader_ms=gap_leader,
            gap_ahead_ms=gap_ahead,
            incidents=entry.incidents,
            local=entry.override is not None,
        )


class StandingsSnapshot:
    """One race's standings read at one version: what a message of the whole field is made
    of (the v1.1 upload). It answers what :class:`RaceStandings` answers for that
    (:meth:`ordered`, ``overall``, :meth:`reported`, :meth:`latest_point`, :meth:`passed`,
    ``points``, ``race``, ``by_gun``), from its own copies: another thread may read it
    while the engine goes on changing. Made by :meth:`RaceStandings.snapshot` or a
    :class:`SnapshotReader`."""

    __slots__ = (
        "_held",
        "_latest",
        "_passed",
        "_where",
        "by_gun",
        "overall",
        "points",
        "race",
        "serial",
        "version",
    )

    def __init__(self, standings: RaceStandings, where: dict[str, int], held: list[Any]) -> None:
        standings._fresh()
        self.race = standings.race
        self.serial = standings.serial
        self.version = standings.version
        self.points = list(standings.points)
        self.by_gun = standings.by_gun
        self.overall: list[OverallKey] = list(standings.overall)
        self._latest = standings.latest_point()
        self._passed = standings._passed_all()
        self._where = where
        self._held = held

    def __len__(self) -> int:
        return len(self.overall)

    def ordered(self) -> Iterator[Athlete]:
        """Every athlete in the overall order (as :meth:`RaceStandings.ordered`)."""
        held, where = self._held, self._where
        for key in self.overall:
            at = where[key[1]]
            yield Athlete(*held[at : at + _FIELDS])

    def athlete(self, bib: str) -> Athlete | None:
        at = self._where.get(bib)
        return None if at is None else Athlete(*self._held[at : at + _FIELDS])

    def reported(self, bib: str) -> Reported | None:
        """As :meth:`RaceStandings.reported`: none while the incident desk overrides."""
        at = self._where.get(bib)
        if at is None or self._held[at + 7] is not None:
            return None
        reported: Reported | None = self._held[at + _FIELDS]
        return reported

    def latest_point(self) -> int:
        return self._latest

    def passed(self, index: int) -> int:
        return self._passed[index] if 0 <= index < len(self._passed) else 0


class SnapshotReader:
    """Reads a :class:`StandingsSnapshot` ``size`` athletes a :meth:`step`, so that the
    thread that changes the standings (the dashboard's UI loop, where the replica applies
    the hub's frames) may change them between steps: no step holds it for the whole field.

    The snapshot is still the standings at one version: every change to an athlete is in
    the standings' change log (:meth:`RaceStandings.changed_since`), so an athlete changed
    after their slice was read is read again, and the last step, with nothing left to read
    again, takes the order, the counts and the race there and then. When the log no longer
    reaches back (the race was set anew, or the log was trimmed) the read starts over
    (:attr:`restarts`); after a few, or when changes keep coming faster than it reads, it
    reads the rest in one step. ``size`` None reads everything in one step."""

    def __init__(self, standings: RaceStandings, size: int | None = READ_SLICE) -> None:
        self.standings = standings
        self.size = size
        self.restarts = 0
        self.steps = 0
        self.result: StandingsSnapshot | None = None
        self._begin()

    def _begin(self) -> None:
        standings = self.standings
        self._position = standings.log_position
        self._todo = list(standings._entries)
        self._next = 0
        self._again: set[str] = set()
        # every athlete's fields in one flat list, where each starts by bib: no object per
        # athlete, so a read of 50,000 makes no work for the garbage collector (the per
        # athlete tuples it first held set off a full pass of 30-80 ms in the read)
        self._where: dict[str, int] = {}
        self._held: list[Any] = []
        self._limit = 2 * (len(self._todo) // self.size + 1) + 8 if self.size else 0

    @property
    def done(self) -> int:
        """Athletes read so far (for a progress line)."""
        return len(self._where)

    @property
    def total(self) -> int:
        return max(len(self.standings), len(self._where))

    def step(self) -> bool:
        """Read the next slice; True once the snapshot is read (:attr:`result`)."""
        if self.result is not None:
            return True
        self.steps += 1
        standings = self.standings
        changed = standings.changed_since(self._position)
        if changed is None:
            self.restarts += 1
            self._begin()
            changed = []
        self._position = standings.log_position
        again = self._again
        again.update(changed)
        budget = self.size
        if budget is not None and (self.restarts >= _RESTARTS or self.steps > self._limit):
            budget = None
        entries, where, held = standings._entries, self._where, self._held
        todo = self._todo
        stop = len(todo) if budget is None else min(len(todo), self._next + budget)
        for bib in todo[self._next : stop]:
            entry = entries.get(bib)
            if entry is not None and bib not in where:  # else removed or changed since: in the log
                where[bib] = len(held)
                held.extend(_HOLD(entry))
        if budget is not None:
            budget -= stop - self._next
        self._next = stop
        while again and (budget is None or budget > 0):
            bib = again.pop()
            entry = entries.get(bib)
            at = where.get(bib)
            if entry is None:
                if at is not None:  # removed: not in the order, its fields stay unread
                    del where[bib]
            elif at is None:
                where[bib] = len(held)
                held.extend(_HOLD(entry))
            else:
                held[at : at + _WIDTH] = _HOLD(entry)
            if budget is not None:
                budget -= 1
        if self._next < len(todo) or again:
            return False
        self.result = StandingsSnapshot(standings, where, held)
        return True


class LeaderboardView:
    """A virtual, always-current list of rows: the screen asks only for what it shows.

    Overall (``point`` None): every athlete of the slice in the v1.1 order, ranked by
    :attr:`rank_by`; at a point: those of the slice who passed it and take a place there.
    Gaps are to this view's leader and to the athlete just ahead in this view."""

    def __init__(self, standings: RaceStandings, *, point_id: str | None, flt: Filter) -> None:
        self.standings = standings
        self.point = None if point_id is None else standings.point_index[point_id]
        self.filter = flt

    @property
    def rank_by(self) -> RankBy:
        """What this view ranks by: chip time within a wave or category, else the race's setting."""
        return RankBy.GUN if self.standings._view_by_gun(self.filter) else RankBy.CHIP

    @property
    def whole_field(self) -> bool:
        """True for the whole field at everyone's latest point (change sets' ``moved``
        ranges are this view's row indexes)."""
        return self.point is None and not self.filter

    def _ordered(self) -> SortedList:
        s = self.standings
        s._fresh()
        if self.point is None:
            return s._overall_order(self.filter)
        return s._point_order(self.point, self.filter)

    def __len__(self) -> int:
        return len(self._ordered())

    def row(self, index: int) -> Row:
        key = self._ordered()[index]
        return self.standings._row(self.standings._entries[key[-1]], index, self.point, self.filter)

    def rows(self, start: int, stop: int) -> list[Row]:
        ordered = self._ordered()
        stop = min(stop, len(ordered))
        if start >= stop:
            return []
        entries = self.standings._entries
        make = self.standings._row
        return [
            make(entries[key[-1]], start + i, self.point, self.filter)
            for i, key in enumerate(ordered.islice(start, stop))
        ]

    def ranking_times(self) -> list[int]:
        """The ranking time of every row in view order, read straight from the ordering (no
        rows built: a few milliseconds for 50,000). At a point: the time there,
        non-decreasing; overall: the time at each athlete's own furthest point (0 before
        the first)."""
        if self.point is not None:
            return list(map(itemgetter(0), self._ordered()))
        return list(map(key_time, self._ordered()))

    def bib_at(self, index: int) -> str:
        """The bib of row ``index`` (O(log n), no row built)."""
        return str(self._ordered()[index][-1])

    def index_of(self, bib: str) -> int | None:
        s = self.standings
        entry = s._entries.get(bib)
        if entry is None:
            return None
        ordered = self._ordered()
        if self.filter:
            ordering = s._slice(self.point, self.filter)
            found = ordering.keys.get(bib)
            return None if found is None else int(ordered.index(found))
        if self.point is None:
            key: tuple[Any, ...] = entry.key
        else:
            ranking = entry.indexed[0] if entry.indexed else ()
            time = ranking[self.point] if self.point < len(ranking) else None
            if time is None:
                return None
            key = (time, entry.number, entry.bib)
        where = int(ordered.bisect_left(key))
        if where < len(ordered) and ordered[where] == key:
            return where
        return None
