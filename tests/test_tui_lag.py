"""The UI-loop probe (racetui/tui/lag.py): how late a 20 ms wake-up comes, the longest in
the last minute and since start, the p99; and the Health screen's line of it. The clock
and the sleep are the test's: nothing waits for real."""

from __future__ import annotations

import asyncio
import math

from racetui.tui.lag import LoopLag
from racetui.tui.screens.health import HealthScreen
from tests.dashboard import make_app, press, tick


class FakeTime:
    """A clock that a sleep moves on: each sleep takes what was asked plus the stall the
    test queued for it (then the probe's task gives way once)."""

    def __init__(self, stalls: list[float]) -> None:
        self.now = 1000.0
        self.stalls = list(stalls)
        self.woken = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if not self.stalls:
            self.woken.set()
            await asyncio.Future()  # no more wake-ups: the test cancels the task
        self.now += seconds + self.stalls.pop(0)


async def drive(probe: LoopLag, fake: FakeTime) -> None:
    task = asyncio.create_task(probe.run())
    await fake.woken.wait()
    task.cancel()


async def test_the_probe_records_how_late_each_wake_up_comes() -> None:
    stalls = [0.001] * 98 + [0.120, 0.034]
    fake = FakeTime(stalls)
    probe = LoopLag(clock=fake.clock, sleep=fake.sleep)
    await drive(probe, fake)
    assert probe.samples == 100
    assert math.isclose(probe.longest_ever, 0.120)
    assert math.isclose(probe.longest(), 0.120)
    assert math.isclose(probe.p99(), 0.034)  # the 99th of 100: the second longest
    assert probe.line() == "UI loop: longest stall 120 ms (last min), 120 ms since start, p99 34 ms"


async def test_a_stall_leaves_the_last_minute_but_not_the_record() -> None:
    fake = FakeTime([0.250, *[0.002] * 3000])  # 3,000 wake-ups of 22 ms: 66 s later
    probe = LoopLag(clock=fake.clock, sleep=fake.sleep)
    await drive(probe, fake)
    assert math.isclose(probe.longest(), 0.002)
    assert math.isclose(probe.longest_ever, 0.250)
    assert len(probe.recent()) < 3000  # the first minute's samples are gone
    assert probe.line() == "UI loop: longest stall 2 ms (last min), 250 ms since start, p99 2 ms"


def test_no_wake_up_yet_says_so() -> None:
    probe = LoopLag(clock=lambda: 0.0)
    assert probe.line() == "UI loop: no stall measured yet"
    assert probe.longest() == 0.0 and math.isnan(probe.p99())
    probe.record(-0.001, 0.0)  # early is not late
    assert probe.line() == "UI loop: longest stall 0 ms (last min), 0 ms since start, p99 0 ms"


async def test_health_shows_the_ui_loop_line() -> None:
    app, _, _ = make_app()
    fake = FakeTime([0.005, 0.080, 0.003])
    app.loop_lag = LoopLag(clock=fake.clock, sleep=fake.sleep)
    async with app.run_test(size=(120, 36)) as pilot:
        await fake.woken.wait()  # the app's own worker ran the probe through the three
        await press(pilot, "7")
        await tick(app, pilot)
        assert isinstance(app.screen, HealthScreen)
        extras = str(app.screen.query_one("#extras").render())
        assert (
            extras.splitlines()[0] == "UI loop: longest stall 80 ms (last min), 80 ms since start, p99 80 ms"
        )
