"""The ranking rules, in one place: who is placed, in what order, and what shares a place.

Every position racetui shows, exports or publishes follows from these few functions
(World Triathlon Live Timing v1.1 "Athlete Ordering" and "Other Timing Notes"):

1. athletes who passed the furthest timing point first, then earlier points;
2. at the same point, by time (chip or gun, see :class:`~racetui.model.RankBy`); equal
   times share a place;
3. start number where nothing else orders (before the first point), then the bib text;
4. LAP and NC after the racing field, then DNF, then DNS, DSQ at the very bottom (each
   group keeps the same progress/time ordering within itself).

An overall place (``athlete.position`` in v1.1, the leaderboard's Pos) belongs only to
athletes racing (status OK) who passed at least one point. A place at a timing point
(split positions, the Passes screen) belongs to everyone who passed it except DSQ and DNS:
a DNF's earlier splits still count, a disqualified athlete's times are delivered but take
no one's place.
"""

from __future__ import annotations

from dataclasses import dataclass

from racetui.model.race import Status

__all__ = [
    "Filter",
    "OverallKey",
    "PointKey",
    "key_status_rank",
    "key_time",
    "overall_key",
    "place_key",
    "placed_at_point",
    "point_key",
    "status_rank",
    "takes_place",
]

_STATUS_RANK: dict[Status, int] = {
    Status.OK: 0,
    Status.LAP: 1,
    Status.NC: 1,
    Status.DNF: 2,
    Status.DNS: 3,
    Status.DSQ: 4,
}
_UNPLACED_AT_POINT = frozenset({Status.DSQ, Status.DNS})

# (status rank, -furthest point index, time there, start number) packed into one int,
# then the bib: sorts as the v1.1 athletes array. The first three fields decide a place
# (:func:`place_key`), the number and the bib only break ties in order. One int compares
# in one step where a tuple of equal statuses and points compared field by field (a
# whole-field merge is 12x faster).
OverallKey = tuple[int, str]
# (time at the point, start number, bib): the order at one timing point.
PointKey = tuple[int, int, str]


def status_rank(status: Status) -> int:
    """Where a status sorts: racing field first, LAP/NC, DNF, DNS, DSQ at the bottom."""
    return _STATUS_RANK[status]


def takes_place(status: Status, furthest: int) -> bool:
    """True when an athlete holds an overall place: racing, and past the first point."""
    return status is Status.OK and furthest >= 0


def placed_at_point(status: Status) -> bool:
    """True when an athlete's time at a point takes a place there (not DSQ, not DNS)."""
    return status not in _UNPLACED_AT_POINT


# Field widths of the packed key: start numbers below 2**41 (bibs.NO_NUMBER is 10**12),
# times within +-2**49 ms (17,000 years; anything beyond is clamped), points below 2**16.
_NUMBER_BITS = 41
_TIME_BITS = 50
_POINT_BITS = 17
_TIME_BIAS = 1 << (_TIME_BITS - 1)
_POINT_BIAS = 1 << (_POINT_BITS - 1)
_PLACE_SHIFT = _NUMBER_BITS
_STATUS_SHIFT = _NUMBER_BITS + _TIME_BITS + _POINT_BITS


def overall_key(status: Status, furthest: int, time_ms: int | None, number: int, bib: str) -> OverallKey:
    """The athlete's key in the overall order (``time_ms`` is at the furthest point)."""
    time = min(max(time_ms or 0, -_TIME_BIAS), _TIME_BIAS - 1) + _TIME_BIAS
    place = ((_STATUS_RANK[status] << _POINT_BITS) + _POINT_BIAS - furthest) << _TIME_BITS | time
    return (place << _PLACE_SHIFT | number, bib)


def place_key(key: OverallKey) -> tuple[int]:
    """The smallest key sharing ``key``'s place (same status, furthest point and time):
    ``bisect_left`` of it in an overall order is the number of athletes placed ahead."""
    return (key[0] >> _PLACE_SHIFT << _PLACE_SHIFT,)


def key_status_rank(key: OverallKey) -> int:
    """The :func:`status_rank` an overall key was made with."""
    return key[0] >> _STATUS_SHIFT


_TIME_MASK = (1 << _TIME_BITS) - 1


def key_time(key: OverallKey) -> int:
    """The ranking time an overall key was made with (0 before the first point)."""
    return ((key[0] >> _PLACE_SHIFT) & _TIME_MASK) - _TIME_BIAS


def point_key(time_ms: int, number: int, bib: str) -> PointKey:
    """The athlete's key in the order at one point."""
    return (time_ms, number, bib)


@dataclass(frozen=True, slots=True)
class Filter:
    """A view's slice of the field: one gender, category and/or wave (None: any).

    A view within a wave or a category ranks by chip time (athletes there did not start
    together with the gun); the whole field, or one gender, ranks as the race says."""

    gender: str | None = None
    category: str | None = None
    wave_id: str | None = None

    def __bool__(self) -> bool:
        return bool(self.gender or self.category or self.wave_id)

    @property
    def by_chip(self) -> bool:
        return bool(self.category or self.wave_id)

    def matches(self, gender: str | None, category: str | None, wave_id: str | None) -> bool:
        return (
            (not self.gender or gender == self.gender)
            and (not self.category or category == self.category)
            and (not self.wave_id or wave_id == self.wave_id)
        )
