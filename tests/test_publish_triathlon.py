"""World Triathlon v1.1 publishing against a local server implementing the contract."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from racetui.engine import Engine
from racetui.model import (
    ClockState,
    Event,
    Participant,
    Passing,
    Race,
    RaceClock,
    RaceKind,
    Result,
    Status,
    TimingPoint,
)
from racetui.publish.outbox import Backoff, ItemState, Outbox, PublishError, PublishService
from racetui.publish.triathlon import FileSender, TriathlonPublisher, TriathlonSender
from racetui.sources.base import Pipeline
from tests.fakes.asgi import ServerThread, free_port
from tests.fakes.worldtriathlon import WorldTriathlonFake
from tests.support import DEADLINE, async_wait_until, spin

KEY = "wt-test-key-123"
GUN = datetime(2026, 6, 14, 9, 0, tzinfo=UTC)
POINTS = ("Swim Exit", "Bike End", "Finish")


def make_engine(athletes: int = 6, races: tuple[tuple[str, str], ...] = (("em", "307158"),)) -> Engine:
    engine = Engine()
    event_races = []
    for race_id, prog_id in races:
        points = [
            TimingPoint(id=f"p{i}", race_id=race_id, name=name, order=i, is_finish=name == "Finish")
            for i, name in enumerate(POINTS, 1)
        ]
        event_races.append(
            Race(
                id=race_id,
                name=f"Elite {race_id.upper()}",
                kind=RaceKind.TRIATHLON,
                points=points,
                external_id=prog_id,
                clock=RaceClock(race_id=race_id, state=ClockState.LIVE, gun_time=GUN),
                wetsuit=False,
                air_temp=21.5,
                water_temp=19.0,
            )
        )
    engine.load_event(Event(id="107158", name="2026 Test World Triathlon", races=event_races))
    for race_id, _ in races:
        engine.add_participants(
            Participant(
                bib=str(bib), race_id=race_id, id=str(5000 + bib), name=f"Athlete {bib}", country="GBR"
            )
            for bib in range(1, athletes + 1)
        )
    return engine


@pytest.fixture
def wt() -> Iterator[WorldTriathlonFake]:
    fake = WorldTriathlonFake(apikey=KEY)
    with ServerThread(fake.app()) as server:
        fake.url = server.url + "/v1/timing"
        yield fake


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


def service_for(
    url: str, key: str | None = KEY, *, timeout: float = 2.0, outbox: Outbox | None = None
) -> PublishService:
    sender = TriathlonSender(key, api_url=url, timeout=timeout)
    return PublishService(
        outbox or Outbox(), [sender], backoff=Backoff(base=0.2, cap=0.5, jitter=0), poll_interval=0.2
    )


def publisher(engine: Engine, service: PublishService, url: str, **kw: object) -> TriathlonPublisher:
    return TriathlonPublisher(engine, service, destination=url, **kw)  # type: ignore[arg-type]


async def test_message_is_posted_with_apikey_json_and_a_valid_schema(
    wt: WorldTriathlonFake, isolated_dirs: Path
) -> None:
    engine = make_engine()
    engine.apply_passings([Passing(race_id="em", bib="3", point_id="p1", time_ms=1_117_911)])
    service = service_for(wt.url)
    pub = publisher(engine, service, wt.url)
    async with running(service):
        items = pub.publish()
        assert len(items) == 1
        assert await service.wait_settled([items[0].id], timeout=10)
    [body] = wt.applied_bodies()
    assert body["prog_id"] == "307158" and body["event_id"] == "107158"
    assert body["status"] == "live" and body["sandbox"] == "true"  # sandbox until turned off
    assert body["num_athletes"] == "6" == str(len(body["athletes"]))
    assert body["athletes"][0]["start_num"] == "3" and body["athletes"][0]["time"] == "00:18:37.911"
    arrival = wt.arrivals[0]
    assert arrival.headers["apikey"] == KEY and arrival.headers["content-type"] == "application/json"
    sent = service.outbox.get(items[0].id)
    assert sent.state is ItemState.SENT and sent.status_code == 200 and '"success"' in (sent.response or "")
    assert "apikey" not in {name.lower() for name in sent.headers}  # secrets are added at send time
    assert KEY.encode() not in (isolated_dirs / "outbox.sqlite3").read_bytes()
    status = service.target("triathlon")
    assert status.sent == 1 and status.last_status == 200 and status.last_success_at is not None


async def test_only_changed_messages_are_queued_date_ignored(wt: WorldTriathlonFake) -> None:
    engine = make_engine()
    clock = itertools.count()
    service = service_for(wt.url)
    pub = publisher(engine, service, wt.url, now=lambda: GUN + timedelta(seconds=next(clock)))
    assert len(pub.publish()) == 1
    assert pub.publish() == []  # same content, later date: nothing to send
    # a fresh publisher (a restart) knows what was queued from the outbox
    again = publisher(engine, service, wt.url, now=lambda: GUN + timedelta(hours=1))
    assert again.publish() == []
    engine.apply_passings([Passing(race_id="em", bib="1", point_id="p1", time_ms=1_000_000)])
    assert len(again.publish()) == 1
    pending = service.outbox.pending()
    assert len(pending) == 1  # the newer message superseded the first one
    assert service.outbox.counts()[ItemState.SUPERSEDED] == 1


async def test_burst_of_changes_is_coalesced_to_at_most_one_post_per_second(wt: WorldTriathlonFake) -> None:
    """A pack crossing the swim exit while the previous POST is less than a second old is
    combined into one message (the standard: no more than one push every 1000 ms)."""
    engine = make_engine(athletes=40)
    pipeline = Pipeline(engine)
    service = service_for(wt.url)
    pub = publisher(engine, service, wt.url)
    pub.attach(pipeline)

    def latest_count() -> str | None:
        bodies = wt.applied_bodies()
        return bodies[-1]["latest"]["num_athletes"] if bodies else None

    async with running(service):
        live = asyncio.create_task(pub.run())
        pipeline.apply_passings([Passing(race_id="em", bib="1", point_id="p1", time_ms=1_100_075)])
        await async_wait_until(lambda: latest_count() == "1", what="the first POST")
        for bib in range(2, 41):  # the pack: 39 changes, one at a time, the loop running between
            pipeline.apply_passings(
                [Passing(race_id="em", bib=str(bib), point_id="p1", time_ms=1_100_000 + bib * 75)]
            )
            await spin(1)  # a loop turn, not a time
        await async_wait_until(lambda: latest_count() == "40", what="the whole pack to be published")
        assert await service.wait_settled(timeout=DEADLINE)
        live.cancel()
    times = [arrival.at for arrival in wt.arrivals]
    assert len(times) == 2, times  # the first crossing, then the whole pack in one message
    assert times[1] - times[0] >= 0.95, times
    assert all(a.status == 200 for a in wt.arrivals)


async def test_401_is_shown_without_the_key_and_holds_until_resumed(
    wt: WorldTriathlonFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine()
    wrong = "wrong-key-987"
    service = service_for(wt.url, wrong)
    pub = publisher(engine, service, wt.url)
    async with running(service):
        [item] = pub.publish()
        assert await service.wait_settled([item.id], timeout=10)
        failed = service.outbox.get(item.id)
        assert failed.state is ItemState.FAILED and failed.status_code == 401
        assert failed.error == "401 Unauthorized: Invalid API key ***"  # the server echoed it; scrubbed
        assert wrong not in (failed.response or "")
        assert service.target("triathlon").held == failed.error
        engine.apply_passings([Passing(race_id="em", bib="2", point_id="p1", time_ms=1_000_000)])
        [newer] = pub.publish()  # wakes the held worker: it must look and not send
        await spin()
        assert len(wt.arrivals) == 1  # held: no blind retries with a refused key
        assert service.outbox.get(newer.id).state is ItemState.QUEUED
        sender = service.sender("triathlon")
        assert isinstance(sender, TriathlonSender)
        sender.set_apikey(KEY)
        service.resume("triathlon")
        assert await service.wait_settled([newer.id], timeout=10)
    assert service.outbox.get(newer.id).state is ItemState.SENT
    assert wrong not in caplog.text


async def test_400_keeps_the_servers_message_and_waits_for_a_user_retry(wt: WorldTriathlonFake) -> None:
    engine = make_engine()
    service = service_for(wt.url)
    async with running(service):
        bogus = service.submit(
            target="triathlon",
            group="triathlon:999",
            method="POST",
            url=wt.url,
            body=b'{"date":"x","event_id":"1","event_name":"e","prog_id":"999","prog_name":"p","status":"live",'
            b'"sandbox":"true","latest":null,"conditions":{},"num_athletes":"3","athletes":[]}',
            headers={"Content-Type": "application/json"},
            supersedable=True,
            summary="bogus",
        )
        assert await service.wait_settled([bogus.id], timeout=10)
        failed = service.outbox.get(bogus.id)
        assert failed.state is ItemState.FAILED
        assert failed.error == "400 Bad Request: num_athletes (3) does not match the number of athletes (0)"
        wt.script[:] = [400]
        [item] = publisher(engine, service, wt.url).publish()
        assert await service.wait_settled([item.id], timeout=10)
        assert service.outbox.get(item.id).error == "400 Bad Request: rejected by the test script (400)"
        service.wake("triathlon")
        await spin()
        assert len(wt.arrivals) == 2  # no blind retry
        assert service.target("triathlon").held is None  # a bad message does not stop other races
        service.retry(item.id)
        assert await service.wait_settled([item.id], timeout=10)
    assert service.outbox.get(item.id).state is ItemState.SENT
    assert len(wt.applied_bodies()) == 1


async def test_5xx_and_slow_answers_retry_and_only_the_latest_message_arrives_once(
    wt: WorldTriathlonFake,
) -> None:
    engine = make_engine()
    wt.script[:] = [500, ("slow", 1.5)]
    service = service_for(wt.url, timeout=0.5)
    pub = publisher(engine, service, wt.url)
    async with running(service):
        [first] = pub.publish()
        await async_wait_until(lambda: wt.arrivals, what="the first attempt")
        engine.apply_passings([Passing(race_id="em", bib="5", point_id="p1", time_ms=1_000_000)])
        [latest] = pub.publish()  # supersedes the first while it waits for its retry
        assert await service.wait_settled([first.id, latest.id], timeout=15)
    assert service.outbox.get(first.id).state is ItemState.SUPERSEDED
    done = service.outbox.get(latest.id)
    assert done.state is ItemState.SENT and done.attempts == 2  # timed out once, then the same key again
    keys = [a.key for a in wt.arrivals]
    assert keys == [first.idempotency_key, latest.idempotency_key, latest.idempotency_key]
    assert [a.duplicate for a in wt.arrivals[1:]] == [False, True]  # the retry was idempotent
    [body] = wt.applied_bodies()
    assert body["athletes"][0]["start_num"] == "5"


async def test_refused_connection_is_retried_until_the_server_comes_up() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/timing"
    engine = make_engine()
    service = service_for(url)
    pub = publisher(engine, service, url)
    fake = WorldTriathlonFake(apikey=KEY)
    async with running(service):
        [item] = pub.publish()
        await async_wait_until(lambda: service.target("triathlon").failures >= 2, what="two refused attempts")
        queued = service.outbox.get(item.id)
        assert queued.state is ItemState.QUEUED and "cannot connect" in (queued.error or "")
        with ServerThread(fake.app(), port=port):
            assert await service.wait_settled([item.id], timeout=10)
    assert service.outbox.get(item.id).state is ItemState.SENT
    assert len(fake.applied_bodies()) == 1


async def test_official_is_an_explicit_confirmed_action(wt: WorldTriathlonFake) -> None:
    engine = make_engine()
    race = engine.race("em").race
    engine.upsert_race(race.model_copy(update={"clock": RaceClock(race_id="em", state=ClockState.OFFICIAL)}))
    service = service_for(wt.url)
    pub = publisher(engine, service, wt.url)
    assert pub.build("em").status == "live"  # never inferred from the source
    with pytest.raises(PublishError, match="needs confirmation"):
        pub.mark_official("em", confirmed=False)
    assert not pub.is_official("em")
    [item] = pub.mark_official("em", confirmed=True)
    assert item.meta["status"] == "official"
    preview = pub.preview()[0]
    assert preview.built.status == "official" and not preview.changed


def test_prerace_then_live_and_sandbox_toggle() -> None:
    engine = make_engine()
    race = engine.race("em").race
    engine.upsert_race(race.model_copy(update={"clock": None}))
    service = PublishService(Outbox(), [])
    pub = TriathlonPublisher(engine, service)
    assert pub.build("em").message["status"] == "prerace"
    engine.apply_passings([Passing(race_id="em", bib="1", point_id="p1", time_ms=1_000_000)])
    assert pub.build("em").message["status"] == "live"
    assert pub.build("em").message["sandbox"] == "true"
    pub.set_sandbox(False)
    assert pub.build("em").message["sandbox"] == "false"


def test_a_bbt_race_needs_a_program_mapping() -> None:
    engine = make_engine()
    race = engine.race("em").race
    engine.upsert_race(race.model_copy(update={"external_id": None}))
    service = PublishService(Outbox(), [])
    pub = TriathlonPublisher(engine, service)
    with pytest.raises(PublishError, match=r"set triathlon\.programs\.em"):
        pub.build("em")
    bbt_event = TriathlonPublisher(engine, service, programs={"em": "400001"}, event_id="bbt")
    with pytest.raises(PublishError, match="event_id 'bbt' is not a World Triathlon event id"):
        bbt_event.build("em")
    hosted = TriathlonPublisher(engine, service, hosted_file=True, destination="/tmp/x.json", event_id="bbt")
    assert hosted.build("em").message["prog_id"] == "em"  # a hosted file may carry the timer's own ids
    mapped = TriathlonPublisher(engine, service, programs={"em": "400001"}, event_id="9")
    built = mapped.build("em")
    assert built.message["prog_id"] == "400001" and built.message["event_id"] == "9"
    assert built.group == "triathlon:400001"


async def test_preview_diffs_against_the_last_successful_upload(wt: WorldTriathlonFake) -> None:
    engine = make_engine(athletes=4)
    service = service_for(wt.url)
    pub = publisher(engine, service, wt.url)
    [first] = pub.preview()
    assert first.diff.first and len(first.diff.added) == 4 and first.changed
    async with running(service):
        [item] = pub.publish()
        assert await service.wait_settled([item.id], timeout=10)
        engine.apply_passings([Passing(race_id="em", bib="2", point_id="p1", time_ms=1_000_000)])
        engine.apply_results("em", [Result(race_id="em", bib="4", status=Status.DNS)])
        [preview] = pub.preview()
    assert not preview.diff.first
    changed = {c.bib: (c.before, c.after) for c in preview.diff.changed}
    assert changed["2"] == ("no time yet", "seg 1 00:16:40.000 pos 1")
    assert changed["4"][1] == "DNS"
    assert preview.diff.added == () and preview.diff.removed == ()
    assert [f.name for f in preview.diff.fields] == []
    text = preview.render()
    assert text.startswith("Elite EM (prog 307158) live sandbox, 4 athletes -> http://127.0.0.1:")
    assert "0 added, 2 changed, 0 removed, 2 unchanged" in text


async def test_hosted_file_is_written_atomically_per_race(tmp_path: Path) -> None:
    engine = make_engine(races=(("em", "307158"), ("ew", "307159")))
    service = PublishService(Outbox(), [FileSender(min_interval=0.0)], poll_interval=0.2)
    target = tmp_path / "www" / "live-{prog_id}.json"
    pub = TriathlonPublisher(engine, service, destination=str(target), hosted_file=True)
    async with running(service):
        items = pub.publish()
        assert await service.wait_settled([i.id for i in items], timeout=10)
    import json

    files = sorted(p.name for p in (tmp_path / "www").iterdir())
    assert files == ["live-307158.json", "live-307159.json"]  # no temp files left behind
    assert json.loads((tmp_path / "www" / "live-307159.json").read_bytes())["prog_id"] == "307159"
    assert ((tmp_path / "www" / "live-307158.json").stat().st_mode & 0o777) == 0o644


async def test_missing_apikey_fails_with_a_hint_and_holds(wt: WorldTriathlonFake) -> None:
    engine = make_engine()
    service = service_for(wt.url, None)
    async with running(service):
        [item] = publisher(engine, service, wt.url).publish()
        assert await service.wait_settled([item.id], timeout=10)
    failed = service.outbox.get(item.id)
    assert failed.state is ItemState.FAILED and "RACETUI_TRIATHLON_APIKEY" in (failed.error or "")
    assert wt.arrivals == []


def test_built_message_is_held_as_bytes_and_hashed_without_its_date() -> None:
    """The hash read off the bytes is the hash of the message with ``date`` left out (what
    the outbox holds from earlier runs), the rows are the message's, the fields its header's."""
    import hashlib

    import orjson

    from racetui.publish.triathlon import message_fields, message_rows

    engine = make_engine()
    service = PublishService(Outbox(), [])
    built = TriathlonPublisher(engine, service).build("em")
    message = orjson.loads(built.body)
    without_date = {key: value for key, value in message.items() if key != "date"}
    assert built.content_hash == hashlib.sha256(orjson.dumps(without_date)).hexdigest()
    assert built.message == message and "athletes" not in built.header
    assert built.rows == message_rows(message) and built.fields == message_fields(message)
    later = TriathlonPublisher(engine, service, now=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    assert later.build("em").content_hash == built.content_hash


def _big_engine(athletes: int = 6_000) -> Engine:
    """A field whose message is several outbox pieces (every athlete past every point)."""
    engine = make_engine(athletes)
    engine.apply_passings(
        Passing(race_id="em", bib=str(bib), point_id=f"p{point}", time_ms=point * 1_000_000 + bib * 37)
        for bib in range(1, athletes + 1)
        for point in (1, 2, 3)
    )
    return engine


async def test_a_large_message_is_streamed_from_the_outbox_with_its_length(
    wt: WorldTriathlonFake, isolated_dirs: Path
) -> None:
    """A message of several pieces reaches the server whole, as a plain POST with its
    Content-Length (the v1.1 standard names no chunked upload), read off the outbox."""
    from racetui.publish.outbox import BODY_PIECE

    engine = _big_engine()
    service = service_for(wt.url)
    pub = publisher(engine, service, wt.url)
    [item] = pub.publish()
    assert item.size > 2 * BODY_PIECE
    async with running(service):
        assert await service.wait_settled([item.id], timeout=30)
    [arrival] = wt.arrivals
    assert arrival.status == 200 and len(arrival.raw) == item.size
    assert arrival.headers["content-length"] == str(item.size)
    assert "transfer-encoding" not in arrival.headers
    assert arrival.body["num_athletes"] == "6000" == str(len(arrival.body["athletes"]))
    assert service.outbox.get(item.id).state is ItemState.SENT


async def test_a_large_hosted_file_is_written_whole_from_the_outbox(tmp_path: Path) -> None:
    import orjson

    engine = _big_engine()
    service = PublishService(Outbox(), [FileSender(min_interval=0.0)], poll_interval=0.2)
    target = tmp_path / "www" / "live.json"
    pub = TriathlonPublisher(engine, service, destination=str(target), hosted_file=True)
    built = pub.build("em")
    assert len(built.spool) > 2 * (1 << 20)
    async with running(service):
        [item] = pub.publish()
        assert await service.wait_settled([item.id], timeout=30)
    written = target.read_bytes()
    assert len(written) == item.size
    assert orjson.loads(written)["athletes"] == built.message["athletes"]


async def test_the_off_loop_builds_read_the_engine_in_slices_at_one_version(tmp_path: Path) -> None:
    """The Publish screen's ``p`` (``preview_off_loop``) and the live publisher
    (``publish_off_loop``) read the engine a slice at a time, the loop free in between:
    passings are applied between two slices (as the dashboard's replica applies the
    hub's frames while the loop is free), and each message is the one-shot build at the
    version after the read's last slice."""
    engine = make_engine(athletes=40)
    engine.apply_passings(
        [Passing(race_id="em", bib=str(bib), point_id="p1", time_ms=1_000_000 + bib) for bib in range(1, 41)]
    )
    service = PublishService(Outbox(), [FileSender()])
    pub = TriathlonPublisher(engine, service, destination=str(tmp_path / "{prog_id}.json"), hosted_file=True)
    pub.read_slice = 6
    reading: list[tuple[int, int]] = []
    expected: list[str] = []
    applied = 0
    bib = 40

    def progress(_race: str, read: int, total: int) -> None:
        nonlocal applied, bib
        reading.append((read, total))
        if read < total:  # between two slices: the replica applies a frame
            engine.apply_passings([Passing(race_id="em", bib=str(bib), point_id="p2", time_ms=2_000_000)])
            applied += 1
            bib = bib - 1 or 40
        else:  # the read is over: its version is the message's
            expected.append(pub.build("em").content_hash)

    try:
        [preview] = await pub.preview_off_loop(["em"], progress=progress)
        assert applied >= 3 and reading[-1] == (40, 40) and len(reading) >= 6
        assert preview.built.content_hash == expected[-1]
        reading.clear()
        before = applied
        item = await pub.publish_off_loop("em", lambda read, total: progress("em", read, total))
        assert applied > before and item is not None
        assert item.meta["content_hash"] == expected[-1] != expected[0]
    finally:
        service.outbox.close()


async def test_the_off_loop_builds_refuse_an_unpublishable_race_before_reading_it() -> None:
    engine = make_engine(athletes=40)
    race = engine.race("em").race
    engine.upsert_race(race.model_copy(update={"external_id": None}))
    pub = TriathlonPublisher(engine, PublishService(Outbox(), []))
    pub.read_slice = 6
    reading: list[int] = []
    with pytest.raises(PublishError, match=r"set triathlon\.programs\.em"):
        await pub.preview_off_loop(["em"], progress=lambda _race, read, _total: reading.append(read))
    with pytest.raises(PublishError, match="no such race"):
        await pub.publish_off_loop("nope")
    assert reading == []  # refused before a slice was read
    pub.service.outbox.close()
