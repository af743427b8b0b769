"""The hub and its replicas: a real child process on a real socket pair, fed by the real
simulator over real sockets; the replica must hold the simulator's truth and show the same
rows as a direct connection, a gap in the numbers must bring a snapshot, the hub must end
with its parent and its failures must reach the viewer's health."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from racetui.engine import Engine
from racetui.hub.core import FRAME_ITEMS, Hub
from racetui.hub.delay import DelayedFollower, TvDelay, follow_delayed
from racetui.hub.local import HUB_NICE, HubError, LocalHub, fork_available
from racetui.hub.records import ApplyResults, Frame, decode_frame, encode_frame
from racetui.hub.replica import Replica, ReplicaPipeline, follow
from racetui.model import Event, Participant, Passing, Race, Result, Status, TimingPoint
from racetui.sim import RaceSpec, SimConfig, running_sim
from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode, source_kinds
from racetui.sources.bbt import BBTSource
from racetui.util.heap import FullPassHold
from tests.fakes.bbt import FakeBBT, engine_finishers, engine_state, until
from tests.support import wait_until
from tests.test_bbt_client import FAST, matches, running
from tests.test_bbt_sim import holds_the_truth, step

pytestmark = pytest.mark.skipif(not fork_available(), reason="the embedded hub needs fork")

RACES = (
    RaceSpec(kind="road", variant="10k", entries=300, start_mode="waves"),
    RaceSpec(kind="triathlon", variant="sprint", entries=60, start_after_s=120),
    RaceSpec(kind="relay", entries=8, start_after_s=240),
)


def all_rows(engine: Engine) -> dict[str, list[Any]]:
    """Every race's leaderboard (and each point's), as the read side gives it."""
    rows: dict[str, list[Any]] = {}
    for race_id, standings in engine.races.items():
        rows[race_id] = standings.view().rows(0, 10**9)
        for point in standings.points:
            rows[f"{race_id}@{point.id}"] = standings.view(point_id=point.id).rows(0, 10**9)
    return rows


@contextlib.asynccontextmanager
async def following(hub: LocalHub, pipeline: ReplicaPipeline) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(hub.run(pipeline))
    try:
        yield task
    finally:
        hub.close()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)


async def test_replica_holds_the_truth_and_the_rows_of_a_direct_connection() -> None:
    async with running_sim(SimConfig(races=RACES, clock="manual", countdown=30, seed=3)) as sim:
        url = sim.base_url
        hub = LocalHub.start(lambda: [BBTSource(url, name="bbt", **FAST)])
        assert [s.name for s in hub.sources] == ["bbt"]
        replica = ReplicaPipeline()
        direct = Pipeline()
        source = BBTSource(url, name="direct", **FAST)
        async with running(source, direct), following(hub, replica):
            await until(lambda: source.syncs > 0 and source.health.mode is SourceMode.PUSH, what="sync")
            await until(lambda: hub.replica is not None and hub.replica.synced, what="replica synced")
            await until(lambda: hub.sources[0].health.mode is SourceMode.PUSH, what="hub on push")
            while not sim.finished:
                await step(sim, 120)
            await until(lambda: holds_the_truth(sim, direct), timeout=30, what="direct holds the truth")
            await until(lambda: holds_the_truth(sim, replica), timeout=30, what="replica holds the truth")
            for race_id in sim.state.runs:
                assert engine_finishers(replica, race_id), f"race {race_id} has finishers"
            assert all_rows(replica.engine) == all_rows(direct.engine)
            health = hub.sources[0].health
            assert health.messages > 0 and health.effective_state() is FeedState.CONNECTED
            assert hub.replica is not None and hub.replica.gaps == 0
            # Desk entries, TV delays and notes are keyed by what the sources are: the same
            # event through the hub and in-process (once a 'RemoteSource' key kept them apart).
            assert source_kinds(hub.sources) == source_kinds([source]) == "BBTSource"


# --------------------------------------------------------------------- protocol
@pytest.mark.parametrize("poll", [False, True], ids=["push", "polling"])
async def test_deletions_on_the_master_reach_the_replica(poll: bool) -> None:
    async with FakeBBT(athletes=40) as bbt:
        await bbt.advance(2_000_000)
        url = bbt.url
        hub = LocalHub.start(lambda: [BBTSource(url, name="bbt", poll=poll, list_refresh=0.05, **FAST)])
        replica = ReplicaPipeline()
        async with following(hub, replica):
            await until(lambda: matches(bbt, replica), what="the first load in the replica")
            athlete = next(a for a in bbt.athletes.values() if a.race_id == 1 and len(a.splits) >= 2)
            last = max(athlete.splits, key=lambda p: bbt.point(p)["order"])
            bbt.delete_pass(athlete.racenum, last, race_id=1)
            gone = next(a for a in bbt.athletes.values() if a.race_id == 1 and a is not athlete)
            bbt.delete_athlete(gone.racenum, race_id=1)
            await until(lambda: matches(bbt, replica), what="the deletions in the replica")
        assert gone.racenum not in replica.engine.races["1"].entries
        assert str(last) not in engine_state(replica)[("1", athlete.racenum)][1]


def small_event(athletes: int) -> tuple[Event, list[Participant]]:
    points = [
        TimingPoint(id=f"p{i}", race_id="r1", name=f"km {i}", order=i, is_finish=i == 3) for i in (1, 2, 3)
    ]
    race = Race(id="r1", name="10k", points=points)
    people = [
        Participant(bib=str(n), race_id="r1", first_name="A", last_name=f"N{n}", gender="MF"[n % 2])
        for n in range(1, athletes + 1)
    ]
    return Event(id="e", name="Test event", races=[race]), people


async def test_a_gap_in_the_numbers_brings_the_snapshot_again() -> None:
    frames: list[bytes] = []
    hub = Hub([], frames.append)
    event, people = small_event(1000)
    hub.pipeline.load_event(event)
    hub.pipeline.add_participants(people)
    hub.flush()
    replica = Replica()
    for data in hub.snapshot():
        assert replica.handle(data) is False
    assert replica.synced and replica.seq == hub.seq
    assert sum(len(s.entries) for s in replica.pipeline.engine.races.values()) == 1000

    frames.clear()
    for n in range(1, 31):
        hub.pipeline.apply_passings([Passing(race_id="r1", bib=str(n), point_id="p1", time_ms=60_000 + n)])
        hub.flush()
    assert len(frames) == 30
    for data in frames[:10]:
        assert replica.handle(data) is False
    # frame 11 is lost: frame 12 is a gap; the replica asks for a snapshot and ignores the rest
    assert replica.handle(frames[11]) is True
    assert replica.gaps == 1 and replica.seq is None
    for data in frames[12:]:
        assert replica.handle(data) is False
    assert replica.pipeline.engine.races["r1"].view(point_id="p1").rows(0, 100)[-1].bib == "10"
    for data in hub.snapshot():
        replica.handle(data)
    assert replica.snapshots == 2 and replica.seq == hub.seq
    assert all_rows(replica.pipeline.engine) == all_rows(hub.engine)
    assert len(replica.pipeline.engine.races["r1"].view(point_id="p1")) == 30


async def test_a_full_message_travels_as_what_changed_and_removals() -> None:
    frames: list[bytes] = []
    hub = Hub([], frames.append)
    event, people = small_event(900)
    race = event.races[0]
    hub.pipeline.load_event(event)
    results = [
        Result(race_id="r1", bib=p.bib, participant=p, splits={"p1": 100_000 + i})
        for i, p in enumerate(people)
    ]
    hub.pipeline.apply_snapshot(race, results)
    hub.flush()
    replica = Replica()
    for data in hub.snapshot():
        replica.handle(data)
    frames.clear()
    # the next full message: two athletes moved on, one DNF, one gone
    changed = list(results[:-1])
    changed[0] = Result(race_id="r1", bib="1", participant=people[0], splits={"p1": 100_000, "p2": 200_000})
    changed[5] = results[5].model_copy(update={"status": Status.DNF})
    hub.pipeline.apply_snapshot(race, changed)
    hub.flush()
    decoded = [decode_frame(f) for f in frames]
    items = [c for f in decoded for c in f.changes]
    sent = sum(len(getattr(c, "items", getattr(c, "bibs", []))) for c in items)
    assert sent == 3, items  # bib 1, bib 6 and the removal of bib 900, not 899 results
    for data in frames:
        replica.handle(data)
    assert all_rows(replica.pipeline.engine) == all_rows(hub.engine)
    assert "900" not in replica.pipeline.engine.races["r1"].entries


def test_frames_stay_small_for_a_big_start_list() -> None:
    frames: list[bytes] = []
    hub = Hub([], frames.append)
    event, people = small_event(5000)
    hub.pipeline.load_event(event)
    hub.pipeline.add_participants(people)
    hub.flush()
    sizes = [sum(len(getattr(c, "items", ())) for c in decode_frame(f).changes) for f in frames]
    assert sum(sizes) == 5000 and max(sizes) <= FRAME_ITEMS
    assert [decode_frame(f).seq for f in frames] == list(range(1, len(frames) + 1))


def test_a_pulled_hub_reads_a_bulk_from_the_engine_frame_by_frame_leaders_first() -> None:
    """A transport that takes frames as it can send them: a 2,000-athlete full message
    waits as the engine's athletes, not encoded; the frames it gets hold what the engine
    holds when each is taken; a snapshot replaces what still waits, the leaders first."""
    hub = Hub([], None, ready=lambda: None)
    event, people = small_event(2000)
    race = event.races[0]
    hub.pipeline.load_event(event)
    results = [
        Result(race_id="r1", bib=p.bib, participant=p, splits={"p1": 900_000 - i})
        for i, p in enumerate(people)
    ]
    replica = Replica()
    hub.request_snapshot()
    while (data := hub.next_frame()) is not None:
        replica.handle(data)
    assert replica.synced
    hub.pipeline.apply_snapshot(race, results)
    hub.flush()
    assert hub.seq == 0  # nothing numbered or encoded until taken
    first = hub.next_frame()
    assert first is not None and hub.seq == 1
    assert (
        sum(len(c.items) for c in decode_frame(first).changes if isinstance(c, ApplyResults)) == FRAME_ITEMS
    )
    replica.handle(first)
    # athlete 2000 passes p2 before its frame is taken: the frame holds the engine's now
    hub.pipeline.apply_passings([Passing(race_id="r1", bib="2000", point_id="p2", time_ms=2_000_000)])
    taken: list[bytes] = []
    while (data := hub.next_frame()) is not None:
        taken.append(data)
    last_results = [c for c in decode_frame(taken[-2]).changes if isinstance(c, ApplyResults)]
    assert [r.splits for r in last_results[0].items if r.bib == "2000"] == [{"p1": 898_001, "p2": 2_000_000}]
    for data in taken:
        assert replica.handle(data) is False
    assert all_rows(replica.pipeline.engine) == all_rows(hub.engine)

    # frames waiting when a viewer asks for a snapshot: the snapshot covers them
    hub.pipeline.apply_passings(
        [Passing(race_id="r1", bib=str(n), point_id="p2", time_ms=3_000_000 - n) for n in range(1100, 1999)]
    )
    hub.flush()
    hub.request_snapshot()
    late = Replica()
    frames = []
    while (data := hub.next_frame()) is not None:
        frames.append(decode_frame(data))
        late.handle(data)
    assert all(f.snapshot and f.seq == hub.seq for f in frames)
    leaders = [r.bib for r in frames[1].changes[0].items[:3]]  # type: ignore[union-attr]
    assert (
        leaders == [row.bib for row in hub.engine.races["r1"].view().rows(0, 3)] == ["2000", "1998", "1997"]
    )
    assert late.synced and all_rows(late.pipeline.engine) == all_rows(hub.engine)


class FramesChannel:
    """The frames a hub wrote, then the end of the stream."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = list(frames)

    async def receive(self) -> bytes | None:
        return self.frames.pop(0) if self.frames else None

    async def send(self, data: bytes) -> None:
        pass


