"""Mixed relays: teams of four, each member one short triathlon leg, tagging off in turn."""

from __future__ import annotations

import random

from racetui.model import Participant, RaceKind, RelayLeg, RelayMember
from racetui.sim import names
from racetui.sim.config import RaceSpec
from racetui.sim.generate.common import Builder, pick_person
from racetui.sim.generate.multisport import (
    Ability,
    elite_ability,
    multisport_chips,
    open_multisport_race,
    pick_entries,
    race_conditions,
    schedule_multisport,
    timing_points,
)

_RELAY_LEG: list[tuple[str, str, int]] = [
    ("Swim Exit", "swim", 300),
    ("Transition 1", "t1", 0),
    ("Bike Lap 1", "bike", 2900),
    ("Bike End", "bike", 2900),
    ("Transition 2", "t2", 0),
    ("Run Lap 1", "run", 800),
    ("Finish", "run", 800),
]


_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")


def relay_race(b: Builder, rng: random.Random, spec: RaceSpec, number: int, gun_at_ms: int) -> None:
    race_id = str(number)
    teams = spec.entries or 1
    segments = [(name, kind, metres) for _ in range(4) for name, kind, metres in _RELAY_LEG]
    leg_length = len(_RELAY_LEG)
    points = timing_points(b, number, segments, leg_length, relay=True)
    air, water, wetsuit = race_conditions(rng)
    waves = [b.wave(race_id, "Mass start", 0)]
    name = spec.name or "Elite Mixed Relay"
    sim_race = open_multisport_race(
        b,
        spec,
        number,
        gun_at_ms,
        kind=RaceKind.RELAY,
        name=name,
        segments=segments,
        waves=waves,
        points=points,
        conditions=(air, water, wetsuit),
        start_mode="mass",
    )

    seen: dict[str, int] = {}
    abilities: list[list[Ability]] = []
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
            first, last, _ = pick_person(rng, country, gender)
            legs.append(
                RelayLeg(
                    order=order,
                    member=RelayMember(
                        id=str(b.next_member), name=f"{first} {last}", country=country, gender=gender
                    ),
                )
            )
            b.next_member += 1
            team_abilities.append(elite_ability(rng, gender, relay=True))
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
    dnf = pick_entries(rng, everyone, 1 if teams >= 6 else 0, taken)
    penalized = pick_entries(rng, everyone, 1 if teams >= 3 else 0, taken)
    penalties = {}
    for i in sorted(penalized):
        leg = rng.randint(0, 3)
        served_in = leg * leg_length + 5  # that leg's Run Lap 1
        penalties[i] = (10, rng.choice(names.PENALTY_INFRINGEMENTS), served_in)
    extra = {(i, s): 10.0 for i, (_, _, s) in penalties.items()}
    chips = multisport_chips(rng, segments, abilities, leg_length, wetsuit, 6.0, 25.0, extra)
    # bike range for incidents: a bike lap of the penalized leg (or of leg 2 for a DSQ)
    last_ms = gun_at_ms
    point_ids = [p.id for p in points]
    for i in range(teams):
        served_in = penalties[i][2] if i in penalties else 5 + leg_length
        bike_range = (served_in - 3, served_in - 3)
        last_ms = max(
            last_ms,
            schedule_multisport(
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
