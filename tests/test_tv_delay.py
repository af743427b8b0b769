"""One TV delay: the hub's frames are held and applied late, in order, all of them; the
screens' clock moves back by the same delay and never backwards; the live replica (what
publishing reads) gets every frame at once; gaps and snapshots still work while frames are
held; the delay is remembered per event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from racetui.cli import build_parser
from racetui.config import Config, TriathlonConfig
from racetui.hub.core import Hub
from racetui.hub.delay import MAX_DELAY_MS, DelayBuffer, DelayedFollower, TvDelay, follow_delayed
from racetui.hub.records import decode_request
from racetui.hub.replica import Replica, ReplicaPipeline
from racetui.model import Passing
from racetui.publish.session import PublishingOptions, build_publishing
from racetui.sources.base import FeedState, SourceHealth, SourceMode
from racetui.sources.journal import Journal, iter_journal
from racetui.sources.replay import ReplaySource
from racetui.sources.tvdelay import TvDelayStore
from racetui.tui.app import RaceApp
from racetui.tui.screens.publish import ConfirmPublish
from racetui.tui.widgets.header import RaceHeader
from tests.dashboard import dashboard, header_text, make_app, messages, press, shown
from tests.fakes.asgi import ServerThread
from tests.fakes.race import OPEN, RACE_NOW, race_pipeline
from tests.fakes.worldtriathlon import WorldTriathlonFake
from tests.support import DATA, async_wait_until
from tests.test_hub import all_rows, small_event

T0 = datetime(2026, 6, 6, 9, 0, tzinfo=UTC)


class DrivenClock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


# ------------------------------------------------------------------ the buffer
ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 5_000)),  # a frame, after so many ms
        st.tuples(st.just("delay"), st.integers(-10_000, MAX_DELAY_MS + 10_000)),
        st.tuples(st.just("wait"), st.integers(0, 60_000)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_any_frames_and_delay_changes_keep_order_and_lose_nothing(steps: list[tuple[str, int]]) -> None:
    clock = DrivenClock()
    delay = TvDelay(clock)
    buffer: DelayBuffer[int] = DelayBuffer()
    delay.listeners.append(lambda ms: setattr(buffer, "delay_ms", ms))
    pushed: list[int] = []
    released: list[int] = []
    arrived: dict[int, int] = {}
    for op, value in steps:
        if op == "push":
            clock.advance(value / 1000)
            n = len(pushed)
            pushed.append(n)
            arrived[n] = delay.now_ms()
            buffer.push(n, delay.now_ms())
        elif op == "delay":
            assert 0 <= delay.set(value) <= MAX_DELAY_MS
        else:
            clock.advance(value / 1000)
        for item in buffer.due(delay.now_ms()):
            # never shown before its time: arrival + delay has passed
            assert arrived[item] + delay.ms <= delay.now_ms()
            released.append(item)
        assert released == pushed[: len(released)]  # in order, nothing skipped
    delay.set(0)
    released += list(buffer.due(delay.now_ms()))
    assert released == pushed and len(buffer) == 0


def test_the_clock_moves_back_by_the_delay_and_never_goes_back_in_time() -> None:
    clock = DrivenClock()
    delay = TvDelay(clock)
    assert delay.clock() == T0 and delay.label() == ""
    delay.set(10_000)
    assert delay.label() == "TV −10 s"
    assert delay.clock() == T0  # raised: the picture stands still …
    clock.advance(4)
    assert delay.clock() == T0
    clock.advance(7)
    assert delay.clock() == T0 + timedelta(seconds=1)  # … until now - 10 s passes it
    delay.set(3_000)  # lowered: it jumps forward at once
    assert delay.clock() == T0 + timedelta(seconds=8)
    assert delay.set(400_000) == MAX_DELAY_MS and delay.set(-5) == 0


def test_without_a_hub_there_is_no_delay() -> None:
    delay = TvDelay(DrivenClock(), available=False)
    assert delay.set(5_000) == 0 and "hub" in delay.unavailable


# ------------------------------------------------------ frames through a replica
def _hub_with_a_field(athletes: int = 40) -> tuple[Hub, list[bytes]]:
    frames: list[bytes] = []
    hub = Hub([], frames.append)
    event, people = small_event(athletes)
    hub.pipeline.load_event(event)
    hub.pipeline.add_participants(people)
    hub.flush()
    return hub, frames


def _pass(hub: Hub, bib: str, point: str = "p1", ms: int = 60_000) -> None:
    hub.pipeline.apply_passings([Passing(race_id="r1", bib=bib, point_id=point, time_ms=ms)])
    hub.flush()


def _passed(pipeline: ReplicaPipeline, point: str = "p1") -> list[str]:
    standings = pipeline.engine.races.get("r1")
    return [] if standings is None else [r.bib for r in standings.view(point_id=point).rows(0, 1000)]


def test_frames_show_after_the_delay_and_the_live_replica_at_once() -> None:
    hub, frames = _hub_with_a_field()
    clock = DrivenClock()
    delay = TvDelay(clock)
    shown, live = ReplicaPipeline(), ReplicaPipeline()
    follower = DelayedFollower(Replica(shown), delay, live=Replica(live))
    for data in hub.snapshot():
        for _ in follower.live_steps(follower.push(data)):
            pass
    follower.pump()
    assert follower.replica.synced and follower.live is not None and follower.live.synced
    delay.set(30_000)
    frames.clear()
    _pass(hub, "7", ms=61_000)
    for data in frames:
        for _ in follower.live_steps(follower.push(data)):
            pass
    follower.pump()
    assert _passed(live) == ["7"]  # publishing and the desk see it now
    assert _passed(shown) == []  # the screens 30 s later
    clock.advance(29.9)
    follower.pump()
    assert _passed(shown) == []
    clock.advance(0.1)
    follower.pump()
    assert _passed(shown) == ["7"] and follower.held() == 0
    # sync: with the race at 1:43 live, the delay that shows bib 7's passing (1:01) now
    assert delay.sync_to("r1", "7", 103_000) == 42_000
    assert delay.sync_to("r1", "7", 1_000_000) == MAX_DELAY_MS
    assert delay.sync_to("r1", "8", 103_000) is None


def test_a_gap_while_frames_are_held_brings_a_snapshot_that_is_held_too() -> None:
    hub, frames = _hub_with_a_field()
    clock = DrivenClock()
    delay = TvDelay(clock)
    shown = ReplicaPipeline()
    follower = DelayedFollower(Replica(shown), delay)
    for data in hub.snapshot():
        follower.push(data)
    follower.pump()
    delay.set(20_000)
    frames.clear()
    for n in range(1, 11):
        _pass(hub, str(n), ms=60_000 + n)
    for n, data in enumerate(frames):
        if n != 4:  # frame 5 is lost on the way
            follower.push(data)
    clock.advance(5)
    snapshot = hub.snapshot()
    for data in snapshot:  # asked for by someone else meanwhile: it is held like the rest
        follower.push(data)
    follower.pump()
    assert _passed(shown) == [] and not follower.snapshot_wanted()
    clock.advance(15)
    follower.pump()  # the first frames, then the gap: a snapshot is wanted
    assert follower.replica.gaps == 1
    assert follower.snapshot_wanted()
    assert _passed(shown) == ["1", "2", "3", "4"]
    clock.advance(5)
    follower.pump()  # the held snapshot arrives in its turn and completes the picture
    assert all_rows(shown.engine) == all_rows(hub.engine)
    assert len(_passed(shown)) == 10


class QueueChannel:
    """The viewer's end of a hub stream in this process (the hub side is the test)."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.requests: list[str] = []

    async def receive(self) -> bytes | None:
        return await self.frames.get()

    async def send(self, data: bytes) -> None:
        self.requests.append(decode_request(data).kind)


