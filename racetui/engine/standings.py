"""Standings of one race, kept in ordered structures so that one passing costs O(log n).

Ordering follows World Triathlon Live Timing v1.1:

1. athletes who passed the furthest timing point first, then earlier points;
2. at the same point, by (chip) time; equal times share a position;
3. start number where nothing else orders (before the first point);
4. DNF and DNS after the racing field, DSQ at the very bottom (each group keeps the
   same progress/time ordering within itself).

Every entry has one *overall key*; the leaderboard is a ``SortedList`` of those keys, and
each timing point keeps a ``SortedList`` of ``(time, start number, bib)`` for positions and
gaps. Gender and category get their own lists, so filtered views and gender/category
positions are bisects too. Nothing ever re-sorts the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from racetui.model.bibs import start_number
from racetui.model.incidents import Incident, IncidentKind
from racetui.model.race import Participant, Race, RelayLeg, Status, TimingPoint

__all__ = ["Entry", "Override", "RaceStandings", "Row", "merge_incidents", "status_rank"]

_STATUS_RANK: dict[Status, int] = {
    Status.OK: 0,
    Status.LAP: 1,
    Status.NC: 1,
    Status.DNF: 2,
    Status.DNS: 3,
    Status.DSQ: 4,
}
# Statuses that take no place in per-point positions.
_UNPLACED = frozenset({Status.DSQ, Status.DNS})

OverallKey = tuple[int, int, int, int, str]
PointKey = tuple[int, int, str]


def _bucket(lists: dict[Any, SortedList], key: Any) -> SortedList:
    """The sorted list under ``key``, created on first use (never a throwaway per call)."""
    found = lists.get(key)
    if found is None:
        found = lists[key] = SortedList()
    return found


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


def status_rank(status: Status) -> int:
    """Where a status sorts: racing field first, DNF and DNS after, DSQ at the bottom."""
    return _STATUS_RANK[status]


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


@dataclass(slots=True, eq=False)
class Entry:
    """One athlete or relay team in a race, with chip times per timing point index."""

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
    key: OverallKey = (0, 1, 0, 0, "")
    # What the source said; ``status``/``incidents`` above are the effective values once
    # the incident desk's override (if any) is merged in.
    source_status: Status = Status.OK
    source_incidents: tuple[Incident, ...] = ()
    override: Override | None = None
    # what the ordered structures hold for this entry: its gender/category buckets and
    # (chip times, placed) as indexed; None while not indexed
    filters: tuple[tuple[str, str], ...] = ()
    indexed: tuple[tuple[int | None, ...], bool] | None = None

    def effective(self) -> tuple[Status, tuple[Incident, ...]]:
        if self.override is None:
            return self.source_status, self.source_incidents
        status = self.override.status if self.override.status is not None else self.source_status
        return status, tuple(merge_incidents(self.override.incidents, self.source_incidents))

    def name(self) -> str:
        return self.participant.display_name() if self.participant else ""

    def gun_time(self, index: int) -> int | None:
        chip = self.times[index] if 0 <= index < len(self.times) else None
        return None if chip is None else chip + self.offset_ms

    @property
    def gender(self) -> str | None:
        return self.participant.gender if self.participant else None

    @property
    def category(self) -> str | None:
        return self.participant.category if self.participant else None

    def make_key(self) -> OverallKey:
        chip = self.times[self.last] if self.last >= 0 else 0
        return (_STATUS_RANK[self.status], -self.last, chip or 0, self.number, self.bib)


@dataclass(slots=True, frozen=True)
class Row:
    """What a screen shows for one leaderboard line; computed on demand, O(log n)."""

    index: int  # 0-based place in the view
    rank: int | None  # place in this view, shared by equal times; None for DNF/DNS/DSQ
    position: int | None  # place at the athlete's own latest point (the v1.1 position)
    bib: str
    name: str
    country: str | None
    club: str | None
    gender: str | None
    category: str | None
    status: Status
    point_index: int  # -1 before the first point
    point_id: str | None
    time_ms: int | None  # chip time at the point
    gun_ms: int | None
    split_ms: int | None  # since the previous point passed
    gap_leader_ms: int | None
    gap_ahead_ms: int | None
    gender_position: int | None
    category_position: int | None
    incidents: tuple[Incident, ...]
    local: bool = False  # the incident desk overrides the source for this athlete


class RaceStandings:
    """The live standings of one race."""

    def __init__(self, race: Race) -> None:
        self.race = race
        self.entries: dict[str, Entry] = {}
        self.overall: SortedList = SortedList()
        self._overall_by: dict[tuple[str, str], SortedList] = {}
        self._at_point: list[SortedList] = []
        self._at_point_by: dict[tuple[int, str, str], SortedList] = {}
        self.points: list[TimingPoint] = []
        self.point_index: dict[str, int] = {}
        self.wave_offsets: dict[str, int] = {}
        self._pending: dict[str, Entry] = {}  # changed, not yet re-indexed (deferred mode)
        self.held = False  # a source is mid-sync: reads skip the expensive rebuild
        self.set_race(race)

    # ----------------------------------------------------------------- setup
    def set_race(self, race: Race) -> bool:
        """Take new race data; returns True when timing points changed (a full re-sort)."""
        self.race = race
        self.wave_offsets = {wave.id: wave.offset_ms for wave in race.waves}
        points = sorted(race.points, key=lambda p: (p.order, p.id))
        changed = [p.id for p in points] != [p.id for p in self.points]
        if changed:
            # Re-map every entry's times onto the new point order.
            remap = {i: j for i, p in enumerate(self.points) if (j := _index_of(points, p.id)) is not None}
            for entry in self.entries.values():
                times: list[int | None] = [None] * len(points)
                for i, value in enumerate(entry.times):
                    if i in remap:
                        times[remap[i]] = value
                entry.times = tuple(times)
        self.points = points
        self.point_index = {p.id: i for i, p in enumerate(points)}
        for entry in self.entries.values():
            # A wave start re-timed: chip times (what ranks) stand, gun times follow.
            wave = entry.participant.wave_id if entry.participant else None
            entry.offset_ms = self.wave_offsets.get(wave, 0) if wave else 0
        if changed:
            for entry in self.entries.values():
                entry.last = _last(entry.times)
            self._pending.update(self.entries)
            self._rebuild()
        return changed

    # -------------------------------------------------------------- indexing
    #
    # Every entry is indexed in: the overall list (its key), the gender/category overall
    # lists (its filters), and, unless DSQ/DNS, every point it passed (chip, number, bib)
    # and that point's gender/category lists. ``entry.indexed`` remembers exactly what was
    # put in, so an entry can change first and be re-indexed later (deferred mode).

    def _filters(self, entry: Entry) -> tuple[tuple[str, str], ...]:
        participant = entry.participant
        if participant is None:
            return ()
        keys = []
        if participant.gender:
            keys.append(("gender", participant.gender))
        if participant.category:
            keys.append(("category", participant.category))
        return tuple(keys)

    def _insert(self, entry: Entry) -> None:
        entry.key = entry.make_key()
        self.overall.add(entry.key)
        filters = entry.filters = self._filters(entry)
        for f in filters:
            _bucket(self._overall_by, f).add(entry.key)
        placed = entry.status not in _UNPLACED
        entry.indexed = (entry.times, placed)
        if not placed:
            return
        for index, chip in enumerate(entry.times):
            if chip is not None:
                pkey = (chip, entry.number, entry.bib)
                self._at_point[index].add(pkey)
                for kind, value in filters:
                    _bucket(self._at_point_by, (index, kind, value)).add(pkey)

    def _remove(self, entry: Entry) -> None:
        if entry.indexed is None:
            return
        times, placed = entry.indexed
        entry.indexed = None
        self.overall.remove(entry.key)
        filters = entry.filters
        for f in filters:
            self._overall_by[f].remove(entry.key)
        if not placed:
            return
        for index, chip in enumerate(times):
            if chip is not None:
                pkey = (chip, entry.number, entry.bib)
                self._at_point[index].remove(pkey)
                for kind, value in filters:
                    self._at_point_by[(index, kind, value)].remove(pkey)

    def _rebuild(self) -> None:
        """Index every entry from scratch: one sort per point and one overall, the
        gender/category lists split off those already-sorted lists (linear), instead of
        one insert per key."""
        overall: list[OverallKey] = []
        at_point: list[list[PointKey]] = [[] for _ in self.points]
        entries = self.entries
        for entry in entries.values():
            entry.key = key = entry.make_key()
            entry.filters = self._filters(entry)
            placed = entry.status not in _UNPLACED
            entry.indexed = (entry.times, placed)
            overall.append(key)
            if placed:
                number, bib = entry.number, entry.bib
                for index, chip in enumerate(entry.times):
                    if chip is not None:
                        at_point[index].append((chip, number, bib))
        overall.sort()
        overall_by: dict[tuple[str, str], list[OverallKey]] = {}
        for key in overall:
            for f in entries[key[4]].filters:
                found = overall_by.get(f)
                if found is None:
                    found = overall_by[f] = []
                found.append(key)
        at_point_by: dict[tuple[int, str, str], list[PointKey]] = {}
        for index, keys in enumerate(at_point):
            keys.sort()
            for pkey in keys:
                for kind, value in entries[pkey[2]].filters:
                    bucket = (index, kind, value)
                    found_point = at_point_by.get(bucket)
                    if found_point is None:
                        found_point = at_point_by[bucket] = []
                    found_point.append(pkey)
        # SortedList sorts its input again: on sorted input that is one linear pass.
        self.overall = SortedList(overall)
        self._overall_by = {k: SortedList(v) for k, v in overall_by.items()}
        self._at_point = [SortedList(v) for v in at_point]
        self._at_point_by = {k: SortedList(v) for k, v in at_point_by.items()}
        self._pending.clear()

    def settle(self, *, full: bool = True) -> bool:
        """Bring the ordered structures up to date with entries changed in deferred mode:
        a few are re-indexed one by one, many in one rebuild (skipped unless ``full``).
        Returns True when the structures are current.

        Every read settles first; while the engine is *held* (a source is mid-sync) reads
        only do the cheap part, and meanwhile see the last indexed state, which stays
        consistent (each entry's indexed key is what the lists hold)."""
        if not self._pending:
            return True
        if len(self._pending) * 8 > len(self.entries):
            if not full:
                return False
            self._rebuild()
            return True
        for entry in self._pending.values():
            self._remove(entry)
            if self.entries.get(entry.bib) is entry:
                self._insert(entry)
        self._pending.clear()
        return True

    def _fresh(self) -> None:
        self.settle(full=not self.held)

    @property
    def deferred(self) -> bool:
        """True while changes wait for :meth:`settle` (then ranks are not computed per change)."""
        return bool(self._pending)

    def _touched(self, entry: Entry, defer: bool) -> tuple[int, int] | None:
        """After a change to ``entry``: re-index it now (returning its old and new overall
        index) or leave that to the next settle (returning the whole field: anything may move)."""
        if defer:
            self._pending[entry.bib] = entry
            return 0, max(0, len(self.entries) - 1)
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
        entry = self.entries.get(bib)
        if entry is not None:
            return entry, False
        entry = Entry(bib=bib, number=start_number(bib), times=(None,) * len(self.points))
        self.entries[bib] = entry
        return entry, True

    def ensure_entry(self, bib: str) -> tuple[Entry, bool]:
        entry, created = self._entry(bib)
        if created:
            self._insert(entry)
        return entry, created

    def pass_point(
        self, bib: str, point_id: str, gun_ms: int, *, defer: bool = False
    ) -> tuple[int, int] | None:
        """Record a passing (gun time). Returns the (old, new) overall index, None if unchanged."""
        index = self.point_index.get(point_id)
        if index is None:
            raise KeyError(f"point_id: unknown timing point {point_id!r} in race {self.race.id!r}")
        entry, created = self._entry(bib)
        chip = gun_ms - entry.offset_ms
        if entry.times[index] == chip and not created:
            return None
        entry.times = (*entry.times[:index], chip, *entry.times[index + 1 :])
        if index > entry.last:
            entry.last = index
        if defer or created or self._pending:
            return self._touched(entry, defer or bool(self._pending))
        # The hot path of a live race: move one key per list, nothing else.
        old = int(self.overall.bisect_left(entry.key))
        times, placed = entry.indexed or ((), False)
        filters = entry.filters
        if placed:
            previous = times[index]
            if previous is not None:
                pkey = (previous, entry.number, entry.bib)
                self._at_point[index].remove(pkey)
                for kind, value in filters:
                    self._at_point_by[(index, kind, value)].remove(pkey)
            pkey = (chip, entry.number, entry.bib)
            self._at_point[index].add(pkey)
            for kind, value in filters:
                _bucket(self._at_point_by, (index, kind, value)).add(pkey)
        self.overall.remove(entry.key)
        for f in filters:
            self._overall_by[f].remove(entry.key)
        entry.key = entry.make_key()
        self.overall.add(entry.key)
        for f in filters:
            _bucket(self._overall_by, f).add(entry.key)
        entry.indexed = (entry.times, placed)
        return old, int(self.overall.bisect_left(entry.key))

    def update_entry(
        self,
        bib: str,
        *,
        participant: Participant | None = None,
        status: Status | None = None,
        times: dict[str, int] | None = None,
        incidents: list[Incident] | None = None,
        legs: list[RelayLeg] | None = None,
        defer: bool = False,
    ) -> tuple[int, int] | None:
        """Replace any of an entry's fields (``times`` are gun times by point id, complete).

        Returns the (old, new) overall index when anything changed, else None.
        """
        entry, created = self._entry(bib)
        new_times: tuple[int | None, ...] | None = None
        offset = entry.offset_ms
        if participant is not None and participant.wave_id != (
            entry.participant.wave_id if entry.participant else None
        ):
            offset = self.wave_offsets.get(participant.wave_id, 0) if participant.wave_id else 0
        if times is not None:
            building: list[int | None] = [None] * len(self.points)
            for point_id, gun in times.items():
                index = self.point_index.get(point_id)
                if index is None:
                    if created:
                        del self.entries[bib]
                    raise KeyError(f"point_id: unknown timing point {point_id!r} in race {self.race.id!r}")
                building[index] = gun - offset
            new_times = tuple(building)
        elif offset != entry.offset_ms:
            new_times = tuple(None if t is None else t + entry.offset_ms - offset for t in entry.times)
        changed = (
            created
            or (participant is not None and participant != entry.participant)
            or (status is not None and status != entry.source_status)
            or (new_times is not None and new_times != entry.times)
            or (incidents is not None and tuple(incidents) != entry.source_incidents)
            or (legs is not None and tuple(legs) != entry.legs)
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
        entry = self.entries.pop(bib, None)
        if entry is None:
            return None
        self._pending.pop(bib, None)
        old = int(self.overall.bisect_left(entry.key)) if entry.indexed is not None else len(self.overall)
        self._remove(entry)
        return old

    # ---------------------------------------------------------------- reads
    def __len__(self) -> int:
        return len(self.entries)

    def latest_point(self) -> int:
        """Index of the furthest point anyone has passed (-1 before the first passing)."""
        self._fresh()
        for index in range(len(self._at_point) - 1, -1, -1):
            if self._at_point[index]:
                return index
        return -1

    def passed(self, index: int) -> int:
        """How many (placed) athletes have passed point ``index``."""
        self._fresh()
        return len(self._at_point[index]) if 0 <= index < len(self._at_point) else 0

    def position_at(self, index: int, chip: int, by: tuple[str, str] | None = None) -> int:
        """Place at a point for a chip time: equal times share the place."""
        self._fresh()
        ordered = self._at_point[index] if by is None else self._at_point_by.get((index, *by))
        if not ordered:
            return 1
        return int(ordered.bisect_left((chip,))) + 1

    def leader_time(self, index: int) -> int | None:
        self._fresh()
        ordered = self._at_point[index]
        return ordered[0][0] if ordered else None

    def ahead_time(self, index: int, chip: int) -> int | None:
        self._fresh()
        ordered = self._at_point[index]
        where = ordered.bisect_left((chip,))
        return ordered[where - 1][0] if where > 0 else None

    def view(
        self, *, point_id: str | None = None, gender: str | None = None, category: str | None = None
    ) -> LeaderboardView:
        return LeaderboardView(self, point_id=point_id, gender=gender, category=category)

    def overall_rank(self, entry: Entry, by: tuple[str, str] | None = None) -> int | None:
        """Place in the whole field (or a gender/category), ties shared; None unless racing."""
        self._fresh()
        if entry.status is not Status.OK or entry.last < 0:
            return None
        ordered = self.overall if by is None else self._overall_by.get(by)
        if not ordered:
            return None
        return int(ordered.bisect_left(entry.key[:3])) + 1

    def row_for(
        self, entry: Entry, index: int, point: int | None = None, by: tuple[str, str] | None = None
    ) -> Row:
        at = entry.last if point is None else point
        chip = entry.times[at] if 0 <= at < len(entry.times) else None
        placed = entry.status is Status.OK or (point is not None and entry.status not in _UNPLACED)
        position: int | None = None
        gap_leader = gap_ahead = split = None
        gender_pos = category_pos = None
        if chip is not None:
            if placed:
                position = self.position_at(at, chip)
                if entry.gender:
                    gender_pos = self.position_at(at, chip, ("gender", entry.gender))
                if entry.category:
                    category_pos = self.position_at(at, chip, ("category", entry.category))
            leader = self.leader_time(at)
            gap_leader = None if leader is None else max(0, chip - leader)
            ahead = self.ahead_time(at, chip)
            gap_ahead = None if ahead is None else chip - ahead
            earlier = [t for t in entry.times[:at] if t is not None]
            split = chip - earlier[-1] if earlier else chip
        if point is None:
            rank = self.overall_rank(entry, by)
        else:
            rank = position if by is None or chip is None or not placed else self.position_at(at, chip, by)
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
            status=entry.status,
            point_index=at,
            point_id=self.points[at].id if 0 <= at < len(self.points) else None,
            time_ms=chip,
            gun_ms=None if chip is None else chip + entry.offset_ms,
            split_ms=split,
            gap_leader_ms=gap_leader,
            gap_ahead_ms=gap_ahead,
            gender_position=gender_pos,
            category_position=category_pos,
            incidents=entry.incidents,
            local=entry.override is not None,
        )

    def ordered_entries(self) -> Iterator[Entry]:
        """Every entry in v1.1 order (for exports and publish)."""
        self._fresh()
        for key in self.overall:
            yield self.entries[key[4]]


class LeaderboardView:
    """A virtual, always-current list of rows: the screen asks only for what it shows."""

    def __init__(
        self,
        standings: RaceStandings,
        *,
        point_id: str | None = None,
        gender: str | None = None,
        category: str | None = None,
    ) -> None:
        self.standings = standings
        self.point = None if point_id is None else standings.point_index[point_id]
        self.by: tuple[str, str] | None = None
        if gender:
            self.by = ("gender", gender)
        elif category:
            self.by = ("category", category)

    def _ordered(self) -> Sequence[tuple[object, ...]]:
        s = self.standings
        s._fresh()
        if self.point is None:
            if self.by is None:
                return s.overall  # type: ignore[no-any-return]
            return s._overall_by.get(self.by) or ()
        if self.by is None:
            return s._at_point[self.point]  # type: ignore[no-any-return]
        return s._at_point_by.get((self.point, *self.by)) or ()

    def __len__(self) -> int:
        return len(self._ordered())

    def row(self, index: int) -> Row:
        key = self._ordered()[index]
        bib = key[-1]
        assert isinstance(bib, str)
        return self.standings.row_for(self.standings.entries[bib], index, self.point, self.by)

    def rows(self, start: int, stop: int) -> list[Row]:
        ordered = self._ordered()
        stop = min(stop, len(ordered))
        if start >= stop:
            return []
        keys: Iterable[tuple[object, ...]] = (
            ordered.islice(start, stop) if isinstance(ordered, SortedList) else ordered[start:stop]
        )
        entries = self.standings.entries
        return [
            self.standings.row_for(entries[str(key[-1])], start + i, self.point, self.by)
            for i, key in enumerate(keys)
        ]

    def index_of(self, bib: str) -> int | None:
        entry = self.standings.entries.get(bib)
        if entry is None:
            return None
        ordered = self._ordered()
        if self.point is None:
            key: tuple[object, ...] = entry.key
        else:
            chip = entry.times[self.point]
            if chip is None:
                return None
            key = (chip, entry.number, entry.bib)
        if isinstance(ordered, SortedList):
            where = int(ordered.bisect_left(key))
            if where < len(ordered) and ordered[where] == key:
                return where
        return None
