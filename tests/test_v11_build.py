"""The v1.1 builder: field names, string values, ordering, relays, paratriathlon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from racetui.engine import Engine, RaceStandings
from racetui.model import (
    Incident,
    Paratriathlon,
    Participant,
    Race,
    RaceKind,
    RelayLeg,
    RelayMember,
    Result,
    Status,
    TimingPoint,
)
from racetui.publish.v11 import build_bytes, build_message, segment_ids

DATE = datetime(2017, 3, 4, 18, 25, 11, tzinfo=timezone(timedelta(hours=4)))


def _race(kind: RaceKind = RaceKind.TRIATHLON, legs: list[int | None] | None = None) -> Race:
    names = ["Swim Lap 1", "Swim Exit", "Bike End", "Finish"]
    legs = legs or [None] * len(names)
    return Race(
        id="r1",
        name="Elite Men",
        kind=kind,
        points=[
            TimingPoint(id=f"p{i}", race_id="r1", name=name, order=i * 10, leg=legs[i])
            for i, name in enumerate(names)
        ],
    )


def _result(bib: str, splits: dict[str, int], **kw: Any) -> Result:
    participant = kw.pop("participant", None) or Participant(
        bib=bib, race_id="r1", id=f"id{bib}", name=f"Athlete {bib}", country="GBR"
    )
    return Result(race_id="r1", bib=bib, participant=participant, splits=splits, **kw)


def _standings(race: Race, results: list[Result]) -> RaceStandings:
    engine = Engine()
    engine.upsert_race(race)
    changes = engine.apply_results("r1", results)
    assert not changes.errors
    return engine.races["r1"]


def _build(standings: RaceStandings, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "event_id": "107158",
        "event_name": "2017 ITU World Triathlon Abu Dhabi",
        "prog_id": "307158",
        "prog_name": "Elite Men",
        "status": "live",
        "sandbox": False,
        "date": DATE,
        "start_time": DATE - timedelta(hours=2, minutes=30, seconds=11),
        "wetsuit": False,
        "air_temp": 28.8,
        "water_temp": 23.2,
    }
    args.update(kw)
    return build_message(standings, **args)


def test_header_fields_are_strings() -> None:
    message = _build(_standings(_race(), [_result("26", {"p0": 654_799})]))
    assert message["date"] == "2017-03-04T18:25:11.000+04:00"
    assert message["start_time"] == "2017-03-04T15:55:00.000+04:00"
    assert message["event_id"] == "107158"
    assert message["prog_id"] == "307158"
    assert message["prog_name"] == "Elite Men"
    assert message["wetsuit"] == "false"
    assert message["sandbox"] == "false"
    assert message["num_athletes"] == "1"
    assert message["status"] == "live"
    assert message["conditions"] == {"air_temp": "28.8", "water_temp": "23.2"}
    assert message["latest"] == {"segment_id": "1", "segment_name": "Swim Lap 1", "num_athletes": "1"}
    assert list(message) == [
        "date",
        "start_time",
        "event_id",
        "event_name",
        "prog_id",
        "prog_name",
        "wetsuit",
        "sandbox",
        "num_athletes",
        "status",
        "latest",
        "conditions",
        "athletes",
    ]


def test_athlete_and_splits() -> None:
    standings = _standings(
        _race(),
        [
            _result("26", {"p0": 654_799, "p1": 1_117_911}),
            _result("22", {"p0": 653_996}),
            _result("5", {"p0": 660_000, "p1": 1_110_000}),
        ],
    )
    athletes = _build(standings)["athletes"]
    assert [a["start_num"] for a in athletes] == ["5", "26", "22"]
    first = athletes[0]
    assert first["id"] == "id5"
    assert first["name"] == "Athlete 5"
    assert first["country"] == "GBR"
    assert first["segment_id"] == "2"
    assert first["time"] == "00:18:30.000"
    assert first["difference"] == "00:00:00.000"
    assert first["position"] == "1"
    assert first["status"] is None
    assert first["incidents"] is None
    second = athletes[1]
    assert second["difference"] == "00:00:07.911"
    assert second["position"] == "2"
    assert second["splits"] == [
        {
            "id": "1",
            "name": "Swim Lap 1",
            "total_time": "00:10:54.799",
            "time": "00:10:54.799",
            "difference": "00:00:00.803",
            "position": "2",
        },
        {
            "id": "2",
            "name": "Swim Exit",
            "total_time": "00:18:37.911",
            "time": "00:07:43.112",
            "difference": "00:00:07.911",
            "position": "2",
        },
    ]
    assert athletes[2]["segment_id"] == "1"
    # athlete.position is the place in the athletes array (the spec's example: Bishop, 2nd
    # in the array, first at Swim Lap 1, has position 2); his split keeps his place there
    assert athletes[2]["position"] == "3"
    assert athletes[2]["difference"] == "00:00:00.000"
    assert athletes[2]["splits"][0]["position"] == "1"
    assert "paratriathlon" not in first


def test_prerace_latest_null_and_start_number_order() -> None:
    standings = _standings(_race(), [_result(b, {}) for b in ("30", "4", "12")])
    message = _build(standings, status="prerace", start_time=None, wetsuit=None, air_temp=None)
    assert message["latest"] is None
    assert message["start_time"] is None
    assert message["wetsuit"] is None
    assert message["conditions"] == {"air_temp": None, "water_temp": "23.2"}
    assert [a["start_num"] for a in message["athletes"]] == ["4", "12", "30"]
    assert all(a["splits"] is None and a["position"] is None for a in message["athletes"])


def test_status_ordering_dsq_at_bottom() -> None:
    standings = _standings(
        _race(),
        [
            _result(
                "1", {"p0": 600_000, "p1": 1_000_000}, status=Status.DSQ, incidents=[Incident.dsq("drafting")]
            ),
            _result("2", {"p0": 610_000}, status=Status.DNF),
            _result("3", {}, status=Status.DNS),
            _result("4", {"p0": 620_000}),
            _result("5", {"p0": 615_000, "p1": 1_100_000}),
            _result("6", {}),
            _result("7", {"p0": 605_000}, incidents=[Incident.penalty(10, "bike infringement", served=True)]),
        ],
    )
    athletes = _build(standings)["athletes"]
    assert [a["start_num"] for a in athletes] == ["5", "7", "4", "6", "2", "3", "1"]
    assert [a["status"] for a in athletes] == [None, None, None, None, "DNF", "DNS", "DSQ"]
    dsq = athletes[-1]
    assert dsq["incidents"] == "DSQ for drafting"
    assert dsq["time"] == "00:16:40.000"  # times of a DSQ athlete are still delivered
    assert dsq["position"] is None
    assert athletes[1]["incidents"] == "Served 10 second penalty for bike infringement"
    # positions at the swim lap: DSQ and DNS take no place, DNF keeps its own
    assert athletes[1]["splits"][0]["position"] == "1"
    assert athletes[0]["splits"][0]["position"] == "3"
    assert athletes[-2]["position"] is None and athletes[-2]["splits"] is None


def test_equal_times_share_position() -> None:
    standings = _standings(_race(), [_result("1", {"p0": 600_000}), _result("2", {"p0": 600_000})])
    athletes = _build(standings)["athletes"]
    assert [a["position"] for a in athletes] == ["1", "1"]
    assert [a["difference"] for a in athletes] == ["00:00:00.000", "00:00:00.000"]


def test_whole_second_rule_not_applied_when_millis_present() -> None:
    standings = _standings(_race(), [_result("1", {"p0": 554_001}), _result("2", {"p0": 555_000})])
    athletes = _build(standings)["athletes"]
    assert athletes[0]["time"] == "00:09:14.001"
    assert athletes[1]["difference"] == "00:00:00.999"
    whole = _build(standings, millis=False)["athletes"]
    assert whole[0]["time"] == "00:09:15"
    assert whole[0]["splits"][0]["total_time"] == "00:09:15"
    assert whole[1]["difference"] == "00:00:01"


def test_segment_ids_course_order_or_own_numbers() -> None:
    race = _race()
    assert segment_ids(race.points) == ["1", "2", "3", "4"]
    own = [TimingPoint(id=str(n), race_id="r1", name=f"S{n}", order=n) for n in (1, 2, 5)]
    assert segment_ids(own) == ["1", "2", "5"]
    with_start = [TimingPoint(id=str(n), race_id="r1", name=f"S{n}", order=n) for n in (0, 1)]
    assert segment_ids(with_start) == ["0", "1"]
    bbt_like = [TimingPoint(id=str(n), race_id="r1", name=f"S{n}", order=i) for i, n in enumerate((11, 12))]
    assert segment_ids(bbt_like) == ["1", "2"]


def test_negative_step_is_null_not_an_error() -> None:
    standings = _standings(_race(), [_result("1", {"p0": 900_000, "p1": 800_000})])
    splits = _build(standings)["athletes"][0]["splits"]
    assert splits[1]["total_time"] == "00:13:20.000"
    assert splits[1]["time"] is None


def test_paratriathlon_object() -> None:
    participant = Participant(
        bib="9",
        race_id="r1",
        id="123456",
        name="Para Athlete",
        country="ESP",
        paratriathlon=Paratriathlon.model_validate(
            {"class": "PTVI1", "guide_name": "Guide Name", "guide_id": "654321", "compensation_ms": 226_000}
        ),
    )
    athletes = _build(_standings(_race(), [_result("9", {}, participant=participant)]))["athletes"]
    assert athletes[0]["paratriathlon"] == {
        "class": "PTVI1",
        "guide_name": "Guide Name",
        "guide_id": "654321",
        "compensation_time": "00:03:46.000",
    }


def test_mixed_relay_teams_and_legs() -> None:
    race = _race(RaceKind.RELAY, legs=[1, 1, 2, 2])
    legs = [
        RelayLeg(order=1, member=RelayMember(id="9876", name="Non Stanford", country="GBR")),
        RelayLeg(order=2, member=RelayMember(id="7788", name="Alistair Brownlee", country="GBR")),
    ]
    team = Participant(bib="1", race_id="r1", id="1234", name="Team GBR I", country="GBR")
    standings = _standings(
        race,
        [
            _result("1", {"p0": 500_000, "p1": 998_000, "p2": 1_500_000}, participant=team, legs=legs),
            _result("2", {"p0": 510_000}),
        ],
    )
    message = _build(standings)
    assert "athletes" not in message and "num_athletes" not in message
    assert message["num_teams"] == "2"
    assert message["latest"] == {"segment_id": "3", "segment_name": "Bike End", "num_teams": "1"}
    first = message["teams"][0]
    assert first["start_num"] == "1"
    assert first["name"] == "Team GBR I"
    assert first["segment_id"] == "3"
    assert [a["team_order"] for a in first["athletes"]] == ["1", "2"]
    leg1, leg2 = first["athletes"]
    assert leg1["name"] == "Non Stanford" and leg1["id"] == "9876"
    assert [s["id"] for s in leg1["splits"]] == ["1", "2"]
    assert [s["id"] for s in leg2["splits"]] == ["3"]
    assert leg2["splits"][0]["time"] == "00:08:22.000"  # since the team's previous point
    other = message["teams"][1]
    empty = {"id": None, "team_order": "2", "name": None, "country": None, "splits": None}
    assert other["athletes"][1] == empty
    assert "splits" not in first


def test_build_bytes_is_json_of_message() -> None:
    standings = _standings(_race(), [_result("1", {"p0": 1})])
    args: dict[str, Any] = {
        "event_id": "1",
        "event_name": "E",
        "prog_id": "2",
        "prog_name": "P",
        "status": "official",
        "sandbox": True,
        "date": datetime(2024, 1, 1, tzinfo=UTC),
        "start_time": None,
        "wetsuit": True,
        "air_temp": None,
        "water_temp": None,
    }
    data = build_bytes(standings, **args)
    assert orjson.loads(data) == build_message(standings, **args)
    assert orjson.loads(data)["athletes"][0]["time"] == "00:00:00.001"
    # encoded a thousand athletes at a time, byte for byte orjson's encoding of the whole:
    # no athletes, more than one part, relay teams
    relay = _standings(_race(RaceKind.RELAY, legs=[1, 1, 2, None]), [_result("1", {"p0": 5, "p3": 9})])
    many = _standings(_race(), [_result(str(n), {"p0": 1_000 + n % 7}) for n in range(2_500)])
    for case in (_standings(_race(), []), standings, many, relay):
        assert build_bytes(case, **args) == orjson.dumps(build_message(case, **args))


def test_split_places_and_differences_are_the_engines() -> None:
    """The builder reads every point's places for the whole field at once, and the overall
    places from the overall order: they are what the engine's read side gives athlete by
    athlete (waves, gun and chip ranking, DSQ and DNS without a place, equal times, points
    skipped)."""
    import random

    from racetui.model import RankBy, Wave
    from racetui.model.times import format_duration

    rng = random.Random(5)
    for rank_by in (RankBy.CHIP, RankBy.GUN):
        race = _race().model_copy(
            update={
                "rank_by": rank_by,
                "waves": [
                    Wave(id=f"w{i}", race_id="r1", name=f"Wave {i}", offset_ms=i * 90_000) for i in range(3)
                ],
            }
        )
        results = []
        for n in range(1, 301):
            bib = str(n)
            total, splits = 0, {}
            for point in race.points:
                total += rng.randrange(200, 400) * 1_000  # whole seconds: equal times happen
                if rng.random() < 0.8:
                    splits[point.id] = total
            participant = Participant(
                bib=bib, race_id="r1", id=f"id{bib}", name=f"A {bib}", wave_id=f"w{n % 3}"
            )
            status = rng.choice([Status.OK] * 8 + [Status.DSQ, Status.DNS, Status.DNF])
            results.append(_result(bib, splits, participant=participant, status=status))
        standings = _standings(race, results)
        ids = dict(zip(segment_ids(standings.points), range(len(standings.points)), strict=True))
        compared = 0
        view = standings.view()
        rows = view.rows(0, len(view))
        message = _build(standings)["athletes"]
        assert [a["start_num"] for a in message] == [row.bib for row in rows]
        for athlete, row in zip(message, rows, strict=True):
            assert athlete["position"] == (None if row.rank is None else str(row.rank))
            gap = row.gap_leader_ms
            assert athlete["difference"] == (None if gap is None else format_duration(gap))
            assert athlete["time"] == (None if row.time_ms is None else format_duration(row.time_ms))
        assert len({a["position"] for a in message if a["position"]}) < len(message) - 30  # equal places
        for athlete in message:
            expected = {s.point_index: s for s in standings.splits(athlete["start_num"])}
            got = {ids[s["id"]]: s for s in athlete["splits"] or []}
            assert set(got) == set(expected)
            for index, split in expected.items():
                assert got[index]["position"] == (None if split.position is None else str(split.position))
                gap = split.gap_leader_ms
                assert got[index]["difference"] == (None if gap is None else format_duration(gap))
                assert got[index]["total_time"] == format_duration(split.time_ms)
                compared += 1
        assert compared > 500