@pytest.mark.parametrize("path", ["follow", "tv-delay"])
async def test_a_load_keeps_the_reads_followed_slice_by_slice(path: str) -> None:
    """Between the slices of a load, the race's end and latest passing are already
    followed: the first read after it does not take the whole load's changes at once.
    The dashboard's hub link follows through the TV delay (with a live replica for the
    publisher): the same holds there, for both replicas. Full collections wait for the
    load (young ones still run)."""
    hub = Hub([], None, ready=lambda: None)
    event, people = small_event(3000)
    hub.pipeline.load_event(event)
    hub.pipeline.apply_snapshot(
        event.races[0],
        [
            Result(race_id="r1", bib=p.bib, participant=p, splits={"p1": 900_000 + i, "p2": 1_800_000 + i})
            for i, p in enumerate(people)
        ],
    )
    hub.request_snapshot()
    frames = []
    while (data := hub.next_frame()) is not None:
        frames.append(data)
    replicas = [Replica()] if path == "follow" else [Replica(), Replica()]
    behind: list[bool] = []

    held: list[bool] = []

    async def pause() -> None:
        held.append(gc.get_threshold()[2] == FullPassHold.HELD)
        for replica in replicas:
            standings = replica.pipeline.engine.races.get("r1")
            if standings is not None and standings.entries:
                behind.append(standings._ended[0] != standings._mutations)

    if path == "follow":
        await follow(FramesChannel(frames), replicas[0], budget=0.0, pause=pause)
    else:
        follower = DelayedFollower(replicas[0], TvDelay(lambda: datetime.now(UTC)), live=replicas[1])
        await follow_delayed(FramesChannel(frames), follower, budget=0.0, pause=pause)
    assert len(behind) > 3 * len(replicas)
    assert not any(behind)
    # no full collection while the snapshot was applied; the thresholds are back after it
    assert all(held) and gc.get_threshold()[2] != FullPassHold.HELD
    for replica in replicas:
        assert replica.synced
        assert replica.pipeline.engine.races["r1"].last_passing_ms() == 1_800_000 + 2999


