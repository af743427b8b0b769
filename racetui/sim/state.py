"""The simulation's state at the current event time: what has happened so far.

:class:`SimState` applies the schedule of a :class:`~racetui.sim.generate.SimEvent` in
time order. It keeps

* the simulator's own *truth* per athlete (:class:`AthleteTruth`: status, chip time per
  point, incidents), independent of any standings code, for tests to compare against;
* a :class:`racetui.engine.Engine` fed through the model types (``Passing``, ``Result``
  with ``Incident`` records), whose standings give the BBT positions and the v1.1 message;
* the log of passes (for ``/results/latest``).

It has no sockets and no clock: :meth:`SimState.advance_to` is called with an event time.
Listeners (the push hub) are told about every result and event-data change.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from racetui.engine import Engine
from racetui.model import ClockState, Incident, IncidentKind, Participant, Passing, RelayLeg, Result, Status
from racetui.sim.generate import (
    CONDITIONS,
    GUN,
    INCIDENT,
    OFFICIAL,
    PASS,
    STATUS,
    WAVE,
    Happening,
    SimEvent,
    SimRace,
)

__all__ = ["AthleteTruth", "PassRecord", "RaceRun", "SimState", "TruthRow"]

_DIGITS = re.compile(r"\d+")


def bib_number(bib: str) -> int:
    match = _DIGITS.search(bib)
    return int(match.group()) if match else 10**12


class TruthRow(NamedTuple):
    """One finisher in the simulator's own finish order."""

    racenum: str
    chip_ms: int
    status: Status


@dataclass(slots=True)
class AthleteTruth:
    """What really happened to one athlete (or relay team) so far."""

    bib: str
    number: int
    result_id: int
    participant: Participant
    offset_ms: int
    chips: list[int | None]  # chip time per point index (course order)
    status: Status = Status.OK
    incidents: list[Incident] = field(default_factory=list)
    legs: list[RelayLeg] = field(default_factory=list)
    last: int = -1

    def gun_times(self, point_ids: list[str]) -> dict[str, int]:
        return {
            pid: chip + self.offset_ms
            for pid, chip in zip(point_ids, self.chips, strict=True)
            if chip is not None
        }


class PassRecord(NamedTuple):
    """One recorded pass (``/results/latest`` items)."""

    id: int
    truth: AthleteTruth
    race_number: int
    point_index: int
    point_id: int
    location_id: int | None
    at_ms: int  # event time (time of day = epoch + at_ms)
    gun_ms: int
    chip_ms: int


@dataclass(slots=True)
class RaceRun:
    """A race as it stands: clock state, conditions, truth per athlete."""

    sim: SimRace
    point_ids: list[str]
    point_index: dict[str, int]
    location_of: list[int | None]
    finish_index: int
    entries: dict[str, AthleteTruth]
    state: ClockState = ClockState.PRERACE
    gun_ms: int | None = None  # event time of the gun once fired
    air_temp: float | None = None
    version: int = 0  # bumps on every change of the race's results or setup
    changed_at_ms: int = 0
    started_waves: set[str] = field(default_factory=set)


ResultsListener = Callable[[RaceRun, AthleteTruth, Happening], None]
EventDataListener = Callable[[], None]


