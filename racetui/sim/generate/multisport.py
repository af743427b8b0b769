"""What triathlons and relays share: abilities, segment maths with packs on the bike,
the timing points of a segment table, and scheduling statuses, penalties and passings.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from racetui.model import (
    ClockState,
    Incident,
    IncidentKind,
    Race,
    RaceClock,
    RaceKind,
    Status,
    TimingPoint,
    Wave,
)
from racetui.sim import names
from racetui.sim.config import RaceSpec
from racetui.sim.generate.common import (
    GUN,
    INCIDENT,
    STATUS,
    WAVE,
    Builder,
    SimRace,
    to_ms,
)

_LOCATION_OF = {
    "swim": "Swim exit",
    "t1": "Transition zone",
    "t2": "Transition zone",
    "bike": "Bike lap line",
    "run": "Run lap line",
}


@dataclass(slots=True)
class Ability:
    swim_100: float  # seconds per 100 m
    bike_kmh: float
    run_km: float  # seconds per km
    t1: float
    t2: float
    fade: float


def elite_ability(rng: random.Random, gender: str, relay: bool = False) -> Ability:
    if gender == "M":
        ability = Ability(
            rng.uniform(69.5, 76.5),
            rng.gauss(43.5, 1.0),
            rng.uniform(176, 202),
            rng.uniform(40, 55),
            rng.uniform(17, 26),
            rng.uniform(0.0, 0.05),
        )
    else:
        ability = Ability(
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


def age_group_ability(rng: random.Random, gender: str, age: int) -> Ability:
    slow = 1 + max(0, age - 35) * 0.009
    male = gender == "M"
    swim = min(max((105.0 if male else 112.0) * math.exp(rng.gauss(0, 0.18)), 80.0), 190.0)
    bike = min(max((33.0 if male else 29.5) * math.exp(rng.gauss(0, 0.10)), 23.0), 42.0)
    run = min(max((290.0 if male else 320.0) * math.exp(rng.gauss(0, 0.14)), 215.0), 450.0)
    return Ability(
        swim * slow,
        bike / slow,
        run * slow,
        rng.uniform(80, 220),
        rng.uniform(50, 160),
        rng.uniform(0.0, 0.12),
    )


def multisport_chips(
    rng: random.Random,
    segments: list[tuple[str, str, int]],
    abilities: list[list[Ability]],  # per entry, per leg (one leg for individual races)
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
            chips[i][j] = to_ms(now[i] - start[i])
    return chips


def schedule_multisport(
    b: Builder,
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


def race_conditions(rng: random.Random) -> tuple[float, float, bool]:
    water = round(rng.uniform(16.0, 23.5), 1)
    air = round(rng.uniform(15.0, 27.0), 1)
    return air, water, water < 20.0


def pick_entries(rng: random.Random, pool: list[int], count: int, taken: set[int]) -> set[int]:
    free = [i for i in pool if i not in taken]
    chosen = set(rng.sample(free, min(count, len(free))))
    taken |= chosen
    return chosen


def timing_points(
    b: Builder, number: int, segments: list[tuple[str, str, int]], leg_length: int, relay: bool
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


def open_multisport_race(
    b: Builder,
    spec: RaceSpec,
    number: int,
    gun_at_ms: int,
    *,
    kind: RaceKind,
    name: str,
    segments: Sequence[tuple[str, str, int]],
    waves: list[Wave],
    points: list[TimingPoint],
    conditions: tuple[float, float, bool],
    start_mode: str,
    sex: str | None = None,
) -> SimRace:
    """The race of a triathlon or relay, registered with its gun and wave starts."""
    race_id = str(number)
    air, water, wetsuit = conditions
    race = Race(
        id=race_id,
        name=name,
        kind=kind,
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
    return sim_race
