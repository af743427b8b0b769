"""Groups on course: athletes who passed a point (or are projected to reach one) within a
given time of each other.

Commentators speak of a "lead group of 6", "the chase at +0:42": a group is a chain of
athletes each within ``within_ms`` of the one before (CrossMgr's rule for chase groups), so
a long line of riders a second apart is one group however long it is. Pure: the caller
gives the times (passings at a point, or projected arrivals) in any order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import sub

__all__ = ["DEFAULT_GROUP_MS", "Group", "group_starts", "group_times"]

DEFAULT_GROUP_MS = 1_000  # within a second of the athlete ahead: one group


@dataclass(frozen=True, slots=True)
class Group:
    """One group, its athletes in the order they passed (or will pass)."""

    bibs: tuple[str, ...]
    first_ms: int  # time of its first athlete
    last_ms: int  # time of its last athlete
    gap_ms: int | None  # first of the group ahead to this one's first (None: first group)
    behind_first_ms: int  # from the first group's first athlete to this one's first

    @property
    def size(self) -> int:
        return len(self.bibs)

    @property
    def leader(self) -> str:
        return self.bibs[0]

    @property
    def span_ms(self) -> int:
        """How long the group takes to pass: its first to its last athlete."""
        return self.last_ms - self.first_ms


def group_starts(times: Sequence[int], within_ms: int = DEFAULT_GROUP_MS) -> list[int]:
    """Where each group starts in ``times`` already in order (non-decreasing): the indexes of
    the athletes more than ``within_ms`` behind the one before (and 0). The rule of
    :func:`group_times`, without building groups: what a 50,000-athlete leaderboard needs
    to know where its separators go."""
    if not times:
        return []
    within = max(0, within_ms)
    # each athlete's gap to the one ahead, at C speed; the indexes where it exceeds the limit
    gaps = map(sub, times[1:], times)
    return [0, *(index for index, gap in enumerate(gaps, 1) if gap > within)]


def group_times(times: Iterable[tuple[str, int]], within_ms: int = DEFAULT_GROUP_MS) -> list[Group]:
    """Chain ``(bib, time_ms)`` pairs into groups, soonest first.

    Equal times keep the order given (a stable sort), so pass them in ranking order to keep
    ties as the leaderboard shows them. ``within_ms`` < 0 is treated as 0 (only equal times group)."""
    ordered = sorted(times, key=lambda item: item[1])
    if not ordered:
        return []
    values = [at for _, at in ordered]
    starts = group_starts(values, within_ms)
    groups: list[Group] = []
    for n, first in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(ordered)
        gap = None if n == 0 else values[first] - values[starts[n - 1]]
        bibs = tuple(bib for bib, _ in ordered[first:end])
        groups.append(Group(bibs, values[first], values[end - 1], gap, values[first] - values[0]))
    return groups