class SimState:
    """Applies a generated event's schedule up to a given event time."""

    def __init__(self, sim: SimEvent) -> None:
        # Tens of thousands of long-lived objects: keep the cyclic GC out of the setup, then
        # move them to the permanent generation so that later collections skip them.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._setup(sim)
        finally:
            if was_enabled:
                gc.enable()
        gc.freeze()

    def _setup(self, sim: SimEvent) -> None:
        self.sim = sim
        self.epoch: datetime = sim.epoch
        self.now_ms = 0
        self.cursor = 0
        self.engine = Engine()
        self.engine.load_event(sim.event.model_copy(deep=True))
        self.engine.add_participants(sim.participants)
        self.runs: dict[str, RaceRun] = {}
        self.passes: list[PassRecord] = []
        self.passes_at_point: dict[int, list[PassRecord]] = {}
        self.passes_at_location: dict[int, list[PassRecord]] = {}
        self.results_listeners: list[ResultsListener] = []
        self.eventdata_listeners: list[EventDataListener] = []
        self.eventdata_version = 0
        for sim_race in sim.races:
            race = sim_race.race
            points = sorted(race.points, key=lambda p: p.order)
            point_ids = [p.id for p in points]
            offsets = {wave.id: wave.offset_ms for wave in race.waves}
            run = RaceRun(
                sim=sim_race,
                point_ids=point_ids,
                point_index={pid: i for i, pid in enumerate(point_ids)},
                location_of=[int(p.location_id) if p.location_id else None for p in points],
                finish_index=next(i for i, p in enumerate(points) if p.is_finish),
                entries={},
                air_temp=race.air_temp,
            )
            self.runs[race.id] = run
            for pid in point_ids:
                self.passes_at_point[int(pid)] = []
        for loc in sim.event.locations:
            self.passes_at_location[int(loc.id)] = []
        offsets = {wave.id: wave.offset_ms for race in sim.event.races for wave in race.waves}
        for participant in sim.participants:
            run = self.runs[participant.race_id]
            legs = sim.legs.get((participant.race_id, participant.bib), [])
            run.entries[participant.bib] = AthleteTruth(
                bib=participant.bib,
                number=bib_number(participant.bib),
                result_id=int(participant.id or 0),
                participant=participant,
                offset_ms=offsets.get(participant.wave_id or "", 0),
                chips=[None] * len(run.point_ids),
                legs=list(legs),
            )
        for (race_id, bib), legs in sim.legs.items():
            self.engine.apply_results(race_id, [Result(race_id=race_id, bib=bib, legs=legs)])

    # ------------------------------------------------------------------ reads
    @property
    def finished(self) -> bool:
        return self.cursor >= len(self.sim.schedule)

    def next_at(self) -> int | None:
        """Event time of the next happening (None when all happened)."""
        schedule = self.sim.schedule
        return schedule[self.cursor].at_ms if self.cursor < len(schedule) else None

    def race_run(self, race_id: str) -> RaceRun:
        return self.runs[race_id]

    def time_of_day(self, at_ms: int) -> datetime:
        return self.sim.time_of_day(at_ms)

    def truth_toplist(self, race_id: str) -> list[TruthRow]:
        """Finishers so far in finish order: chip time, then race number; DSQ not listed."""
        run = self.runs[race_id]
        finish = run.finish_index
        rows = [
            (chip, truth.number, truth.bib, truth.status)
            for truth in run.entries.values()
            if (chip := truth.chips[finish]) is not None and truth.status not in (Status.DSQ, Status.DNS)
        ]
        rows.sort()
        return [TruthRow(bib, chip, status) for chip, _, bib, status in rows]

    def truth_athlete(self, race_id: str, racenum: str) -> AthleteTruth:
        """A copy of one athlete's truth (KeyError names an unknown race or number)."""
        run = self.runs.get(race_id)
        if run is None:
            raise KeyError(f"race_id: no race {race_id!r}")
        truth = run.entries.get(racenum)
        if truth is None:
            raise KeyError(f"racenum: no {racenum!r} in race {race_id!r}")
        return AthleteTruth(
            bib=truth.bib,
            number=truth.number,
            result_id=truth.result_id,
            participant=truth.participant,
            offset_ms=truth.offset_ms,
            chips=list(truth.chips),
            status=truth.status,
            incidents=list(truth.incidents),
            legs=list(truth.legs),
            last=truth.last,
        )

    def iter_truth(self, race_id: str) -> Iterator[AthleteTruth]:
        return iter(self.runs[race_id].entries.values())

    # ---------------------------------------------------------------- advance
    def advance_to(self, at_ms: int, limit: int | None = None) -> int:
        """Apply every happening due by event time ``at_ms`` (at most ``limit`` of them).

        Returns how many were applied. ``now_ms`` becomes ``at_ms`` once all due ones are.
        """
        schedule = self.sim.schedule
        end = len(schedule)
        applied = 0
        apply = self._apply
        while self.cursor < end and schedule[self.cursor].at_ms <= at_ms:
            if limit is not None and applied >= limit:
                self.now_ms = max(self.now_ms, schedule[self.cursor - 1].at_ms if self.cursor else 0)
                return applied
            happening = schedule[self.cursor]
            self.cursor += 1
            self.now_ms = max(self.now_ms, happening.at_ms)
            apply(happening)
            applied += 1
        self.now_ms = max(self.now_ms, at_ms)
        return applied

    def _touch(self, run: RaceRun, at_ms: int) -> None:
        run.version += 1
        run.changed_at_ms = at_ms

    def _eventdata(self) -> None:
        self.eventdata_version += 1
        for listener in self.eventdata_listeners:
            listener()

    def _results(self, run: RaceRun, truth: AthleteTruth, happening: Happening) -> None:
        for listener in self.results_listeners:
            listener(run, truth, happening)

    def _sync_race(self, run: RaceRun) -> None:
        """Give the engine the race's clock state and conditions."""
        race = run.sim.race
        clock = race.clock.model_copy() if race.clock else None
        if clock is not None:
            clock.state = run.state
            clock.gun_time = None if run.gun_ms is None else self.time_of_day(run.gun_ms)
        self.engine.upsert_race(race.model_copy(update={"clock": clock, "air_temp": run.air_temp}))

    def _sync_entry(self, run: RaceRun, truth: AthleteTruth) -> None:
        """Give the engine an athlete's whole result (status and incidents changed)."""
        result = Result(
            race_id=run.sim.id,
            bib=truth.bib,
            status=truth.status,
            splits=truth.gun_times(run.point_ids),
            incidents=list(truth.incidents),
            legs=list(truth.legs),
        )
        self.engine.apply_results(run.sim.id, [result])

    def _apply(self, h: Happening) -> None:
        kind = h.kind
        run = self.runs[h.race_id]
        if kind == PASS:
            truth = run.entries[h.bib or ""]
            index = run.point_index[h.point_id or ""]
            gun_ms = h.time_ms or 0
            chip = gun_ms - truth.offset_ms
            truth.chips[index] = chip
            if index > truth.last:
                truth.last = index
            self.engine.apply_passing(
                Passing(race_id=h.race_id, bib=truth.bib, point_id=run.point_ids[index], time_ms=gun_ms)
            )
            point_id = int(run.point_ids[index])
            location = run.location_of[index]
            record = PassRecord(
                len(self.passes) + 1, truth, run.sim.number, index, point_id, location, h.at_ms, gun_ms, chip
            )
            self.passes.append(record)
            self.passes_at_point[point_id].append(record)
            if location is not None:
                self.passes_at_location[location].append(record)
            self._touch(run, h.at_ms)
            self._results(run, truth, h)
        elif kind == STATUS:
            truth = run.entries[h.bib or ""]
            truth.status = h.status or Status.OK
            if h.incident is not None:
                truth.incidents.append(h.incident)
            self._sync_entry(run, truth)
            self._touch(run, h.at_ms)
            self._results(run, truth, h)
        elif kind == INCIDENT:
            truth = run.entries[h.bib or ""]
            incident = h.incident
            if incident is not None:
                replaced = False
                if incident.kind is IncidentKind.PENALTY and incident.served:
                    for i, old in enumerate(truth.incidents):
                        if (
                            old.kind is IncidentKind.PENALTY
                            and not old.served
                            and old.infringement == incident.infringement
                            and old.seconds == incident.seconds
                        ):
                            truth.incidents[i] = incident
                            replaced = True
                            break
                if not replaced:
                    truth.incidents.append(incident)
            self._sync_entry(run, truth)
            self._touch(run, h.at_ms)
            self._results(run, truth, h)
        elif kind == GUN:
            run.state = ClockState.LIVE
            run.gun_ms = h.at_ms
            self._sync_race(run)
            self._touch(run, h.at_ms)
            self._eventdata()
        elif kind == WAVE:
            run.started_waves.add(h.wave_id or "")
            self._eventdata()
        elif kind == CONDITIONS:
            run.air_temp = h.air_temp
            self._sync_race(run)
            self._touch(run, h.at_ms)
            self._eventdata()
        elif kind == OFFICIAL:
            run.state = ClockState.OFFICIAL
            self._sync_race(run)
            self._touch(run, h.at_ms)
            self._eventdata()
