"""What every race kind's generator shares: the schedule's happenings, the event it builds,
the builder that numbers everything, and the seeded people.

One :class:`Builder` runs through a whole generation: it hands out wave, result and member
ids and schedule sequence numbers in one order, which is what makes a seed reproduce the
same event byte for byte.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from racetui.model import (
    Event,
    Incident,
    Location,
    Participant,
    Passing,
    Race,
    RaceKind,
    RelayLeg,
    Status,
    Wave,
)
from racetui.sim import names
from racetui.sim.config import RaceSpec, SimConfig

DEFAULT_EPOCH = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
_new = tuple.__new__  # a NamedTuple without its Python-level __new__ (hot path)
_AT = operator.itemgetter(0)

# Happening kinds
GUN = "gun"  # the race's gun: clock goes live
WAVE = "wave"  # a later wave starts (``wave_id``)
PASS = "pass"  # ``bib`` passes ``point_id`` at gun time ``time_ms``
STATUS = "status"  # ``bib``'s status becomes ``status`` (with ``incident`` when there is a reason)
INCIDENT = "incident"  # ``bib`` gets ``incident``; a served penalty replaces the unserved one
CONDITIONS = "conditions"  # the race's official air temperature becomes ``air_temp``
OFFICIAL = "official"  # the race's results are confirmed


class Happening(NamedTuple):
    """One thing that happens at event time ``at_ms``; ``seq`` orders equal times."""

    at_ms: int
    seq: int
    kind: str
    race_id: str
    bib: str | None = None
    point_id: str | None = None
    time_ms: int | None = None
    status: Status | None = None
    incident: Incident | None = None
    wave_id: str | None = None
    air_temp: float | None = None

    def passing(self, epoch: datetime | None = None) -> Passing:
        """This PASS as a :class:`Passing` (``time_of_day`` set when ``epoch`` is given)."""
        assert self.kind == PASS and self.bib is not None and self.point_id is not None
        assert self.time_ms is not None
        tod = None if epoch is None else epoch + timedelta(milliseconds=self.at_ms)
        return Passing(
            race_id=self.race_id, bib=self.bib, point_id=self.point_id, time_ms=self.time_ms, time_of_day=tod
        )


@dataclass(slots=True)
class SimRace:
    """Simulator facts about one race beyond the :class:`Race` model."""

    race: Race
    spec: RaceSpec
    number: int  # the BBT race id
    start_mode: str  # "mass" or "waves"
    gun_at_ms: int  # event time of the gun
    official_at_ms: int  # event time the results are confirmed
    name: str
    sex: str | None = None  # "M"/"F" for a single-gender race

    @property
    def id(self) -> str:
        return self.race.id

    @property
    def kind(self) -> RaceKind:
        return self.race.kind


@dataclass(slots=True)
class SimEvent:
    """A generated event: the setup, the start list and the schedule in time order."""

    config: SimConfig
    epoch: datetime
    event: Event
    races: list[SimRace]
    participants: list[Participant]
    legs: dict[tuple[str, str], list[RelayLeg]]  # (race id, bib) -> relay team members
    schedule: list[Happening]
    _by_id: dict[str, SimRace] = field(default_factory=dict, repr=False)

    def race(self, race_id: str) -> SimRace:
        if not self._by_id:
            self._by_id = {race.id: race for race in self.races}
        return self._by_id[race_id]

    @property
    def end_ms(self) -> int:
        """Event time of the last happening (every race official)."""
        return self.schedule[-1].at_ms if self.schedule else 0

    @property
    def first_gun_ms(self) -> int:
        return min(race.gun_at_ms for race in self.races)

    def time_of_day(self, at_ms: int) -> datetime:
        return self.epoch + timedelta(milliseconds=at_ms)

    def passings(self, until_ms: int | None = None) -> Iterator[Passing]:
        """Every passing up to event time ``until_ms`` (all by default), in time order."""
        for happening in self.schedule:
            if until_ms is not None and happening.at_ms > until_ms:
                break
            if happening.kind == PASS:
                yield happening.passing(self.epoch)


_BANDS = (20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75)


def age_category(gender: str, age: int) -> str:
    band = 20
    for low in _BANDS:
        if age >= low:
            band = low
    return f"{gender}{band}"


def to_ms(seconds: float) -> int:
    return round(seconds * 1000.0)


# ------------------------------------------------------------------------------ builder
class Builder:
    """Shared counters and output of one generation run."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.seq = 0
        self.schedule: list[Happening] = []
        self.locations: dict[str, Location] = {}
        self.next_wave = 1
        self.next_result = 1001
        self.next_member = 50001
        self.participants: list[Participant] = []
        self.legs: dict[tuple[str, str], list[RelayLeg]] = {}
        self.races: list[SimRace] = []

    def happen(
        self,
        at_ms: int,
        kind: str,
        race_id: str,
        bib: str | None = None,
        *,
        status: Status | None = None,
        incident: Incident | None = None,
        wave_id: str | None = None,
        air_temp: float | None = None,
    ) -> None:
        self.seq += 1
        self.schedule.append(
            Happening(at_ms, self.seq, kind, race_id, bib, None, None, status, incident, wave_id, air_temp)
        )

    def location(self, name: str) -> str:
        loc = self.locations.get(name)
        if loc is None:
            loc = self.locations[name] = Location(id=str(len(self.locations) + 1), name=name)
        return loc.id

    def wave(self, race_id: str, name: str, offset_s: float) -> Wave:
        wave = Wave(id=str(self.next_wave), race_id=race_id, name=name, offset_ms=to_ms(offset_s))
        self.next_wave += 1
        return wave

    def result_id(self) -> str:
        value = self.next_result
        self.next_result += 1
        return str(value)

    def enter_athlete(
        self,
        rng: random.Random,
        race_id: str,
        bib: str,
        *,
        gender: str,
        age: int,
        country: str,
        elite: bool,
        wave_id: str,
    ) -> None:
        """One seeded athlete on the start list (elites race OPEN, without a club)."""
        first, last, club = pick_person(rng, country, gender)
        self.participants.append(
            Participant(
                bib=bib,
                race_id=race_id,
                id=self.result_id(),
                first_name=first,
                last_name=last,
                name=f"{first} {last}",
                gender=gender,
                category="OPEN" if elite else age_category(gender, age),
                age=age,
                country=country,
                club=None if elite else club,
                wave_id=wave_id,
            )
        )

    def passes(
        self,
        race_id: str,
        gun_at_ms: int,
        bib: str,
        offset_ms: int,
        point_ids: Sequence[str],
        chips: Sequence[int | None],
        stop: int | None = None,
    ) -> None:
        """Schedule an entry's passings: chip times per point, up to the first ``None`` or
        the point index ``stop`` (exclusive), where the entry dropped out. Every race kind
        schedules its passings here, so sequence numbers run in one order."""
        if len(chips) != len(point_ids):
            raise ValueError(f"chips: {len(chips)} chip times for {len(point_ids)} timing points")
        schedule = self.schedule
        seq = self.seq
        base = gun_at_ms + offset_ms
        for k in range(len(point_ids) if stop is None else stop):
            chip = chips[k]
            if chip is None:
                break
            point_id = point_ids[k]
            seq += 1
            schedule.append(
                _new(
                    Happening,
                    (
                        base + chip,
                        seq,
                        PASS,
                        race_id,
                        bib,
                        point_id,
                        offset_ms + chip,
                        None,
                        None,
                        None,
                        None,
                    ),
                )
            )
        self.seq = seq

    def finish_race(
        self, sim_race: SimRace, last_ms: int, air_temp: float | None, rng: random.Random
    ) -> None:
        """Conditions updates while the race runs, then OFFICIAL ten minutes after the last thing."""
        race_id = sim_race.id
        if air_temp is not None:
            at = sim_race.gun_at_ms + 20 * 60_000
            temp = air_temp
            while at < last_ms:
                temp = round(temp + rng.uniform(-0.2, 0.5), 1)
                self.happen(at, CONDITIONS, race_id, air_temp=temp)
                at += 20 * 60_000
        sim_race.official_at_ms = last_ms + 10 * 60_000
        self.happen(sim_race.official_at_ms, OFFICIAL, race_id)


def weighted_countries(rng: random.Random, count: int) -> list[str]:
    codes = list(names.ROAD_WEIGHTS)
    weights = list(names.ROAD_WEIGHTS.values())
    return rng.choices(codes, weights=weights, k=count)


def pick_person(rng: random.Random, country: str, gender: str) -> tuple[str, str, str | None]:
    women, men, lasts, clubs = names.COUNTRIES[country]
    first = rng.choice(women if gender == "F" else men)
    last = rng.choice(lasts)
    club = rng.choice(clubs) if rng.random() < 0.45 else None
    return first, last, club
