"""parse -> engine -> build -> parse gives the same race and results."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from racetui.engine import Engine
from racetui.model import ClockState, Incident, Participant, Race, RaceKind, Result, Status, TimingPoint
from racetui.publish.v11 import build_bytes
from racetui.sources.v11 import V11Update, parse_message
from tests.support import DATA


def rebuild(update: V11Update) -> bytes:
    engine = Engine()
    changes = engine.apply_snapshot(update.race, update.results)
    assert not changes.errors
    header = update.header
    return build_bytes(
        engine.race(update.race.id),
        event_id=header.event_id or "",
        event_name=header.event_name or "",
        prog_id=header.prog_id or "",
        prog_name=header.prog_name or "",
        status=(header.status or ClockState.LIVE).value,
        sandbox=bool(header.sandbox),
        date=header.date or datetime.now(UTC),
        start_time=header.start_time,
        wetsuit=header.wetsuit,
        air_temp=header.air_temp,
        water_temp=header.water_temp,
    )


def assert_same(first: V11Update, second: V11Update) -> None:
    assert second.warnings == []
    assert second.race == first.race
    assert {r.bib: r for r in second.results} == {r.bib: r for r in first.results}
    for name in ("event_id", "event_name", "prog_id", "prog_name", "status", "date", "start_time", "sandbox"):
        assert getattr(second.header, name) == getattr(first.header, name), name


@pytest.mark.parametrize("name", ["v1.1-individual.json", "v1.1-mixed-relay.json"])
def test_spec_examples_round_trip(name: str) -> None:
    first = parse_message((DATA / name).read_bytes())
    built = rebuild(first)
    second = parse_message(built)
    assert_same(first, second)
    # and the rebuilt message is stable
    assert rebuild(second) == built


def test_relay_example_rebuilt_shape() -> None:
    built: dict[str, Any] = orjson.loads(
        rebuild(parse_message((DATA / "v1.1-mixed-relay.json").read_bytes()))
    )
    assert built["num_teams"] == "1"
    assert built["latest"] == {"segment_id": "8", "segment_name": "Leg 2 Swim Exit", "num_teams": "1"}
    team = built["teams"][0]
    assert [a["name"] for a in team["athletes"]] == [
        "Non Stanford",
        "Alistair Brownlee",
        "Vicky Holland",
        "Jonathan Brownlee",
    ]
    assert [len(a["splits"] or []) for a in team["athletes"]] == [7, 1, 0, 0]
    assert team["athletes"][2]["splits"] is None
    assert team["athletes"][0]["splits"][4]["total_time"] == "01:15:28.000"


def test_generated_race_round_trips() -> None:
    rnd = random.Random(7)
    points = [TimingPoint(id=str(i), race_id="r", name=f"Point {i}", order=i) for i in range(1, 8)]
    race = Race(id="r", name="Age Group", kind=RaceKind.TRIATHLON, points=points, external_id="42")
    statuses = [Status.OK] * 8 + [Status.DNF, Status.DSQ, Status.DNS, Status.LAP, Status.NC]
    results = []
    for bib in range(1, 120):
        reached = rnd.randint(0, 7)
        total = 0
        splits = {}
        for i in range(1, reached + 1):
            total += rnd.randint(1, 900_000)
            splits[str(i)] = total
        status = rnd.choice(statuses)
        incidents = [Incident.penalty(10, "littering")] if bib % 11 == 0 else []
        if status is Status.DSQ:
            incidents.append(Incident.dsq("drafting"))
        results.append(
            Result(
                race_id="r",
                bib=str(bib),
                participant=Participant(
                    bib=str(bib), race_id="r", id=str(5000 + bib), name=f"A {bib}", country="FRA"
                ),
                status=status,
                splits=splits,
                incidents=incidents,
            )
        )
    engine = Engine()
    engine.apply_snapshot(race, results)
    data = build_bytes(
        engine.race("r"),
        event_id="1",
        event_name="Event",
        prog_id="42",
        prog_name="Age Group",
        status="live",
        sandbox=True,
        date=datetime(2024, 6, 1, 9, 0, tzinfo=UTC),
        start_time=datetime(2024, 6, 1, 7, 0, tzinfo=UTC),
        wetsuit=None,
        air_temp=21.5,
        water_temp=None,
    )
    first = parse_message(data, race_id="r")
    assert first.warnings == []
    assert {r.bib: (r.status, r.splits, r.incidents) for r in first.results} == {
        r.bib: (r.status, r.splits, r.incidents) for r in results
    }
    assert_same(first, parse_message(rebuild(first), race_id="r"))
    statuses_in_order = [a["status"] for a in orjson.loads(data)["athletes"]]
    assert statuses_in_order[-statuses_in_order.count("DSQ") :] == ["DSQ"] * statuses_in_order.count("DSQ")
