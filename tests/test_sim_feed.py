"""The simulator's hosted World Triathlon v1.1 files: complete message, ETag/Last-Modified, 304."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest

from racetui.sim import Sim, SimConfig, parse_races, running_sim
from racetui.sim.api import dur

CONFIG = SimConfig(races=parse_races("10k:50,standard:40@2,relay:8@4"), clock="manual", countdown=5, seed=5)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_sim(CONFIG) as running:
        yield running


@pytest.fixture
async def http(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_feeds_exist_for_triathlon_and_relay_only(sim: Sim, http: httpx.AsyncClient) -> None:
    assert sim.feed_race_ids() == [2, 3]
    road = await http.get(sim.feed_url(1))
    assert road.status_code == 404 and road.json()["error"] == "not_found"
    prerace = await http.get(sim.feed_url(2))
    assert prerace.status_code == 200 and prerace.headers["content-type"].startswith("application/json")
    body = prerace.json()
    assert body["status"] == "prerace" and body["latest"] is None and body["start_time"] is None
    assert body["num_athletes"] == "40" and len(body["athletes"]) == 40
    assert body["prog_name"] == sim.event.race("2").name


async def test_etag_and_last_modified_give_304_until_something_changes(
    sim: Sim, http: httpx.AsyncClient
) -> None:
    url = sim.feed_url(2)
    first = await http.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and parsedate_to_datetime(modified).tzinfo is not None

    same = await http.get(url, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    same = await http.get(url, headers={"If-Modified-Since": modified})
    assert same.status_code == 304 and same.content == b""
    assert (await http.get(url, headers={"If-None-Match": '"other", ' + etag})).status_code == 304
    assert (await http.get(url, headers={"If-None-Match": '"other"'})).status_code == 200
    earlier = format_datetime(parsedate_to_datetime(modified).replace(year=2020), usegmt=True)
    assert (await http.get(url, headers={"If-Modified-Since": earlier})).status_code == 200
    assert (await http.get(url, headers={"If-Modified-Since": "not a date"})).status_code == 200

    await sim.advance(40 * 60)  # the gun and the swim
    changed = await http.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert parsedate_to_datetime(changed.headers["last-modified"]) > parsedate_to_datetime(modified)
    assert (await http.get(url, headers={"If-Modified-Since": modified})).status_code == 200
    body = changed.json()
    assert body["status"] == "live" and body["latest"]["segment_id"] is not None
    new_etag = changed.headers["etag"]
    assert (await http.get(url, headers={"If-None-Match": new_etag})).status_code == 304

    # unchanged race, unchanged file
    again = await http.get(url)
    assert again.headers["etag"] == new_etag and again.content == changed.content


async def test_the_finished_message_matches_the_simulators_truth(sim: Sim, http: httpx.AsyncClient) -> None:
    await sim.run_until_finished()
    body = (await http.get(sim.feed_url(2))).json()
    assert body["status"] == "official"
    finishers = sim.truth_toplist(2)
    athletes = body["athletes"]
    top = [a for a in athletes if a["segment_id"] == athletes[0]["segment_id"] and a["status"] is None]
    assert [a["start_num"] for a in top] == [row.racenum for row in finishers]
    assert [a["time"] for a in top] == [dur(row.chip_ms) for row in finishers]
    statuses = [a["status"] for a in athletes]
    assert statuses[-1] == "DSQ" and "DNF" in statuses and "DNS" in statuses
    dsq = athletes[-1]
    assert dsq["incidents"].startswith("DSQ for ")
    served = [a for a in athletes if a["incidents"] and a["incidents"].startswith("Served ")]
    assert served and all(" second penalty for " in a["incidents"] for a in served)
    assert all(
        a["incidents"].startswith("Withdrew from the race due to ") for a in athletes if a["status"] == "DNF"
    )

    relay = (await http.get(sim.feed_url(3))).json()
    assert relay["num_teams"] == "8" and len(relay["teams"]) == 8
    team = relay["teams"][0]
    assert [a["team_order"] for a in team["athletes"]] == ["1", "2", "3", "4"]
    assert team["athletes"][1]["splits"][0]["name"] == "Leg 2 Swim Exit"
    assert team["start_num"] == sim.truth_toplist(3)[0].racenum
