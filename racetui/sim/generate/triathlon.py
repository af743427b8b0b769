"""Individual triathlons (standard, sprint): elite fields in one start, age groups in waves."""

from __future__ import annotations

import random

from racetui.model import RaceKind, Wave
from racetui.sim import names
from racetui.sim.config import RaceSpec
from racetui.sim.generate.common import Builder
from racetui.sim.generate.multisport import (
    age_group_ability,
    elite_ability,
    multisport_chips,
    open_multisport_race,
    pick_entries,
    race_conditions,
    schedule_multisport,
    timing_points,
)

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
TRIATHLON_SEGMENTS = {"standard": _STANDARD, "sprint": _SPRINT}


def triathlon_race(b: Builder, rng: random.Random, spec: RaceSpec, number: int, gun_at_ms: int) -> None:
    variant = spec.variant or "standard"
    segments = TRIATHLON_SEGMENTS[variant]
    race_id = str(number)
    entries = spec.entries or 1
    elite = entries <= 80
    sex = rng.choice(("M", "F")) if elite else None
    start_mode = spec.start_mode or ("mass" if elite else "waves")
    points = timing_points(b, number, segments, len(segments), relay=False)
    air, water, wetsuit = race_conditions(rng)

    people: list[tuple[str, int, str]] = []  # gender, age, country
    for _ in range(entries):
        if elite:
            people.append((sex or "M", rng.randint(19, 34), rng.choice(names.TRIATHLON)))
        else:
            gender = "M" if rng.random() < 0.65 else "F"
            people.append((gender, int(rng.triangular(18, 72, 38)), rng.choice(names.TRIATHLON)))
    if elite:
        # Bibs by ranking: roughly the strongest first.
        abilities = [[elite_ability(rng, g)] for g, _, _ in people]
        order = sorted(range(entries), key=lambda i: abilities[i][0].run_km + rng.gauss(0, 6))
        people = [people[i] for i in order]
        abilities = [abilities[i] for i in order]
    else:
        people.sort(key=lambda p: (p[0] == "F", p[1] >= 40))
        abilities = [[age_group_ability(rng, g, age)] for g, age, _ in people]

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
    sim_race = open_multisport_race(
        b,
        spec,
        number,
        gun_at_ms,
        kind=RaceKind.TRIATHLON,
        name=name,
        segments=segments,
        waves=waves,
        points=points,
        conditions=(air, water, wetsuit),
        start_mode=start_mode,
        sex=sex,
    )

    bibs = [str(i + 1) for i in range(entries)]
    for i, (gender, age, country) in enumerate(people):
        b.enter_athlete(
            rng,
            race_id,
            bibs[i],
            gender=gender,
            age=age,
            country=country,
            elite=elite,
            wave_id=waves[wave_of[i]].id,
        )

    # Who: DNS, DNF, one DSQ, one or two penalties.
    everyone = list(range(entries))
    taken: set[int] = set()
    dns = pick_entries(rng, everyone, max(1 if entries >= 20 else 0, round(entries * 0.02)), taken)
    dnf = pick_entries(rng, everyone, max(1 if entries >= 10 else 0, round(entries * 0.04)), taken)
    dsq = pick_entries(rng, everyone, 1 if entries >= 10 else 0, taken)
    penalized = pick_entries(rng, everyone, rng.choice((1, 2)) if entries >= 5 else 0, taken)
    seconds = 10 if variant == "sprint" else 15
    run_lap_1 = next(j for j, (n, _, _) in enumerate(segments) if n == "Run Lap 1")
    penalties = {i: (seconds, rng.choice(names.PENALTY_INFRINGEMENTS), run_lap_1) for i in sorted(penalized)}
    extra = {(i, run_lap_1): float(s) for i, (s, _, _) in penalties.items()}
    bike = [j for j, (_, kind, _) in enumerate(segments) if kind == "bike"]

    offsets = [waves[w].offset_ms for w in wave_of]
    chips = multisport_chips(
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
    last_ms = schedule_multisport(
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