async def test_follow_delayed_applies_on_time_and_at_once_when_the_delay_drops() -> None:
    hub, frames = _hub_with_a_field()
    clock = DrivenClock()
    delay = TvDelay(clock)
    shown, live = ReplicaPipeline(), ReplicaPipeline()
    follower = DelayedFollower(Replica(shown), delay, live=Replica(live))
    channel = QueueChannel()
    task = asyncio.create_task(follow_delayed(channel, follower, poll=0.01))
    try:
        for data in hub.snapshot():
            channel.frames.put_nowait(data)
        await async_wait_until(lambda: follower.replica.synced, what="snapshot shown")
        assert channel.requests == ["snapshot"]
        delay.set(60_000)
        frames.clear()
        _pass(hub, "3")
        for data in frames:
            channel.frames.put_nowait(data)
        await async_wait_until(lambda: _passed(live) == ["3"], what="live at once")
        assert _passed(shown) == [] and follower.held() == 1
        delay.set(0)  # lowered: what is due shows at once
        await async_wait_until(lambda: _passed(shown) == ["3"], what="shown after the drop")
        delay.set(5_000)
        frames.clear()
        _pass(hub, "4")
        for data in frames:
            channel.frames.put_nowait(data)
        await async_wait_until(lambda: follower.held() == 1, what="held")
        clock.advance(5)  # the loop wakes by itself when the frame is due
        await async_wait_until(lambda: _passed(shown) == ["3", "4"], what="shown on time")
        channel.frames.put_nowait(None)  # the hub is gone
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()


