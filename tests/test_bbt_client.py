"""The BBT client against a local BBT server (tests/test_bbt_fake.py) over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from racetui.model import ClockState, RaceKind, Status
from racetui.sources.base import FeedState, Pipeline, SourceMode
from racetui.sources.bbt import BBTError, BBTSource
from racetui.sources.bbt.decoder import HeldPushes
from racetui.sources.journal import Journal, iter_journal
from tests.fakes.bbt import Athlete, FakeBBT, engine_finishers, engine_state, shows_the_truth, until
from tests.support import spin

FAST: dict[str, Any] = {
    "backoff_cap": 0.2,
    "backoff_base": 0.05,
    "timeout": 10.0,  # generous: a busy machine answers late; tests of timeouts set their own
    "poll_interval": 0.05,
    "ping_interval": None,
    "resync_base": 0.05,
    "resync_cap": 0.5,
    "catchup_interval": 0.02,
}


@contextlib.asynccontextmanager
async def running(source: BBTSource, pipeline: Pipeline) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run(pipeline))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled(), "run() must end only by cancellation"


@contextlib.asynccontextmanager
async def pushing(bbt: FakeBBT, pipeline: Pipeline) -> AsyncIterator[BBTSource]:
    """A BBT source on ``bbt`` into ``pipeline``, its first sync done and its push open."""
    source = BBTSource(bbt.url, **FAST)
    async with running(source, pipeline):
        await until(lambda: bbt.subscribers and source.syncs > 0, what="initial sync")
        yield source


def matches(bbt: FakeBBT, pipeline: Pipeline) -> bool:
    return engine_state(pipeline) == bbt.truth()


async def test_sync_once_loads_event_standings_and_splits_without_per_athlete_requests() -> None:
    async with FakeBBT(athletes=240) as bbt:
        await bbt.advance(2_000_000)
        bbt.set_status("3", "DNF")
        pipeline = Pipeline()
        source = BBTSource(bbt.url, page_size=50)
        await source.sync_once(pipeline)

        engine = pipeline.engine
        assert engine.event is not None and engine.event.name == f"BBT 127.0.0.1:{bbt.port}"
        assert [loc.name for loc in engine.event.locations] == ["Start / Finish arch", "Harbour bridge"]
        road, tri = engine.races["1"].race, engine.races["2"].race
        assert (road.name, road.kind, road.distance_m) == ("City 10k", RaceKind.ROAD, 10000)
        assert [(w.id, w.offset_ms) for w in road.waves] == [("1", 0), ("2", 300_000)]
        assert [p.id for p in road.points] == ["11", "12", "13"] and road.points[-1].is_finish
        assert road.clock is not None and road.clock.state is ClockState.LIVE
        assert road.clock.gun_time is not None and road.clock.gun_time.hour == 9
        assert (tri.kind, tri.wetsuit, tri.water_temp) == (RaceKind.TRIATHLON, True, 19.1)

        assert engine_state(pipeline) == bbt.truth()
        entry = engine.races["1"].entries["2"]
        assert entry.participant is not None
        assert (entry.participant.name, entry.participant.club, entry.participant.wave_id) == (
            "First1 Last1",
            "Club 1",
            "2",
        )
        assert entry.participant.id == "1001"
        assert engine.races["1"].entries["3"].status is Status.DNF
        # Every athlete's time at every point in a few paged requests, never one per athlete.
        assert bbt.requests["/results/participant"] == 0
        assert bbt.requests["/results/list"] == 4 + 2  # 180 + 60 athletes, 50 a page
        assert bbt.requests["/results/toplistforpoint"] <= 6 * 4
        assert source.health.rejected == 0


async def test_sync_once_names_an_unreachable_master() -> None:
    bbt = await FakeBBT(athletes=4).start()
    url = bbt.url
    await bbt.stop()
    source = BBTSource(url, timeout=1.0)
    with pytest.raises(BBTError, match=r"GET /event/\w+: ConnectError"):
        await source.sync_once(Pipeline())
    assert source.health.state is FeedState.ERROR


async def test_push_brings_passings_and_status_changes_live() -> None:
    async with FakeBBT(athletes=120) as bbt:
        await bbt.advance(600_000)
        pipeline = Pipeline()
        async with pushing(bbt, pipeline) as source:
            assert source.health.mode is SourceMode.PUSH
            before = dict(bbt.requests)
            for to in range(700_000, 3_200_000, 100_000):
                await bbt.advance(to)
            bbt.set_status("6", "DSQ")
            await until(lambda: shows_the_truth(bbt, pipeline), what="pushed passings")
            await until(
                lambda: bbt.requests["/results/participant"] == 1, what="the status change's incidents"
            )
            # Pushes carried the rest: no other REST read after the initial sync.
            assert dict(bbt.requests) == {**before, "/results/participant": 1}
            assert pipeline.engine.races["1"].entries["6"].status is Status.DSQ
            assert engine_finishers(pipeline, "1") == bbt.toplist(1)
            assert source.health.effective_state() is FeedState.CONNECTED
            assert source.health.reconnects == 0


async def test_push_cut_repeatedly_loses_nothing() -> None:
    """(The 20 cuts against the real simulator are in test_bbt_sim.py.)"""
    async with FakeBBT(athletes=160) as bbt:
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **FAST)
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers), what="push connection")
            clock = 0
            for cut in range(8):
                for _ in range(3):
                    clock += 100_000
                    await bbt.advance(clock)
                    await spin()  # loop turns for the frames to go out, not a time
                if cut == 5:
                    bbt.set_status("9", "DNF")
                refused = bbt.push_refused
                # Once, the master refuses push until the client has met a refusal (it polls
                # meanwhile); the other cuts it is back at once.
                await bbt.drop_push(refuse_for=3600 if cut == 2 else 0.0)
                # The race goes on while the client is cut off.
                clock += 50_000
                await bbt.advance(clock)
                if cut == 2:
                    await until(lambda n=refused: bbt.push_refused > n, what="a refused upgrade")
                    bbt.refuse_until = 0.0
                await until(lambda: bool(bbt.subscribers), what=f"reconnect after cut {cut + 1}")
            await bbt.advance(20_000_000)
            await until(lambda: shows_the_truth(bbt, pipeline), what="final standings")
            assert engine_finishers(pipeline, "1") == bbt.toplist(1)
            assert engine_finishers(pipeline, "2") == bbt.toplist(2)
            assert source.health.reconnects >= 8
            assert bbt.push_refused > 0  # it met refused upgrades and polled meanwhile
            assert source.health.mode is SourceMode.PUSH


async def test_a_seq_gap_triggers_a_resync() -> None:
    async with FakeBBT(athletes=60) as bbt:
        pipeline = Pipeline()
        async with pushing(bbt, pipeline) as source:
            lists, syncs = bbt.requests["/results/list"], source.syncs
            bbt.lose_next_push = 1
            await bbt.advance(700_000)  # the first of these passes never reaches the client
            await until(lambda: source.syncs > syncs and matches(bbt, pipeline), what="resync after the gap")
            assert bbt.requests["/results/list"] > lists
            assert source.health.reconnects == 0  # a resync, not a reconnect
            # A gap later on, not at the first message of the connection.
            syncs = source.syncs
            await bbt.advance(800_000)
            await until(lambda: matches(bbt, pipeline))
            bbt.lose_next_push = 1
            await bbt.advance(900_000)
            await until(lambda: matches(bbt, pipeline) and source.syncs > syncs, what="second resync")


async def test_pushes_during_a_resync_outlast_the_pages_read_before_them() -> None:
    async with FakeBBT(athletes=60) as bbt:
        await bbt.advance(600_000)
        pipeline = Pipeline()
        async with pushing(bbt, pipeline) as source:
            lists, syncs = bbt.requests["/results/list"], source.syncs
            bbt.hang.clear()
            bbt.hang_routes = {"/results/list"}  # answered as the master is now, sent later
            bbt.lose_next_push = 1
            await bbt.advance(700_000)  # a gap: a resync, whose lists wait
            await until(lambda: bbt.requests["/results/list"] > lists, what="the resync's lists asked")
            # The race goes on: these passes arrive by push while the lists' answers, read
            # before them, wait. Those answers name each athlete's last point as it was
            # then, and a list cuts the passes beyond it: only the pushes held through the
            # resync and applied again after it bring these passes back.
            assert await bbt.advance(1_400_000) > 0
            await until(lambda: bbt.pushed() and matches(bbt, pipeline), what="the passes pushed")
            bbt.hang_routes = set()
            bbt.hang.set()
            # (the held pushes are applied just after the sync counts itself done)
            await until(
                lambda: source.syncs > syncs and matches(bbt, pipeline), what="the pushes applied again"
            )


def test_held_pushes_come_back_in_order_as_they_were() -> None:
    deep: list[Any] = []
    inner = deep
    for _ in range(400):  # deeper than JSON is written again: held as it is
        inner.append([])
        inner = inner[0]
    bodies: list[Any] = [
        {"event": "results", "seq": 1, "racenum": "7", "name": "line\nbreak", "time": 1.5},
        {"event": "results", "seq": 2, "extra": deep},
        {"event": "results", "seq": 3, "name": "Zoë"},
        {},
    ]
    held = HeldPushes()
    for body in bodies:
        held.append(body)
    assert len(held) == 4
    again = list(held)
    assert again == bodies
    assert again[1] is bodies[1]


async def test_an_unknown_race_number_fetches_that_participant_only() -> None:
    async with FakeBBT(athletes=40) as bbt:
        pipeline = Pipeline()
        async with pushing(bbt, pipeline):
            late = Athlete(
                id=9999,
                race_id=1,
                racenum="A77",
                first="Late",
                last="Entry",
                gender="F",
                category="F40",
                country="NOR",
                club="Late Club",
                wave_id=2,
                plan={11: 400_000},
            )
            bbt.add_athlete(late)
            await bbt.advance(450_000)
            await until(lambda: matches(bbt, pipeline), what="late entry")
            await until(lambda: pipeline.engine.races["1"].entries["A77"].participant is not None)
            entry = pipeline.engine.races["1"].entries["A77"]
            assert entry.participant is not None and entry.participant.name == "Late Entry"
            assert entry.times[0] == 100_000  # chip time: gun 400000 minus the 5 min wave offset
            assert bbt.requests["/results/participant"] == 1


async def test_eventdata_push_rereads_the_event() -> None:
    async with FakeBBT(athletes=8) as bbt:
        bbt.races[1]["state"] = "prerace"
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **FAST)
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers) and "2" in pipeline.engine.races, what="sync")
            await until(lambda: source.health.messages > 0)
            race = pipeline.engine.races["2"].race
            assert race.clock is not None and race.clock.state is ClockState.PRERACE
            bbt.races[1]["state"] = "official"
            bbt.push({"event": "eventdata"})

            def official() -> bool:
                clock = pipeline.engine.races["2"].race.clock
                return clock is not None and clock.state is ClockState.OFFICIAL

            await until(official, what="race made official")


async def test_polling_only_mode_reaches_the_same_standings() -> None:
    async with FakeBBT(athletes=120) as bbt:
        await bbt.advance(500_000)
        pipeline = Pipeline()
        source = BBTSource(bbt.url, poll=True, list_refresh=0.2, latest_page_size=7, **FAST)
        async with running(source, pipeline):
            await until(lambda: matches(bbt, pipeline), what="initial sync")
            assert source.health.mode is SourceMode.POLLING
            for step, to in enumerate(range(600_000, 20_000_000, 150_000)):
                polled = source.requests
                await bbt.advance(to)
                if to == 1_200_000:
                    bbt.set_status("6", "DSQ")
                if step % 4 == 0:  # the race is polled on the way, not only at its end
                    await until(lambda n=polled: source.requests > n, what=f"a poll at {to} ms")
            await until(lambda: shows_the_truth(bbt, pipeline), what="polled standings")
            assert engine_finishers(pipeline, "1") == bbt.toplist(1)
            assert bbt.push_attempts == 0
            assert pipeline.engine.races["1"].entries["6"].status is Status.DSQ


async def test_refused_push_polls_and_returns_to_push() -> None:
    async with FakeBBT(athletes=40) as bbt:
        await bbt.drop_push(refuse_for=0.6)
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **FAST)
        async with running(source, pipeline):
            await until(lambda: source.health.mode is SourceMode.POLLING and matches(bbt, pipeline))
            assert (
                source.health.last_error is not None and "push refused: HTTP 403" in source.health.last_error
            )
            await bbt.advance(800_000)
            await until(lambda: matches(bbt, pipeline), what="polled passes")
            await until(
                lambda: source.health.mode is SourceMode.PUSH and bool(bbt.subscribers), what="push back"
            )
            await bbt.advance(1_500_000)
            await until(lambda: matches(bbt, pipeline), what="pushed passes")


async def test_malformed_answers_are_rejected_named_and_survived() -> None:
    async with FakeBBT(athletes=60) as bbt:
        await bbt.advance(900_000)
        bbt.faults = {
            "/event/waves": ["500"],
            "/timing/locations": ["ok", "malformed"],
            "/timing/points": ["ok", "ok", "notalist"],
            "/results/list": ["wrongtypes"],
        }
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **FAST)
        errors: list[str] = []
        original = source.health.reject

        def spy(message: str) -> None:
            errors.append(message)
            original(message)

        source.health.reject = spy  # type: ignore[method-assign]
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers) and matches(bbt, pipeline), what="recovery")
            assert source.health.reconnects >= 1
            assert any(
                "GET /event/waves: HTTP 500: boom" in e for e in [source.health.last_error or "", *errors]
            ) or (bbt.requests["/event/waves"] >= 2)
            assert any("racenum: expected a race number, got None" in e for e in errors), errors
            assert any("GET /timing/locations: not JSON" in e for e in errors), errors
            assert any("GET /timing/points page 1: data: expected a list, got 'nope'" in e for e in errors), (
                errors
            )

            # Bad push frames: rejected with a reason, the feed goes on.
            rejected = source.health.rejected
            bbt.push_raw(b"{not json")
            bbt.push_raw(b'{"event": "results", "seq": "x"}')
            bbt.push(
                {"event": "results", "id": 1001, "race_id": 1, "racenum": "2", "point_id": 12, "time": 5}
            )
            bbt.push({"event": "gossip"})
            await until(lambda: source.health.rejected >= rejected + 3, what="rejects")
            await bbt.advance(1_500_000)
            await until(lambda: matches(bbt, pipeline), what="standings after bad frames")
            assert any("push: not JSON" in e for e in errors)
            assert any("seq: expected a whole number, got 'x'" in e for e in errors)
            assert any("unknown event 'gossip'" in e for e in errors)


async def test_a_hanging_answer_times_out_and_the_feed_recovers() -> None:
    async with FakeBBT(athletes=20) as bbt:
        bbt.hang.clear()
        bbt.hang_routes = {"/timing/points"}
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **{**FAST, "timeout": 0.3})
        async with running(source, pipeline):
            await until(lambda: source.health.reconnects >= 1, what="a timeout")
            assert source.health.last_error == "GET /timing/points: no complete answer within 0.3 s"
            assert source.health.effective_state() is FeedState.ERROR
            bbt.hang_routes = set()
            bbt.hang.set()
            await bbt.advance(1_000_000)
            await until(lambda: matches(bbt, pipeline), what="recovery")


async def test_a_vanished_timing_pc_keeps_the_last_good_state() -> None:
    bbt = await FakeBBT(athletes=40).start()
    port = bbt.port
    pipeline = Pipeline()
    source = BBTSource(bbt.url, **FAST)
    try:
        async with running(source, pipeline):
            await bbt.advance(1_000_000)
            await until(lambda: bool(bbt.subscribers) and matches(bbt, pipeline), what="sync")
            held = engine_state(pipeline)
            await bbt.stop()
            await until(lambda: source.health.state is FeedState.ERROR, what="error state")
            failed = source.health.reconnects
            await until(lambda: source.health.reconnects >= failed + 2, what="two more failed attempts")
            assert engine_state(pipeline) == held
            assert source.health.last_error is not None
            # The timing PC comes back (same address), the race went on meanwhile.
            await bbt.advance(2_000_000)
            await bbt.start(port)
            await until(lambda: matches(bbt, pipeline), what="resync after the PC returned")
    finally:
        await bbt.stop()


async def test_the_journal_records_every_message_without_secrets(tmp_path: Path) -> None:
    async with FakeBBT(athletes=20) as bbt:
        journal = Journal(tmp_path / "bbt.jsonl.gz", source="x")
        pipeline = Pipeline()
        source = BBTSource(bbt.url, journal=journal, headers={"X-Api-Key": "hunter2"}, **FAST)
        assert source.health.journal_path == str(journal.path)
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers) and matches(bbt, pipeline))
            await bbt.advance(3_000_000)
            await until(lambda: matches(bbt, pipeline))
        journal.close()
        records = list(iter_journal(journal.path))
        kinds = {r["kind"] for r in records}
        assert kinds == {"rest", "push"}
        assert all(r["source"] == source.name for r in records)
        assert any(r["url"].startswith("/api/1.1/results/list?race_id=1&page=1") for r in records)
        pushes = [r for r in records if r["kind"] == "push"]
        assert pushes and all(r["url"] == "/api/1.1/push?events=results,eventdata" for r in pushes)
        assert len(pushes) == sum(len(a.splits) for a in bbt.athletes.values())
        assert "hunter2" not in journal.path.read_bytes().decode("latin-1")


async def test_errors_and_logs_never_show_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bbt = await FakeBBT(athletes=2).start()
    url = f"http://timer:s3cr3tpw@127.0.0.1:{bbt.port}"
    await bbt.stop()
    source = BBTSource(url, headers={"Authorization": "Bearer t0k3n"}, **FAST)
    pipeline = Pipeline()
    async with running(source, pipeline):
        await until(lambda: source.health.reconnects >= 2)
    text = caplog.text + str(source.health.last_error)
    assert "s3cr3tpw" not in text and "t0k3n" not in text
    assert source.name == f"BBT 127.0.0.1:{bbt.port}"


async def test_a_quiet_push_socket_is_not_stale() -> None:
    async with FakeBBT(athletes=10) as bbt:
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **{**FAST, "ping_interval": 0.05, "stale_after": 0.3, "timeout": 0.3})
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers) and source.syncs > 0)
            messages = source.health.messages
            heard = source.health.last_message or 0.0
            # Nothing happens in the race: wait for a pong later than stale_after after the
            # last message (without pongs the source would be stale by then).
            await until(
                lambda: (source.health.last_message or 0.0) > heard + 0.3, what="a pong after 0.3 s of quiet"
            )
            assert source.health.effective_state() is FeedState.CONNECTED
            assert source.health.messages == messages  # pongs are not messages
            assert source.health.reconnects == 0


async def test_a_journal_that_cannot_be_written_is_reported_once_and_the_feed_goes_on() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    async with FakeBBT(athletes=10) as bbt:
        pipeline = Pipeline()
        source = BBTSource(bbt.url, journal=Journal("/dev/full"), **FAST)
        async with running(source, pipeline):
            await until(lambda: source.syncs > 0 and matches(bbt, pipeline))
            assert source.health.last_error is not None and "journal write failed" in source.health.last_error
            await bbt.advance(2_000_000)
            await until(lambda: matches(bbt, pipeline))


async def test_a_master_that_stops_answering_pings_is_noticed() -> None:
    """A timing PC gone without closing its socket: the upgrade succeeds, then silence."""
    import base64
    import hashlib

    from websockets.asyncio.client import connect

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await writer.drain()
        await asyncio.sleep(30)  # never a pong

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        source = BBTSource(f"http://127.0.0.1:{port}", ping_interval=0.05, timeout=0.2)
        ws = await connect(source.push_url, proxy=None, close_timeout=0.1)
        await asyncio.wait_for(source._keepalive(ws), 5)
        assert ws.close_code is not None or ws.state.name in ("CLOSING", "CLOSED")
    finally:
        server.close()


async def test_eventdata_during_a_sync_is_not_lost() -> None:
    async with FakeBBT(athletes=8) as bbt:
        bbt.hang.clear()
        bbt.hang_routes = {"/results/list"}  # the first sync stops after the event data
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **FAST)
        async with running(source, pipeline):
            await until(
                lambda: bool(bbt.subscribers) and bbt.requests["/results/list"] > 0, what="sync under way"
            )
            bbt.races[1]["state"] = "official"
            bbt.push({"event": "eventdata"})
            await until(lambda: source.needs_eventdata, what="the push")
            bbt.hang_routes = set()
            bbt.hang.set()

            def official() -> bool:
                clock = pipeline.engine.races["2"].race.clock
                return clock is not None and clock.state is ClockState.OFFICIAL

            await until(official, what="the change re-read after the sync")


async def test_the_first_load_says_how_far_it_has_come() -> None:
    async with FakeBBT(athletes=240) as bbt:
        await bbt.advance(2_000_000)
        bbt.hang.clear()
        bbt.hang_routes = {"/results/toplistforpoint"}  # the first load stops after the lists
        pipeline = Pipeline()
        source = BBTSource(bbt.url, page_size=50, **FAST)
        assert source.health.progress is None
        bbt.hang_pages = {("/results/list", 2)}  # and first before the lists' second pages
        async with running(source, pipeline):
            await until(lambda: bbt.requests["/results/list"] >= 4, what="the lists' first pages")
            await until(lambda: source.health.progress is not None, what="the progress")
            said = re.fullmatch(r"loading (\d+) of 240 athletes", source.health.progress or "")
            assert said is not None and 100 <= int(said.group(1)) < 240, source.health.progress
            bbt.hang_pages = set()
            bbt.hang.set()  # lets the pages waiting go; the toplists coming are held again
            bbt.hang.clear()
            await until(lambda: bbt.requests["/results/toplistforpoint"] > 0, what="the lists read")
            points = len(bbt.points)
            assert source.health.progress == f"loading the times at 0 of {points} timing points"
            bbt.hang_routes = set()
            bbt.hang.set()
            await until(lambda: source.syncs == 1, what="the first load done")
            assert source.health.progress is None


@pytest.mark.parametrize("paging", ["no_totals", "bare"])
async def test_the_first_load_without_totals_says_what_it_knows(paging: str) -> None:
    async with FakeBBT(athletes=240) as bbt:
        bbt.variant.paging = paging
        bbt.hang.clear()
        bbt.hang_pages = {("/results/list", 2)}
        source = BBTSource(bbt.url, page_size=50, **FAST)
        async with running(source, Pipeline()):
            await until(lambda: source.health.progress is not None, what="the progress")
            assert re.fullmatch(r"loading \d+ athletes", source.health.progress or ""), source.health.progress
            bbt.hang_pages = set()
            bbt.hang.set()
