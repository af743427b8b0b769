"""The simulator's WebSocket push over a real socket: fan-out, filtering, seq, slow
subscribers (1013), outages (drop_push)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from racetui.sim import Sim, SimConfig, parse_races, running_sim
from racetui.sim.api import dur
from racetui.sim.generate import GUN, INCIDENT, OFFICIAL, PASS, STATUS, WAVE
from tests.support import async_wait_until

CONFIG = SimConfig(races=parse_races("10k:200,sprint:40@5"), clock="manual", countdown=5, seed=11)
RESULT_KINDS = {PASS, STATUS, INCIDENT}
EVENTDATA_KINDS = {GUN, WAVE, OFFICIAL, "conditions"}


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_sim(CONFIG) as running:
        yield running


async def subscribed(sim: Sim, count: int) -> None:
    """The server has registered ``count`` push subscribers (a connect returns before it)."""
    await async_wait_until(lambda: len(sim.hub.subscribers) == count, what=f"{count} push subscriber(s)")


def push_url(sim: Sim, events: str) -> str:
    return sim.push_url.split("?")[0] + "?events=" + events


async def read(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    messages = []
    for _ in range(count):
        messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return messages


async def silent(ws: ClientConnection, seconds: float = 0.2) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


def due(sim: Sim, start: int, stop: int, kinds: set[str]) -> int:
    return sum(1 for h in sim.event.schedule if start < h.at_ms <= stop and h.kind in kinds)


async def test_two_subscribers_get_the_same_results_in_order(sim: Sim) -> None:
    async with connect(sim.push_url) as one, connect(push_url(sim, "results")) as two:
        await subscribed(sim, 2)
        start = sim.now_ms
        await sim.advance(35 * 60)
        results = due(sim, start, sim.now_ms, RESULT_KINDS)
        eventdata = due(sim, start, sim.now_ms, EVENTDATA_KINDS)
        assert results > 200 and eventdata >= 2
        got_one = await read(one, results + eventdata)
        got_two = await read(two, results)
        assert await silent(one) and await silent(two)
    assert [m["seq"] for m in got_one] == list(range(1, len(got_one) + 1))
    assert [m["seq"] for m in got_two] == list(range(1, len(got_two) + 1))
    assert {m["event"] for m in got_two} == {"results"}
    strip = [{k: v for k, v in m.items() if k != "seq"} for m in got_one if m["event"] == "results"]
    assert strip == [{k: v for k, v in m.items() if k != "seq"} for m in got_two]
    assert got_one[0] == {"event": "eventdata", "seq": 1}  # the 10k's gun

    # a passing message carries the pass; it matches the simulator's truth
    passing = next(m for m in got_two if m["point_id"] is not None and m["finish"])
    truth = sim.truth_athlete(passing["race_id"], passing["racenum"])
    assert passing["id"] == truth.result_id
    finish_chip = truth.chips[-1]
    assert finish_chip is not None and passing["time"] == dur(finish_chip)
    assert set(passing) == {
        "event", "seq", "id", "race_id", "racenum", "point_id", "time", "race_time", "time_of_day", "status",
        "finish",
    }  # fmt: skip
    status = next(m for m in got_two if m["point_id"] is None)
    assert status["status"] in ("DNS", "DNF", "DSQ", "OK") and status["time"] is None


async def test_unsubscribed_events_are_not_sent(sim: Sim) -> None:
    async with connect(push_url(sim, "eventdata")) as only_eventdata:
        await subscribed(sim, 1)
        start = sim.now_ms
        await sim.advance(20 * 60)
        count = due(sim, start, sim.now_ms, EVENTDATA_KINDS)
        got = await read(only_eventdata, count)
        assert await silent(only_eventdata)
    assert got == [{"event": "eventdata", "seq": i} for i in range(1, count + 1)]


@pytest.mark.parametrize("events", ["bogus", "results,bogus", ""])
async def test_unknown_or_missing_event_names_close_1008(sim: Sim, events: str) -> None:
    async with connect(push_url(sim, events)) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "events" in closed.value.rcvd.reason


async def test_a_slow_subscriber_is_closed_1013_and_stalls_nobody() -> None:
    config = SimConfig(kind="10k", athletes=1000, clock="manual", countdown=0, push_queue=50, seed=3)
    async with running_sim(config, send_buffer=16 * 1024) as sim:
        host, port = sim.base_url.removeprefix("http://").rsplit(":", 1)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect((host, int(port)))
        slow = await connect(sim.push_url, sock=raw, max_queue=1)
        fast = await connect(push_url(sim, "results"))
        seqs: list[int] = []

        async def keep_reading() -> None:
            async for message in fast:
                seqs.append(json.loads(message)["seq"])

        reader = asyncio.create_task(keep_reading())
        await subscribed(sim, 2)
        await sim.advance(2 * 3600)  # the whole race, while `slow` reads nothing
        assert sim.finished and sim.hub.dropped == 1
        expected = due(sim, 0, sim.now_ms, RESULT_KINDS)
        await async_wait_until(lambda: len(seqs) >= expected, what=f"{expected} results on the fast socket")
        assert seqs == list(range(1, expected + 1))  # the fast one got everything
        received = 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(slow.recv(), 10)
                received += 1
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert 0 < received < expected
        await fast.close()
        await reader


async def test_drop_push_closes_and_refuses_for_a_while(sim: Sim) -> None:
    async with connect(sim.push_url) as ws:
        await subscribed(sim, 1)
        assert (
            await sim.drop_push(refuse_for=2.0) == 1
        )  # generous: the refused connect below must fall inside it
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(sim.push_url):
            pass
    assert refused.value.response.status_code == 503
    async with httpx.AsyncClient() as http:  # REST keeps working meanwhile
        assert (await http.get(sim.api_url + "/event/races")).status_code == 200
    await async_wait_until(lambda: sim.hub.refusing() <= 0, what="the refusal to end")
    async with connect(sim.push_url) as again:
        await subscribed(sim, 1)
        await sim.advance(10)  # the gun
        assert json.loads(await asyncio.wait_for(again.recv(), 5)) == {"event": "eventdata", "seq": 1}


async def test_reconnecting_twenty_times_during_a_race(sim: Sim) -> None:
    total = 0
    for _ in range(20):
        async with connect(push_url(sim, "results")) as ws:
            await subscribed(sim, 1)
            start = sim.now_ms
            await sim.advance(60)
            count = due(sim, start, sim.now_ms, RESULT_KINDS)
            got = await read(ws, count)
            assert [m["seq"] for m in got] == list(range(1, count + 1))
            total += count
            await sim.drop_push(refuse_for=0.0)
    assert total > 0