def test_the_delay_is_remembered_per_event(tmp_path: Path) -> None:
    store = TvDelayStore(tmp_path / "tv.json")
    assert store.get("BBT · e · 2026-06-06") is None
    store.put("BBT · e · 2026-06-06", 12_000)
    store.put("BBT · f · 2026-06-07", 3_000)
    again = TvDelayStore(tmp_path / "tv.json")
    assert again.get("BBT · e · 2026-06-06") == 12_000 and again.get("BBT · f · 2026-06-07") == 3_000
    (tmp_path / "bad.json").write_text("[not json")
    bad = TvDelayStore(tmp_path / "bad.json")
    assert bad.get("x") is None and bad.problem is not None and "bad.json" in bad.problem


# ------------------------------------------- a replay on screen, with a TV delay
class HubLink:
    """The dashboard's end of an in-process hub: like LocalHub.run, it follows the stream
    into the dashboard's replica through the TV delay (here the channel is a queue)."""

    def __init__(self, channel: QueueChannel, delay: TvDelay) -> None:
        self.name = "hub"
        self.health = SourceHealth("hub", mode=SourceMode.REPLAY, state=FeedState.CONNECTED)
        self.channel = channel
        self.delay = delay
        self.follower: DelayedFollower | None = None

    async def run(self, pipeline: ReplicaPipeline) -> None:
        self.follower = DelayedFollower(Replica(pipeline), self.delay)
        await follow_delayed(self.channel, self.follower, poll=0.01)


def _journal(path: Path) -> Path:
    """Two messages of a v1.1 feed as ``racetui feed`` records them: the standard's own
    example, then the same race ten seconds on with #22 through the swim exit."""
    first = (DATA / "v1.1-individual.json").read_bytes()
    later = orjson.loads(first)
    bishop = next(a for a in later["athletes"] if a["start_num"] == "22")
    bishop["splits"].append(
        {
            "id": "2",
            "name": "Swim Exit",
            "total_time": "00:18:40.000",
            "time": "00:07:46.004",
            "position": "15",
        }
    )
    bishop["segment_id"], bishop["time"] = "2", "00:18:40.000"
    journal = Journal(path, source="feed https://example.org/live")
    journal.record("feed", first, 0.0, "https://example.org/live", source="feed")
    journal.record("feed", orjson.dumps(later), 10.0, "https://example.org/live", source="feed")
    journal.close()
    return path


