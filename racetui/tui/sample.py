"""A seeded sample event for tests, snapshots and benchmarks: same seed, same race.

:func:`sample_event` builds an event (a triathlon, a road race or a relay, plus a small
race that has not started yet), a start list, results up to a given moment and the plan of
every later passing. :class:`SampleFeed` applies that plan to a :class:`Pipeline`, either
up to a moment (:meth:`SampleFeed.advance_to`) or n passings at a time
(:meth:`SampleFeed.step`). Nothing here reads the wall clock or opens a socket.
"""

from __future__ import annotations

import asyncio
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    Result,
    Status,
    TimingPoint,
    Wave,
)
from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode

__all__ = ["SAMPLE_NOW", "Sample", "SampleFeed", "sample_event", "sample_pipeline"]

# The fixed "now" of snapshots: the elite race is 1:05 in, the age-group race 35 minutes,
# the kids' race starts in 55 minutes.
SAMPLE_START = datetime(2025, 6, 1, 7, 0, 0, tzinfo=UTC)
SAMPLE_NOW = datetime(2025, 6, 1, 7, 45, 0, tzinfo=UTC)


def _words(text: str) -> list[str]:
    return text.split()


_FIRST = _words(
    "Alex Sam Jo Chris Robin Kim Lee Max Noa Eli Ari Mika Nico Sasha Toni Yuki Lina Omar Ines "
    "Paul Hana Ivan Lars Mira Ola Pia Raf Sara Tom Uma Vera Wim Zoe Ben Cleo Dan Emma Finn Gus "
    "Ida "
)
_LAST = _words(
    "Brown Silva Müller Novak Rossi Tanaka Dubois Jensen Kowalski Smith Garcia Nilsson Moreau "
    "O'Brien Schmidt Haddad Kim Costa Fischer Larsen Bianchi Ivanova Okafor Petrov Svensson "
    "Taylor Walker Yamamoto Zhang Berg Lopez Martin Meyer Nakamura Popescu Reyes Sato Weber "
    "Wilson Young "
)
_COUNTRIES = _words("NZL AUS GBR FRA GER ESP ITA USA CAN JPN BEL NED SUI NOR SWE DEN POR BRA RSA MEX")
_CLUBS = ("Harbour Tri", "Lakeside RC", "Velo Club", "City Striders", "North Shore", "Riverside Tri")
_RULES = ("drafting", "littering", "dangerous riding", "equipment violation", "unsportsmanlike conduct")


@dataclass
class Sample:
    event: Event
    participants: list[Participant]
    results: dict[str, list[Result]]
    plan: list[tuple[datetime, Passing]]  # every later passing, in time order
    now: datetime


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def _points(race_id: str, kind: RaceKind) -> list[TimingPoint]:
    spec: list[tuple[str, str, int | None, str]]
    if kind is RaceKind.ROAD:
        spec = [
            ("5k", "5 km", 5000, "loc-5k"),
            ("10k", "10 km", 10000, "loc-10k"),
            ("15k", "15 km", 15000, "loc-5k"),
        ]
        spec.append(("fin", "Finish", 21097, "loc-fin"))
    elif kind is RaceKind.RELAY:
        spec = [(f"leg{n}", f"Leg {n}", None, "loc-tz") for n in (1, 2, 3)]
        spec.append(("fin", "Finish", None, "loc-fin"))
    else:
        spec = [
            ("swim", "Swim", 750, "loc-swim"),
            ("t1", "T1", None, "loc-tz"),
            ("bike", "Bike 20k", 20750, "loc-tz"),
            ("t2", "T2", None, "loc-tz"),
            ("fin", "Finish", 25750, "loc-fin"),
        ]
    return [
        TimingPoint(
            id=f"{race_id}-{pid}",
            race_id=race_id,
            name=name,
            order=i + 1,
            distance_m=dist,
            location_id=loc,
            is_finish=pid == "fin",
            leg=(i + 1) if kind is RaceKind.RELAY else None,
        )
        for i, (pid, name, dist, loc) in enumerate(spec)
    ]


# Share of the winning time spent up to each point, by kind.
_FRACTIONS = {
    RaceKind.TRIATHLON: (0.17, 0.185, 0.70, 0.71, 1.0),
    RaceKind.ROAD: (0.235, 0.472, 0.71, 1.0),
    RaceKind.RELAY: (0.25, 0.5, 0.75, 1.0),
}
_WINNING_MS = {RaceKind.TRIATHLON: 56 * 60_000, RaceKind.ROAD: 62 * 60_000, RaceKind.RELAY: 80 * 60_000}


