"""The pure, deterministic race generator: no sockets, no clocks, no I/O.

:func:`generate_event` turns a :class:`~racetui.sim.config.SimConfig` into a
:class:`SimEvent`: the :class:`~racetui.model.Event` (races, waves, timing points,
locations), the start list (:class:`~racetui.model.Participant`), relay team members, and
the *schedule*: every :class:`Happening` of the event (guns, wave starts, passings, status
changes, incidents, condition updates, races made official) in time order.

Time in the schedule is *event time*: whole milliseconds since simulation time zero (the
first gun is at ``config.countdown``). A passing's ``time_ms`` is its gun time (since the
race's gun), as :class:`~racetui.model.Passing` has it.

Same config (same seed) -> the same event, schedule and names, on every machine.
"""

from __future__ import annotations

import gc
import math
import operator
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from racetui.model import (
    ClockState,
    Event,
    Incident,
    IncidentKind,
    Location,
    Participant,
    Passing,
    Race,
    RaceClock,
    RaceKind,
    RelayLeg,
    RelayMember,
    Status,
    TimingPoint,
    Wave,
)
from racetui.sim import names
from racetui.sim.config import RaceSpec, SimConfig

__all__ = [
    "CONDITIONS",
    "DEFAULT_EPOCH",
    "GUN",
    "INCIDENT",
    "OFFICIAL",
    "PASS",
    "STATUS",
    "WAVE",
    "Happening",
    "SimEvent",
    "SimRace",
    "generate_event",
]

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


# ----------------------------------------------------------------------------- course data
# (point name, distance from the start in metres)
ROAD_COURSES: dict[str, tuple[int, list[tuple[str, int]]]] = {
    "marathon": (
        42195,
        [
            ("5 km", 5000),
            ("10 km", 10000),
            ("15 km", 15000),
            ("20 km", 20000),
            ("Half", 21098),
            ("25 km", 25000),
            ("30 km", 30000),
            ("35 km", 35000),
            ("40 km", 40000),
            ("Finish", 42195),
        ],
    ),
    "half": (
        21098,
        [("5 km", 5000), ("10 km", 10000), ("15 km", 15000), ("20 km", 20000), ("Finish", 21098)],
    ),
    "10k": (
        10000,
        [("2 km", 2000), ("4 km", 4000), ("5 km", 5000), ("6 km", 6000), ("8 km", 8000), ("Finish", 10000)],
    ),
}
ROAD_NAMES = {"marathon": "City Marathon", "half": "Half Marathon", "10k": "10K Run"}

# The v1.1 spec's segment tables: (name, discipline, metres of the segment)
_STANDARD: list[tuple[str, str, int]] = [
    ("Swim Lap 1", "swim", 750),
    ("Swim Exit", "swim", 750),
    ("Transition 1", "t1", 0),
    *[(f"Bike Lap {i}", "bike", 5000) for i in range(1, 8)],
    ("Bike End", "bike", 5000),
    ("Transition 2", "t2", 0),
    *[(f"Run Lap {i}", "run", 2500) for i in range(1, 4)],
    ("Finish", "run", 2500),
]
_SPRINT: list[tuple[str, str, int]] = [
    ("Swim Exit", "swim", 750),
    ("Transition 1", "t1", 0),
    *[(f"Bike Lap {i}", "bike", 5000) for i in range(1, 4)],
    ("Bike End", "bike", 5000),
    ("Transition 2", "t2", 0),
    ("Run Lap 1", "run", 2500),
    ("Finish", "run", 2500),
]
_RELAY_LEG: list[tuple[str, str, int]] = [
    ("Swim Exit", "swim", 300),
    ("Transition 1", "t1", 0),
    ("Bike Lap 1", "bike", 2900),
    ("Bike End", "bike", 2900),
    ("Transition 2", "t2", 0),
    ("Run Lap 1", "run", 800),
    ("Finish", "run", 800),
]
TRIATHLON_SEGMENTS = {"standard": _STANDARD, "sprint": _SPRINT}
_LOCATION_OF = {
    "swim": "Swim exit",
    "t1": "Transition zone",
    "t2": "Transition zone",
    "bike": "Bike lap line",
    "run": "Run lap line",
}
_BANDS = (20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75)


