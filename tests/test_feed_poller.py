"""The v1.1 feed poller against a real local HTTP server and real files.

The server is the hosted-file stand-in (tests/fakes/hosted.py: ``GET /feed`` with
ETag / Last-Modified and 304s, as a static web server answers) on a free loopback port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from racetui.sources.base import FeedState, Pipeline, SourceMode
from racetui.sources.feed import CREDENTIALS_REJECTED, FeedSource, display_target
from racetui.sources.journal import Journal, read_journal
from tests.fakes.asgi import ServerThread
from tests.fakes.hosted import HostedFeed
from tests.support import INDIVIDUAL, async_wait_until

SECRET = "k3y-SHOULD-NOT-LEAK"


def message(**athlete_changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    data["athletes"][1].update(athlete_changes)
    return data


@pytest.fixture
def server() -> Iterator[tuple[str, HostedFeed]]:
    feed = HostedFeed(orjson.dumps(message()))
    with ServerThread(feed.app()) as running:
        yield f"{running.url}/feed", feed


async def test_etag_304_does_not_reapply(server: tuple[str, HostedFeed]) -> None:
    url, feed = server
    feed.etag = '"v1"'
    pipeline = Pipeline()
    source = FeedSource(url, interval=0.01)
    assert source.health.mode is SourceMode.POLLING
    assert await source.poll_once(pipeline) is True
    standings = pipeline.engine.race("307158")
    assert {e.bib for e in standings.entries.values()} == {"26", "22"}
    assert source.health.state is FeedState.CONNECTED and source.health.messages == 1
    version = pipeline.engine.version

    assert await source.poll_once(pipeline) is False
    assert feed.requests[-1]["if-none-match"] == '"v1"'
    assert pipeline.engine.version == version
    assert source.health.messages == 1

    feed.body = orjson.dumps(message(status="DNF"))
    feed.etag = '"v2"'
    pipeline.drain()
    assert await source.poll_once(pipeline) is True
    assert standings.entries["22"].status.value == "DNF"
    assert source.last_update is not None
    assert source.last_update.changed_bibs == ["22"]
    assert pipeline.drain().athletes == {"307158": {"22"}}
    await source.aclose()


async def test_last_modified_and_servers_without_validators(server: tuple[str, HostedFeed]) -> None:
    url, feed = server
    feed.last_modified = "Sun, 11 Jun 2017 17:03:12 GMT"
    pipeline = Pipeline()
    source = FeedSource(url)
    assert await source.poll_once(pipeline) is True
    assert await source.poll_once(pipeline) is False
    assert feed.requests[-1]["if-modified-since"] == "Sun, 11 Jun 2017 17:03:12 GMT"
    feed.last_modified = None  # now a server that always sends the whole body
    version = pipeline.engine.version
    assert await source.poll_once(pipeline) is False  # same bytes: not applied again
    assert pipeline.engine.version == version
    await source.aclose()


async def test_world_triathlon_envelope_and_apikey(server: tuple[str, HostedFeed]) -> None:
    url, feed = server
    feed.body = orjson.dumps({"code": 200, "status": "success", "data": message()})
    pipeline = Pipeline()
    source = FeedSource(url, apikey=SECRET, headers={"X-Extra": "1"})
    assert await source.poll_once(pipeline) is True
    assert feed.requests[-1]["apikey"] == SECRET
    assert feed.requests[-1]["x-extra"] == "1"
    assert len(pipeline.engine.race("307158")) == 2

    feed.body = orjson.dumps({"code": 404, "status": "fail", "data": {"message": "Program not found"}})
    assert await source.poll_once(pipeline) is False
    assert source.health.state is FeedState.ERROR
    assert "Program not found" in (source.health.last_error or "")
    assert len(pipeline.engine.race("307158")) == 2  # the last good state stays

    feed.status = 500
    feed.body = orjson.dumps({"code": 500, "status": "error", "message": "database down"})
    assert await source.poll_once(pipeline) is False
    assert source.health.last_error == f"{display_target(url)}: HTTP 500: database down"
    assert source.health.reconnects == 2
    await source.aclose()


async def test_credentials_rejected(server: tuple[str, HostedFeed], caplog: pytest.LogCaptureFixture) -> None:
    url, feed = server
    caplog.set_level(logging.DEBUG)
    for status in (401, 403):
        feed.status = status
        feed.body = orjson.dumps({"code": status, "status": "fail", "data": {"message": f"bad key {SECRET}"}})
        source = FeedSource(
            url + "?token=t0ken-secret", apikey=SECRET, headers={"Authorization": "Bearer abcdef"}
        )
        assert await source.poll_once(Pipeline()) is False
        assert source.health.last_error == CREDENTIALS_REJECTED
        assert source.health.state is FeedState.ERROR
        await source.aclose()
    for secret in (SECRET, "t0ken-secret", "abcdef"):
        assert secret not in caplog.text
        assert secret not in source.name
        assert secret not in repr(source.health)


async def test_garbage_keeps_last_good_state(server: tuple[str, HostedFeed]) -> None:
    url, feed = server
    pipeline = Pipeline()
    source = FeedSource(url)
    assert await source.poll_once(pipeline) is True
    before = {bib: entry.times for bib, entry in pipeline.engine.race("307158").entries.items()}
    for garbage in (b'{"athletes": [{"start_num": "26", "spl', b"<html>502 Bad Gateway</html>", b"[]"):
        feed.body = garbage
        assert await source.poll_once(pipeline) is False
        assert source.health.state is FeedState.ERROR
        assert "rejected message" in (source.health.last_error or "")
    assert source.health.rejected == 3
    assert source.health.reconnects == 3
    assert {bib: e.times for bib, e in pipeline.engine.race("307158").entries.items()} == before
    # the same garbage again is not counted again
    assert await source.poll_once(pipeline) is False
    assert source.health.rejected == 3
    feed.body = orjson.dumps(message(status="DSQ"))
    assert await source.poll_once(pipeline) is True
    assert source.health.state is FeedState.CONNECTED
    assert source.health.reconnects == 0
    assert pipeline.engine.race("307158").entries["22"].status.value == "DSQ"
    await source.aclose()


async def test_bad_athlete_fields_are_warnings_not_errors(server: tuple[str, HostedFeed]) -> None:
    url, feed = server
    data = message()
    data["athletes"][1]["splits"][0]["total_time"] = "-1"
    feed.body = orjson.dumps(data)
    pipeline = Pipeline()
    source = FeedSource(url)
    assert await source.poll_once(pipeline) is True
    assert source.health.state is FeedState.CONNECTED
    assert pipeline.errors == ["athlete 22: splits[1].total_time: negative time: '-1'"]
    assert source.warnings == pipeline.errors
    await source.aclose()


async def test_unreachable_and_slow_servers(server: tuple[str, HostedFeed]) -> None:
    url, feed = server
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    source = FeedSource(f"http://127.0.0.1:{closed_port}/feed")
    assert await source.poll_once(Pipeline()) is False
    assert source.health.state is FeedState.ERROR
    assert (source.health.last_error or "").startswith(
        f"http://127.0.0.1:{closed_port}/feed: can't reach 127.0.0.1:{closed_port}"
    )
    await source.aclose()

    feed.delay = 0.5
    slow = FeedSource(url, timeout=0.1)
    assert await slow.poll_once(Pipeline()) is False
    assert slow.health.last_error == f"{url}: no answer within 0.1 s"
    await slow.aclose()


async def test_run_loop_survives_failures_and_follows_changes(server: tuple[str, HostedFeed]) -> None:
    url, feed = server
    feed.status = 503
    pipeline = Pipeline()
    source = FeedSource(url, interval=0.02)
    task = asyncio.create_task(source.run(pipeline))
    try:
        await async_wait_until(lambda: source.health.reconnects >= 2, what="two failed polls")
        assert source.health.state is FeedState.ERROR
        feed.status = 200
        await async_wait_until(lambda: "307158" in pipeline.engine.races, what="the race after recovery")
        assert len(pipeline.engine.race("307158")) == 2
        feed.body = orjson.dumps(message(status="DNS"))
        await async_wait_until(
            lambda: pipeline.engine.race("307158").entries["22"].status.value == "DNS", what="bib 22's DNS"
        )
        assert source.health.effective_state() is FeedState.CONNECTED
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert source.health.effective_state() is FeedState.STOPPED


async def test_journal_records_every_body(server: tuple[str, HostedFeed], tmp_path: Path) -> None:
    url, feed = server
    journal = Journal(tmp_path / "feed.jsonl.gz", source="v1.1 test")
    source = FeedSource(url, journal=journal, apikey=SECRET)
    pipeline = Pipeline()
    await source.poll_once(pipeline)
    feed.body = b"not json"
    await source.poll_once(pipeline)
    journal.close()
    records = read_journal(tmp_path / "feed.jsonl.gz")
    assert [r["kind"] for r in records] == ["feed", "feed"]
    assert records[0]["body"]["prog_id"] == "307158"
    assert records[1]["body"] == "not json"
    assert SECRET.encode() not in (tmp_path / "feed.jsonl.gz").read_bytes()
    assert source.health.journal_path == str(tmp_path / "feed.jsonl.gz")
    await source.aclose()


async def test_local_file_that_changes(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_bytes(orjson.dumps(message()))
    pipeline = Pipeline()
    source = FeedSource(str(path))
    assert source.health.mode is SourceMode.FILE
    assert await source.poll_once(pipeline) is True
    assert await source.poll_once(pipeline) is False
    path.write_bytes(
        orjson.dumps(message(status="DNF", incidents="Withdrew from the race due to bike crash."))
    )
    assert await source.poll_once(pipeline) is True
    entry = pipeline.engine.race("307158").entries["22"]
    assert entry.status.value == "DNF"
    assert entry.incidents[0].text == "Withdrew from the race due to bike crash."
    path.write_bytes(b'{"athletes": [')  # a timer caught mid-write
    assert await source.poll_once(pipeline) is False
    assert source.health.state is FeedState.ERROR
    assert pipeline.engine.race("307158").entries["22"].status.value == "DNF"
    path.unlink()
    assert await source.poll_once(pipeline) is False
    assert source.health.last_error == f"{path}: cannot read: No such file or directory"
    path.write_bytes(orjson.dumps(message()))
    assert await source.poll_once(pipeline) is True
    assert source.health.effective_state() is FeedState.CONNECTED
    assert pipeline.engine.race("307158").entries["22"].status.value == "OK"


async def test_file_url_and_bad_targets(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_bytes(orjson.dumps(message()))
    source = FeedSource(path.as_uri())
    assert await source.poll_once(Pipeline()) is True
    with pytest.raises(ValueError, match="ftp://host/x"):
        FeedSource("ftp://user:pw@host/x")
    assert display_target("https://user:pw@api.example.org:8443/v1/live/timing/1?apikey=zz") == (
        "https://api.example.org:8443/v1/live/timing/1"
    )