def _race(
    rng: random.Random,
    race: Race,
    count: int,
    first_bib: int,
    now: datetime,
    participants: list[Participant],
    results: list[Result],
    plan: list[tuple[datetime, Passing]],
    *,
    elite: bool,
) -> None:
    kind = race.kind
    fractions = _FRACTIONS[kind]
    gun = race.clock.gun_time if race.clock and race.clock.gun_time else now
    elapsed = int((now - gun).total_seconds() * 1000)
    winning = _WINNING_MS[kind] * (1.0 if elite else 1.25)
    waves = race.waves or [Wave(id=f"{race.id}-w1", race_id=race.id, name="Wave 1")]
    for n in range(count):
        bib = str(first_bib + n)
        wave = waves[n * len(waves) // count]
        gender = "F" if rng.random() < 0.45 else "M"
        age = rng.randint(18, 64)
        if kind is RaceKind.RELAY:
            country = _COUNTRIES[n % len(_COUNTRIES)]
            participant = Participant(
                bib=bib, race_id=race.id, name=f"Team {country} {n // len(_COUNTRIES) + 1}", gender="X",
                category="Mixed", country=country, wave_id=wave.id,
            )  # fmt: skip
        else:
            band = "Elite" if elite else f"{gender}{age // 5 * 5}-{age // 5 * 5 + 4}"
            participant = Participant(
                bib=bib,
                race_id=race.id,
                first_name=rng.choice(_FIRST),
                last_name=rng.choice(_LAST),
                gender=gender,
                category=band,
                age=age,
                country=rng.choice(_COUNTRIES),
                club=None if elite else rng.choice(_CLUBS),
                wave_id=wave.id,
            )
        participants.append(participant)
        roll = rng.random()
        status = Status.OK
        incidents: list[Incident] = []
        stop_after = len(fractions)
        if roll < 0.01:
            status, stop_after = Status.DNS, 0
        elif roll < 0.025:
            stop_after = rng.randint(1, len(fractions) - 1)
            if rng.random() < 0.5:
                incidents.append(Incident.note("Withdrew from the race due to bike crash.", IncidentKind.DNF))
        elif roll < 0.03:
            status = Status.DSQ
            incidents.append(Incident.dsq(rng.choice(_RULES)))
        elif roll < 0.06:
            incidents.append(
                Incident.penalty(10 * rng.randint(1, 3), rng.choice(_RULES[:3]), served=rng.random() < 0.5)
            )
        pace = winning * (1.0 + abs(rng.gauss(0.0, 0.12 if elite else 0.3)))
        splits: dict[str, int] = {}
        chip = 0
        for i, point in enumerate(race.points):
            if i >= stop_after:
                break
            segment = pace * (fractions[i] - (fractions[i - 1] if i else 0.0))
            chip += max(1000, int(segment * (1.0 + rng.gauss(0.0, 0.04))))
            gun_ms = chip + wave.offset_ms
            if gun_ms <= elapsed:
                splits[point.id] = gun_ms
            else:
                plan.append(
                    (
                        gun + timedelta(milliseconds=gun_ms),
                        Passing.model_construct(race_id=race.id, bib=bib, point_id=point.id, time_ms=gun_ms),
                    )
                )
        if stop_after < len(fractions) and status is Status.OK:
            # A DNF is known once the athlete would have reached the next point.
            next_chip = int(pace * fractions[stop_after]) + wave.offset_ms
            if next_chip <= elapsed:
                status = Status.DNF
            else:
                incidents = []
        results.append(
            Result(
                race_id=race.id,
                bib=bib,
                participant=participant,
                status=status,
                splits=splits,
                incidents=incidents,
            )
        )


def sample_event(
    athletes: int = 120,
    *,
    seed: int = 7,
    kind: RaceKind | str = RaceKind.TRIATHLON,
    now: datetime = SAMPLE_NOW,
    second_race: bool = True,
) -> Sample:
    """An event of up to three races: the main race (``athletes`` strong), an age-group race
    in three waves and a small race that starts later. Same arguments, same event."""
    rng = random.Random(seed)
    kind = RaceKind(kind)
    races: list[Race] = []
    main_id = {RaceKind.TRIATHLON: "elite", RaceKind.ROAD: "half", RaceKind.RELAY: "relay"}[kind]
    main_name = {
        RaceKind.TRIATHLON: "Elite Men & Women",
        RaceKind.ROAD: "Half Marathon",
        RaceKind.RELAY: "Mixed Relay",
    }[kind]
    wave_name = "Elite" if kind is RaceKind.TRIATHLON else "Mass start"
    main = Race(
        id=main_id,
        name=main_name,
        kind=kind,
        points=_points(main_id, kind),
        waves=[Wave(id=f"{main_id}-w1", race_id=main_id, name=wave_name)],
        clock=RaceClock(race_id=main_id, state=ClockState.LIVE, gun_time=SAMPLE_START),
    )
    races.append(main)
    if second_race:
        ag_kind = RaceKind.ROAD if kind is RaceKind.ROAD else RaceKind.TRIATHLON
        ag = Race(
            id="ag", name="Age Group Sprint", kind=ag_kind, points=_points("ag", ag_kind),
            waves=[
                Wave(id="ag-w1", race_id="ag", name="Wave 1", offset_ms=0),
                Wave(id="ag-w2", race_id="ag", name="Wave 2", offset_ms=5 * 60_000),
                Wave(id="ag-w3", race_id="ag", name="Wave 3", offset_ms=10 * 60_000),
            ],
            clock=RaceClock(race_id="ag", state=ClockState.LIVE, gun_time=SAMPLE_START + _minutes(10)),
        )  # fmt: skip
        kids = Race(
            id="kids", name="Kids Aquathlon", kind=RaceKind.ROAD, points=_points("kids", RaceKind.ROAD)[-1:],
            clock=RaceClock(race_id="kids", state=ClockState.PRERACE, gun_time=SAMPLE_START + _minutes(100)),
        )  # fmt: skip
        races += [ag, kids]
    event = Event(
        id="lakeside-2025",
        name="Lakeside Triathlon Festival 2025",
        races=races,
        locations=[
            Location(id="loc-swim", name="Swim exit"),
            Location(id="loc-tz", name="Transition"),
            Location(id="loc-5k", name="Lap 5 km"),
            Location(id="loc-10k", name="Turn 10 km"),
            Location(id="loc-fin", name="Finish line"),
        ],
    )
    participants: list[Participant] = []
    results: dict[str, list[Result]] = {}
    plan: list[tuple[datetime, Passing]] = []
    sizes = {main_id: athletes, "ag": max(3, athletes // 2), "kids": 12}
    first = {main_id: 1, "ag": 1001 if athletes < 1000 else athletes + 1001, "kids": 901}
    for race in races:
        bucket = results.setdefault(race.id, [])
        _race(rng, race, sizes[race.id], first[race.id], now, participants, bucket, plan, elite=race is main)
    plan.sort(key=lambda item: (item[0], item[1].race_id, item[1].point_id, item[1].bib))
    return Sample(event, participants, results, plan, now)


class SampleFeed:
    """A source made of a sample: applies its plan to a pipeline (``name``/``health``/``run``)."""

    def __init__(
        self,
        sample: Sample,
        *,
        name: str = "sample",
        mode: SourceMode = SourceMode.REPLAY,
        speed: float = 1.0,
        play: bool = False,
    ):
        self.sample = sample
        self.name = name
        self.speed = speed
        self.play = play
        self.cursor = 0
        self.now = sample.now
        self.health = SourceHealth(name=name, mode=mode, state=FeedState.CONNECTED, clock=lambda: 0.0)
        self.health.last_message = 0.0
        self._times = [moment for moment, _ in sample.plan]

    def load(self, pipeline: Pipeline) -> None:
        pipeline.load_event(self.sample.event)
        for race_id, results in self.sample.results.items():
            pipeline.apply_results(race_id, results, complete=True)

    def remaining(self) -> int:
        return len(self.sample.plan) - self.cursor

    def step(self, pipeline: Pipeline, count: int) -> list[Passing]:
        """Apply the next ``count`` planned passings (one change set)."""
        batch = [p for _, p in self.sample.plan[self.cursor : self.cursor + count]]
        self.cursor += len(batch)
        if batch:
            self.now = self.sample.plan[self.cursor - 1][0]
            pipeline.apply_passings(batch)
            self.health.messages += len(batch)
        return batch

    def advance_to(self, pipeline: Pipeline, moment: datetime) -> int:
        """Apply every planned passing up to ``moment``; returns how many."""
        stop = bisect_right(self._times, moment)
        count = max(0, stop - self.cursor)
        self.step(pipeline, count)
        self.now = max(self.now, moment)
        return count

    async def run(self, pipeline: Pipeline) -> None:
        """As a source: with ``play`` the plan runs in (``speed`` times) real time from the
        sample's moment; without, the data is already loaded and nothing else happens."""
        if not self.play:
            await asyncio.Event().wait()
            return
        while self.remaining():
            moment, _ = self.sample.plan[self.cursor]
            wait = (moment - self.now).total_seconds() / max(self.speed, 1e-6)
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0))
                self.now = min(moment, self.now + timedelta(seconds=min(wait, 1.0) * self.speed))
            if self.now >= moment:
                self.advance_to(pipeline, self.now)
        await asyncio.Event().wait()

    def clock(self) -> datetime:
        """The sample's current moment (a clock for the app that follows the plan)."""
        return self.now


def sample_pipeline(
    athletes: int = 120, *, seed: int = 7, kind: RaceKind | str = RaceKind.TRIATHLON
) -> tuple[Pipeline, SampleFeed]:
    """A pipeline loaded with a sample event at :data:`SAMPLE_NOW`, and its feed."""
    feed = SampleFeed(sample_event(athletes, seed=seed, kind=kind))
    pipeline = Pipeline()
    feed.load(pipeline)
    return pipeline, feed