def _category(gender: str, age: int) -> str:
    band = 20
    for low in _BANDS:
        if age >= low:
            band = low
    return f"{gender}{band}"


def _ms(seconds: float) -> int:
    return round(seconds * 1000.0)


# ------------------------------------------------------------------------------ builder
class _Builder:
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
        wave = Wave(id=str(self.next_wave), race_id=race_id, name=name, offset_ms=_ms(offset_s))
        self.next_wave += 1
        return wave

    def result_id(self) -> str:
        value = self.next_result
        self.next_result += 1
        return str(value)

    def passes(
        self,
        race_id: str,
        gun_at_ms: int,
        bib: str,
        offset_ms: int,
        point_ids: Sequence[str],
        chips: Sequence[int | None],
    ) -> None:
        """Schedule an entry's passings (chip times per point, ``None`` = not passed)."""
        schedule = self.schedule
        seq = self.seq
        base = gun_at_ms + offset_ms
        for point_id, chip in zip(point_ids, chips, strict=True):
            if chip is None:
                break
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


def _weighted_countries(rng: random.Random, count: int) -> list[str]:
    codes = list(names.ROAD_WEIGHTS)
    weights = list(names.ROAD_WEIGHTS.values())
    return rng.choices(codes, weights=weights, k=count)


def _person(rng: random.Random, country: str, gender: str) -> tuple[str, str, str | None]:
    women, men, lasts, clubs = names.COUNTRIES[country]
    first = rng.choice(women if gender == "F" else men)
    last = rng.choice(lasts)
    club = rng.choice(clubs) if rng.random() < 0.45 else None
    return first, last, club


