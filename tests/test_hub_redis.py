"""The hub's stream on a real redis-server (a free loopback port, no mock): viewers fed by
a hub that reads the real simulator over real sockets must hold the simulator's truth,
through a late join, a trimmed stream, a Redis restart and a hub restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from racetui.hub.records import HealthRec
from racetui.hub.redis import RedisChannel, RedisHubWriter, RedisViewer, keys, run_hub
from racetui.hub.replica import Replica, ReplicaPipeline
from racetui.sim import RaceSpec, SimConfig, running_sim
from racetui.sources.bbt import BBTSource
from tests.fakes.bbt import FakeBBT, engine_state, until
from tests.fakes.redis import RedisServer
from tests.test_bbt_client import FAST, matches
from tests.test_bbt_sim import holds_the_truth

RACES = (
    RaceSpec(kind="road", variant="10k", entries=200, start_mode="waves"),
    RaceSpec(kind="triathlon", variant="sprint", entries=40, start_after_s=60),
)


@contextlib.asynccontextmanager
async def task_of(coro: Any) -> AsyncIterator[asyncio.Task[Any]]:
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        await stop(task)


async def stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), 30)


def viewer(url: str) -> tuple[RedisViewer, ReplicaPipeline]:
    link = RedisViewer(url, [HealthRec("bbt", "push", "connecting", None)])
    return link, link.pipeline()


async def test_two_viewers_and_a_late_joiner_hold_the_truth_through_redis_and_hub_restarts(
    redis_server: RedisServer,
) -> None:
    url = redis_server.url
    async with running_sim(SimConfig(races=RACES, clock="manual", countdown=20, seed=5)) as sim:
        hubs: list[Any] = []

        def hub() -> Any:
            return run_hub(
                [BBTSource(sim.base_url, name="bbt", **FAST)],
                url,
                snapshot_every=0.3,
                started=lambda h, w: hubs.append(h),
            )

        (a, pa), (b, pb) = viewer(url), viewer(url)
        hub_task = asyncio.create_task(hub())
        try:
            async with task_of(a.run(pa)), task_of(b.run(pb)):
                await until(lambda: a.replica is not None and a.replica.synced, what="viewer a synced")
                await until(lambda: b.replica is not None and b.replica.synced, what="viewer b synced")
                for _ in range(6):
                    await sim.advance(120)
                    await asyncio.sleep(0)
                await until(lambda: holds_the_truth(sim, pa) and holds_the_truth(sim, pb), what="mid race")
                assert sum(len(s.entries) for s in pa.engine.races.values()) == 240
                # Redis restarts (empty: no persistence) while the race goes on.
                redis_server.stop()
                await sim.advance(300)
                redis_server.start()
                await sim.advance(60)
                await until(
                    lambda: holds_the_truth(sim, pa) and holds_the_truth(sim, pb),
                    timeout=60,
                    what="the truth after a Redis restart",
                )
                assert a.channel is not None and a.channel.reconnects >= 1
                # The hub restarts: a new epoch, the viewers re-read its snapshot.
                await stop(hub_task)
                snapshots = a.channel.snapshots
                hub_task = asyncio.create_task(hub())
                while not sim.finished:
                    await sim.advance(300)
                    await asyncio.sleep(0)
                await until(lambda: a.channel is not None and a.channel.snapshots > snapshots, what="re-read")
                # A fresh BBT sync of a finished race is the new hub's truth (the master's
                # REST answers omit some splits of a disqualified athlete): the viewers
                # must hold exactly what the new hub holds.
                fresh = hubs[-1].pipeline
                await until(lambda: len(engine_state(fresh)) == 240, timeout=60, what="the new hub synced")
                await until(
                    lambda: engine_state(pa) == engine_state(fresh) == engine_state(pb),
                    timeout=60,
                    what="the viewers equal to the new hub",
                )
                # A late joiner: the snapshot, then the stream.
                late, pl = viewer(url)
                async with task_of(late.run(pl)):
                    try:
                        await until(lambda: engine_state(pl) == engine_state(fresh), what="the late joiner")
                    except AssertionError:
                        x, y = engine_state(pl), engine_state(fresh)
                        diff = [(k, x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)]
                        raise AssertionError(f"{len(x)} vs {len(y)}: {diff[:3]}") from None
        finally:
            await stop(hub_task)


async def test_deletions_on_the_master_reach_a_redis_viewer(redis_server: RedisServer) -> None:
    url = redis_server.url
    async with FakeBBT(athletes=40) as bbt:
        await bbt.advance(2_000_000)
        source = BBTSource(bbt.url, name="bbt", list_refresh=0.05, **FAST)
        link, replica = viewer(url)
        async with task_of(run_hub([source], url, snapshot_every=0.3)), task_of(link.run(replica)):
            await until(lambda: matches(bbt, replica), what="the first load in the viewer")
            gone = next(a for a in bbt.athletes.values() if a.race_id == 1)
            bbt.delete_athlete(gone.racenum, race_id=1)
            await until(lambda: matches(bbt, replica), what="the deletion in the viewer")
        assert gone.racenum not in replica.engine.races["1"].entries


async def test_a_viewer_behind_the_trimmed_stream_re_reads_the_snapshot(redis_server: RedisServer) -> None:
    url = redis_server.url
    async with running_sim(SimConfig(races=RACES[:1], clock="manual", countdown=5, seed=9)) as sim:
        source = BBTSource(sim.base_url, name="bbt", **FAST)
        writers: list[RedisHubWriter] = []
        hub = run_hub([source], url, maxlen=20, snapshot_every=0.1, started=lambda h, w: writers.append(w))
        async with task_of(hub):
            channel = RedisChannel(url)
            replica = Replica(ReplicaPipeline())

            async def read_until_synced() -> None:
                while not replica.synced:
                    data = await channel.receive()
                    assert data is not None
                    if replica.handle(data):
                        await channel.send(b"")  # not a request: ignored

            await asyncio.wait_for(read_until_synced(), 60)
            # The viewer stalls while the race goes on, until the stream (20 entries) no
            # longer holds the frame after the viewer's.
            client = redis_server.client()
            stream = keys("racetui")[0]

            def oldest_frame() -> int:
                for _id, fields in client.xrange(stream, count=30):
                    if b"s" in fields:
                        return int(fields[b"s"])
                return 0

            assert replica.seq is not None
            await until(lambda: bool(writers), what="the hub's writer")
            writer = writers[0]
            while oldest_frame() <= replica.seq + 1 and not sim.finished:
                await sim.advance(20)
                # the hub's turn: it holds what the race did, and has written it to Redis
                await until(
                    lambda: (
                        writer.hub is not None
                        and holds_the_truth(sim, writer.hub.pipeline)
                        and not writer.queue
                    ),
                    what="the hub caught up and wrote",
                )
            assert oldest_frame() > replica.seq + 1, "the race ended before the stream was trimmed"
            gaps = replica.gaps

            async def follow_to_truth() -> None:
                from racetui.hub.records import Request, encode_request

                while not (
                    # the replica sees the gap in the frame numbers, or the channel a
                    # snapshot's marker past the frames it read
                    (replica.gaps > gaps or channel.trims > 0)
                    and channel.snapshots >= 2
                    and replica.seq is not None
                    and holds_the_truth(sim, replica.pipeline)
                ):
                    data = await channel.receive()
                    assert data is not None
                    if replica.handle(data):
                        await channel.send(encode_request(Request("snapshot")))

            try:
                await asyncio.wait_for(follow_to_truth(), 60)
            except TimeoutError:
                raise AssertionError(
                    f"gaps {replica.gaps} (was {gaps}), trims {channel.trims}, "
                    f"synced {replica.synced}, seq {replica.seq}, "
                    f"snapshots {channel.snapshots}, truth {holds_the_truth(sim, replica.pipeline)}"
                ) from None
            assert channel.snapshots >= 2
            await channel.close()
            client.close()


async def test_writer_keeps_frames_while_redis_is_away(redis_server: RedisServer) -> None:
    """Frames published while Redis is down stay queued; the fresh snapshot at reconnect
    covers them (nothing is lost, nothing is written twice)."""
    from racetui.hub.core import Hub

    writer = RedisHubWriter(redis_server.url, snapshot_every=3600)
    hub = Hub([], writer.publish)
    writer.hub = hub
    async with task_of(writer.run()):
        await until(lambda: writer.connected, what="connected")
        hub.error("first")
        hub.flush()
        await until(lambda: writer.written >= 1, what="one frame written")
        redis_server.stop()
        hub.error("while away")
        hub.flush()
        assert len(writer.queue) >= 0
        redis_server.start()
        await until(lambda: writer.connected and writer.snapshots >= 2, timeout=60, what="fresh snapshot")
        client = redis_server.client()
        meta = client.hgetall(keys("racetui")[2])
        assert int(meta[b"seq"]) == hub.seq
        client.close()


async def test_writer_notices_a_redis_that_lost_its_state_without_dropping_the_connection(
    redis_server: RedisServer,
) -> None:
    """The client library reconnects to a restarted Redis on its own (its retry), so a
    restart may never reach the writer as an error: the meta's epoch, read with every
    batch, tells it the snapshot is gone. FLUSHALL on the same connection is that case
    without the race between the restart and the library's retry."""
    from racetui.hub.core import Hub

    writer = RedisHubWriter(redis_server.url, snapshot_every=3600)
    hub = Hub([], writer.publish)
    writer.hub = hub
    client = redis_server.client()
    meta_key = keys("racetui")[2]
    async with task_of(writer.run()):
        await until(lambda: writer.connected, what="connected")
        hub.error("first")
        hub.flush()
        await until(lambda: writer.written >= 1, what="one frame written")
        first_epoch = writer.epoch
        assert writer.snapshots == 1
        client.flushall()
        hub.error("after the flush")
        hub.flush()
        await until(lambda: writer.snapshots >= 2, what="a fresh snapshot")
        meta = client.hgetall(meta_key)
        assert int(meta[b"seq"]) == hub.seq
        assert meta[b"epoch"].decode() == writer.epoch != first_epoch
        assert "lost" in (writer.last_error or "")
        hub.error("later")
        hub.flush()
        await until(lambda: not writer.queue, what="the next frame written")
        assert writer.snapshots == 2  # one fresh snapshot, not one a batch
    client.close()


