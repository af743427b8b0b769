"""The header of ``racetui view redis://…`` shows the hub's source state, not "connecting":
a real redis-server, a hub reading the spec's v1.1 example file, viewers waiting on
conditions only."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio

from racetui.hub.records import HealthRec
from racetui.hub.redis import RedisViewer, keys, run_hub
from racetui.sources.feed import FeedSource
from racetui.tui.rows import health_badge
from tests.fakes.bbt import until
from tests.fakes.redis import RedisServer
from tests.support import INDIVIDUAL


async def stop(task: asyncio.Task[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), 30)


def athletes(link: RedisViewer) -> int:
    replica = link.replica
    return 0 if replica is None else sum(len(s.entries) for s in replica.pipeline.engine.races.values())


def holds_athletes(link: RedisViewer) -> bool:
    from racetui.hub.records import AddParticipants, ApplyResults, Frame

    follower = link.follower
    if follower is None:
        return False
    frames = (item for item in follower.buffer if isinstance(item, Frame))
    changes = (change for frame in frames for change in frame.changes)
    return any(isinstance(change, AddParticipants | ApplyResults) and change.items for change in changes)


async def test_a_viewer_opened_before_the_hub_shows_the_feeds_state(redis_server: RedisServer) -> None:
    url = redis_server.url
    link = await asyncio.to_thread(RedisViewer.open, url)  # no hub yet: nothing names a source
    (source,) = link.sources
    assert health_badge(source.health) == ("… connecting", "rt--dim")
    feed = FeedSource(str(INDIVIDUAL), name="timing")
    hub = asyncio.create_task(run_hub([feed], url, snapshot_every=0.3))
    view = asyncio.create_task(link.run(link.pipeline()))
    try:
        await until(lambda: athletes(link) > 0 and link.ready(), what="the board filled")
        await until(lambda: source.name == "timing", what="the hub's source named")
        await until(lambda: health_badge(source.health)[0] == "▤ file", what="the feed's state")
        assert source.health.messages == feed.health.messages >= 1
    finally:
        await stop(view)
        await stop(hub)


async def test_a_late_viewer_reads_the_state_from_the_snapshot(redis_server: RedisServer) -> None:
    """The file feed says its state once; a viewer joining once that frame is trimmed from
    the stream (MAXLEN, MINID) learns it from the snapshot. This one is built with a
    placeholder name, as ``racetui publish redis://…`` builds it."""
    url = redis_server.url
    feed = FeedSource(str(INDIVIDUAL), name="timing")
    hub = asyncio.create_task(run_hub([feed], url, snapshot_every=0.3))
    first = RedisViewer(url, [HealthRec("hub", "push", "connecting", None)])
    task = asyncio.create_task(first.run(first.pipeline()))
    try:
        await until(lambda: athletes(first) > 0 and first.sources[0].name == "timing", what="first viewer")
    finally:
        await stop(task)
    stream = keys("racetui")[0]
    client = redis.asyncio.from_url(url)
    try:
        await client.xtrim(stream, maxlen=0)  # the health frame trimmed away
    finally:
        await client.aclose()
    late = RedisViewer(url, [HealthRec("hub", "push", "connecting", None)])
    task = asyncio.create_task(late.run(late.pipeline()))
    try:
        (source,) = late.sources
        await until(lambda: athletes(late) > 0 and source.name == "timing", what="the late viewer")
        assert health_badge(source.health) == ("▤ file", "rt--gain")
    finally:
        await stop(task)
        await stop(hub)


async def test_a_viewer_whose_frames_were_trimmed_re_reads_the_snapshot_a_marker_names(
    redis_server: RedisServer,
) -> None:
    """A viewer reads a snapshot, then the stream after it, but the frames that followed
    were trimmed before it read them and nothing newer comes: only the next snapshot's
    marker (``seq``) says frames are missing. The viewer reads the snapshot again."""
    from racetui.hub.records import Frame, Reset, encode_frame
    from racetui.hub.redis import RedisChannel
    from racetui.hub.replica import Replica, ReplicaPipeline

    url = redis_server.url
    stream, snapshot_key, meta_key = keys("racetui")
    hub = asyncio.create_task(run_hub([FeedSource(str(INDIVIDUAL), name="timing")], url, snapshot_every=0.3))
    client = redis_server.client()
    try:

        def loaded() -> bool:  # the hub's latest snapshot holds the feed's athletes
            return len(client.lrange(snapshot_key, 0, -1)) > 1 and len(client.xrange(stream)) > 2

        await until(loaded, what="a snapshot with the feed in it")
    finally:
        await stop(hub)
    meta = client.hgetall(meta_key)
    good = client.lrange(snapshot_key, 0, -1)
    seq = int(meta[b"seq"])
    # What a viewer finds when it joins just after the hub started: the snapshot of frame 0
    # (no athletes yet), and a stream whose frames 1..seq are already trimmed away.
    client.delete(snapshot_key)
    client.rpush(snapshot_key, encode_frame(Frame(0, [Reset(athletes=0, frames=1)], snapshot=True)))
    client.hset(meta_key, mapping={"seq": 0, "after": "0-0"})
    client.xtrim(stream, maxlen=0)
    channel = RedisChannel(url)
    replica = Replica(ReplicaPipeline())
    got_snapshot = asyncio.Event()

    async def follow() -> None:
        while (data := await channel.receive()) is not None:
            replica.handle(data)
            if replica.synced:
                got_snapshot.set()

    task = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(got_snapshot.wait(), 30)
        assert replica.seq == 0 and not replica.pipeline.engine.races
        # The hub's next snapshot: the whole state, and its marker in the stream
        client.delete(snapshot_key)
        client.rpush(snapshot_key, *good)
        client.hset(meta_key, mapping={"seq": seq})
        client.xadd(stream, {"epoch": meta[b"epoch"], "seq": seq})
        engine = replica.pipeline.engine
        await until(
            lambda: sum(len(s.entries) for s in engine.races.values()) > 0, what="the re-read snapshot"
        )
        assert replica.seq == seq and channel.snapshots == 2
    finally:
        await stop(task)
        await channel.close()
        client.close()


async def test_a_viewer_holds_the_hubs_frames_for_its_tv_delay(redis_server: RedisServer) -> None:
    """``racetui view`` takes the TV delay as a dashboard on its embedded hub does: the
    frames wait for it (a driven clock moves it), nothing is lost."""
    from datetime import UTC, datetime, timedelta

    from racetui.hub.delay import TvDelay

    now = [datetime(2026, 12, 2, 9, 0, tzinfo=UTC)]
    tv = TvDelay(lambda: now[0])
    tv.set(30_000)
    url = redis_server.url
    feed = FeedSource(str(INDIVIDUAL), name="timing")
    hub = asyncio.create_task(run_hub([feed], url, snapshot_every=0.3))
    link = RedisViewer(url, [HealthRec("hub", "push", "connecting", None)])
    link.delay = tv
    task = asyncio.create_task(link.run(link.pipeline()))
    try:
        # The clock is frozen: the frames that carry the athletes must be held before it
        # moves, or they would be due 30 s after the jump (which a frozen clock never reaches).
        await until(lambda: holds_athletes(link), what="the snapshot's athletes held")
        assert athletes(link) == 0  # held: the picture is 30 s behind
        # the sources' health is about now: never held
        await until(lambda: link.sources[0].name == "timing", what="the hub's source named")
        assert athletes(link) == 0
        now[0] += timedelta(seconds=31)
        await until(lambda: athletes(link) > 0, what="the held frames applied once due")
    finally:
        await stop(task)
        await stop(hub)
