"""The engine: the single source of truth for every race, fed by deltas from sources.

Every ``apply_*`` call returns a :class:`ChangeSet` (which athletes changed and which
leaderboard rows may have moved) and bumps :attr:`Engine.version`, so that a screen
redraws only what changed and a publisher sends only when something did.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from racetui.engine.standings import PLACED_LATER, Override, RaceStandings
from racetui.model.race import Event, Participant, Passing, Race, Result

__all__ = ["BULK", "ChangeSet", "Engine"]

# A batch at least this big is applied in deferred mode: entries change first and the
# ordered structures are re-sorted once at the next read, instead of one insert per item
# (a 50,000-athlete start list or a first full load: seconds instead of minutes).
BULK = 500


@dataclass(slots=True, init=False)
class ChangeSet:
    """What one apply changed.

    ``athletes`` maps race id to the bibs whose own data changed. ``moved`` maps race id to
    the (first, last) overall index whose row may now show someone else or another rank;
    rows outside that range kept their place. A live passing names its athlete; the rows
    it moved come with the next :meth:`Engine.settle` (the overall order re-places
    passers at the next read, many at once). ``structure`` lists races whose setup
    (points, waves, start list) changed: redraw them whole.
    """

    version: int
    athletes: dict[str, set[str]]
    moved: dict[str, tuple[int, int]]
    structure: set[str]
    errors: list[str]

    def __init__(
        self,
        version: int = 0,
        athletes: dict[str, set[str]] | None = None,
        moved: dict[str, tuple[int, int]] | None = None,
        structure: set[str] | None = None,
        errors: list[str] | None = None,
    ) -> None:
        # Written out: one is made per apply (a live passing), and the generated
        # default-factory __init__ costs a third more.
        self.version = version
        self.athletes = {} if athletes is None else athletes
        self.moved = {} if moved is None else moved
        self.structure = set() if structure is None else structure
        self.errors = [] if errors is None else errors

    def __bool__(self) -> bool:
        return bool(self.athletes or self.moved or self.structure)

    def touch(self, race_id: str, bib: str, moved: tuple[int, int] | None) -> None:
        self.athletes.setdefault(race_id, set()).add(bib)
        if moved is not None:
            low, high = sorted(moved)
            if race_id in self.moved:
                old_low, old_high = self.moved[race_id]
                low, high = min(low, old_low), max(high, old_high)
            self.moved[race_id] = (low, high)

    def merge(self, other: ChangeSet) -> ChangeSet:
        for race_id, bibs in other.athletes.items():
            self.athletes.setdefault(race_id, set()).update(bibs)
        for race_id, span in other.moved.items():
            if race_id in self.moved:
                low, high = self.moved[race_id]
                self.moved[race_id] = (min(low, span[0]), max(high, span[1]))
            else:
                self.moved[race_id] = span
        self.structure |= other.structure
        self.errors.extend(other.errors)
        self.version = max(self.version, other.version)
        return self

    def races(self) -> set[str]:
        return set(self.athletes) | set(self.moved) | self.structure


class Engine:
    """Standings of every race of one event. Pure: no I/O, no clocks, no Textual."""

    def __init__(self) -> None:
        self.version = 0
        self.event: Event | None = None
        self.races: dict[str, RaceStandings] = {}
        self._holds = 0

    # ------------------------------------------------------------- helpers
    def _done(self, changes: ChangeSet) -> ChangeSet:
        if changes:
            self.version += 1
        changes.version = self.version
        return changes

    def keep_up(self, most: int | None = None) -> None:
        """Bring what the reads follow from the change log (a race's end and latest
        passing) up to date with the applies so far. A replica calls it between the
        slices of a load, so that each slice pays for its own changes, and the first read
        after a 50,000-athlete load does not take them all at once (a header read was
        one 50-160 ms step of the dashboard's loop while the times loaded).

        ``most`` bounds each race's share (athletes looked at) of one call: after a reset
        of a race's change log (new points or waves) every athlete is looked at again, and
        that is twenty calls' worth at 50,000 athletes (``KEEP_UP_MOST``), not one."""
        for standings in self.races.values():
            standings.keep_up(most)

    def place_moved(self) -> None:
        """Give the athletes who passed a point since the last read their overall places
        now; the next settle still reports the rows that moved. A replica calls it after
        each slice of passings: a read after thousands of them was one step of 100-150 ms
        (15-18 µs an athlete at 50,000, placed one by one or merged)."""
        for standings in self.races.values():
            standings.place_moved()

    def settle(self, *, place: bool = True) -> ChangeSet:
        """Re-index whatever bulk applies left pending (reads do this on their own; the
        pipeline calls it once per UI tick so screens read settled structures). While held,
        only the cheap part. Returns a change set naming races re-sorted as a whole and
        the overall rows that live passings moved. ``place`` False leaves passers' overall
        places to the next read (a hub, which reads no ranking between snapshots)."""
        changes = ChangeSet()
        for race_id, standings in self.races.items():
            was_deferred = standings.deferred
            if standings.settle(full=not self._holds, place=place) and was_deferred:
                changes.structure.add(race_id)
            span = standings.take_span()
            if span is not None:
                changes.moved[race_id] = span
        return self._done(changes)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """For a source's full sync: applies inside are deferred and reads see the last
        indexed state; the expensive re-sort happens once, when the last hold ends."""
        self._holds += 1
        for standings in self.races.values():
            standings.on_hold = True
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds:
                for standings in self.races.values():
                    standings.on_hold = False

    @property
    def held(self) -> bool:
        return self._holds > 0

    def race(self, race_id: str) -> RaceStandings:
        try:
            return self.races[race_id]
        except KeyError:
            raise KeyError(f"race_id: unknown race {race_id!r}") from None

    # --------------------------------------------------------------- setup
    def load_event(self, event: Event) -> ChangeSet:
        """Take the event's races, waves and timing points (keeps results already held)."""
        self.event = event
        changes = ChangeSet()
        for race in event.races:
            changes.merge(self._upsert_race(race))
        return self._done(changes)

    def upsert_race(self, race: Race) -> ChangeSet:
        return self._done(self._upsert_race(race))

    def _upsert_race(self, race: Race) -> ChangeSet:
        changes = ChangeSet()
        standings = self.races.get(race.id)
        if standings is None:
            standings = self.races[race.id] = RaceStandings(race)
            standings.on_hold = self._holds > 0
            changes.structure.add(race.id)
        elif standings.race != race:
            standings.set_race(race)
            changes.structure.add(race.id)
        if self.event is not None and all(r.id != race.id for r in self.event.races):
            self.event.races.append(race)
        return changes

    def add_participants(self, participants: Iterable[Participant]) -> ChangeSet:
        """Start list: names, categories and waves by bib (entries appear in start order)."""
        changes = ChangeSet()
        batch = list(participants)
        defer = len(batch) >= BULK or self._holds > 0
        for participant in batch:
            standings = self.races.get(participant.race_id)
            if standings is None:
                changes.errors.append(
                    f"race_id: unknown race {participant.race_id!r} for bib {participant.bib}"
                )
                continue
            moved = standings.update_entry(participant.bib, participant=participant, defer=defer)
            if moved is not None:
                changes.touch(participant.race_id, participant.bib, moved)
        return self._done(changes)

    # ---------------------------------------------------------------- data
    def apply_passing(self, passing: Passing) -> ChangeSet:
        return self.apply_passings((passing,))

    def apply_passings(self, passings: Iterable[Passing]) -> ChangeSet:
        """Incremental passings; an unknown race or point is reported, the rest applied."""
        changes = ChangeSet()
        batch = passings if isinstance(passings, (list, tuple)) else list(passings)
        defer = len(batch) >= BULK or self._holds > 0
        races = self.races
        touched = changes.athletes
        spans = changes.moved
        for passing in batch:
            race_id = passing.race_id
            standings = races.get(race_id)
            if standings is None:
                changes.errors.append(f"race_id: unknown race {race_id!r} (bib {passing.bib})")
                continue
            try:
                moved = standings.pass_point(passing.bib, passing.point_id, passing.time_ms, defer=defer)
            except KeyError as exc:
                changes.errors.append(str(exc.args[0]))
                continue
            if moved is not None:
                bibs = touched.get(race_id)
                if bibs is None:
                    bibs = touched[race_id] = set()
                bibs.add(passing.bib)
                if moved is PLACED_LATER:
                    continue  # the next settle says which rows moved
                span = spans.get(race_id)
                if span is None:
                    spans[race_id] = moved if moved[0] <= moved[1] else (moved[1], moved[0])
                elif span != moved and (min(moved) < span[0] or max(moved) > span[1]):
                    changes.touch(race_id, passing.bib, moved)
        if touched:
            self.version += 1
        changes.version = self.version
        return changes

    def apply_results(self, race_id: str, results: Sequence[Result], *, complete: bool = False) -> ChangeSet:
        """Whole results for some athletes; with ``complete`` the list is the whole race
        (a snapshot) and athletes missing from it are removed."""
        return self._done(self._apply_results(race_id, results, complete=complete))

    def _apply_results(self, race_id: str, results: Sequence[Result], *, complete: bool) -> ChangeSet:
        changes = ChangeSet()
        standings = self.races.get(race_id)
        if standings is None:
            changes.errors.append(f"race_id: unknown race {race_id!r}")
            return changes
        defer = len(results) >= BULK or self._holds > 0
        for result in results:
            try:
                moved = standings.update_entry(
                    result.bib,
                    participant=result.participant,
                    status=result.status,
                    times=result.splits,
                    incidents=result.incidents,
                    legs=result.legs,
                    reported=result.reported,
                    defer=defer,
                )
            except KeyError as exc:
                changes.errors.append(f"bib {result.bib}: {exc.args[0]}")
                continue
            if moved is not None:
                changes.touch(race_id, result.bib, moved)
        if complete:
            keep = {result.bib for result in results}
            for bib in [bib for bib in standings.bibs() if bib not in keep]:
                old = standings.remove_entry(bib)
                if old is not None:
                    changes.touch(race_id, bib, (old, max(old, len(standings) - 1)))
        return changes

    def remove_athletes(self, race_id: str, bibs: Iterable[str]) -> ChangeSet:
        """Athletes the timing system no longer holds (deleted there): gone from every
        ranking, and so from the next upload. Unknown bibs are ignored."""
        changes = ChangeSet()
        standings = self.races.get(race_id)
        if standings is None:
            changes.errors.append(f"race_id: unknown race {race_id!r}")
            return self._done(changes)
        for bib in bibs:
            old = standings.remove_entry(bib)
            if old is not None:
                changes.touch(race_id, bib, (old, max(old, len(standings.entries) - 1)))
        return self._done(changes)

    def set_override(self, race_id: str, bib: str, override: Override | None) -> ChangeSet:
        """The incident desk's status/incidents for one athlete, winning over the source's
        until withdrawn (``None``). Source updates keep arriving underneath it."""
        changes = ChangeSet()
        standings = self.races.get(race_id)
        if standings is None:
            changes.errors.append(f"race_id: unknown race {race_id!r}")
            return self._done(changes)
        moved = standings.set_override(bib, override)
        if moved is not None:
            changes.touch(race_id, bib, moved)
        return self._done(changes)

    def apply_snapshot(self, race: Race, results: Sequence[Result]) -> ChangeSet:
        """A full-state message (v1.1): the race's setup and every result in it."""
        changes = self._upsert_race(race)
        return self._done(changes.merge(self._apply_results(race.id, results, complete=True)))
