"""True gaps between any two athletes of a race, their trend, and the penalty question.

The *true gap* from the athlete ahead to a chaser is the time since the athlete ahead
passed the point the chaser reached last: ``behind's time there − ahead's time there``.
It needs no common "latest point": an athlete a lap down, or one timing point behind, is
measured where they are now, at the point they reached last (the one ahead passed it
earlier; on a lapped course each lap's passing is a point of its own, so a lapped gap
includes the lap).

**Time base.** The gap *on the road* (:attr:`TrueGap.gap_ms`, what a commentator sees
and a spectator times with a stopwatch) is on **gun time**: the race gun plus the wave's
start offset, because two athletes from different waves are where they are on the course
at the same moment of the day, not of their own races. The gap *in the ranking*
(:attr:`TrueGap.ranking_gap_ms`) is on the race's ranking time (chip time when the race
ranks by chip: wave starts taken out; gun time when it ranks by gun): that is the one
that decides places, so the penalty question (:func:`penalty_check`) reads it. Without
waves the two are the same number. Trends are the same on both bases (a wave offset is a
constant per athlete: it cancels in the change from one split to the next).

Reads the engine's read side only (:meth:`RaceStandings.athlete`, :meth:`RaceStandings.view`);
pure: no clock, no I/O. "Now" never enters a gap: it is measured at passings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from racetui.engine.ranking import Filter
from racetui.engine.standings import Athlete, RaceStandings
from racetui.model.bibs import start_number
from racetui.model.race import Status

__all__ = [
    "DEFAULT_PENALTY_S",
    "PenaltyCheck",
    "Trend",
    "TrueGap",
    "Verdict",
    "gap_between",
    "neighbours",
    "penalty_check",
    "true_gap",
]

DEFAULT_PENALTY_S = 30  # a penalty-box stop, when the race's settings name none
STEADY_MS = 500  # a change per split smaller than this (half a second) is "steady"
TREND_SPLITS = 3  # the trend covers the last three splits both athletes have


class Trend(StrEnum):
    CLOSING = "closing"  # the chaser gains
    OPENING = "opening"  # the one ahead gains
    STEADY = "steady"


@dataclass(frozen=True, slots=True)
class TrueGap:
    """The gap from ``ahead`` to ``behind`` at ``point_index``: the point the chaser
    reached last (or, when the one ahead has no time there, the latest earlier point both
    passed)."""

    ahead: str  # bib of the athlete further on (or first through the chaser's point)
    behind: str
    point_index: int
    gap_ms: int  # on the road (gun time): > 0 when ``ahead`` passed the point first
    ranking_gap_ms: int  # in the race's ranking time (chip or gun)
    points_behind: int  # how many timing points the chaser is behind (a lap counts its points)
    trend: Trend
    per_split_ms: int | None  # mean change of the gap per split (negative: closing); None: one point only
    splits: int  # how many splits the trend covers (0: one common point)
    history: tuple[tuple[int, int], ...]  # (point index, road gap) the trend read, oldest first


def _furthest_first(a: Athlete, b: Athlete) -> tuple[Athlete, Athlete]:
    """(ahead, behind): the one further on the course; at the same point the one who passed
    it first on the road (gun time); a dead heat goes by chip time, then start number and
    bib (the leaderboard's tie order), so the answer never depends on the order asked in."""

    def key(x: Athlete) -> tuple[int, int, int, int, str]:
        gun = x.gun_time(x.last) if x.last >= 0 else None
        chip = x.times[x.last] if x.last >= 0 else None
        return (-x.last, gun or 0, chip or 0, start_number(x.bib), x.bib)

    return (a, b) if key(a) <= key(b) else (b, a)


def _common(ahead: Athlete, behind: Athlete, upto: int) -> list[int]:
    """Point indexes up to ``upto`` (inclusive) where both have a time, in course order."""
    stop = min(upto + 1, len(ahead.times), len(behind.times))
    return [i for i in range(stop) if ahead.times[i] is not None and behind.times[i] is not None]


def _gun(athlete: Athlete, index: int) -> int:
    time = athlete.gun_time(index)
    assert time is not None
    return time


def gap_between(
    ahead: Athlete, behind: Athlete, *, by_gun: bool, window: int = TREND_SPLITS, steady_ms: int = STEADY_MS
) -> TrueGap | None:
    """The true gap from ``ahead`` to ``behind`` as given (no re-ordering); None when they
    have no timing point in common at or before the chaser's latest point."""
    if behind.last < 0:
        return None
    common = _common(ahead, behind, behind.last)
    if not common:
        return None
    point = common[-1]
    road = _gun(behind, point) - _gun(ahead, point)
    chip_b, chip_a = behind.times[point], ahead.times[point]
    assert chip_b is not None and chip_a is not None
    ranking = road if by_gun else chip_b - chip_a
    recent = common[-(max(1, window) + 1) :]
    history = tuple((i, _gun(behind, i) - _gun(ahead, i)) for i in recent)
    splits = len(history) - 1
    per_split = None
    trend = Trend.STEADY
    if splits:
        change = history[-1][1] - history[0][1]
        per_split = round(change / splits)
        if per_split <= -steady_ms:
            trend = Trend.CLOSING
        elif per_split >= steady_ms:
            trend = Trend.OPENING
    return TrueGap(
        ahead=ahead.bib,
        behind=behind.bib,
        point_index=point,
        gap_ms=road,
        ranking_gap_ms=ranking,
        points_behind=max(0, ahead.last - behind.last),
        trend=trend,
        per_split_ms=per_split,
        splits=splits,
        history=history,
    )


def true_gap(
    standings: RaceStandings,
    first: str,
    second: str,
    *,
    window: int = TREND_SPLITS,
    steady_ms: int = STEADY_MS,
) -> TrueGap | None:
    """The true gap between two athletes of the race, whichever is ahead (the one further
    on the course; at the same point, the one through it first on the road). None when
    either is unknown, they are the same athlete, or they share no timing point yet."""
    a, b = standings.athlete(first), standings.athlete(second)
    if a is None or b is None or first == second:
        return None
    ahead, behind = _furthest_first(a, b)
    return gap_between(ahead, behind, by_gun=standings.by_gun, window=window, steady_ms=steady_ms)


def _racing_neighbour(standings: RaceStandings, bib: str, step: int, flt: Filter) -> Athlete | None:
    """The next athlete racing (status OK) before (``step`` −1) or after (+1) ``bib`` in the
    overall order of the slice: the one whose place is at stake."""
    view = standings.view(gender=flt.gender, category=flt.category, wave_id=flt.wave_id)
    where = view.index_of(bib)
    if where is None:
        return None
    index = where + step
    while 0 <= index < len(view):
        row = view.row(index)
        if row.status is Status.OK:
            return standings.athlete(row.bib)
        if step > 0:
            return None  # LAP, NC, DNF, DNS and DSQ sort after everyone racing
        index += step
    return None


def neighbours(
    standings: RaceStandings, bib: str, flt: Filter | None = None
) -> tuple[Athlete | None, Athlete | None]:
    """The athletes racing just ahead of and just behind ``bib`` in the overall order of
    the whole field (or of the slice ``flt``)."""
    flt = flt or Filter()
    return _racing_neighbour(standings, bib, -1, flt), _racing_neighbour(standings, bib, 1, flt)


class Verdict(StrEnum):
    YES = "yes"  # the one behind is more than S behind
    NO = "no"  # the one behind is S or less behind: a place would go
    NOBODY_BEHIND = "nobody behind"  # no one racing behind: no place to lose
    UNKNOWN = "not known yet"  # the one behind has not passed a point in common yet


@dataclass(frozen=True, slots=True)
class PenaltyCheck:
    """Could ``bib`` serve a penalty of ``seconds`` without losing a place?

    Compared on the ranking time (places follow it): ``yes`` when the athlete behind is
    more than ``seconds`` behind (at exactly ``seconds`` they would share the place, which
    is losing it alone). ``final`` is False when the one behind has not yet reached the
    athlete's latest point: the answer then rests on the gap where the chaser is now."""

    bib: str
    seconds: int
    verdict: Verdict
    behind: str | None  # bib of the athlete racing behind
    gap: TrueGap | None
    margin_ms: int | None  # ranking gap − S (> 0: room to spare)
    final: bool


def penalty_check(
    standings: RaceStandings, bib: str, seconds: int = DEFAULT_PENALTY_S, flt: Filter | None = None
) -> PenaltyCheck | None:
    """Whether ``bib`` could serve ``seconds`` of penalty without losing a place to the
    athlete racing behind in the overall order (of the slice ``flt``); None when the
    athlete is unknown or not racing (DNF, DSQ…: no place to keep)."""
    athlete = standings.athlete(bib)
    if athlete is None or athlete.status is not Status.OK:
        return None
    limit = seconds * 1000
    _, behind = neighbours(standings, bib, flt)
    if behind is None:
        return PenaltyCheck(bib, seconds, Verdict.NOBODY_BEHIND, None, None, None, True)
    by_gun = standings.by_gun and not (flt and flt.by_chip)
    gap = gap_between(athlete, behind, by_gun=by_gun)
    if gap is None or athlete.last < 0:
        return PenaltyCheck(bib, seconds, Verdict.UNKNOWN, behind.bib, None, None, False)
    margin = gap.ranking_gap_ms - limit
    verdict = Verdict.YES if margin > 0 else Verdict.NO
    return PenaltyCheck(bib, seconds, verdict, behind.bib, gap, margin, behind.last >= athlete.last)
