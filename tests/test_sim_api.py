"""The simulator's BBT API over a real socket: shapes, paging, filters, errors, truth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from racetui.model import Status
from racetui.sim import Sim, SimConfig, parse_races, running_sim
from racetui.sim.api import dur
from racetui.sim.generate import PASS
from tests.support import async_wait_until

CONFIG = SimConfig(races=parse_races("10k:300,sprint:60@5,relay:8@10"), clock="manual", countdown=10, seed=7)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_sim(CONFIG) as running:
        yield running


@pytest.fixture
async def client(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.api_url, timeout=10) as http:
        yield http


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


async def all_pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = await get(client, path, page=page, **params)
        items.extend(body["data"])
        if page >= body["pages"]:
            assert len(items) == body["total"]
            return items
        page += 1


async def test_event_data_before_the_gun(sim: Sim, client: httpx.AsyncClient) -> None:
    races = await get(client, "/event/races")
    assert (races["page"], races["page_size"], races["total"], races["pages"]) == (1, 50, 3, 1)
    assert [r["kind"] for r in races["data"]] == ["road", "triathlon", "relay"]
    assert all(r["state"] == "prerace" and r["gun_time"] is None for r in races["data"])
    tri = races["data"][1]
    assert isinstance(tri["wetsuit"], bool) and tri["water_temp"] is not None
    assert tri["wetsuit"] == (tri["water_temp"] < 20.0)

    points = (await get(client, "/timing/points", page_size=1000))["data"]
    for race_id in (1, 2, 3):
        mine = [p for p in points if p["race_id"] == race_id]
        assert [p["order"] for p in mine] == list(range(1, len(mine) + 1))
        assert sum(p["is_finish"] for p in mine) == 1 and mine[-1]["is_finish"]
    sprint = [p["name"] for p in points if p["race_id"] == 2]
    assert sprint == [
        "Swim Exit", "Transition 1", "Bike Lap 1", "Bike Lap 2", "Bike Lap 3",
        "Bike End", "Transition 2", "Run Lap 1", "Finish",
    ]  # fmt: skip
    relay = [p for p in points if p["race_id"] == 3]
    assert len(relay) == 28 and {p["leg"] for p in relay} == {1, 2, 3, 4}
    assert relay[7]["name"] == "Leg 2 Swim Exit" and relay[7]["leg"] == 2
    assert all(p["leg"] is None for p in points if p["race_id"] != 3)

    locations = {loc["id"] for loc in (await get(client, "/timing/locations", page_size=1000))["data"]}
    assert {p["location_id"] for p in points} <= locations
    waves = (await get(client, "/event/waves"))["data"]
    assert {w["race_id"] for w in waves} == {1, 2, 3}
    assert all(w["offset"] == "00:00:00.000" for w in waves)

    clock = await get(client, "/timing/raceclock", race_id=1)
    assert clock["state"] == "prerace" and clock["race_time"] is None
    assert clock["gun_time"] == "2026-11-23T08:00:10.000+00:00"  # planned
    assert clock["server_time"] == "2026-11-23T08:00:00.000+00:00"


async def test_the_gun_and_the_clock(sim: Sim, client: httpx.AsyncClient) -> None:
    await sim.advance(70)
    clock = await get(client, "/timing/raceclock", race_id=1)
    assert clock["state"] == "live"
    assert clock["gun_time"] == "2026-11-23T08:00:10.000+00:00"
    assert clock["race_time"] == "00:01:00.000"
    races = (await get(client, "/event/races"))["data"]
    assert races[0]["state"] == "live" and races[0]["gun_time"] == clock["gun_time"]
    assert races[1]["state"] == "prerace"


async def test_paging_covers_everything_once(sim: Sim, client: httpx.AsyncClient) -> None:
    await sim.advance(30 * 60)
    first = await get(client, "/results/list")
    assert (first["page"], first["page_size"]) == (1, 50)
    assert first["total"] == 300 + 60 + 8 and first["pages"] == 8
    items = await all_pages(client, "/results/list", page_size=37)
    assert len({item["id"] for item in items}) == len(items) == first["total"]
    keys = [(item["race_id"], int(item["racenum"])) for item in items]
    assert keys == sorted(keys)
    past = await get(client, "/results/list", page=999, page_size=37)
    assert past["data"] == [] and past["total"] == first["total"]
    one_race = await all_pages(client, "/results/list", race_id=2, page_size=1000)
    assert len(one_race) == 60 and {item["race_id"] for item in one_race} == {2}


async def test_filters(sim: Sim, client: httpx.AsyncClient) -> None:
    await sim.advance(45 * 60)
    truth = sim.truth_athlete(1, "42")
    found = await get(client, "/results/list", racenum="42", race_id=1)
    assert [item["id"] for item in found["data"]] == [truth.result_id]
    last = truth.participant.last_name
    hits = await all_pages(client, "/results/list", search=last.lower(), page_size=1000)
    assert truth.result_id in {item["id"] for item in hits}
    for item in hits:
        fields = [
            item["last_name"],
            item["first_name"],
            item["club"] or "",
            item["country"] or "",
            item["racenum"],
        ]
        fields += [member["name"] for member in item["members"] or []]
        assert last.lower() in " ".join(fields).lower()
    nobody = await get(client, "/results/list", search="zzzz-nobody")
    assert nobody["total"] == 0 and nobody["pages"] == 0 and nobody["data"] == []

    # toplistforpoint with gender: only that gender, positions at that point
    point = 103  # 10k, "5 km"
    everyone = await all_pages(client, "/results/toplistforpoint", race_id=1, point_id=point, page_size=1000)
    women = await all_pages(
        client, "/results/toplistforpoint", race_id=1, point_id=point, gender="f", page_size=1000
    )
    assert women and {w["gender"] for w in women} == {"F"}
    assert [w["id"] for w in women] == [e["id"] for e in everyone if e["gender"] == "F"]
    assert [w["gender_position"] for w in women] == sorted(w["gender_position"] for w in women)
    times = [e["time"] for e in everyone]
    assert times == sorted(times)

    # latest: newest first, by point and by location
    latest = await get(client, "/results/latest", point_id=point, page_size=5)
    ids = [item["id"] for item in latest["data"]]
    assert ids == sorted(ids, reverse=True) and latest["total"] == len(everyone)
    points = (await get(client, "/timing/points", page_size=1000))["data"]
    location = next(p["location_id"] for p in points if p["id"] == point)
    at_location = await all_pages(client, "/results/latest", location_id=location, page_size=1000)
    same_place = {p["id"] for p in points if p["location_id"] == location}
    assert {item["point_id"] for item in at_location} <= same_place
    assert [i["id"] for i in at_location] == sorted((i["id"] for i in at_location), reverse=True)

    # leaders: the first three at every point
    leaders = await get(client, "/results/leaders", race_id=1)
    assert [p["point_id"] for p in leaders["points"]] == [101, 102, 103, 104, 105, 106]
    for entry in leaders["points"]:
        top = await get(
            client, "/results/toplistforpoint", race_id=1, point_id=entry["point_id"], page_size=3
        )
        assert [r["id"] for r in entry["leaders"]] == [r["id"] for r in top["data"]]


def _expected_positions(rows: list[tuple[str, int]]) -> list[int]:
    positions = []
    for i, (_, chip) in enumerate(rows):
        positions.append(positions[-1] if i and rows[i - 1][1] == chip else i + 1)
    return positions


async def _compare_toplist(sim: Sim, client: httpx.AsyncClient, race_id: int) -> int:
    truth = sim.truth_toplist(race_id)
    served = await all_pages(client, "/results/toplist", race_id=race_id, page_size=100)
    assert [(r["racenum"], r["time"], r["status"]) for r in served] == [
        (t.racenum, dur(t.chip_ms), t.status.value) for t in truth
    ]
    assert [r["position"] for r in served] == _expected_positions([(t.racenum, t.chip_ms) for t in truth])
    assert all(r["finish_time"] == r["time"] for r in served)
    return len(truth)


async def test_toplist_equals_the_simulators_finish_order(sim: Sim, client: httpx.AsyncClient) -> None:
    await sim.advance(40 * 60)  # mid-race: the 10k leaders are in
    assert await _compare_toplist(sim, client, 1) > 0
    await sim.run_until_finished()
    assert sim.finished
    for race_id in (1, 2, 3):
        finishers = await _compare_toplist(sim, client, race_id)
        assert finishers > 0
    races = (await get(client, "/event/races"))["data"]
    assert {r["state"] for r in races} == {"official"}


async def test_participant_splits_and_statuses(sim: Sim, client: httpx.AsyncClient) -> None:
    await sim.run_until_finished()
    truth = sim.truth_athlete(2, "5")
    body = await get(client, "/results/participant", result_id=truth.result_id)
    assert body["racenum"] == "5" and body["race_id"] == 2
    passed = [chip for chip in truth.chips if chip is not None]
    assert [s["time"] for s in body["splits"]] == [dur(chip) for chip in passed]
    assert [s["split"] for s in body["splits"]] == [
        dur(chip - prev) for chip, prev in zip(passed, [0, *passed[:-1]], strict=True)
    ]
    same = await get(client, "/results/participant", racenum="5", race_id=2)
    assert same == body
    ambiguous = await client.get("/results/participant", params={"racenum": "5"})
    assert ambiguous.status_code == 400 and "races 1, 2, 3" in ambiguous.json()["message"]

    everyone = await all_pages(client, "/results/list", race_id=2, page_size=1000)
    by_status: dict[str, list[dict[str, Any]]] = {}
    for item in everyone:
        by_status.setdefault(item["status"], []).append(item)
    assert {"DNS", "DNF", "DSQ"} <= set(by_status)
    assert all(item["position"] is None and item["time"] is None for item in by_status["DNS"])
    assert all(item["finish_time"] is None for item in by_status["DNF"])
    assert all(item["incidents"].startswith("Withdrew from the race due to") for item in by_status["DNF"])
    assert all(
        item["incidents"].startswith("DSQ for ") and item["position"] is None for item in by_status["DSQ"]
    )
    toplist = {item["id"] for item in await all_pages(client, "/results/toplist", race_id=2, page_size=1000)}
    assert not toplist & {item["id"] for item in by_status["DSQ"] + by_status["DNF"] + by_status["DNS"]}
    served = [item for item in everyone if (item["incidents"] or "").startswith("Served ")]
    assert served and all("second penalty for" in item["incidents"] for item in served)

    relay = await get(client, "/results/participant", racenum="1", race_id=3)
    assert [m["gender"] for m in relay["members"]] == ["F", "M", "F", "M"]
    assert relay["name"].startswith("Team ") and relay["gender"] == "X"


BAD = [
    ("GET", "/results/toplist?race_id=99", 404, "race_id: no race 99"),
    ("GET", "/results/toplist", 400, "race_id: required"),
    ("GET", "/results/toplist?race_id=abc", 400, "race_id"),
    ("GET", "/results/list?page=abc", 400, "page: expected a whole number >= 1, got 'abc'"),
    ("GET", "/results/list?page=0", 400, "page"),
    ("GET", "/results/list?page=-1", 400, "page"),
    ("GET", "/results/list?page=99999999999999999999999999", 400, "page"),
    ("GET", "/results/list?page_size=100000", 400, "page_size: at most 1000, got 100000"),
    ("GET", "/results/list?page_size=0", 400, "page_size"),
    ("GET", "/results/list?page_size=1.5", 400, "page_size"),
    ("GET", "/results/list?race_id=%FF", 400, "race_id"),
    ("GET", "/results/toplistforpoint?race_id=1", 400, "point_id: required"),
    ("GET", "/results/toplistforpoint?race_id=1&point_id=201", 404, "point_id"),
    ("GET", "/results/toplistforpoint?race_id=1&point_id=101&gender=Q", 400, "gender"),
    ("GET", "/results/latest", 400, "point_id or location_id: required"),
    ("GET", "/results/latest?point_id=7", 404, "point_id"),
    ("GET", "/results/latest?location_id=999", 404, "location_id"),
    ("GET", "/results/participant", 400, "result_id or racenum: required"),
    ("GET", "/results/participant?result_id=1", 404, "result_id"),
    ("GET", "/results/participant?racenum=nobody", 404, "racenum"),
    ("GET", "/results/leaders", 400, "race_id: required"),
    ("GET", "/timing/raceclock?race_id=", 400, "race_id: required"),
    ("GET", "/nope", 404, "no endpoint /api/1.1/nope"),
    ("GET", "/push", 400, "WebSocket"),
    ("POST", "/event/races", 405, "POST not allowed"),
    ("DELETE", "/results/list", 405, "DELETE not allowed"),
    ("PUT", "/timing/points", 405, "PUT not allowed"),
]


async def test_bad_requests_answer_4xx_json(sim: Sim, client: httpx.AsyncClient) -> None:
    await sim.advance(20 * 60)
    for method, path, status, message in BAD:
        response = await client.request(method, path)
        assert response.status_code == status, (method, path, response.text)
        body = response.json()
        assert set(body) == {"error", "message"}, path
        assert message in body["message"], (path, body)
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as root:
        for path in ("/", "/feeds/v1.1/1.json", "/feeds/v1.1/99.json", "/feeds/v1.1/abc.json", "/api"):
            response = await root.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not_found"
    # and the server is still fine
    assert (await get(client, "/event/races"))["total"] == 3


async def test_refuse_http_answers_503_then_recovers(sim: Sim, client: httpx.AsyncClient) -> None:
    sim.refuse_http(2.0)  # generous: the first request below must fall inside the window
    response = await client.get("/event/races")
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    assert int(response.headers["retry-after"]) >= 1
    await async_wait_until(lambda: sim.http_refused_for() <= 0, what="the refusal to end")
    assert (await get(client, "/event/races"))["total"] == 3


async def test_latest_pass_ids_rise_across_the_event(sim: Sim, client: httpx.AsyncClient) -> None:
    await sim.advance(50 * 60)
    applied = sum(1 for h in sim.event.schedule if h.kind == PASS and h.at_ms <= sim.now_ms)
    seen: list[int] = []
    for point in (101, 106, 201, 301):
        body = await get(client, "/results/latest", point_id=point, page_size=1000)
        seen.extend(item["id"] for item in body["data"])
    assert seen and max(seen) <= applied and len(set(seen)) == len(seen)
    assert Status.OK.value == "OK"


async def test_real_clock_runs_at_speed_to_the_end() -> None:
    config = SimConfig(kind="10k", athletes=50, speed=3000, countdown=1, clock="real", seed=2)
    async with running_sim(config) as sim, httpx.AsyncClient(base_url=sim.api_url, timeout=10) as client:
        assert not sim.finished
        await asyncio.wait_for(sim.run_until_finished(), 30)
        assert sim.finished and sim.now_ms >= sim.event.end_ms
        assert (race_time := sim.race_time_ms(1)) is not None and race_time > 0
        await _compare_toplist(sim, client, 1)
        clock = await get(client, "/timing/raceclock", race_id=1)
        assert clock["state"] == "official"
