"""Groups on course: athletes who passed a point (or are projected to reach one) within a
given time of each other.

Commentators speak of a "lead group of 6", "the chase at +0:42": a group is a chain of
athletes each within ``within_ms`` of the one before (CrossMgr's rule for chase groups), so
a long line of riders a second apart is one group however long it is. Pure: the caller
gives the times (passings at a point, or projected arrivals) in any order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_GROUP_MS", "Group", "group_times"]

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


def group_times(times: Iterable[tuple[str, int]], within_ms: int = DEFAULT_GROUP_MS) -> list[Group]:
    """Chain ``(bib, time_ms)`` pairs into groups, soonest first.

    Equal times keep the order given (a stable sort), so pass them in ranking order to keep
    ties as the leaderboard shows them. ``within_ms`` < 0 is treated as 0 (only equal times group)."""
    ordered = sorted(times, key=lambda item: item[1])
    if not ordered:
        return []
    within = max(0, within_ms)
    groups: list[Group] = []
    start = ordered[0][1]
    bibs: list[str] = []
    first = last = ordered[0][1]

    def close() -> None:
        previous = groups[-1].first_ms if groups else None
        gap = None if previous is None else first - previous
        groups.append(Group(tuple(bibs), first, last, gap, first - start))

    for bib, at in ordered:
        if bibs and at - last > within:
            close()
            bibs = []
            first = at
        bibs.append(bib)
        last = at
    close()
    return groups