async def test_a_replay_shows_one_delay_alike_on_a_row_the_clock_and_a_toast(tmp_path: Path) -> None:
    records = list(iter_journal(_journal(tmp_path / "race.jsonl.gz")))
    replay = ReplaySource(tmp_path / "race.jsonl.gz", speed=0)
    frames: list[bytes] = []
    hub = Hub([], frames.append)
    gun = datetime(2017, 3, 4, 11, 55, tzinfo=UTC)
    clock = DrivenClock(gun + timedelta(minutes=18, seconds=30))
    delay = TvDelay(clock)
    channel = QueueChannel()
    link = HubLink(channel, delay)
    shown = ReplicaPipeline()
    app = RaceApp(shown, [link], clock=clock, tv_delay=delay, tick=60, tracker_budget=None, strict=True)

    def send() -> None:
        hub.flush()
        for data in frames:
            channel.frames.put_nowait(data)
        frames.clear()

    def row() -> str:
        standings = shown.engine.races.get("307158")
        entry = standings.athlete("22") if standings is not None else None
        return "" if entry is None or entry.last < 0 else standings.points[entry.last].name

    async def screen() -> tuple[str, str, bool]:
        """(the race clock, #22's point, a toast about #22) as the dashboard shows them."""
        app.tick()
        await pilot.pause()  # a toast is a message: it is up once the app has handled it
        race_clock = app.state.race_clock()
        toast = any("#22" in n.message for n in app._notifications)
        return (race_clock.text() if race_clock else "", row(), toast)

    async with app.run_test(size=(120, 36)) as pilot:
        for data in hub.snapshot():
            channel.frames.put_nowait(data)
        replay.play(hub.pipeline, records[0])
        send()
        await async_wait_until(lambda: row() == "Swim Lap 1", what="the first message shown")
        app.tick()
        app.toggle_watch(("307158", "22"))  # a toast for each of #22's passings
        app._notifications.clear()
        await pilot.press("right_curly_bracket")  # } : +10 s
        assert delay.ms == 10_000 and "TV −10 s" in str(app.screen.query_one(RaceHeader).render())
        app._notifications.clear()
        assert await screen() == ("18:30", "Swim Lap 1", False)
        clock.advance(10)  # the picture stood still for the 10 s the delay was raised by …
        assert await screen() == ("18:30", "Swim Lap 1", False)
        replay.play(hub.pipeline, records[1])  # … now #22 passes the swim exit (live: 18:40)
        send()
        await async_wait_until(lambda: link.follower is not None and link.follower.held() == 1, what="held")
        assert hub.engine.races["307158"].athlete("22").last == 1  # the truth has it
        clock.advance(5)
        assert await screen() == ("18:35", "Swim Lap 1", False)
        clock.advance(4.9)
        await pilot.pause()
        assert await screen() == ("18:39", "Swim Lap 1", False)
        clock.advance(0.1)  # 10 s after it arrived: row, clock and toast together
        await async_wait_until(lambda: row() == "Swim Exit", what="the held frame applied")
        assert await screen() == ("18:40", "Swim Exit", True)
        await pilot.press("left_curly_bracket")  # { : back to live
        assert delay.ms == 0 and app.clock() == clock()  # lowered: live again at once
        # =: "the leader crosses on TV now": #26 passed the swim exit at 18:37.911, it is 18:50
        await pilot.press("equals_sign")
        assert delay.ms == 12_089 and app.clock() == clock()  # raised: the picture holds …
        clock.advance(20)
        assert app.clock() == clock() - timedelta(milliseconds=12_089)  # … then runs 12 s behind


# ------------------------------------- publishing and the desk do not wait for the TV
WT_KEY = "wt-tv-key-4711"


@pytest.fixture
def wt() -> Iterator[WorldTriathlonFake]:
    fake = WorldTriathlonFake(apikey=WT_KEY)
    with ServerThread(fake.app()) as server:
        fake.url = server.url + "/v1/timing"
        yield fake