def test_a_frame_that_is_not_one_is_counted_and_shown() -> None:
    replica = Replica()
    assert replica.handle(b"\x93not a frame") is False
    assert replica.rejected == 1
    assert "hub frame: not a change frame" in replica.pipeline.errors[-1]
    assert replica.handle(encode_frame(Frame(1, []))) is False  # before a snapshot: ignored


class LoadingSource:
    """A source whose first load arrives in slices until told it is done."""

    name = "loading"

    def __init__(self) -> None:
        self.health = SourceHealth("loading", mode=SourceMode.POLLING)
        self.done = asyncio.Event()

    async def run(self, pipeline: Pipeline) -> None:
        event, people = small_event(1000)
        pipeline.load_event(event)
        race = event.races[0]
        for start in range(0, len(people), 100):
            self.health.progress = f"loading {start + 100:,} of {len(people):,} athletes"
            results = [Result(race_id="r1", bib=p.bib, participant=p) for p in people[start : start + 100]]
            pipeline.apply_snapshot(race, results) if start == 0 else pipeline.apply_results("r1", results)
            await asyncio.sleep(0)
        await self.done.wait()
        self.health.progress = None
        await asyncio.Event().wait()


async def test_the_hub_re_sorts_its_engine_once_a_first_load_has_arrived() -> None:
    source = LoadingSource()
    hub = Hub([source], lambda data: None, health_interval=0.01, settle_interval=0.0, settle_most=0.0)
    settles: list[bool] = []
    turns: list[None] = []
    settle, send_health = hub.engine.settle, hub.send_health

    def counted_settle(*, place: bool = True) -> Any:
        settles.append(source.health.progress is None)
        return settle(place=place)

    def counted_health(*, force: bool = False) -> None:
        turns.append(None)
        send_health(force=force)

    hub.engine.settle = counted_settle  # type: ignore[method-assign]
    hub.send_health = counted_health  # type: ignore[method-assign]
    task = asyncio.create_task(hub.run())
    try:
        loaded = lambda: sum(len(s) for s in hub.engine.races.values()) == 1000  # noqa: E731
        await until(lambda: loaded() and len(turns) >= 10, what="the load")
        assert settles == [], "re-sorted while the load was arriving"
        source.done.set()
        await until(lambda: bool(settles), what="a settle after the load")
        assert all(settles)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ------------------------------------------------------------------- processes
