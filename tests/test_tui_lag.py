"""The UI-loop probe (racetui/tui/lag.py): how late a 20 ms wake-up comes, the longest in
the last minute and since start, the p99; and the Health screen's line of it. The clock
and the timer are the test's: nothing waits for real."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable

from racetui.tui.lag import LoopLag
from racetui.tui.screens.health import HealthScreen
from tests.dashboard import make_app, press, shown, tick


class FakeTime:
    """A clock and a timer the test moves: each wake-up comes ``interval`` plus the stall
    the test gives it after it was asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pending: list[tuple[float, Callable[[], None]]] = []
        self.cancelled = 0
        self.cpu_now = 5.0  # the loop thread's CPU clock

    def cpu(self) -> float:
        return self.cpu_now

    def clock(self) -> float:
        return self.now

    def schedule(self, delay: float, callback: Callable[[], None]) -> FakeTime:
        self.pending.append((delay, callback))
        return self

    def cancel(self) -> None:
        self.cancelled += 1

    def wake(self, *stalls: float, busy: float = 0.0) -> None:
        """Each wake-up ``stall`` late; the loop thread on CPU for ``busy`` of each span."""
        for stall in stalls:
            delay, callback = self.pending.pop()
            self.now += delay + stall
            self.cpu_now += busy
            callback()


def probe_on(fake: FakeTime) -> LoopLag:
    probe = LoopLag(clock=fake.clock, schedule=fake.schedule, cpu=fake.cpu)
    probe._arm()  # what run() does on the loop
    return probe


def test_the_probe_records_how_late_each_wake_up_comes() -> None:
    fake = FakeTime()
    probe = probe_on(fake)
    fake.wake(*[0.001] * 98, 0.120, 0.034)
    assert probe.samples == 100 and len(fake.pending) == 1  # the next wake-up is asked for
    assert math.isclose(probe.longest_ever, 0.120)
    assert math.isclose(probe.longest(), 0.120)
    assert math.isclose(probe.p99(), 0.034)  # the 99th of 100: the second longest
    assert probe.line() == "UI loop: longest stall 120 ms (last min), 120 ms since start, p99 34 ms"


def test_a_stall_leaves_the_last_minute_but_not_the_record() -> None:
    fake = FakeTime()
    probe = probe_on(fake)
    fake.wake(0.250, *[0.002] * 3000)  # 3,000 wake-ups of 22 ms: 66 s later
    assert math.isclose(probe.longest(), 0.002)
    assert math.isclose(probe.longest_ever, 0.250)
    assert len(probe.recent()) < 3000  # the first minute's samples are gone
    assert probe.line() == "UI loop: longest stall 2 ms (last min), 250 ms since start, p99 2 ms"


def test_the_longest_stall_says_whether_the_loop_thread_was_busy_or_waiting() -> None:
    fake = FakeTime()
    probe = probe_on(fake)
    fake.wake(0.001, 0.002, busy=0.001)
    fake.wake(0.064, busy=0.012)  # 84 ms between wake-ups, 12 of them on CPU: descheduled
    fake.wake(0.030, busy=0.049)  # a shorter stall that was a busy step
    late, span, cpu = probe.longest_cpu() or (0.0, 0.0, 0.0)
    assert math.isclose(late, 0.064) and math.isclose(span, 0.084) and math.isclose(cpu, 0.012)
    assert (
        probe.cpu_line()
        == "UI loop CPU: the longest stall's 84 ms between wake-ups held 12 ms of the loop thread's CPU"
    )
    fake.wake(0.090, busy=0.105)  # a busy step: CPU all the way
    assert (
        probe.cpu_line()
        == "UI loop CPU: the longest stall's 110 ms between wake-ups held 105 ms of the loop thread's CPU"
    )


def test_a_stall_recorded_without_cpu_has_no_cpu_line() -> None:
    probe = LoopLag(clock=lambda: 0.0)
    assert probe.cpu_line() == "" and probe.longest_cpu() is None
    probe.record(0.040, 0.0)
    assert probe.cpu_line() == ""


def test_no_wake_up_yet_says_so() -> None:
    probe = LoopLag(clock=lambda: 0.0)
    assert probe.line() == "UI loop: no stall measured yet"
    assert probe.longest() == 0.0 and math.isnan(probe.p99())
    probe.record(-0.001, 0.0)  # early is not late
    assert probe.line() == "UI loop: longest stall 0 ms (last min), 0 ms since start, p99 0 ms"


async def test_run_asks_the_loop_and_stops_its_timer_when_cancelled() -> None:
    fake = FakeTime()
    probe = LoopLag(clock=fake.clock, schedule=fake.schedule)
    task = asyncio.create_task(probe.run())
    while not fake.pending:
        await asyncio.sleep(0)  # the task's first step
    fake.wake(0.003)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert probe.samples == 1 and fake.cancelled == 1


async def test_health_shows_the_ui_loop_line() -> None:
    app, _, _ = make_app()
    fake = FakeTime()
    app.loop_lag = LoopLag(clock=fake.clock, schedule=fake.schedule, cpu=fake.cpu)
    async with app.run_test(size=(120, 36)) as pilot:
        await shown(pilot, lambda: fake.pending, what="the app's worker asking for the probe's first wake-up")
        fake.wake(0.005, 0.080, 0.003, busy=0.002)
        await press(pilot, "7")
        await tick(app, pilot)
        assert isinstance(app.screen, HealthScreen)
        extras = str(app.screen.query_one("#extras").render())
        assert (
            extras.splitlines()[0] == "UI loop: longest stall 80 ms (last min), 80 ms since start, p99 80 ms"
        )
        assert extras.splitlines()[1] == (
            "UI loop CPU: the longest stall's 100 ms between wake-ups held 2 ms of the loop thread's CPU"
        )