async def test_publishing_uploads_live_data_while_the_screens_are_delayed(wt: WorldTriathlonFake) -> None:
    """The hub feeds two replicas: the screens' one holds frames for the delay, the live
    one is what publishing was built on (launch.py). Here everything is still held for the
    screens, and the upload has the whole field."""
    live, feed = race_pipeline(12)
    config = Config(triathlon=TriathlonConfig(apikey=SecretStr(WT_KEY)))
    args = build_parser().parse_args(
        [
            "demo",
            "--publish-triathlon",
            "--api-url",
            wt.url,
            "--event-id",
            "107158",
            "--prog",
            f"{OPEN}=307158",
        ]
    )
    publishing = build_publishing(PublishingOptions.from_args(args), config, live.engine)
    assert publishing is not None
    clock = DrivenClock(RACE_NOW)
    delay = TvDelay(clock)
    delay.set(60_000)
    held = ReplicaPipeline()  # nothing shown yet: the frames are held for the TV
    app = dashboard(held, [feed], tv_delay=delay, live_pipeline=live, publishing=publishing)
    async with app.run_test(size=(120, 36)) as pilot:
        assert held.engine.races == {}
        await press(pilot, "6", "p")
        # the message is built off the UI loop: the question comes when it is ready
        await shown(pilot, lambda: isinstance(app.screen, ConfirmPublish), what="the publish question")
        await press(pilot, "y")
        await async_wait_until(lambda: bool(wt.applied_bodies()), what="the upload")
    [body] = wt.applied_bodies()
    assert len(body["athletes"]) == 12  # the live field, not the (empty) delayed picture


async def test_without_a_hub_the_delay_keys_say_it_needs_one() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await press(pilot, "right_square_bracket")
        assert app.tv.ms == 0
        assert any("needs the hub" in m for m in messages(app))
        assert "TV" not in header_text(app)


async def test_the_delay_comes_back_for_the_same_event() -> None:
    first_pipeline, first_feed = race_pipeline(12)
    first = dashboard(first_pipeline, [first_feed], tv_delay=TvDelay(DrivenClock(RACE_NOW)))
    async with first.run_test(size=(120, 36)) as pilot:
        first.tick()
        await press(pilot, "right_curly_bracket", "right_square_bracket", "right_square_bracket")
        assert first.tv.ms == 12_000 and "TV −12 s" in header_text(first)
    again_pipeline, again_feed = race_pipeline(12)
    again = dashboard(again_pipeline, [again_feed], tv_delay=TvDelay(DrivenClock(RACE_NOW)))
    async with again.run_test(size=(120, 36)) as pilot:
        again.tick()
        await shown(
            pilot,
            lambda: again.tv.ms == 12_000 and any("as last set for this event" in m for m in messages(again)),
            what="the delay recalled for the event",
        )
        assert "TV −12 s" in header_text(again)


def test_no_screen_hides_the_delay_keys() -> None:
    """The TV keys are the app's: a screen binding the same key would swallow it there."""
    from textual.binding import Binding

    from racetui.tui.screens.athlete import AthleteScreen

    mine = {"left_square_bracket", "right_square_bracket", "left_curly_bracket", "right_curly_bracket"}
    mine.add("equals_sign")
    for screen in [*RaceApp.MODES.values(), AthleteScreen]:
        for cls in screen.__mro__:
            for binding in getattr(cls, "BINDINGS", []):
                keys = binding.key if isinstance(binding, Binding) else binding[0]
                assert not mine & set(keys.split(",")), (screen.__name__, keys)


async def test_a_desk_decision_reaches_the_live_replica_and_the_screens_at_once() -> None:
    """With a TV delay the desk applies its decisions to both replicas: publishing (live)
    and the screens, without waiting for the delay."""
    from racetui.sources.desk import ActionKind
    from racetui.tui.screens.desk import DeskRequest, record_request

    shown, feed = race_pipeline(12)
    live, _ = race_pipeline(12)
    delay = TvDelay(DrivenClock(RACE_NOW))
    app = dashboard(shown, [feed], tv_delay=delay, live_pipeline=live)
    async with app.run_test(size=(120, 36)) as pilot:
        app.tick()
        await press(pilot, "right_curly_bracket")
        assert delay.ms == 10_000
        bib = shown.engine.races[OPEN].view().rows(0, 1)[0].bib
        record_request(app, DeskRequest(OPEN, bib, ActionKind.DNF, reason="mechanical"))
        for pipeline in (shown, live):
            entry = pipeline.engine.races[OPEN].athlete(bib)
            assert entry is not None and str(entry.status) == "DNF" and entry.override is not None