class BrokenSource:
    """A source that fails after its first message (a bug in the hub's own code)."""

    name = "broken"

    def __init__(self) -> None:
        self.health = SourceHealth("broken", mode=SourceMode.POLLING)

    async def run(self, pipeline: Pipeline) -> None:
        event, people = small_event(10)
        pipeline.load_event(event)
        pipeline.add_participants(people)
        self.health.received()
        self.health.progress = "loading 10 of 12 athletes"
        await asyncio.sleep(0)
        raise RuntimeError("the parser met something new")


async def test_a_hub_failure_reaches_the_viewers_health() -> None:
    hub = LocalHub.start(lambda: [BrokenSource()])
    replica = ReplicaPipeline()
    async with following(hub, replica):
        await until(
            lambda: any("the parser met something new" in e for e in replica.errors), what="the error"
        )
        await until(lambda: hub.sources[0].health.state is FeedState.ERROR, what="the source's state")
        assert "RuntimeError" in (hub.sources[0].health.last_error or "")
        assert hub.sources[0].health.progress == "loading 10 of 12 athletes"  # as the source said
        assert len(replica.engine.races["r1"].entries) == 10  # the last good state stays


async def test_closing_the_hub_ends_the_viewers_follow() -> None:
    hub = LocalHub.start(lambda: [BrokenSource()])
    task = asyncio.create_task(hub.run(ReplicaPipeline()))
    await until(lambda: hub.sources[0].health.state is FeedState.ERROR, what="the source's state")
    hub.close()
    await asyncio.wait_for(task, 30)  # a read left waiting on a closed socket never ends
    assert hub.ended == "the hub process ended" and hub.process.exitcode == 0


