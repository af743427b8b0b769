"""Provisional or official: what the places of a race are worth right now.

World Triathlon Live Timing v1.1 gives a message ``status`` of ``prerace``, ``live`` or
``official`` ("once confirmed by race referee the status should be updated to official"),
held as :attr:`RaceClock.state`; the BBT local API has no such field. So a race's places
are **official** only when the source says so or a timer confirmed it (racetui remembers
that per event, see :mod:`racetui.sources.official`), and **provisional** while the race
is live: athletes still on course may yet pass someone, and with wave starts a later wave
can still beat a time. racetui never makes a race official on its own — not even when
everyone is in: a protest or a missed chip read can still change the places.

Pure: reads the race and its athletes' statuses and times (no rankings).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from racetui.engine.standings import RaceStandings
from racetui.model.race import ClockState, Status

__all__ = ["Official", "ResultsState", "results_state"]


class Official(StrEnum):
    PRERACE = "prerace"  # nothing timed yet: no places to mark
    PROVISIONAL = "provisional"
    OFFICIAL = "official"


@dataclass(frozen=True, slots=True)
class ResultsState:
    """The race's places: provisional or official, who said so, and why it is not final."""

    official: Official
    by: str | None  # "source" or "timer" when official
    on_course: int  # racing (status OK), started, not through the finish
    not_started: int  # racing (status OK) with no passing yet
    waves_to_come: int  # waves with athletes of theirs still on course or not started

    @property
    def label(self) -> str:
        """What the screens and exports say: ``PROVISIONAL``, ``OFFICIAL`` (empty before the start)."""
        return "" if self.official is Official.PRERACE else self.official.value.upper()

    def reason(self) -> str:
        """Why places may still change (provisional), or who made them official."""
        if self.official is Official.OFFICIAL:
            return "official (the source)" if self.by == "source" else "official (confirmed by the timer)"
        if self.official is Official.PRERACE:
            return "not started"
        parts = []
        if self.on_course:
            parts.append(f"{self.on_course} on course")
        if self.not_started:
            parts.append(f"{self.not_started} not started")
        if self.waves_to_come > 1:
            parts.append(f"{self.waves_to_come} waves still racing")
        return ", ".join(parts) if parts else "everyone in: awaiting confirmation"


def results_state(standings: RaceStandings, *, confirmed: bool = False, counts: bool = True) -> ResultsState:
    """The race's places now; ``confirmed``: a timer marked them official. ``counts``
    False leaves who is still out uncounted (zeros): the label alone costs nothing, the
    counts read every athlete (tens of milliseconds at 50,000)."""
    race = standings.race
    state = race.clock.state if race.clock is not None else ClockState.PRERACE
    if not counts:
        official = Official.PROVISIONAL
        by = None
        if state is ClockState.OFFICIAL or confirmed:
            official, by = Official.OFFICIAL, "source" if state is ClockState.OFFICIAL else "timer"
        elif standings.latest_point() < 0 and state is not ClockState.LIVE:
            official = Official.PRERACE
        return ResultsState(official, by, 0, 0, 0)
    finish = next((i for i, p in enumerate(standings.points) if p.is_finish), len(standings.points) - 1)
    on_course = not_started = 0
    started = False
    waves: set[str | None] = set()
    with_waves = bool(race.waves)
    ok = Status.OK
    # the entries themselves (engine-internal, read only): a snapshot per athlete would cost
    # ten times more at 50,000 athletes
    for entry in standings._entries.values():
        last = entry.last
        if last >= 0:
            started = True
        if entry.status is not ok:
            continue
        if last < 0:
            not_started += 1
        elif finish < 0 or entry.times[finish] is None:
            on_course += 1
        else:
            continue
        if with_waves:
            waves.add(entry.participant.wave_id if entry.participant else None)
    waves_to_come = len(waves) if race.waves else 0
    if state is ClockState.OFFICIAL:
        return ResultsState(Official.OFFICIAL, "source", on_course, not_started, waves_to_come)
    if confirmed:
        return ResultsState(Official.OFFICIAL, "timer", on_course, not_started, waves_to_come)
    if not started and state is not ClockState.LIVE:
        return ResultsState(Official.PRERACE, None, on_course, not_started, waves_to_come)
    return ResultsState(Official.PROVISIONAL, None, on_course, not_started, waves_to_come)
