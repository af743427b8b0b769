"""From the desk to the World Triathlon v1.1 upload, end to end against the stand-in server:
a reported penalty never reaches it, a confirmed one does in the Standard Incident
Guidelines wording ("30 second penalty for …", then "Served 30 second penalty for …"), and
an unserved penalty becomes DSQ only once that DSQ is confirmed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from racetui.model import ClockState, Event, Participant, Passing, Race, RaceClock, RaceKind, TimingPoint
from racetui.publish.outbox import Backoff, Outbox, PublishService
from racetui.publish.triathlon import TriathlonPublisher, TriathlonSender
from racetui.sources.base import Pipeline
from racetui.sources.desk import EventKey, IncidentDesk
from tests.fakes.asgi import ServerThread
from tests.fakes.worldtriathlon import WorldTriathlonFake

KEY = "wt-desk-key"
GUN = datetime(2026, 6, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def wt() -> Iterator[WorldTriathlonFake]:
    fake = WorldTriathlonFake(apikey=KEY)
    with ServerThread(fake.app()) as server:
        fake.url = server.url + "/v1/timing"
        yield fake


def pipeline() -> Pipeline:
    pipe = Pipeline()
    points = [
        TimingPoint(id=f"p{i}", race_id="em", name=name, order=i, is_finish=name == "Finish")
        for i, name in enumerate(("Swim Exit", "Bike End", "Finish"), 1)
    ]
    race = Race(
        id="em",
        name="Elite Men",
        kind=RaceKind.TRIATHLON,
        points=points,
        external_id="307158",
        clock=RaceClock(race_id="em", state=ClockState.LIVE, gun_time=GUN),
    )
    pipe.load_event(Event(id="107158", name="2026 Test World Triathlon", races=[race]))
    pipe.add_participants(
        Participant(bib=str(b), race_id="em", id=str(5000 + b), name=f"Athlete {b}", country="GBR")
        for b in range(1, 5)
    )
    pipe.apply_passings(
        Passing(race_id="em", bib=str(b), point_id="p1", time_ms=1_100_000 + b) for b in range(1, 5)
    )
    return pipe


@contextlib.asynccontextmanager
async def running(url: str) -> AsyncIterator[PublishService]:
    service = PublishService(
        Outbox(),
        [TriathlonSender(KEY, api_url=url)],
        backoff=Backoff(base=0.2, cap=0.5, jitter=0),
        poll_interval=0.2,
    )
    task = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await service.aclose()


async def upload(pub: TriathlonPublisher, service: PublishService, wt: WorldTriathlonFake) -> dict[str, Any]:
    """Publish now; the athletes of the body the server applied, by bib."""
    items = pub.publish(force=True)
    assert await service.wait_settled([i.id for i in items], timeout=20)
    body = wt.applied_bodies()[-1]
    return {a["start_num"]: a for a in body["athletes"]}


async def test_only_confirmed_penalties_and_dsq_reach_the_upload(
    wt: WorldTriathlonFake, tmp_path: Path
) -> None:
    pipe = pipeline()
    desk = IncidentDesk(
        tmp_path / "desk.sqlite3", operator="Ref Bo", event=EventKey("x", "107158", "2026-06-14")
    )
    async with running(wt.url) as service:
        pub = TriathlonPublisher(pipe.engine, service, destination=wt.url, sandbox=True)
        rep = desk.report("em", "2", seconds=30, infringement="drafting", location="bike lap 3")
        desk.apply(pipe)
        athletes = await upload(pub, service, wt)
        assert athletes["2"]["incidents"] is None  # reported only: it never leaves the desk

        desk.confirm("em", "2", rep.id, operator="CTO Ann")
        desk.apply(pipe, "em", "2")
        athletes = await upload(pub, service, wt)
        assert athletes["2"]["incidents"] == "30 second penalty for drafting"

        desk.assign("em", "2", rep.id, box="run box")
        desk.enter_box("em", "2", rep.id)
        desk.apply(pipe, "em", "2")
        athletes = await upload(pub, service, wt)
        assert athletes["2"]["incidents"] == "30 second penalty for drafting"  # in the box: not yet served

        desk.leave_box("em", "2", rep.id)
        desk.apply(pipe, "em", "2")
        athletes = await upload(pub, service, wt)
        assert athletes["2"]["incidents"] == "Served 30 second penalty for drafting"

        # held back at the desk: gone from the upload until released
        desk.hold("em", "2", rep.id)
        desk.apply(pipe, "em", "2")
        athletes = await upload(pub, service, wt)
        assert athletes["2"]["incidents"] is None
        desk.confirm("em", "2", rep.id)
        desk.apply(pipe, "em", "2")
        athletes = await upload(pub, service, wt)
        assert athletes["2"]["incidents"] == "Served 30 second penalty for drafting"

        # bib 3: confirmed, never served: DSQ only once the proposed DSQ is confirmed
        pen = desk.record("em", "3", "penalty", seconds=15, infringement="littering")
        prop = desk.mark_unserved("em", "3", pen.id)
        desk.apply(pipe, "em", "3")
        athletes = await upload(pub, service, wt)
        assert (athletes["3"]["status"], athletes["3"]["incidents"]) == (
            None,
            "15 second penalty for littering",
        )
        desk.confirm("em", "3", prop.id)
        desk.apply(pipe, "em", "3")
        athletes = await upload(pub, service, wt)
        assert athletes["3"]["status"] == "DSQ"
        assert athletes["3"]["incidents"] == (
            "15 second penalty for littering, DSQ for failing to serve a 15 second penalty for littering"
        )
        body = wt.applied_bodies()[-1]
        assert body["athletes"][-1]["start_num"] == "3"  # a DSQ is ordered at the bottom
