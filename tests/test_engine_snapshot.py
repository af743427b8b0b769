"""The whole field at one version: :meth:`RaceStandings.snapshot` in one go and a
:class:`SnapshotReader` a slice at a time while the standings change between slices (what
the dashboard's replica does between two of the Publish screen's loop steps)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from racetui.engine import Engine, Override, RaceStandings, StandingsSnapshot
from racetui.model import Event, Participant, Passing, Race, RaceKind, Result, Status, TimingPoint
from racetui.model.race import Reported
from racetui.publish.v11 import build_bytes

POINTS = 4


def engine_mid_race(athletes: int = 60) -> tuple[Engine, list[Passing]]:
    """A race with everyone past some points; the passings still to come, in time order."""
    points = [TimingPoint(id=f"p{i}", race_id="r", name=f"P{i}", order=i) for i in range(1, POINTS + 1)]
    race = Race(id="r", name="Elite", kind=RaceKind.TRIATHLON, points=points, external_id="900")
    engine = Engine()
    engine.load_event(Event(id="1", name="Test", races=[race]))
    results, upcoming = [], []
    for n in range(1, athletes + 1):
        times = [600_000 * i + 997 * n + (n * n) % 5000 for i in range(1, POINTS + 1)]
        done = n % POINTS + 1  # points passed so far
        status = Status.DNF if n % 17 == 0 else Status.OK
        reported = Reported(position=n, difference_ms=n * 10, splits={}) if n % 5 == 0 else None
        results.append(
            Result(
                race_id="r",
                bib=str(n),
                participant=Participant(bib=str(n), race_id="r", id=str(n), name=f"A {n}", country="NOR"),
                status=status,
                splits={f"p{i + 1}": t for i, t in enumerate(times[:done])},
                reported=reported,
            )
        )
        upcoming += [(t, str(n), f"p{i + 1}") for i, t in enumerate(times) if i >= done]
    engine.apply_results("r", results)
    engine.settle()
    return engine, [Passing(race_id="r", bib=b, point_id=p, time_ms=t) for t, b, p in sorted(upcoming)]


def message(standings: RaceStandings | StandingsSnapshot) -> bytes:
    return build_bytes(
        standings,
        event_id="1",
        event_name="Test",
        prog_id="900",
        prog_name="Elite",
        status="live",
        sandbox=True,
        date=datetime(2026, 6, 1, 9, tzinfo=UTC),
        start_time=None,
        wetsuit=None,
        air_temp=None,
        water_temp=None,
    )


def read_side(standings: RaceStandings | StandingsSnapshot, bibs: list[str]) -> dict[str, Any]:
    return {
        "ordered": list(standings.ordered()),
        "reported": [standings.reported(bib) for bib in bibs],
        "latest": standings.latest_point(),
        "passed": [standings.passed(i) for i in range(POINTS)],
        "message": message(standings),
    }


def test_a_snapshot_is_the_standings_then_and_stays_so() -> None:
    engine, upcoming = engine_mid_race()
    standings = engine.race("r")
    bibs = standings.bibs()
    before = read_side(standings, bibs)
    snapshot = standings.snapshot()
    assert read_side(snapshot, bibs) == before
    assert len(snapshot) == 60 and snapshot.version == standings.version
    engine.apply_passings(upcoming[:30])  # the engine goes on: the snapshot is its own copy
    assert read_side(standings, bibs) != before
    assert read_side(snapshot, bibs) == before


def test_changes_between_slices_are_read_again_and_the_whole_is_one_version() -> None:
    """Passings (the hot path: overall places taken at the next read), a desk decision, a
    corrected result, an athlete removed and one added, all between the reader's steps:
    the snapshot is exactly the one-shot read at the version after the last step."""
    engine, upcoming = engine_mid_race()
    standings = engine.race("r")
    reader = standings.reader(7)
    changes = iter(
        [
            lambda: engine.apply_passings(upcoming[:3]),
            lambda: engine.set_override("r", "2", Override(status=Status.DSQ)),
            lambda: engine.apply_passings(upcoming[3:4]),
            lambda: engine.apply_results(
                "r", [Result(race_id="r", bib="10", status=Status.OK, splits={"p1": 590_000})]
            ),
            lambda: engine.remove_athletes("r", ["11"]),
            lambda: engine.apply_passings([Passing(race_id="r", bib="99", point_id="p4", time_ms=1)]),
            lambda: engine.apply_passings(upcoming[4:40]),
        ]
    )
    applied = 0
    while not reader.step():
        change = next(changes, None)
        if change is not None:
            change()
            applied += 1
    assert applied == 7 and reader.steps > 8 and reader.restarts == 0
    snapshot = reader.result
    assert snapshot is not None
    bibs = [*standings.bibs(), "11"]
    assert read_side(snapshot, bibs) == read_side(standings, bibs) == read_side(standings.snapshot(), bibs)
    assert "99" in [a.bib for a in snapshot.ordered()] and snapshot.athlete("11") is None
    assert snapshot.athlete("2") is not None and snapshot.athlete("2").status is Status.DSQ


def test_a_race_set_anew_mid_read_starts_the_read_over() -> None:
    engine, upcoming = engine_mid_race()
    standings = engine.race("r")
    reader = standings.reader(10)
    assert not reader.step()
    race = standings.race
    renamed = race.model_copy(update={"points": [*race.points[1:], race.points[0]]})  # same points
    engine.upsert_race(renamed.model_copy(update={"name": "Elite (renamed)"}))
    engine.apply_passings(upcoming[:5])
    while not reader.step():
        pass
    assert reader.restarts == 1
    assert reader.result is not None and reader.result.race.name == "Elite (renamed)"
    bibs = standings.bibs()
    assert read_side(reader.result, bibs) == read_side(standings, bibs)


def test_one_step_reads_everything_and_a_step_reads_its_slice() -> None:
    engine, _upcoming = engine_mid_race()
    standings = engine.race("r")
    whole = standings.reader(None)
    assert whole.step() and whole.steps == 1
    reader = standings.reader(25)
    progress = []
    while not reader.step():
        progress.append((reader.done, reader.total))
    assert progress == [(25, 60), (50, 60)] and reader.steps == 3
