"""Leaderboard views the engine does not keep: any mix of wave, gender and category.

The engine keeps ordered lists for the whole field and for one gender or one category;
:class:`FilteredView` keeps its own ``SortedList`` for any other filter (a wave, gender and
category together) and is updated from change sets with only the athletes they name, so a
filter costs one build and then O(changed · log n) per tick. Same interface as
:class:`~racetui.engine.LeaderboardView`: ``len``, ``rows(start, stop)``, ``row``,
``index_of``. No Textual here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

from sortedcontainers import SortedList

from racetui.engine import LeaderboardView, RaceStandings, Row
from racetui.engine.standings import Entry
from racetui.model import Status

__all__ = ["AnyView", "FilteredView", "make_view"]

_UNPLACED = frozenset({Status.DSQ, Status.DNS})


class AnyView(Protocol):
    def __len__(self) -> int: ...
    def rows(self, start: int, stop: int) -> list[Row]: ...
    def row(self, index: int) -> Row: ...
    def index_of(self, bib: str) -> int | None: ...


class FilteredView:
    """A leaderboard of the entries matching a filter, kept in order incrementally."""

    def __init__(
        self,
        standings: RaceStandings,
        *,
        point_id: str | None = None,
        gender: str | None = None,
        category: str | None = None,
        wave_id: str | None = None,
    ) -> None:
        self.standings = standings
        self.point = None if point_id is None else standings.point_index[point_id]
        self.gender = gender
        self.category = category
        self.wave_id = wave_id
        self._keys: dict[str, tuple[object, ...]] = {}
        self._ordered: SortedList = SortedList()
        self.rebuild()

    def matches(self, entry: Entry) -> bool:
        participant = entry.participant
        if participant is None:
            return self.gender is None and self.category is None and self.wave_id is None
        return (
            (self.gender is None or participant.gender == self.gender)
            and (self.category is None or participant.category == self.category)
            and (self.wave_id is None or participant.wave_id == self.wave_id)
        )

    def _key(self, entry: Entry) -> tuple[object, ...] | None:
        if not self.matches(entry):
            return None
        if self.point is None:
            return entry.key
        if entry.status in _UNPLACED:
            return None
        chip = entry.times[self.point] if self.point < len(entry.times) else None
        return None if chip is None else (chip, entry.number, entry.bib)

    def rebuild(self) -> None:
        keys = {}
        for bib, entry in self.standings.entries.items():
            key = self._key(entry)
            if key is not None:
                keys[bib] = key
        self._keys = keys
        self._ordered = SortedList(keys.values())

    def update(self, bibs: Iterable[str]) -> None:
        """Re-place the named athletes (from a change set)."""
        entries = self.standings.entries
        for bib in bibs:
            old = self._keys.pop(bib, None)
            if old is not None:
                self._ordered.discard(old)
            entry = entries.get(bib)
            key = None if entry is None else self._key(entry)
            if key is not None:
                self._keys[bib] = key
                self._ordered.add(key)

    def __len__(self) -> int:
        return len(self._ordered)

    def _rank(self, entry: Entry, key: tuple[object, ...]) -> int | None:
        if self.point is None:
            if entry.status is not Status.OK or entry.last < 0:
                return None
            return int(self._ordered.bisect_left(key[:3])) + 1
        return int(self._ordered.bisect_left(key[:1])) + 1

    def _row(self, key: tuple[object, ...], index: int) -> Row:
        entry = self.standings.entries[str(key[-1])]
        row = self.standings.row_for(entry, index, self.point, None)
        return dataclasses.replace(row, rank=self._rank(entry, key))

    def rows(self, start: int, stop: int) -> list[Row]:
        stop = min(stop, len(self._ordered))
        if start >= stop:
            return []
        return [self._row(key, start + i) for i, key in enumerate(self._ordered.islice(start, stop))]

    def row(self, index: int) -> Row:
        return self._row(self._ordered[index], index)

    def index_of(self, bib: str) -> int | None:
        key = self._keys.get(bib)
        if key is None:
            return None
        return int(self._ordered.index(key))


def make_view(
    standings: RaceStandings,
    *,
    point_id: str | None = None,
    gender: str | None = None,
    category: str | None = None,
    wave_id: str | None = None,
) -> LeaderboardView | FilteredView:
    """The engine's own view when it can serve the filter, else a :class:`FilteredView`."""
    if wave_id is None and not (gender and category):
        return standings.view(point_id=point_id, gender=gender, category=category)
    return FilteredView(standings, point_id=point_id, gender=gender, category=category, wave_id=wave_id)
