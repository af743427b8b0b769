"""Clocks for screens: time of day and race clocks come from one injected callable.

The app never reads the wall clock directly: it calls a ``Clock`` (``() -> datetime``,
timezone-aware). Tests and snapshots pass :func:`fixed_clock`; the real app passes
:func:`system_clock`. No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from racetui.model import ClockState, Race, Wave
from racetui.model.times import format_clock, format_time_of_day

__all__ = [
    "Clock",
    "RaceTime",
    "fixed_clock",
    "format_time_of_day",
    "race_time",
    "system_clock",
    "wave_time",
]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock in the local timezone."""
    return datetime.now().astimezone()


def fixed_clock(at: datetime) -> Clock:
    """A clock stopped at ``at`` (naive values are taken as UTC)."""
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)

    def clock() -> datetime:
        return moment

    return clock


class RaceTime:
    """The race clock of a race (or one wave) at one moment.

    ``elapsed_ms`` is negative before the start (a countdown) and ``None`` without a gun time.
    """

    __slots__ = ("elapsed_ms", "gun", "offset_ms", "state", "stopped")

    def __init__(
        self,
        elapsed_ms: int | None,
        gun: datetime | None,
        state: ClockState,
        offset_ms: int = 0,
        stopped: str | None = None,
    ):
        self.elapsed_ms = elapsed_ms
        self.gun = gun
        self.state = state
        self.offset_ms = offset_ms
        # why the clock does not run: "race over", or "as of <date>" for data from the past
        self.stopped = stopped

    @property
    def started(self) -> bool:
        return self.elapsed_ms is not None and self.elapsed_ms >= 0

    def text(self, *, tenths: bool = False) -> str:
        """``1:47:12`` running, ``-04:59`` counting down, ``--:--`` without a gun time."""
        if self.elapsed_ms is None:
            return "--:--"
        if self.elapsed_ms < 0:
            # Count down in whole seconds, rounding up: "-00:01" until the gun.
            remaining = -self.elapsed_ms
            return "-" + format_clock(-(-remaining // 1000) * 1000)
        return format_clock(self.elapsed_ms, tenths=tenths)

    def label(self) -> str:
        if self.elapsed_ms is None:
            return "no gun time"
        if self.elapsed_ms < 0:
            return "starts in"
        if self.state is ClockState.OFFICIAL:
            return "official"
        if self.stopped:
            return self.stopped
        return "race time"


# A race clock past this is not a race running now (a feed file from years ago): it shows
# the race time of the data it holds instead (its latest passing).
PAST_DATA_MS = 72 * 3_600_000


def race_time(
    race: Race,
    now: datetime,
    *,
    master_offset: bool = True,
    ended_ms: int | None = None,
    last_ms: int | None = None,
) -> RaceTime:
    """The race clock at ``now``. With ``master_offset`` the timing system's clock offset
    (``RaceClock.server_offset_ms``) corrects this machine's clock; without it ``now`` is
    taken to be the timing system's own time already (the demo's simulator clock).

    The clock stops when the race is over: at ``ended_ms`` (the engine's
    ``RaceStandings.ended_ms``: official, or the last athlete in); a clock days past its
    gun (a feed file from the past) shows ``last_ms``, the race time of its latest passing."""
    clock = race.clock
    state = clock.state if clock else ClockState.PRERACE
    gun = clock.gun_time if clock else None
    if gun is None:
        return RaceTime(None, None, state)
    if gun.tzinfo is None:
        gun = gun.replace(tzinfo=UTC)
    elapsed = int((now - gun).total_seconds() * 1000)
    if master_offset and clock is not None:
        elapsed += clock.server_offset_ms
    stopped: str | None = None
    if elapsed > PAST_DATA_MS and last_ms is not None:
        elapsed, stopped = last_ms, f"as of the last passing ({gun:%Y-%m-%d})"
    if ended_ms is not None and elapsed >= ended_ms:
        elapsed, stopped = ended_ms, "race over"
    return RaceTime(elapsed, gun, state, stopped=stopped)


def wave_time(
    race: Race,
    wave: Wave,
    now: datetime,
    *,
    master_offset: bool = True,
    ended_ms: int | None = None,
    last_ms: int | None = None,
) -> RaceTime:
    base = race_time(race, now, master_offset=master_offset, ended_ms=ended_ms, last_ms=last_ms)
    if base.elapsed_ms is None:
        return base
    return RaceTime(base.elapsed_ms - wave.offset_ms, base.gun, base.state, wave.offset_ms, base.stopped)
