"""The v1.1 parser: the spec's examples, what real timers send, and bad input."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from racetui.model import ClockState, IncidentKind, RaceKind, Status
from racetui.sources.v11 import V11ApiError, V11Error, V11Reader, parse_message, unwrap_envelope
from tests.support import INDIVIDUAL, RELAY


def individual() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    return data


def by_bib(update: Any) -> dict[str, Any]:
    return {result.bib: result for result in update.results}


def test_individual_example() -> None:
    update = parse_message(INDIVIDUAL.read_bytes())
    assert update.warnings == []
    race = update.race
    assert race.id == "307158"
    assert race.external_id == "307158"
    assert race.name == "Elite Men"
    assert race.kind is RaceKind.TRIATHLON
    assert [(p.id, p.name, p.order) for p in race.points] == [("1", "Swim Lap 1", 1), ("2", "Swim Exit", 2)]
    assert race.wetsuit is False
    assert race.air_temp == 28.8 and race.water_temp == 23.2
    assert race.clock is not None
    assert race.clock.state is ClockState.LIVE
    assert race.clock.gun_time == datetime(2017, 3, 4, 15, 55, tzinfo=timezone(timedelta(hours=4)))
    header = update.header
    assert (header.event_id, header.event_name) == ("107158", "2017 ITU World Triathlon Abu Dhabi")
    assert header.sandbox is False
    assert (header.latest_segment_id, header.latest_segment_name, header.latest_count) == (
        "2",
        "Swim Exit",
        1,
    )
    results = by_bib(update)
    assert list(results) == ["26", "22"]
    javier = results["26"]
    assert javier.participant.name == "Javier Gomez Noya"
    assert javier.participant.id == "5695"
    assert javier.participant.country == "ESP"
    assert javier.status is Status.OK
    assert javier.splits == {"1": 654_799, "2": 1_117_911}
    assert results["22"].splits == {"1": 653_996}
    assert update.first and update.changed == update.results and update.removed == []


def test_mixed_relay_example_with_mixed_types() -> None:
    update = parse_message(RELAY.read_bytes())
    assert update.warnings == []
    race = update.race
    assert race.kind is RaceKind.RELAY
    assert race.id == "307248"
    assert race.wetsuit is True
    assert len(race.points) == 8
    assert [p.leg for p in race.points] == [1] * 7 + [2]
    assert race.points[4].name == "Leg 1 Run Lap 1 Start"
    assert race.clock is not None and race.clock.gun_time == datetime(2017, 6, 11, 14, 39, tzinfo=UTC)
    assert update.header.date == datetime(2017, 6, 11, 17, 3, 12, tzinfo=UTC)
    assert update.header.latest_count == 1
    (team,) = update.results
    assert team.bib == "1"
    assert team.participant is not None
    assert team.participant.name == "Team GBR I"
    assert team.participant.id == "1234"
    assert team.splits["1"] == 998_000
    assert team.splits["7"] == 6_411_000
    assert team.splits["8"] == 998_000
    assert [(leg.order, leg.member.name, leg.member.id) for leg in team.legs] == [
        (1, "Non Stanford", "9876"),
        (2, "Alistair Brownlee", "7788"),
        (3, "Vicky Holland", "5586"),
        (4, "Jonathan Brownlee", "11378"),
    ]


def test_dict_and_str_inputs_equal_bytes() -> None:
    raw = INDIVIDUAL.read_bytes()
    from_bytes = parse_message(raw)
    assert parse_message(orjson.loads(raw)).results == from_bytes.results
    assert parse_message(raw.decode()).race == from_bytes.race


def test_what_real_timers_send() -> None:
    message = {
        "date": "2017-06-11T17:03:12+0000",
        "start_time": None,
        "event_id": 107161,
        "prog_id": 307248,
        "prog_name": "Elite Women",
        "wetsuit": True,
        "sandbox": 0,
        "num_athletes": 3,
        "status": "LIVE",
        "latest": None,
        "vendor_extra": {"anything": [1, 2]},
        "athletes": [
            {"start_num": 7, "name": "A", "splits": [{"id": 1, "name": "Swim", "total_time": "00:25.000"}]},
            {
                "start_num": "8",
                "name": "B",
                "extra": True,
                "splits": [{"id": "01", "name": "Swim", "total_time": "00:09:15"}, {"id": 2, "time": "1:00"}],
            },
            {
                "start_num": 9.0,
                "splits": None,
                "status": "dnf",
                "incidents": "Withdrew from the race due to bike crash.",
            },
        ],
    }
    update = parse_message(message)
    assert update.warnings == []
    results = by_bib(update)
    assert results["7"].splits == {"1": 25_000}
    assert results["8"].splits == {"1": 555_000, "2": 615_000}  # a split with only `time` accumulates
    assert results["9"].splits == {}
    assert results["9"].status is Status.DNF
    assert results["9"].participant.name == ""
    assert results["9"].incidents[0].kind is IncidentKind.NOTE
    assert update.race.external_id == "307248"
    assert update.header.event_id == "107161"
    assert update.header.sandbox is False
    assert update.race.clock is not None and update.race.clock.state is ClockState.LIVE
    assert update.race.points[0].name == "Swim"
    assert update.race.points[1].name == "Segment 2"


def test_millis_are_kept_not_rounded_to_seconds() -> None:
    message = individual()
    message["athletes"][0]["splits"][0]["total_time"] = "00:09:14.001"
    assert by_bib(parse_message(message))["26"].splits["1"] == 554_001


def test_incidents_and_statuses() -> None:
    message = individual()
    message["athletes"][0]["status"] = "DSQ"
    message["athletes"][0]["incidents"] = "15 second penalty for cutting the swim course, DSQ for drafting"
    message["athletes"][1]["status"] = None
    result = by_bib(parse_message(message))["26"]
    assert result.status is Status.DSQ
    assert [(i.kind, i.seconds, i.infringement) for i in result.incidents] == [
        (IncidentKind.PENALTY, 15, "cutting the swim course"),
        (IncidentKind.DSQ, None, "drafting"),
    ]


def test_paratriathlon() -> None:
    message = individual()
    message["athletes"][0]["paratriathlon"] = {
        "class": "PTVI1",
        "guide_name": "Guide Name",
        "guide_id": 654321,
        "compensation_time": "00:03:46",
    }
    para = by_bib(parse_message(message))["26"].participant.paratriathlon
    assert para is not None
    assert (para.sport_class, para.guide_name, para.guide_id, para.compensation_ms) == (
        "PTVI1",
        "Guide Name",
        "654321",
        226_000,
    )


def test_bad_fields_are_warnings_and_the_rest_is_kept() -> None:
    message = individual()
    javier, thomas = message["athletes"]
    javier["splits"][1]["total_time"] = "-00:01:00"
    javier["name"] = {"first": "Javier"}
    thomas["status"] = "RETIRED"
    thomas["splits"][0]["total_time"] = "soon"
    message["num_athletes"] = "3"
    message["conditions"]["air_temp"] = "warm"
    update = parse_message(message)
    assert update.warnings == [
        "conditions.air_temp: not a number: 'warm'",
        "athlete 26: name: expected text, got an object: {'first': 'Javier'}",
        "athlete 26: splits[2].total_time: negative time: '-00:01:00'",
        "athlete 22: status: expected DNS, DNF, DSQ, LAP or NC: 'RETIRED'",
        "athlete 22: splits[1].total_time: expected HH:MM:SS.fff, MM:SS.fff or seconds: 'soon'",
        "num_athletes: says 3 but the message lists 2 athletes: '3'",
    ]
    results = by_bib(update)
    assert results["26"].splits == {"1": 654_799}  # only the bad split is dropped
    assert results["26"].participant.name == ""
    assert results["26"].participant.country == "ESP"
    assert results["22"].status is Status.OK
    assert results["22"].splits == {}
    assert update.race.air_temp is None and update.race.water_temp == 23.2


def test_bad_fields_keep_the_last_good_value_in_a_feed() -> None:
    reader = V11Reader()
    reader.read(INDIVIDUAL.read_bytes())
    message = individual()
    message["athletes"][0]["splits"][1]["total_time"] = "00:18:xx"
    message["athletes"][0]["country"] = ["ESP"]
    message["athletes"][1]["status"] = "RETIRED"
    message["athletes"][1]["splits"] = "none"
    update = reader.read(orjson.dumps(message))
    assert len(update.warnings) == 4
    results = by_bib(update)
    assert results["26"].splits == {"1": 654_799, "2": 1_117_911}
    assert results["26"].participant.country == "ESP"
    assert results["22"].splits == {"1": 653_996}
    assert results["22"].status is Status.OK


def test_bad_start_numbers_and_duplicates() -> None:
    message = individual()
    extra = copy.deepcopy(message["athletes"][1])
    extra["name"] = "Second 22"
    message["athletes"] += [extra, {"start_num": None, "name": "Nobody"}, {"start_num": [1]}, "junk"]
    update = parse_message(message)
    assert update.warnings[:4] == [
        "athlete 22: start_num: duplicate start number (first kept): '22'",
        "athlete #4: start_num: missing start number: None",
        "athlete #5: start_num: expected text, got a list: [1]",
        "athlete #6: not an object: 'junk'",
    ]
    assert [r.bib for r in update.results] == ["26", "22"]
    assert by_bib(update)["22"].participant.name == "Thomas Bishop"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (INDIVIDUAL.read_bytes()[:300], "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got a list"),
        (b'"text"', "expected a JSON object, got str"),
        (b"{}", "no athletes or teams list"),
        (b'{"athletes": "none"}', "no athletes or teams list"),
        (b'{"athletes": null, "teams": null}', "no athletes or teams list"),
        (b'{"athletes": [{"name": "x"}, 5]}', "none of the 2 athletes is readable"),
    ],
)
def test_whole_message_garbage_raises_v11error(data: bytes, reason: str) -> None:
    with pytest.raises(V11Error, match=reason):
        parse_message(data)


def test_empty_field_is_a_valid_message() -> None:
    update = parse_message(b'{"prog_id": "1", "status": "prerace", "num_athletes": "0", "athletes": []}')
    assert update.results == [] and update.warnings == []
    assert update.race.clock is not None and update.race.clock.state is ClockState.PRERACE


def test_spec_table_wording_athletes_object() -> None:
    message = individual()
    message["athletes"] = {"athlete": message["athletes"]}
    assert [r.bib for r in parse_message(message).results] == ["26", "22"]


def test_envelope() -> None:
    inner = individual()
    assert unwrap_envelope({"code": 200, "status": "success", "data": inner}) is inner
    assert unwrap_envelope(inner) is inner
    with pytest.raises(V11Error, match=r"fail \(code 404\): no such program"):
        unwrap_envelope({"code": 404, "status": "fail", "data": {"message": "no such program"}})
    with pytest.raises(V11Error, match=r"error \(code 500\): database down"):
        unwrap_envelope({"code": 500, "status": "error", "message": "database down"})


def test_envelope_bytes_fast_and_lenient_paths() -> None:
    inner = individual()
    update = parse_message(orjson.dumps({"code": 200, "status": "success", "data": inner}))
    assert [r.bib for r in update.results] == ["26", "22"]
    inner["athletes"][0]["position"] = {"odd": 1}  # does not fit the typed structs
    update = parse_message(orjson.dumps({"status": "success", "code": "200", "data": inner}))
    assert [r.bib for r in update.results] == ["26", "22"]
    with pytest.raises(V11ApiError, match="Program not found") as failed:
        parse_message(b'{"code": 404, "status": "fail", "data": {"message": "Program not found"}}')
    assert failed.value.code == 404
    with pytest.raises(V11ApiError) as denied:
        parse_message(b'{"code": "401", "status": "fail", "data": {"message": "Unauthorised"}}')
    assert denied.value.code == 401
    with pytest.raises(V11Error, match="success without a message"):
        parse_message(b'{"code": 200, "status": "success", "data": null}')