async def test_writer_says_once_that_another_hub_writes_to_its_prefix(
    redis_server: RedisServer, caplog: Any
) -> None:
    """Two hubs on one prefix is a set-up mistake: say so once, name the fix, and don't
    rewrite the snapshot to win the meta back."""
    from racetui.hub.core import Hub

    writer = RedisHubWriter(redis_server.url, snapshot_every=3600)
    hub = Hub([], writer.publish)
    writer.hub = hub
    client = redis_server.client()
    async with task_of(writer.run()):
        await until(lambda: writer.connected, what="connected")
        client.hset(keys("racetui")[2], "epoch", "another-hub")
        for n in range(3):
            hub.error(f"frame {n}")
            hub.flush()
            await until(lambda: not writer.queue, what="frames written")
        assert writer.snapshots == 1
    client.close()
    said = [r.getMessage() for r in caplog.records if "another hub" in r.getMessage()]
    assert len(said) == 1 and "--prefix" in said[0]


async def test_the_stream_keeps_frames_behind_snapshots_for_slow_joiners(redis_server: RedisServer) -> None:
    """MINID trims only to a snapshot at least ``keep`` seconds old: a viewer that needs
    longer than the snapshot interval to apply a snapshot still finds the frames after it;
    with ``keep`` 0 the stream is cut at the newest snapshot."""
    from racetui.hub.core import Hub

    client = redis_server.client()
    stream = keys("racetui")[0]
    for keep, prefix in ((3600.0, "long"), (0.0, "short")):
        writer = RedisHubWriter(redis_server.url, prefix=prefix, snapshot_every=0.0, keep=keep)
        hub = Hub([], writer.publish)
        writer.hub = hub
        async with task_of(writer.run()):
            await until(lambda w=writer: w.connected, what="connected")  # type: ignore[misc]
            for n in range(5):
                hub.error(f"frame {n}")
                hub.flush()
                await until(
                    lambda w=writer, n=n: w.written > n and w.snapshots > n + 1,  # type: ignore[misc]
                    what=f"frame {n} and a snapshot after it",
                )
        frames = [f for _id, f in client.xrange(f"{prefix}:stream") if b"f" in f]
        if keep:
            assert len(frames) == 5  # every frame since the first snapshot is still there
        else:
            assert len(frames) <= 1  # only what followed the newest snapshot
    assert stream == "racetui:stream"
    client.close()