def test_the_hub_yields_the_cpu_to_the_dashboard() -> None:
    hub = LocalHub.start(lambda: [BrokenSource()])
    try:
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        theirs = os.getpriority(os.PRIO_PROCESS, hub.process.pid)
        assert theirs == min(19, ours + HUB_NICE) and theirs > ours
    finally:
        hub.close()


def refuse() -> list[Any]:
    raise ValueError("--interval: expected more than 0 seconds, got -1")


def test_sources_that_refuse_their_options_say_so_in_one_line() -> None:
    with pytest.raises(HubError, match=r"--interval: expected more than 0 seconds, got -1"):
        LocalHub.start(refuse)


PARENT = textwrap.dedent(
    """
    import signal
    from racetui.hub.local import LocalHub
    from tests.test_hub import BrokenSource
    hub = LocalHub.start(lambda: [BrokenSource()])
    print(hub.process.pid, flush=True)
    signal.pause()  # until killed
    """
)


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_the_hub_ends_when_the_dashboard_is_killed() -> None:
    root = Path(__file__).resolve().parent.parent
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not _gone(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        wait_until(lambda: _gone(pid), what="the hub to end with the dashboard")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_feeds_own_positions_reach_the_replica() -> None:
    """A viewer publishing v1.1 sends what the feed ranked, like a direct connection does."""
    from racetui.sources.v11 import parse_message
    from tests.support import INDIVIDUAL, published_v11

    def placings(engine: Engine, race_id: str) -> list[tuple[Any, ...]]:
        message = published_v11(engine.race(race_id))
        return [
            (
                a["start_num"],
                a["position"],
                a["difference"],
                [(s["position"], s["difference"]) for s in a["splits"]],
            )
            for a in message["athletes"]
        ]

    update = parse_message(INDIVIDUAL.read_bytes())
    frames: list[bytes] = []
    hub = Hub([], frames.append)
    replica = Replica()
    for data in hub.snapshot():
        replica.handle(data)
    frames.clear()
    hub.pipeline.apply_snapshot(update.race, update.results)
    hub.flush()
    for data in frames:  # live: the changes as they happen
        replica.handle(data)
    expected = [
        ("26", "1", "00:00:00.000", [("10", "00:00:11.001"), ("14", "00:00:11.320")]),
        ("22", "2", "00:00:10.198", [("9", "00:00:10.198")]),
    ]
    assert placings(hub.engine, update.race.id) == expected
    assert placings(replica.pipeline.engine, update.race.id) == expected
    late = Replica()  # a viewer joining later: from the snapshot
    for data in hub.snapshot():
        late.handle(data)
    assert placings(late.pipeline.engine, update.race.id) == expected


def test_the_hub_does_not_hold_the_dashboards_files(tmp_path: Path) -> None:
    """Files the dashboard opened before forking (the outbox, the desk) are released in
    the hub: only the dashboard holds them, so their locks end with it."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    db.execute("create table t (x)")
    db.commit()
    plain = (tmp_path / "held.txt").open("w")
    hub = LocalHub.start(lambda: [BrokenSource()])
    try:
        held = set()
        for name in os.listdir(f"/proc/{hub.process.pid}/fd"):
            with contextlib.suppress(OSError):
                held.add(os.readlink(f"/proc/{hub.process.pid}/fd/{name}"))
        assert not any(str(tmp_path) in path for path in held), held
        assert os.devnull in held
        plain.write("still mine")  # the dashboard's own copies still work
        plain.flush()
        db.execute("insert into t values (1)")
        db.commit()
        assert (tmp_path / "held.txt").read_text() == "still mine"
    finally:
        hub.close()
        plain.close()
        db.close()
