"""BBT message handling without sockets: what each body does to the engine, and bad input."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racetui.model import Status
from racetui.sources.base import Pipeline
from racetui.sources.bbt import BBTSource


def page(data: list[Any], page: int = 1, pages: int = 1) -> dict[str, Any]:
    return {"page": page, "page_size": 50, "total": len(data), "pages": pages, "data": data}


def result(racenum: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": 1000 + int("".join(c for c in racenum if c.isdigit()) or 0),
        "race_id": 1,
        "racenum": racenum,
        "first_name": "Anna",
        "last_name": "Berg",
        "name": "Anna Berg",
        "gender": "F",
        "category": "F35",
        "age": 37,
        "country": "NOR",
        "club": "Bergen LK",
        "wave_id": 2,
        "status": "OK",
        "last_point_id": None,
        "time": None,
        "race_time": None,
        "position": None,
        "gender_position": None,
        "category_position": None,
        "finish_time": None,
    }
    return base | fields


def loaded() -> tuple[BBTSource, Pipeline]:
    source = BBTSource("http://bbt.invalid:8080")
    pipeline = Pipeline()
    rest = source.handle_rest_body
    rest(
        pipeline,
        "/api/1.1/event/races?page=1",
        page([{"id": 1, "name": "City 10k", "kind": "road", "distance": 10000, "state": "live"}]),
    )
    rest(
        pipeline,
        "/api/1.1/event/waves?page=1",
        page(
            [
                {"id": 1, "race_id": 1, "name": "Elite", "offset": "00:00:00.000"},
                {"id": 2, "race_id": 1, "name": "Wave A", "offset": "00:05:00.000"},
            ]
        ),
    )
    rest(
        pipeline,
        "/api/1.1/timing/points?page=1",
        page(
            [
                {"id": 11, "race_id": 1, "location_id": 2, "name": "5 km", "order": 1, "distance": 5000},
                {"id": 13, "race_id": 1, "location_id": 1, "name": "Finish", "order": 2, "is_finish": True},
            ]
        ),
    )
    return source, pipeline


def times(pipeline: Pipeline, bib: str) -> list[int | None]:
    entry = pipeline.engine.races["1"].entries[bib]
    return [None if t is None else t + entry.offset_ms for t in entry.times]


def push(**fields: Any) -> dict[str, Any]:
    base = {"event": "results", "id": 1012, "race_id": 1, "racenum": "12", "point_id": 11}
    base |= {"time": "00:20:00.000", "race_time": "00:25:00.000", "status": "OK", "finish": False}
    return base | fields


def test_event_data_builds_races_waves_and_points() -> None:
    source, pipeline = loaded()
    race = pipeline.engine.races["1"].race
    assert [(w.id, w.offset_ms) for w in race.waves] == [("1", 0), ("2", 300_000)]
    assert [(p.id, p.order, p.is_finish) for p in race.points] == [("11", 1, False), ("13", 2, True)]
    # The race clock's wave offsets win over the planned ones (a wave started late).
    source.handle_rest_body(
        pipeline,
        "/api/1.1/timing/raceclock?race_id=1",
        {
            "race_id": 1,
            "state": "live",
            "gun_time": "2026-11-23T09:00:00.000+00:00",
            "waves": [{"id": 2, "offset": "00:05:30.000"}],
        },
    )
    race = pipeline.engine.races["1"].race
    assert [(w.id, w.offset_ms) for w in race.waves] == [("1", 0), ("2", 330_000)]
    assert race.clock is not None and race.clock.gun_time is not None


def test_paged_listings_are_committed_when_the_last_page_arrives() -> None:
    source, pipeline = loaded()
    source.handle_rest_body(
        pipeline,
        "/api/1.1/timing/points?page=1",
        page([{"id": 11, "race_id": 1, "name": "5 km", "order": 1}], 1, 2),
    )
    assert len(pipeline.engine.races["1"].race.points) == 2  # not yet: only page 1 of 2
    source.handle_rest_body(
        pipeline,
        "/api/1.1/timing/points?page=2",
        page([{"id": 12, "race_id": 1, "name": "8 km", "order": 2}], 2, 2),
    )
    assert [p.id for p in pipeline.engine.races["1"].race.points] == ["11", "12"]


def test_list_and_toplist_pages_fill_the_standings() -> None:
    source, pipeline = loaded()
    info = source.handle_rest_body(
        pipeline,
        "/api/1.1/results/list?race_id=1&page=1",
        page(
            [
                result("12", last_point_id=11, time="00:20:00.000", race_time="00:25:00.000"),
                result("3", wave_id=1, status="DNF"),
            ]
        ),
    )
    assert info.ok and info.pages == 1
    assert times(pipeline, "12") == [1_500_000, None]
    entry = pipeline.engine.races["1"].entries["12"]
    assert list(entry.times) == [1_200_000, None]  # chip = gun - wave offset
    assert entry.participant is not None and entry.participant.club == "Bergen LK"
    assert pipeline.engine.races["1"].entries["3"].status is Status.DNF
    # The toplist for the finish: race_time null, chip time given -> gun = chip + offset.
    source.handle_rest_body(
        pipeline,
        "/api/1.1/results/toplistforpoint?race_id=1&point_id=13&page=1",
        page([result("12", time="00:40:00.000", race_time=None)]),
    )
    assert times(pipeline, "12") == [1_500_000, 2_700_000]


def test_bad_items_are_rejected_by_name_and_the_rest_applied() -> None:
    source, pipeline = loaded()
    info = source.handle_rest_body(
        pipeline,
        "/api/1.1/results/list?race_id=1&page=1",
        page(
            [
                result("1", race_time="1:99"),
                result("2", wave_id={"no": "id"}),
                {**result("4"), "racenum": None},
                "nonsense",
                result("5", status="GONE"),
                result("6"),
            ]
        ),
    )
    assert info.ok
    # A row with an unreadable field is kept without it (the field is named); a row
    # without a readable identity is rejected whole.
    assert set(pipeline.engine.races["1"].entries) == {"1", "5", "6"}
    assert source.health.rejected == 5
    assert source.health.last_error == (
        "GET /results/list page 1 data[4] (racenum 5).status: unknown status 'GONE' "
        "(expected OK, DNS, DNF, DSQ, LAP or NC) (field ignored, row kept)"
    )
    assert any("data[1].racenum 2: wave_id: expected an id, got {'no': 'id'}" in r for r in source.rejections)
    assert len(source.health.problems) == 5 and len(source.rejections) == 5  # Health, export
    for bad, reason in [
        ({"page": 1, "pages": 1}, "data: missing"),
        ({"page": "x", "pages": 1, "data": []}, "page: expected a whole number, got 'x'"),
        ("nope", "expected a JSON object or array, got str"),
        ({"pages": 10**9, "data": []}, "pages: 1000000000 is absurd"),
    ]:
        info = source.handle_rest_body(pipeline, "/api/1.1/results/list?race_id=1&page=1", bad)
        assert not info.ok and info.error is not None and reason in info.error
    # How many passed a point is asked one item a page: 50,000 pages is a count, not a lie.
    busy = source.handle_rest_body(
        pipeline,
        "/api/1.1/results/latest?point_id=1&page=1&page_size=1",
        {"page": 1, "pages": 50_000, "data": []},
    )
    assert busy.ok and busy.pages == 50_000
    assert not source.handle_rest(pipeline, "/api/1.1/event/races", b"<html>").ok
    assert "not JSON" in (source.health.last_error or "")
    assert not source.handle_rest_body(pipeline, "/api/1.1/results/nope", {}).ok
    assert set(pipeline.engine.races["1"].entries) == {"1", "5", "6"}  # the last good state


def test_push_passing_and_status_change() -> None:
    source, pipeline = loaded()
    source.handle_rest_body(pipeline, "/api/1.1/results/list?race_id=1&page=1", page([result("12")]))
    assert source.handle_push_body(pipeline, push(seq=1))
    assert times(pipeline, "12") == [1_500_000, None]
    assert source.handle_push(
        pipeline,
        orjson.dumps(push(seq=2, point_id=13, time="00:40:00.000", race_time="00:45:00.000", finish=True)),
    )
    assert times(pipeline, "12") == [1_500_000, 2_700_000]
    status = push(seq=3, point_id=None, time=None, race_time=None, status="DSQ")
    assert source.handle_push_body(pipeline, status)
    entry = pipeline.engine.races["1"].entries["12"]
    assert entry.status is Status.DSQ
    assert times(pipeline, "12") == [1_500_000, 2_700_000]  # a status change keeps the times
    assert not source.needs_resync and source.health.rejected == 0


def test_push_gaps_unknowns_and_bad_frames() -> None:
    source, pipeline = loaded()
    source._live = True  # what run() sets: unknown athletes are wanted
    assert source.handle_push_body(pipeline, push(seq=5))
    assert "1012" in source.wanted  # a racenum never listed: fetch that participant
    assert not source.needs_resync
    assert source.handle_push_body(pipeline, push(seq=7))
    assert source.needs_resync  # seq 6 was lost
    assert source.handle_push_body(pipeline, push(seq=8, race_id=9))
    assert source.needs_eventdata  # a race not loaded
    source.needs_eventdata = False
    assert source.handle_push_body(pipeline, {"event": "eventdata", "seq": 9})
    assert source.needs_eventdata

    rejected = source.health.rejected
    bad_frames: list[tuple[Any, str]] = [
        (b"\xff\x00", "push: not JSON"),
        ([1, 2], "push: expected a JSON object, got list"),
        (push(seq="10"), "push 'results': seq: expected a whole number, got '10'"),
        (push(seq=11, racenum=[]), "push results (seq 11): racenum: expected a race number, got []"),
        (push(seq=12, point_id=[11]), "push results (seq 12): point_id: expected an id, got [11]"),
        (push(seq=13, time=None, race_time=None), "point_id 11 without time or race_time"),
        (push(seq=14, time="soon"), "push results (seq 14): time: not a time: 'soon'"),
        (push(seq=15, race_time=1e308), "push results (seq 15): race_time: not a time: 1e+308"),
        ({"event": "weather", "seq": 16}, "push: event: unknown event 'weather'"),
    ]
    for frame, reason in bad_frames:
        if isinstance(frame, bytes):
            source.handle_push(pipeline, frame)
        else:
            source.handle_push_body(pipeline, frame)
        assert source.health.last_error is not None and reason in source.health.last_error, (
            reason,
            source.health.last_error,
        )
    assert source.health.rejected == rejected + len(bad_frames)


def test_latest_pages_stop_at_what_is_held_and_keep_the_newest_pass() -> None:
    source, pipeline = loaded()
    source.handle_rest_body(
        pipeline, "/api/1.1/results/list?race_id=1&page=1", page([result("12"), result("13")])
    )

    def passes(*rows: tuple[int, str, str]) -> dict[str, Any]:
        return page(
            [
                {"id": pid, "result_id": 1000 + int(bib), "race_id": 1, "racenum": bib, "point_id": 11}
                | {"race_time": rt, "time": None, "time_of_day": None}
                for pid, bib, rt in rows
            ]
        )

    url = "/api/1.1/results/latest?point_id=11&page=1&page_size=5"
    info = source.handle_rest_body(pipeline, url, passes((501, "12", "00:25:00.000")))
    assert info.ids == [501] and info.floor == -1
    # Newest first: a corrected pass (502) for 12 and an older one (501) on the same page.
    info = source.handle_rest_body(
        pipeline,
        url,
        passes((503, "13", "00:26:00.000"), (502, "12", "00:24:59.000"), (501, "12", "00:25:00.000")),
    )
    assert info.floor == 501 and info.ids == [503, 502, 501]
    assert times(pipeline, "12")[0] == 1_499_000
    assert times(pipeline, "13")[0] == 1_560_000
    # Both new (above the floor): the newer of two passes of one athlete at one point wins.
    info = source.handle_rest_body(
        pipeline, url, passes((505, "13", "00:26:01.000"), (504, "13", "00:26:05.000"))
    )
    assert info.floor == 503
    assert times(pipeline, "13")[0] == 1_561_000


def test_participant_answer_is_the_whole_word_but_keeps_what_was_pushed_meanwhile() -> None:
    source, pipeline = loaded()
    source.handle_rest_body(pipeline, "/api/1.1/results/list?race_id=1&page=1", page([result("12")]))
    source.protect["1012"] = set()  # what the client does while the answer is on its way
    source.handle_push_body(pipeline, push(seq=1, point_id=13, time="00:40:00.000", race_time="00:45:00.000"))
    body = result("12", last_point_id=11, time="00:20:00.000", race_time="00:25:00.000", club="New Club")
    body["splits"] = [
        {"point_id": 11, "race_time": "00:25:00.000", "time": "00:20:00.000", "split": "00:20:00.000"}
    ]
    assert source.handle_rest_body(pipeline, "/api/1.1/results/participant?result_id=1012", body).ok
    assert times(pipeline, "12") == [1_500_000, 2_700_000]
    # Asked again later, the master no longer has the pass at 13: deleted there, so here too.
    source.protect.clear()
    assert source.handle_rest_body(pipeline, "/api/1.1/results/participant?result_id=1012", body).ok
    assert times(pipeline, "12") == [1_500_000, None]
    entry = pipeline.engine.races["1"].entries["12"]
    assert entry.participant is not None and entry.participant.club == "New Club"


def test_an_unchanged_list_item_is_skipped_and_a_changed_one_applied() -> None:
    source, pipeline = loaded()
    url = "/api/1.1/results/list?race_id=1&page=1"
    source.handle_rest_body(pipeline, url, page([result("12"), result("13")]))
    version = pipeline.engine.version
    source.handle_rest_body(pipeline, url, page([result("12", position=4), result("13")]))
    assert pipeline.engine.version == version  # positions are not racetui's input
    source.handle_rest_body(pipeline, url, page([result("12", status="DNS"), result("13")]))
    assert pipeline.engine.races["1"].entries["12"].status is Status.DNS


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 2000)
    | st.text(max_size=12)
    | st.sampled_from(["00:01:02.003", "OK"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [*result("1"), "data", "page", "pages", "seq", "event", "splits", "waves", "point_id"]
            ),
            children,
            max_size=8,
        )
    ),
    max_leaves=30,
)
ROUTES = st.sampled_from(
    [
        "/api/1.1/event/races?page=1",
        "/api/1.1/event/waves?page=1",
        "/api/1.1/timing/points?page=1",
        "/api/1.1/timing/locations?page=1",
        "/api/1.1/timing/raceclock?race_id=1",
        "/api/1.1/results/list?race_id=1&page=1",
        "/api/1.1/results/toplistforpoint?race_id=1&point_id=11&page=1",
        "/api/1.1/results/latest?point_id=11&page=1",
        "/api/1.1/results/participant?result_id=1",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=ROUTES, body=JSON, frame=JSON)
def test_no_body_or_frame_makes_the_handler_raise(route: str, body: Any, frame: Any) -> None:
    source, pipeline = loaded()
    source.handle_rest_body(pipeline, route, body)
    source.handle_rest_body(pipeline, route, {"page": 1, "pages": 1, "data": [body, frame]})
    source.handle_push_body(pipeline, frame)
    source.handle_push_body(
        pipeline, {"event": "results", "seq": 1, **(frame if isinstance(frame, dict) else {})}
    )
    assert "1" in pipeline.engine.races


def test_base_urls() -> None:
    source = BBTSource("10.0.0.5:8080/api/1.1/")
    assert (source.name, source.api_url) == ("BBT 10.0.0.5:8080", "http://10.0.0.5:8080/api/1.1")
    assert source.push_url == "ws://10.0.0.5:8080/api/1.1/push?events=results,eventdata"
    assert BBTSource("https://bbt.example").push_url.startswith("wss://bbt.example/api/1.1/push")
    for bad in ("ftp://x", "", "http://h:abc", "http://timer:pw1234@h:99999"):
        with pytest.raises(ValueError, match="base_url") as info:
            BBTSource(bad)
        assert "pw1234" not in str(info.value)


def test_chip_times_stay_exact_while_a_late_wave_start_is_not_read_yet() -> None:
    source, pipeline = loaded()
    # Wave 2 was planned at 5:00 but went at 5:30; the master's times already know it.
    source.handle_rest_body(
        pipeline,
        "/api/1.1/results/list?race_id=1&page=1",
        page([result("12", last_point_id=11, time="00:20:00.000", race_time="00:25:30.000")]),
    )
    source.handle_push_body(pipeline, push(seq=1, point_id=13, time="00:40:00.000", race_time="00:45:30.000"))
    entry = pipeline.engine.races["1"].entries["12"]
    assert list(entry.times) == [1_200_000, 2_400_000]  # chip times: what the ranking uses
    source.handle_rest_body(
        pipeline,
        "/api/1.1/timing/raceclock?race_id=1",
        {"race_id": 1, "state": "live", "gun_time": None, "waves": [{"id": 2, "offset": "00:05:30.000"}]},
    )
    assert list(entry.times) == [1_200_000, 2_400_000]
    assert times(pipeline, "12") == [1_530_000, 2_730_000]  # gun times follow the new offset
    # An athlete not known yet: race_time is kept until the wave is learnt.
    source.handle_push_body(
        pipeline, push(seq=2, racenum="77", id=1077, time="00:19:00.000", race_time="00:24:30.000")
    )
    assert times(pipeline, "77") == [1_470_000, None]


def test_incidents_and_relay_members_are_read_and_kept() -> None:
    source, pipeline = loaded()
    source._live = True
    url = "/api/1.1/results/list?race_id=1&page=1"
    members = [
        {"order": 1, "id": 50001, "name": "Emma Brown", "gender": "F", "country": "GBR"},
        {"order": 2, "id": 50002, "name": "Tom Green", "gender": "M", "country": "GBR"},
    ]
    source.handle_rest_body(
        pipeline,
        url,
        page(
            [
                result(
                    "12",
                    incidents="10 second penalty for littering outside the zone, DSQ for dangerous riding",
                ),
                result("13", members=members, incidents=None),
                result("14", incidents=["not", "text"]),
            ]
        ),
    )
    entries = pipeline.engine.races["1"].entries
    assert [i.standard_text() for i in entries["12"].source_incidents] == [
        "10 second penalty for littering outside the zone",
        "DSQ for dangerous riding",
    ]
    assert [(leg.order, leg.member.name, leg.member.id) for leg in entries["13"].legs] == [
        (1, "Emma Brown", "50001"),
        (2, "Tom Green", "50002"),
    ]
    assert not entries["14"].source_incidents and "incidents: expected text" in (
        source.health.last_error or ""
    )
    # A passing or a status push keeps them; the status push asks for the new incidents.
    source.handle_push_body(pipeline, push(seq=1, racenum="13", id=1013))
    assert [leg.order for leg in entries["13"].legs] == [1, 2]
    assert "1012" not in source.wanted
    source.handle_push_body(pipeline, push(seq=2, point_id=None, time=None, race_time=None, status="DSQ"))
    assert entries["12"].source_status is Status.DSQ and len(entries["12"].source_incidents) == 2
    assert "status or incidents changed" in source.wanted["1012"]
    # A server that does not send the fields at all: what is held stays.
    del_fields = {k: v for k, v in result("12").items() if k not in ("incidents", "members")}
    source.handle_rest_body(pipeline, url, page([del_fields]))
    assert len(entries["12"].source_incidents) == 2


def test_backoff_is_capped_jittered_and_honours_retry_after() -> None:
    source = BBTSource("http://bbt.invalid", backoff_base=0.5, backoff_cap=10.0)
    delays = [source._backoff(n) for n in range(1, 12) for _ in range(20)]
    assert all(0 < d <= 10.0 for d in delays)
    assert max(source._backoff(1) for _ in range(50)) <= 0.5 * 1.25
    assert min(source._backoff(11) for _ in range(50)) >= 7.5  # capped at 10, jitter ±25 %
    assert len({round(source._backoff(6), 6) for _ in range(20)}) > 1  # jitter
    assert source._backoff(1, retry_after=3.0) >= 3.0
    assert source._backoff(1, retry_after=3600.0) <= 10.0  # a wrong hint cannot stall the feed


def test_race_clock_follows_the_masters_clock_not_ours() -> None:
    from datetime import UTC, datetime, timedelta

    from racetui.tui.clock import race_time

    source, pipeline = loaded()
    now = datetime.now(UTC)
    master_now = now + timedelta(seconds=90)  # the timing PC runs 90 s ahead of this laptop
    gun = master_now - timedelta(minutes=10)
    source.handle_rest_body(
        pipeline,
        "/api/1.1/timing/raceclock?race_id=1",
        {
            "race_id": 1,
            "state": "live",
            "gun_time": gun.isoformat(),
            "server_time": master_now.isoformat(),
            "race_time": "00:10:00.000",
            "waves": [],
        },
    )
    race = pipeline.engine.races["1"].race
    assert race.clock is not None and race.clock.server_offset_ms == 90_000
    shown = race_time(race, now).elapsed_ms
    assert shown is not None and abs(shown - 600_000) < 1500  # ten minutes, as the master says
