"""Road races (marathon, half, 10K): corrals and waves, a Riegel-scaled field, fades.

Every runner's day is one target time bent by a fade over the course, with day-to-day
noise per segment; a few do not start or drop out.
"""

from __future__ import annotations

import math
import random

from racetui.model import (
    ClockState,
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
    STATUS,
    WAVE,
    Builder,
    SimRace,
    weighted_countries,
)

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


def road_race(b: Builder, rng: random.Random, spec: RaceSpec, number: int, gun_at_ms: int) -> None:
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
    countries = weighted_countries(rng, entries - elites)
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
    for index, (target, gender, age, country, elite) in enumerate(people):
        bib = str(index + 1)
        wave = waves[wave_of[index]]
        b.enter_athlete(
            rng, race_id, bib, gender=gender, age=age, country=country, elite=elite, wave_id=wave.id
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
        b.passes(race_id, gun_at_ms, bib, offset, point_ids, chips, stop)
    b.finish_race(sim_race, last_ms, None, rng)