# ---------------------------------------------------------------------------- road races
def _road(b: _Builder, rng: random.Random, spec: RaceSpec, number: int, gun_at_ms: int) -> None:
    variant = spec.variant or "marathon"
    distance, course = ROAD_COURSES[variant]
    race_id = str(number)
    entries = spec.entries or 1
    start_mode = spec.start_mode or ("waves" if entries >= 2000 else "mass")

    points: list[TimingPoint] = []
    for order, (point_name, metres) in enumerate(course, 1):
        is_finish = order == len(course)
        location = b.location("Finish arch" if is_finish else point_name)
        points.append(
            TimingPoint(
                id=str(number * 100 + order),
                race_id=race_id,
                name=point_name,
                order=order,
                distance_m=float(metres),
                location_id=location,
                is_finish=is_finish,
            )
        )
    point_ids = [p.id for p in points]
    fractions = [metres / distance for _, metres in course]
    seg_fracs = [fractions[0]] + [fractions[i] - fractions[i - 1] for i in range(1, len(fractions))]
    mids = [(fractions[i] + (fractions[i - 1] if i else 0.0)) / 2 for i in range(len(fractions))]
    riegel = (distance / 42195) ** 1.06
    fade_scale = {"marathon": 1.0, "half": 0.6, "10k": 0.3}[variant]
    dnf_rate = {"marathon": 0.025, "half": 0.015, "10k": 0.008}[variant]
    male_share = 0.58 if variant == "marathon" else 0.5

    elites = 0 if entries < 100 else min(60, max(6, entries // 400))
    # (marathon-equivalent seconds, gender, age, country, elite)
    people: list[tuple[float, str, int, str, bool]] = []
    elite_countries = names.ELITE_RUNNING
    for i in range(elites):
        gender = "M" if i % 2 == 0 else "F"
        base = 7470.0 if gender == "M" else 8280.0
        target = min(base + rng.expovariate(1 / 420), base + 1800)
        people.append((target, gender, rng.randint(21, 36), rng.choice(elite_countries), True))
    countries = _weighted_countries(rng, entries - elites)
    gauss = rng.gauss
    for country in countries:
        gender = "M" if rng.random() < male_share else "F"
        age = int(rng.triangular(18, 78, 36))
        median = 14700.0 if gender == "M" else 16200.0
        target = median * math.exp(gauss(0.0, 0.16)) * (1 + max(0, age - 40) * 0.008)
        target = min(max(target, 8900.0), 22500.0)
        people.append((target, gender, age, country, False))
    # Bibs follow the corrals: elites first, then by predicted time (people mis-predict).
    mass = sorted(people[elites:], key=lambda p: p[0] * math.exp(rng.gauss(0.0, 0.06)))
    people = people[:elites] + mass

    waves: list[Wave] = []
    wave_of: list[int] = []
    if start_mode == "waves":
        if elites:
            waves.append(b.wave(race_id, "Elite", 0))
        count = min(8, max(2, math.ceil((entries - elites) / 8000)))
        per = math.ceil((entries - elites) / count)
        for k in range(count):
            waves.append(
                b.wave(race_id, f"Wave {chr(ord('A') + k)}", 300.0 * (k + 1) if elites else 300.0 * k)
            )
        first_mass = 1 if elites else 0
        wave_of = [0] * elites + [first_mass + min(count - 1, j // per) for j in range(entries - elites)]
    else:
        waves.append(b.wave(race_id, "Mass start", 0))
        wave_of = [0] * entries

    race = Race(
        id=race_id,
        name=spec.name or ROAD_NAMES[variant],
        kind=RaceKind.ROAD,
        distance_m=float(distance),
        waves=waves,
        points=points,
        clock=RaceClock(race_id=race_id, state=ClockState.PRERACE),
        external_id=str(300000 + number),
    )
    sim_race = SimRace(race, spec, number, start_mode, gun_at_ms, 0, race.name)
    b.races.append(sim_race)
    b.happen(gun_at_ms, GUN, race_id)
    for wave in waves:
        if wave.offset_ms:
            b.happen(gun_at_ms + wave.offset_ms, WAVE, race_id, wave_id=wave.id)

    last_ms = gun_at_ms
    npoints = len(points)
    random_ = rng.random
    curve = [x * x - 1 / 3 for x in mids]
    shape = list(zip(seg_fracs, curve, strict=True))
    schedule = b.schedule
    for index, (target, gender, age, country, elite) in enumerate(people):
        bib = str(index + 1)
        first, last, club = _person(rng, country, gender)
        wave = waves[wave_of[index]]
        b.participants.append(
            Participant(
                bib=bib,
                race_id=race_id,
                id=b.result_id(),
                first_name=first,
                last_name=last,
                name=f"{first} {last}",
                gender=gender,
                category="OPEN" if elite else _category(gender, age),
                age=age,
                country=country,
                club=None if elite else club,
                wave_id=wave.id,
            )
        )
        offset = wave.offset_ms
        start_ms = gun_at_ms + offset
        roll = random_()
        if roll < (0.03 if elite else 0.015):
            b.happen(start_ms + 60_000, STATUS, race_id, bib, status=Status.DNS)
            continue
        total = target * riegel * 1000.0  # ms
        fade = (gauss(0.01, 0.015) if elite else min(max(gauss(0.06, 0.05), -0.03), 0.30)) * fade_scale
        chip = 0.0
        chips: list[int] = []
        for frac, bend in shape:
            # segment time: share of the total, bent by the fade, +-2 % day-to-day noise
            chip += total * frac * (1.0 + fade * bend) * (0.98 + 0.04 * random_())
            chips.append(int(chip + 0.5))
        stop = npoints
        if roll > 1.0 - (0.08 if elite else dnf_rate):
            stop = rng.randint(1, npoints - 1)
            before = chips[stop - 1]
            dnf_at = start_ms + before + int((chips[stop] - before) * rng.uniform(0.2, 0.9))
            b.happen(dnf_at, STATUS, race_id, bib, status=Status.DNF)
            last_ms = max(last_ms, dnf_at)
        else:
            last_ms = max(last_ms, start_ms + chips[-1])
        seq = b.seq
        for k in range(stop):
            chip_ms = chips[k]
            seq += 1
            schedule.append(
                _new(
                    Happening,
                    (
                        start_ms + chip_ms,
                        seq,
                        PASS,
                        race_id,
                        bib,
                        point_ids[k],
                        offset + chip_ms,
                        None,
                        None,
                        None,
                        None,
                    ),
                )
            )
        b.seq = seq
    b.finish_race(sim_race, last_ms, None, rng)


# ----------------------------------------------------------------------- multisport core
@dataclass(slots=True)
class _Ability:
    swim_100: float  # seconds per 100 m
    bike_kmh: float
    run_km: float  # seconds per km
    t1: float
    t2: float
    fade: float


def _elite_ability(rng: random.Random, gender: str, relay: bool = False) -> _Ability:
    if gender == "M":
        ability = _Ability(
            rng.uniform(69.5, 76.5),
            rng.gauss(43.5, 1.0),
            rng.uniform(176, 202),
            rng.uniform(40, 55),
            rng.uniform(17, 26),
            rng.uniform(0.0, 0.05),
        )
    else:
        ability = _Ability(
            rng.uniform(75, 83),
            rng.gauss(39.5, 1.0),
            rng.uniform(198, 225),
            rng.uniform(44, 60),
            rng.uniform(19, 29),
            rng.uniform(0.0, 0.05),
        )
    if relay:  # short and fast
        ability.swim_100 *= 0.96
        ability.run_km *= 0.93
        ability.t1 *= 0.7
        ability.t2 *= 0.8
    return ability


def _age_group_ability(rng: random.Random, gender: str, age: int) -> _Ability:
    slow = 1 + max(0, age - 35) * 0.009
    male = gender == "M"
    swim = min(max((105.0 if male else 112.0) * math.exp(rng.gauss(0, 0.18)), 80.0), 190.0)
    bike = min(max((33.0 if male else 29.5) * math.exp(rng.gauss(0, 0.10)), 23.0), 42.0)
    run = min(max((290.0 if male else 320.0) * math.exp(rng.gauss(0, 0.14)), 215.0), 450.0)
    return _Ability(
        swim * slow,
        bike / slow,
        run * slow,
        rng.uniform(80, 220),
        rng.uniform(50, 160),
        rng.uniform(0.0, 0.12),
    )


def _multisport_chips(
    rng: random.Random,
    segments: list[tuple[str, str, int]],
    abilities: list[list[_Ability]],  # per entry, per leg (one leg for individual races)
    leg_length: int,
    wetsuit: bool,
    join_gap: float,
    pack_span: float,
    extra: dict[tuple[int, int], float],
    offsets: Sequence[float] | None = None,
) -> list[list[int]]:
    """Chip times (ms) of every entry at every point, with packs on the bike.

    Segment by segment over the whole field: swims, transitions and runs are solo; on the
    bike, riders within ``join_gap`` seconds of the one ahead (and ``pack_span`` of the
    pack's front) ride together at the pack's pace and cross the line fractions of a second
    apart; riders too slow for the pack are dropped, much stronger ones ride away.
    ``extra`` adds seconds to (entry, segment), e.g. a penalty served. ``offsets`` are the
    entries' wave start offsets (seconds): packs form on the course, by gun time.
    """
    count = len(abilities)
    start = list(offsets) if offsets is not None else [0.0] * count
    now = list(start)
    chips = [[0] * len(segments) for _ in range(count)]
    gauss = rng.gauss
    run_total = sum(metres for _, kind, metres in segments[:leg_length] if kind == "run") or 1
    for j, (_name, kind, metres) in enumerate(segments):
        leg = j // leg_length
        done_run = sum(m for _, k, m in segments[leg * leg_length : j] if k == "run")
        solo = [0.0] * count
        for i in range(count):
            a = abilities[i][leg]
            if kind == "swim":
                d = metres / 100 * a.swim_100 * (0.97 if wetsuit else 1.0) * gauss(1.0, 0.02)
            elif kind == "t1":
                d = a.t1 * gauss(1.0, 0.08)
            elif kind == "t2":
                d = a.t2 * gauss(1.0, 0.08)
            elif kind == "bike":
                d = metres / 1000 / a.bike_kmh * 3600 * gauss(1.0, 0.015)
            else:
                x = (done_run + metres / 2) / run_total
                d = metres / 1000 * a.run_km * (1 + a.fade * x) * gauss(1.0, 0.012)
            solo[i] = max(d, 1.0) + extra.get((i, j), 0.0)
        if kind != "bike":
            for i in range(count):
                now[i] += solo[i]
        else:
            order = sorted(range(count), key=lambda i: now[i])
            groups: list[list[int]] = []
            for i in order:
                if (
                    groups
                    and now[i] - now[groups[-1][-1]] <= join_gap
                    and now[i] - now[groups[-1][0]] <= pack_span
                ):
                    groups[-1].append(i)
                else:
                    groups.append([i])
            for group in groups:
                if len(group) == 1:
                    now[group[0]] += solo[group[0]]
                    continue
                paces = sorted(solo[i] for i in group)
                pack = paces[len(paces) // 2] * 0.985
                riders = []
                for i in group:
                    if solo[i] > pack * 1.05 or solo[i] < pack * 0.93:
                        now[i] += solo[i]  # dropped, or rides away
                    else:
                        riders.append(i)
                if not riders:
                    continue
                front = min(now[i] for i in riders) + pack
                # Keep roughly the order, a few swaps; gaps in 10 ms steps (0 = a tie).
                riders.sort(key=lambda i: now[i] + gauss(0.0, 1.5))
                at = front
                for i in riders:
                    now[i] = at
                    at += round(rng.uniform(0.0, 0.45), 2)
        for i in range(count):
            chips[i][j] = _ms(now[i] - start[i])
    return chips


def _schedule_multisport(
    b: _Builder,
    rng: random.Random,
    sim_race: SimRace,
    bibs: list[str],
    offsets: list[int],
    chips: list[list[int]],
    segments: list[tuple[str, str, int]],
    point_ids: list[str],
    *,
    dns: set[int],
    dnf: set[int],
    dsq: set[int],
    penalties: dict[int, tuple[int, str, int]],  # entry -> (seconds, infringement, run segment served in)
    bike_range: tuple[int, int],
) -> int:
    """Schedule passings, statuses and incidents of a triathlon or relay; returns the last time."""
    race_id = sim_race.id
    gun = sim_race.gun_at_ms
    last_ms = gun
    npoints = len(point_ids)
    for i, bib in enumerate(bibs):
        start = gun + offsets[i]
        row: list[int | None] = list(chips[i])
        if i in dns:
            b.happen(max(0, gun - 60_000), STATUS, race_id, bib, status=Status.DNS)
            continue
        if i in dnf:
            stop = rng.randint(1, npoints - 2)
            before = chips[i][stop - 1]
            dnf_at = start + before + int((chips[i][stop] - before) * rng.uniform(0.2, 0.9))
            row[stop:] = [None] * (npoints - stop)
            reason = f"Withdrew from the race due to {rng.choice(names.WITHDRAWALS)}."
            b.happen(
                dnf_at,
                STATUS,
                race_id,
                bib,
                status=Status.DNF,
                incident=Incident.note(reason, IncidentKind.DNF),
            )
            last_ms = max(last_ms, dnf_at)
        else:
            last_ms = max(last_ms, start + chips[i][-1])
        if i in dsq:
            lap = rng.randint(*bike_range)
            infringement = rng.choice(names.DSQ_INFRINGEMENTS)
            b.happen(
                start + chips[i][lap] + rng.randint(60_000, 150_000),
                STATUS,
                race_id,
                bib,
                status=Status.DSQ,
                incident=Incident.dsq(infringement),
            )
        if i in penalties:
            seconds, infringement, served_in = penalties[i]
            lap = rng.randint(bike_range[0], min(bike_range[1], served_in - 3))
            issued = start + chips[i][lap] + rng.randint(20_000, 90_000)
            b.happen(issued, INCIDENT, race_id, bib, incident=Incident.penalty(seconds, infringement))
            into_run = (chips[i][served_in] - chips[i][served_in - 1] - seconds * 1000) * 0.3
            served = start + chips[i][served_in - 1] + int(into_run) + seconds * 1000
            b.happen(
                served, INCIDENT, race_id, bib, incident=Incident.penalty(seconds, infringement, served=True)
            )
        b.passes(race_id, gun, bib, offsets[i], point_ids, row)
    del segments
    return last_ms


def _conditions(rng: random.Random) -> tuple[float, float, bool]:
    water = round(rng.uniform(16.0, 23.5), 1)
    air = round(rng.uniform(15.0, 27.0), 1)
    return air, water, water < 20.0


def _pick(rng: random.Random, pool: list[int], count: int, taken: set[int]) -> set[int]:
    free = [i for i in pool if i not in taken]
    chosen = set(rng.sample(free, min(count, len(free))))
    taken |= chosen
    return chosen


def _points(
    b: _Builder, number: int, segments: list[tuple[str, str, int]], leg_length: int, relay: bool
) -> list[TimingPoint]:
    race_id = str(number)
    points = []
    distance = 0
    for order, (name, kind, metres) in enumerate(segments, 1):
        distance += metres
        leg = (order - 1) // leg_length + 1 if relay else None
        is_finish = order == len(segments)
        location = "Finish line" if name == "Finish" else _LOCATION_OF[kind]
        points.append(
            TimingPoint(
                id=str(number * 100 + order),
                race_id=race_id,
                name=f"Leg {leg} {name}" if relay else name,
                order=order,
                distance_m=float(distance),
                location_id=b.location(location),
                is_finish=is_finish,
                leg=leg,
            )
        )
    return points


# ----------------------------------------------------------------------------- triathlon
def _triathlon(b: _Builder, rng: random.Random, spec: RaceSpec, number: int, gun_at_ms: int) -> None:
    variant = spec.variant or "standard"
    segments = TRIATHLON_SEGMENTS[variant]
    race_id = str(number)
    entries = spec.entries or 1
    elite = entries <= 80
    sex = rng.choice(("M", "F")) if elite else None
    start_mode = spec.start_mode or ("mass" if elite else "waves")
    points = _points(b, number, segments, len(segments), relay=False)
    air, water, wetsuit = _conditions(rng)

    people: list[tuple[str, int, str]] = []  # gender, age, country
    for _ in range(entries):
        if elite:
            people.append((sex or "M", rng.randint(19, 34), rng.choice(names.TRIATHLON)))
        else:
            gender = "M" if rng.random() < 0.65 else "F"
            people.append((gender, int(rng.triangular(18, 72, 38)), rng.choice(names.TRIATHLON)))
    if elite:
        # Bibs by ranking: roughly the strongest first.
        abilities = [[_elite_ability(rng, g)] for g, _, _ in people]
        order = sorted(range(entries), key=lambda i: abilities[i][0].run_km + rng.gauss(0, 6))
        people = [people[i] for i in order]
        abilities = [abilities[i] for i in order]
    else:
        people.sort(key=lambda p: (p[0] == "F", p[1] >= 40))
        abilities = [[_age_group_ability(rng, g, age)] for g, age, _ in people]

    waves: list[Wave] = []
    wave_of: list[int] = []
    if start_mode == "waves" and not elite:
        for k, name in enumerate(("Men 18-39", "Men 40+", "Women")):
            waves.append(b.wave(race_id, name, 300.0 * k))
        for g, age, _ in people:
            wave_of.append(2 if g != "M" else 0 if age < 40 else 1)
    elif start_mode == "waves":  # an elite field started in two waves (rare)
        waves = [b.wave(race_id, "Wave 1", 0), b.wave(race_id, "Wave 2", 60)]
        wave_of = [0 if i < entries // 2 else 1 for i in range(entries)]
    else:
        waves = [b.wave(race_id, "Mass start", 0)]
        wave_of = [0] * entries

    if elite:
        name = (
            spec.name or f"Elite {'Men' if sex == 'M' else 'Women'}{' Sprint' if variant == 'sprint' else ''}"
        )
    else:
        name = spec.name or f"Age Group {'Sprint' if variant == 'sprint' else 'Standard'}"
    race = Race(
        id=race_id,
        name=name,
        kind=RaceKind.TRIATHLON,
        distance_m=float(sum(m for _, _, m in segments)),
        waves=waves,
        points=points,
        clock=RaceClock(race_id=race_id, state=ClockState.PRERACE),
        wetsuit=wetsuit,
        air_temp=air,
        water_temp=water,
        external_id=str(300000 + number),
    )
    sim_race = SimRace(race, spec, number, start_mode, gun_at_ms, 0, name, sex)
    b.races.append(sim_race)
    b.happen(gun_at_ms, GUN, race_id)
    for wave in waves:
        if wave.offset_ms:
            b.happen(gun_at_ms + wave.offset_ms, WAVE, race_id, wave_id=wave.id)

    bibs = [str(i + 1) for i in range(entries)]
    for i, (gender, age, country) in enumerate(people):
        first, last, club = _person(rng, country, gender)
        b.participants.append(
            Participant(
                bib=bibs[i],
                race_id=race_id,
                id=b.result_id(),
                first_name=first,
                last_name=last,
                name=f"{first} {last}",
                gender=gender,
                category="OPEN" if elite else _category(gender, age),
                age=age,
                country=country,
                club=None if elite else club,
                wave_id=waves[wave_of[i]].id,
            )
        )

    # Who: DNS, DNF, one DSQ, one or two penalties.
    everyone = list(range(entries))
    taken: set[int] = set()
    dns = _pick(rng, everyone, max(1 if entries >= 20 else 0, round(entries * 0.02)), taken)
    dnf = _pick(rng, everyone, max(1 if entries >= 10 else 0, round(entries * 0.04)), taken)
    dsq = _pick(rng, everyone, 1 if entries >= 10 else 0, taken)
    penalized = _pick(rng, everyone, rng.choice((1, 2)) if entries >= 5 else 0, taken)
    seconds = 10 if variant == "sprint" else 15
    run_lap_1 = next(j for j, (n, _, _) in enumerate(segments) if n == "Run Lap 1")
    penalties = {i: (seconds, rng.choice(names.PENALTY_INFRINGEMENTS), run_lap_1) for i in sorted(penalized)}
    extra = {(i, run_lap_1): float(s) for i, (s, _, _) in penalties.items()}
    bike = [j for j, (_, kind, _) in enumerate(segments) if kind == "bike"]

    offsets = [waves[w].offset_ms for w in wave_of]
    chips = _multisport_chips(
        rng,
        segments,
        abilities,
        len(segments),
        wetsuit,
        join_gap=6.0 if elite else 2.5,
        pack_span=25.0 if elite else 8.0,
        extra=extra,
        offsets=[o / 1000 for o in offsets],
    )
    last_ms = _schedule_multisport(
        b,
        rng,
        sim_race,
        bibs,
        offsets,
        chips,
        segments,
        [p.id for p in points],
        dns=dns,
        dnf=dnf,
        dsq=dsq,
        penalties=penalties,
        bike_range=(bike[0], bike[-2]),
    )
    b.finish_race(sim_race, last_ms, air, rng)


# --------------------------------------------------------------------------------- relay
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")


def _relay(b: _Builder, rng: random.Random, spec: RaceSpec, number: int, gun_at_ms: int) -> None:
    race_id = str(number)
    teams = spec.entries or 1
    segments = [(name, kind, metres) for _ in range(4) for name, kind, metres in _RELAY_LEG]
    leg_length = len(_RELAY_LEG)
    points = _points(b, number, segments, leg_length, relay=True)
    air, water, wetsuit = _conditions(rng)
    waves = [b.wave(race_id, "Mass start", 0)]
    name = spec.name or "Elite Mixed Relay"
    race = Race(
        id=race_id,
        name=name,
        kind=RaceKind.RELAY,
        distance_m=float(sum(m for _, _, m in segments)),
        waves=waves,
        points=points,
        clock=RaceClock(race_id=race_id, state=ClockState.PRERACE),
        wetsuit=wetsuit,
        air_temp=air,
        water_temp=water,
        external_id=str(300000 + number),
    )
    sim_race = SimRace(race, spec, number, "mass", gun_at_ms, 0, name)
    b.races.append(sim_race)
    b.happen(gun_at_ms, GUN, race_id)

    seen: dict[str, int] = {}
    abilities: list[list[_Ability]] = []
    bibs = []
    for t in range(teams):
        country = names.TRIATHLON[t % len(names.TRIATHLON)]
        seen[country] = seen.get(country, 0) + 1
        team_name = f"Team {country} {_ROMAN[(seen[country] - 1) % len(_ROMAN)]}"
        bib = str(t + 1)
        bibs.append(bib)
        legs = []
        team_abilities = []
        for order, gender in enumerate(("F", "M", "F", "M"), 1):
            first, last, _ = _person(rng, country, gender)
            legs.append(
                RelayLeg(
                    order=order,
                    member=RelayMember(
                        id=str(b.next_member), name=f"{first} {last}", country=country, gender=gender
                    ),
                )
            )
            b.next_member += 1
            team_abilities.append(_elite_ability(rng, gender, relay=True))
        abilities.append(team_abilities)
        b.legs[(race_id, bib)] = legs
        b.participants.append(
            Participant(
                bib=bib,
                race_id=race_id,
                id=b.result_id(),
                name=team_name,
                last_name=team_name,
                gender="X",
                category="OPEN",
                country=country,
                wave_id=waves[0].id,
            )
        )
    everyone = list(range(teams))
    taken: set[int] = set()
    dnf = _pick(rng, everyone, 1 if teams >= 6 else 0, taken)
    penalized = _pick(rng, everyone, 1 if teams >= 3 else 0, taken)
    penalties = {}
    for i in sorted(penalized):
        leg = rng.randint(0, 3)
        served_in = leg * leg_length + 5  # that leg's Run Lap 1
        penalties[i] = (10, rng.choice(names.PENALTY_INFRINGEMENTS), served_in)
    extra = {(i, s): 10.0 for i, (_, _, s) in penalties.items()}
    chips = _multisport_chips(rng, segments, abilities, leg_length, wetsuit, 6.0, 25.0, extra)
    # bike range for incidents: a bike lap of the penalized leg (or of leg 2 for a DSQ)
    last_ms = gun_at_ms
    point_ids = [p.id for p in points]
    for i in range(teams):
        served_in = penalties[i][2] if i in penalties else 5 + leg_length
        bike_range = (served_in - 3, served_in - 3)
        last_ms = max(
            last_ms,
            _schedule_multisport(
                b,
                rng,
                sim_race,
                [bibs[i]],
                [0],
                [chips[i]],
                segments,
                point_ids,
                dns=set(),
                dnf={0} if i in dnf else set(),
                dsq=set(),
                penalties={0: penalties[i]} if i in penalties else {},
                bike_range=bike_range,
            ),
        )
    b.finish_race(sim_race, last_ms, air, rng)


# ------------------------------------------------------------------------------ the event
def generate_event(config: SimConfig, *, epoch: datetime | None = None) -> SimEvent:
    """Generate the whole event for ``config``: deterministic for a given seed.

    ``epoch`` (the wall-clock time of event time zero) defaults to ``config.epoch`` or
    :data:`DEFAULT_EPOCH`; it only maps event time to time of day.
    """
    config.validate()
    # Half a million small tuples: the cyclic GC would rescan them over and over.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(config, epoch)
    finally:
        if was_enabled:
            gc.enable()


def _generate(config: SimConfig, epoch: datetime | None) -> SimEvent:
    b = _Builder(config)
    countdown_ms = _ms(config.countdown)
    for number, spec in enumerate(config.race_specs(), 1):
        rng = random.Random(f"racetui-sim:{config.seed}:{number}:{spec.kind}:{spec.variant}:{spec.entries}")
        gun_at_ms = countdown_ms + _ms(spec.start_after_s or 0.0)
        if spec.kind == "road":
            _road(b, rng, spec, number, gun_at_ms)
        elif spec.kind == "triathlon":
            _triathlon(b, rng, spec, number, gun_at_ms)
        else:
            _relay(b, rng, spec, number, gun_at_ms)
    # Stable sort on the time alone: equal times keep their seq order (cheap int keys).
    b.schedule.sort(key=_AT)
    kinds = {race.kind for race in b.races}
    default_name = (
        "Harbour City Race Weekend" if kinds == {RaceKind.ROAD} else "Harbour City Triathlon Festival"
    )
    event = Event(
        id=str(990000 + config.seed % 10000),
        name=config.event_name or default_name,
        races=[race.race for race in b.races],
        locations=list(b.locations.values()),
    )
    return SimEvent(
        config=config,
        epoch=epoch or config.epoch or DEFAULT_EPOCH,
        event=event,
        races=b.races,
        participants=b.participants,
        legs=b.legs,
        schedule=b.schedule,
    )
