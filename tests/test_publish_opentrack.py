"""OpenTrack road/XC upload against a local server implementing the contract."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from racetui.engine import Engine
from racetui.model import Event, Participant, Passing, Race, Result, Status, TimingPoint
from racetui.publish.opentrack import (
    OpenTrackEvent,
    OpenTrackPublisher,
    OpenTrackSender,
    competition_api_url,
    format_time,
    race_rows,
)
from racetui.publish.outbox import Backoff, ItemState, Outbox, PublishError, PublishService
from tests.fakes.asgi import ServerThread
from tests.fakes.opentrack import OpenTrackFake
from tests.support import spin

USER = "director@example.org"
PASSWORD = "pw-s3cret-456"


def make_engine(races: dict[str, int] | None = None) -> Engine:
    """Road races with a 5 km split and a finish; ``races`` maps race id -> field size."""
    races = races or {"r1": 6}
    engine = Engine()
    event_races = [
        Race(
            id=race_id,
            name=f"Race {race_id}",
            points=[
                TimingPoint(id="5k", race_id=race_id, name="5 km", order=1),
                TimingPoint(id="fin", race_id=race_id, name="Finish", order=2, is_finish=True),
            ],
        )
        for race_id in races
    ]
    engine.load_event(Event(id="ev", name="City 10k", races=event_races))
    for race_id, size in races.items():
        engine.add_participants(
            Participant(bib=str(bib), race_id=race_id, name=f"Runner {bib}") for bib in range(1, size + 1)
        )
    return engine


def finish(engine: Engine, race_id: str, bib: int, ms: int) -> None:
    engine.apply_passings([Passing(race_id=race_id, bib=str(bib), point_id="fin", time_ms=ms)])


@pytest.fixture
def ot() -> Iterator[OpenTrackFake]:
    fake = OpenTrackFake(username=USER, password=PASSWORD)
    with ServerThread(fake.app()) as server:
        fake.url = server.url
        yield fake


def competition(fake: OpenTrackFake) -> str:
    return fake.url + "/api/2026/GBR/api-test/"


@contextlib.asynccontextmanager
async def running(service: PublishService) -> AsyncIterator[PublishService]:
    task = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await service.aclose()


def service_for(sender: OpenTrackSender) -> PublishService:
    return PublishService(Outbox(), [sender], backoff=Backoff(base=0.2, cap=0.5, jitter=0), poll_interval=0.2)


def login_sender(**kw: object) -> OpenTrackSender:
    options: dict[str, object] = {"username": USER, "password": PASSWORD, "timeout": 2.0, "min_interval": 0.0}
    options.update(kw)
    return OpenTrackSender(**options)  # type: ignore[arg-type]


def test_finish_times_and_rows() -> None:
    assert format_time(865_100) == "14:25.10"
    assert format_time(7_531_200, 1) == "2:05:31.2"
    assert format_time(7_531_201, 1) == "2:05:31.3"  # rounded up: a timer never gives time away
    assert format_time(865_001) == "14:25.01"
    assert format_time(59_999, 0) == "1:00"
    engine = make_engine({"r1": 6})
    finish(engine, "r1", 3, 900_000)
    finish(engine, "r1", 1, 865_100)
    finish(engine, "r1", 2, 865_100)
    engine.apply_passings([Passing(race_id="r1", bib="4", point_id="5k", time_ms=400_000)])  # still racing
    engine.apply_results(
        "r1",
        [
            Result(race_id="r1", bib="5", status=Status.DNF),
            Result(race_id="r1", bib="6", status=Status.DSQ, splits={"fin": 800_000}),
        ],
    )
    rows = race_rows(engine.race("r1"))
    assert rows == [("1", "14:25.10"), ("2", "14:25.10"), ("3", "15:00.00"), ("5", "DNF"), ("6", "DQ")]


def test_competition_urls() -> None:
    assert competition_api_url("https://data.opentrack.run/en-gb/x/2026/GBR/api-test/") == (
        "https://data.opentrack.run/api/2026/GBR/api-test/"
    )
    assert competition_api_url("https://x.test/api/2026/GBR/t") == "https://x.test/api/2026/GBR/t/"
    with pytest.raises(PublishError, match="competition"):
        competition_api_url("ftp://nope")


async def test_login_token_upload_and_several_races_in_one_payload(
    ot: OpenTrackFake, isolated_dirs: Path
) -> None:
    engine = make_engine({"r1": 3, "r2": 3})
    finish(engine, "r1", 1, 865_100)
    finish(engine, "r2", 2, 1_045_100)
    engine.apply_results("r2", [Result(race_id="r2", bib="3", status=Status.DNF)])
    service = service_for(login_sender())
    pub = OpenTrackPublisher(
        engine,
        service,
        competition=competition(ot),
        events=[OpenTrackEvent("r1", "R1"), OpenTrackEvent("r2", "R2", round=1, heat=2)],
        ignore_unknowns=True,
    )
    async with running(service):
        item = pub.publish()
        assert item is not None
        assert await service.wait_settled([item.id], timeout=10)
    assert service.outbox.get(item.id).state is ItemState.SENT
    assert ot.tokens_issued == 1
    arrival = ot.arrivals[0]
    assert arrival.headers["authorization"] == "Token tok-0001-1"
    assert arrival.body == [
        {
            "eventid": "R1",
            "round": 1,
            "heat": 1,
            "mode": "replace",
            "ignore_unknowns": "True",
            "data": [["1", "14:25.10"]],
        },
        {
            "eventid": "R2",
            "round": 1,
            "heat": 2,
            "mode": "replace",
            "ignore_unknowns": "True",
            "data": [["2", "17:25.10"], ["3", "DNF"]],
        },
    ]
    assert ot.results == {("R1", 1, 1): {"1": "14:25.10"}, ("R2", 1, 2): {"2": "17:25.10", "3": "DNF"}}
    stored = (isolated_dirs / "outbox.sqlite3").read_bytes()
    assert PASSWORD.encode() not in stored and b"tok-0001" not in stored


async def test_large_payloads_are_zlib_compressed() -> None:
    fake = OpenTrackFake(username=USER, password=PASSWORD)
    engine = make_engine({"r1": 3500})
    engine.apply_passings(
        Passing(race_id="r1", bib=str(bib), point_id="fin", time_ms=1_800_000 + bib * 517)
        for bib in range(1, 3501)
    )
    with ServerThread(fake.app()) as server:
        service = service_for(login_sender())
        pub = OpenTrackPublisher(
            engine, service, competition=server.url + "/api/2026/GBR/big/", events=[OpenTrackEvent("r1", "M")]
        )
        built = pub.build()
        assert built is not None and built.compressed and len(built.json_bytes()) > 64 * 1024
        async with running(service):
            item = pub.enqueue(built)
            assert await service.wait_settled([item.id], timeout=20)
    assert fake.compressed == [True]
    assert len(fake.results[("M", 1, 1)]) == 3500
    assert fake.arrivals[0].headers["content-type"] == "application/octet-stream"
    assert "(zlib)" in service.outbox.get(item.id).summary


async def test_401_logs_in_again_once(ot: OpenTrackFake) -> None:
    engine = make_engine()
    finish(engine, "r1", 1, 865_100)
    service = service_for(login_sender(token="stale-env-token"))
    pub = OpenTrackPublisher(
        engine, service, competition=competition(ot), events=[OpenTrackEvent("r1", "R1")]
    )
    async with running(service):
        item = pub.publish()
        assert item is not None and await service.wait_settled([item.id], timeout=10)
        assert service.outbox.get(item.id).state is ItemState.SENT
        assert ot.tokens_issued == 1 and [a.status for a in ot.arrivals] == [401, 200]
        ot.revoke()  # the token expires
        finish(engine, "r1", 2, 866_000)
        item = pub.publish()
        assert item is not None and await service.wait_settled([item.id], timeout=10)
    assert service.outbox.get(item.id).state is ItemState.SENT
    assert ot.tokens_issued == 2


async def test_refused_token_without_credentials_fails_and_holds(ot: OpenTrackFake) -> None:
    engine = make_engine()
    finish(engine, "r1", 1, 865_100)
    sender = OpenTrackSender(token="bad-token-xyz", timeout=2.0, min_interval=0.0)
    service = service_for(sender)
    pub = OpenTrackPublisher(
        engine, service, competition=competition(ot), events=[OpenTrackEvent("r1", "R1")]
    )
    async with running(service):
        item = pub.publish()
        assert item is not None and await service.wait_settled([item.id], timeout=10)
    failed = service.outbox.get(item.id)
    assert failed.state is ItemState.FAILED and failed.status_code == 401
    assert service.target("opentrack").held is not None
    assert "bad-token-xyz" not in (failed.error or "") + (failed.response or "")


async def test_wrong_password_is_reported_once_without_the_password(
    ot: OpenTrackFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine()
    finish(engine, "r1", 1, 865_100)
    service = service_for(login_sender(password="wrong-pass-000"))
    pub = OpenTrackPublisher(
        engine, service, competition=competition(ot), events=[OpenTrackEvent("r1", "R1")]
    )
    async with running(service):
        item = pub.publish()
        assert item is not None and await service.wait_settled([item.id], timeout=10)
    failed = service.outbox.get(item.id)
    assert failed.state is ItemState.FAILED
    assert failed.error == "OpenTrack login: 400 Bad Request: Unable to log in with provided credentials."
    assert ot.arrivals == []
    assert "wrong-pass-000" not in caplog.text


async def test_400_keeps_the_servers_message(ot: OpenTrackFake) -> None:
    ot.known_bibs = {"1", "2"}
    engine = make_engine()
    finish(engine, "r1", 1, 865_100)
    finish(engine, "r1", 5, 870_000)
    service = service_for(login_sender())
    pub = OpenTrackPublisher(
        engine, service, competition=competition(ot), events=[OpenTrackEvent("r1", "R1")]
    )
    async with running(service):
        item = pub.publish()
        assert item is not None and await service.wait_settled([item.id], timeout=10)
        service.wake("opentrack")  # the worker looks again: a 400 must not be retried blindly
        await spin()
    failed = service.outbox.get(item.id)
    assert failed.state is ItemState.FAILED
    assert failed.error == "400 Bad Request: bib 5 is not in the start list"
    assert len(ot.arrivals) == 1  # not retried blindly
    assert service.target("opentrack").held is None


async def test_5xx_and_timeouts_retry_and_arrive_once(ot: OpenTrackFake) -> None:
    ot.script[:] = [500, ("slow", 1.5)]
    engine = make_engine()
    finish(engine, "r1", 1, 865_100)
    service = service_for(login_sender(timeout=0.5))
    pub = OpenTrackPublisher(
        engine, service, competition=competition(ot), events=[OpenTrackEvent("r1", "R1")]
    )
    async with running(service):
        item = pub.publish()
        assert item is not None and await service.wait_settled([item.id], timeout=15)
    assert service.outbox.get(item.id).state is ItemState.SENT
    assert [a.status for a in ot.arrivals] == [500, 200, 200]
    assert [a.duplicate for a in ot.arrivals] == [False, False, True]
    assert len(ot.applied) == 1


async def test_append_items_are_all_kept_and_send_only_new_bibs(ot: OpenTrackFake) -> None:
    engine = make_engine()
    finish(engine, "r1", 1, 865_100)
    service = service_for(login_sender())
    pub = OpenTrackPublisher(
        engine, service, competition=competition(ot), events=[OpenTrackEvent("r1", "R1")], mode="append"
    )
    first = pub.publish()
    finish(engine, "r1", 2, 866_000)
    second = pub.publish()
    assert pub.publish() is None  # nothing new
    assert first is not None and second is not None
    assert [b["rows"] for b in service.outbox.item_baselines(second.id)] == [{"2": "14:26.00"}]
    assert not second.supersedable and service.outbox.get(first.id).state is ItemState.QUEUED
    async with running(service):
        assert await service.wait_settled([first.id, second.id], timeout=10)
    assert [a.body["data"] for a in ot.arrivals] == [[["1", "14:25.10"]], [["2", "14:26.00"]]]
    assert ot.results[("R1", 1, 1)] == {"1": "14:25.10", "2": "14:26.00"}
    [preview] = pub.preview()
    assert preview.rows == () and preview.diff.empty


async def test_replace_supersedes_a_queued_replace_and_previews_the_diff(ot: OpenTrackFake) -> None:
    engine = make_engine()
    for bib, ms in ((1, 865_100), (2, 866_000), (3, 870_000)):
        finish(engine, "r1", bib, ms)
    service = service_for(login_sender())
    pub = OpenTrackPublisher(
        engine, service, competition=competition(ot), events=[OpenTrackEvent("r1", "R1")]
    )
    async with running(service):
        item = pub.publish()
        assert item is not None and await service.wait_settled([item.id], timeout=10)
    # changes after the successful upload: 2 corrected, 3 removed (DNS fixed to not started), 4 finished
    finish(engine, "r1", 2, 865_900)
    engine.apply_results("r1", [Result(race_id="r1", bib="3")])  # no time any more
    finish(engine, "r1", 4, 880_000)
    [preview] = pub.preview()
    diff = preview.diff
    assert [(c.bib, c.before, c.after) for c in diff.changed] == [("2", "14:26.00", "14:25.90")]
    assert [c.bib for c in diff.added] == ["4"] and [c.bib for c in diff.removed] == ["3"]
    assert "1 added, 1 changed, 1 removed, 1 unchanged" in preview.render()
    stale = pub.publish()
    finish(engine, "r1", 5, 890_000)
    latest = pub.publish()
    assert stale is not None and latest is not None
    assert service.outbox.get(stale.id).state is ItemState.SUPERSEDED
    async with running(service):
        assert await service.wait_settled([latest.id], timeout=10)
    assert len(ot.applied) == 2
    assert ot.results[("R1", 1, 1)] == {"1": "14:25.10", "2": "14:25.90", "4": "14:40.00", "5": "14:50.00"}


def test_mode_and_events_are_checked() -> None:
    engine = make_engine()
    service = PublishService(Outbox(), [])
    with pytest.raises(PublishError, match="mode"):
        OpenTrackPublisher(
            engine,
            service,
            competition="https://x.test/api/c/",
            events=[OpenTrackEvent("r1", "R1")],
            mode="merge",
        )
    with pytest.raises(PublishError, match="--event"):
        OpenTrackPublisher(engine, service, competition="https://x.test/api/c/", events=[])
    pub = OpenTrackPublisher(
        engine, service, competition="https://x.test/api/c/", events=[OpenTrackEvent("zz", "R9")]
    )
    with pytest.raises(PublishError, match="'zz': no such race"):
        pub.build()
