"""Build World Triathlon Live Timing v1.1 messages from the engine's standings.

One function, :func:`build_message`, turns a :class:`~racetui.engine.RaceStandings` into
the complete v1.1 message (a ``dict`` ready for JSON); :func:`build_bytes` is the same as
UTF-8 JSON bytes (orjson).

What the message holds, per the spec:

* every value as a string (the spec recommends strings), ``null`` where there is no data;
  dates ISO 8601 with milliseconds, durations ``HH:MM:SS.fff`` (``millis=False`` applies
  the whole-second rule instead: 00:09:14.001 -> 00:09:15);
* athletes (or relay teams) in the spec's order, which is the engine's overall order:
  furthest timing point first, by time at that point, start number where nothing else
  orders, DNF and DNS after the racing field, DSQ at the very bottom;
* per athlete: ``segment_id``/``time``/``difference``/``position`` at the athlete's latest
  point, ``status`` (DNS/DNF/DSQ/LAP/NC or ``null``), ``incidents`` in the Standard Incident
  Guidelines wording, ``splits`` (one per passed point: ``id``, ``name``, ``total_time``,
  ``time`` since the previous passed point, ``difference`` to the fastest at the point,
  ``position``; ``null`` before the first point), ``paratriathlon`` when the participant
  has one;
* ``latest``: the furthest point anyone passed, with how many passed it (``null`` before
  any timing);
* mixed relays (``race.kind == relay``): ``num_teams``, ``teams`` each with ``athletes``
  (one per leg, from the entry's ``legs``), every leg athlete carrying the splits of the
  points of their leg (``TimingPoint.leg``), ``null`` when not yet competed;
  ``latest.num_teams``. Points of a relay without a leg are given as the team's own
  ``splits`` (an extra field; spec-shaped relays never have any).

Segment ids are the point's 1-based place in course order. A race read from a v1.1 feed
keeps its own segment ids: when every point's id is the decimal form of its ``order``
(what :mod:`racetui.sources.v11` produces), that id is used as is, so a feed that skipped
a segment, or that numbers a ``0 Start`` segment, is re-published with the same numbers.

Every place and gap comes from the engine's read side (:mod:`racetui.engine.ranking` holds
the rules): ``athlete.position`` is the athlete's place in the athletes array, shared by
equal times at the same point, null for anyone not racing (DNF, DNS, DSQ, LAP, NC) or not
yet past a point; ``athlete.difference`` is the gap to the leader at the athlete's latest
point; split positions (null for DSQ and DNS, whose times are still delivered, as the spec
asks) and differences are per point. When the race came from a v1.1 feed and racetui
changed nothing about an athlete, the positions and differences the feed gave are sent
back as they were: the feed may rank a field racetui sees only part of.

Times are chip times (from the athlete's wave start), which equal gun times in races
without waves. A split whose time since the previous point would be negative
(inconsistent source data) has ``time`` ``null``.
"""

from __future__ import annotations

import io
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack

import orjson

from racetui.engine import Athlete, RaceStandings, StandingsSnapshot, placed_at_point, takes_place
from racetui.engine.ranking import OverallKey, place_key
from racetui.model.incidents import format_incidents
from racetui.model.race import RaceKind, Reported, Status, TimingPoint
from racetui.model.times import format_datetime, format_duration

__all__ = ["MessageFields", "Prepared", "build_bytes", "build_message", "prepare_message", "segment_ids"]


def _duration_whole(ms: int) -> str:
    """``HH:MM:SS`` with the v1.1 whole-second rule (round up)."""
    return format_duration(ms, millis=False)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _bool(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def segment_ids(points: Sequence[TimingPoint]) -> list[str]:
    """The v1.1 segment id of each point (points in course order, as the standings hold them)."""
    if points and all(p.order >= 0 and p.id == str(p.order) for p in points):
        return [p.id for p in points]
    return [str(i + 1) for i in range(len(points))]


def _point_times(points: int, by_gun: bool, athletes: Sequence[Athlete]) -> list[array[int]]:
    """Per point, the ranking times of everyone who takes a place there, fastest first.

    The engine's split place is one more than the placed times faster than the athlete's
    (:meth:`RaceStandings.splits`), its difference the gap to the fastest: read here for the
    whole field at once, one sort per point instead of two searches per split. Held as
    arrays of 64-bit ints, 8 bytes a split (a list of ints is about 40: at 50,000 athletes
    past 10 points, 12 MB beside the message being encoded)."""
    at: list[array[int]] = [array("q") for _ in range(points)]
    for athlete in athletes:
        if athlete.last < 0 or not placed_at_point(athlete.status):
            continue
        offset = athlete.offset_ms if by_gun else 0
        for index, chip in enumerate(athlete.times):
            if chip is not None:
                at[index].append(chip + offset)
    for index, times in enumerate(at):
        at[index] = array("q", sorted(times))  # one point's list of ints at a time
    return at


class _Context:
    """Per-message values: segment ids and names, the duration format, the points' times
    (made from copies only: a prepared message builds it where it is encoded)."""

    __slots__ = ("at_point", "by_gun", "fmt", "names", "point_ids", "seg_ids")

    def __init__(
        self, points: Sequence[TimingPoint], by_gun: bool, millis: bool, athletes: Sequence[Athlete]
    ) -> None:
        self.seg_ids = segment_ids(points)
        self.names = [p.name for p in points]
        self.point_ids = [p.id for p in points]
        self.fmt: Callable[[int], str] = format_duration if millis else _duration_whole
        self.by_gun = by_gun
        self.at_point = _point_times(len(points), by_gun, athletes)


def _head(ctx: _Context, athlete: Athlete, rank: int | None, reported: Reported | None) -> dict[str, Any]:
    """``id``, ``start_num``, ``name``, ``country``, the latest point fields, status, incidents.

    ``position`` is the athlete's place in the message's order (``rank``: null unless
    racing), ``difference`` the gap to the fastest at the athlete's latest point (as the
    engine's overall row gives it); both as the source gave them while racetui changed
    nothing about the athlete (``reported``)."""
    participant = athlete.participant
    segment = time = difference = None
    position: str | None = None
    last = athlete.last
    chip = athlete.times[last] if 0 <= last < len(athlete.times) else None
    if chip is not None:
        fmt = ctx.fmt
        segment = ctx.seg_ids[last]
        time = fmt(chip)
        ordered = ctx.at_point[last]
        if ordered:
            ranking = chip + athlete.offset_ms if ctx.by_gun else chip
            difference = fmt(ranking - ordered[0] if ranking > ordered[0] else 0)
        if rank is not None:
            position = str(rank)
    if reported is not None:
        position = None if reported.position is None else str(reported.position)
        difference = None if reported.difference_ms is None else ctx.fmt(reported.difference_ms)
    return {
        "id": participant.id if participant else None,
        "start_num": athlete.bib,
        "name": athlete.name(),
        "country": participant.country if participant else None,
        "segment_id": segment,
        "time": time,
        "difference": difference,
        "position": position,
        "status": None if athlete.status is Status.OK else athlete.status.value,
        "incidents": format_incidents(athlete.incidents) if athlete.incidents else None,
    }


def _ranked(
    keys: Sequence[OverallKey], athletes: Sequence[Athlete], reported: Sequence[Reported | None]
) -> Iterator[tuple[Athlete, int | None, Reported | None]]:
    """Each athlete of the overall order with their overall place: one more than the
    athletes ahead of the first key sharing the place (:func:`place_key`, what the engine's
    overall row searches for), for those who take a place."""
    shared: tuple[int] | None = None
    first = 0
    for index, (key, athlete, given) in enumerate(zip(keys, athletes, reported, strict=True)):
        place = place_key(key)
        if place != shared:
            shared, first = place, index
        yield athlete, (first + 1 if takes_place(athlete.status, athlete.last) else None), given


def _splits(
    ctx: _Context,
    athlete: Athlete,
    reported: Reported | None,
    indices: set[int] | None = None,
) -> list[dict[str, str | None]] | None:
    """Splits at the given point indices (all by default); None when none passed.

    ``time`` is since the previous point passed (null if that would be negative:
    inconsistent source data), ``difference`` to the leader there, ``position`` the place
    there (null for DSQ and DNS), or the source's own values while they hold."""
    fmt = ctx.fmt
    seg_ids = ctx.seg_ids
    names = ctx.names
    at_point = ctx.at_point
    offset = athlete.offset_ms if ctx.by_gun else 0
    placed = placed_at_point(athlete.status)
    given = reported.splits if reported is not None else None
    out: list[dict[str, str | None]] = []
    previous = 0
    for index, chip in enumerate(athlete.times):
        if chip is None:
            continue
        split_ms = chip - previous
        previous = chip
        if indices is not None and index not in indices:
            continue
        time = chip + offset
        ordered = at_point[index]
        position = str(bisect_left(ordered, time) + 1) if placed else None
        gap = fmt(time - ordered[0] if time > ordered[0] else 0) if ordered else None
        if given is not None and ctx.point_ids[index] in given:
            place, difference = given[ctx.point_ids[index]]
            position = None if place is None else str(place)
            gap = None if difference is None else fmt(difference)
        out.append(
            {
                "id": seg_ids[index],
                "name": names[index],
                "total_time": fmt(chip),
                "time": fmt(split_ms) if split_ms >= 0 else None,
                "difference": gap,
                "position": position,
            }
        )
    return out or None


def _athlete(ctx: _Context, athlete: Athlete, rank: int | None, reported: Reported | None) -> dict[str, Any]:
    out = _head(ctx, athlete, rank, reported)
    out["splits"] = _splits(ctx, athlete, reported) if athlete.last >= 0 else None
    participant = athlete.participant
    if participant is not None and participant.paratriathlon is not None:
        para = participant.paratriathlon
        out["paratriathlon"] = {
            "class": para.sport_class,
            "guide_name": para.guide_name,
            "guide_id": para.guide_id,
            "compensation_time": None if para.compensation_ms is None else ctx.fmt(para.compensation_ms),
        }
    return out


def _team(
    ctx: _Context,
    athlete: Athlete,
    rank: int | None,
    reported: Reported | None,
    leg_points: dict[int, set[int]],
    loose_points: set[int],
) -> dict[str, Any]:
    team = _head(ctx, athlete, rank, reported)
    timed = athlete.last >= 0
    members = {leg.order: leg.member for leg in athlete.legs}
    athletes: list[dict[str, Any]] = []
    for order in sorted(set(members) | set(leg_points)):
        member = members.get(order)
        indices = leg_points.get(order)
        athletes.append(
            {
                "id": member.id if member else None,
                "team_order": str(order),
                "name": member.name if member else None,
                "country": member.country if member else None,
                "splits": _splits(ctx, athlete, reported, indices) if indices and timed else None,
            }
        )
    team["athletes"] = athletes
    if loose_points:
        team["splits"] = _splits(ctx, athlete, reported, loose_points) if timed else None
    return team


_CHUNK = 250  # athletes encoded at a time: the whole message is never a tree of dicts at once


class MessageFields(TypedDict):
    """What a message says besides its athletes: the one keyword list of
    :func:`prepare_message`, :func:`build_message` and :func:`build_bytes`.

    ``status`` is the message status (``prerace``, ``live`` or ``official``). ``millis``
    is True when the timer has millisecond data (the normal case, the default); False
    applies the whole-second rule to every duration."""

    event_id: str
    event_name: str
    prog_id: str
    prog_name: str
    status: str
    sandbox: bool
    date: datetime
    start_time: datetime | None
    wetsuit: bool | None
    air_temp: float | None
    water_temp: float | None
    millis: NotRequired[bool]


def _plan(
    standings: RaceStandings | StandingsSnapshot, fields: MessageFields
) -> tuple[dict[str, Any], str, Iterator[dict[str, Any]]]:
    """The message without its athletes (or teams), their key, and the athletes one by one."""
    millis = fields.get("millis", True)
    start_time = fields["start_time"]
    points = list(standings.points)
    relay = standings.race.kind is RaceKind.RELAY
    athletes = list(standings.ordered())
    keys = list(standings.overall)  # the same order: nothing changes in between
    given = [standings.reported(athlete.bib) for athlete in athletes]
    seg_ids = segment_ids(points)

    latest: dict[str, str] | None = None
    furthest = standings.latest_point()
    if furthest >= 0:
        latest = {
            "segment_id": seg_ids[furthest],
            "segment_name": points[furthest].name,
            ("num_teams" if relay else "num_athletes"): str(standings.passed(furthest)),
        }

    header: dict[str, Any] = {
        "date": format_datetime(fields["date"]),
        "start_time": None if start_time is None else format_datetime(start_time),
        "event_id": _text(fields["event_id"]),
        "event_name": fields["event_name"],
        "prog_id": _text(fields["prog_id"]),
        "prog_name": fields["prog_name"],
        "wetsuit": _bool(fields["wetsuit"]),
        "sandbox": _bool(fields["sandbox"]),
        ("num_teams" if relay else "num_athletes"): str(len(athletes)),
        "status": fields["status"],
        "latest": latest,
        "conditions": {"air_temp": _text(fields["air_temp"]), "water_temp": _text(fields["water_temp"])},
    }
    by_gun = standings.by_gun
    if not relay:

        def athletes_encoded() -> Iterator[dict[str, Any]]:
            ctx = _Context(points, by_gun, millis, athletes)  # where the message is encoded
            for held in _ranked(keys, athletes, given):
                yield _athlete(ctx, *held)

        return header, "athletes", athletes_encoded()
    leg_points: dict[int, set[int]] = {}
    loose: set[int] = set()
    for index, point in enumerate(points):
        if point.leg is None:
            loose.add(index)
        else:
            leg_points.setdefault(point.leg, set()).add(index)

    def teams_encoded() -> Iterator[dict[str, Any]]:
        ctx = _Context(points, by_gun, millis, athletes)
        for held in _ranked(keys, athletes, given):
            yield _team(ctx, *held, leg_points, loose)

    return header, "teams", teams_encoded()


def build_message(
    standings: RaceStandings | StandingsSnapshot, **fields: Unpack[MessageFields]
) -> dict[str, Any]:
    """The complete v1.1 message for one race (program), as a JSON-ready ``dict`` (tests and
    the simulator: a publisher encodes a :class:`Prepared` message, never this tree)."""
    prepared = prepare_message(standings, **fields)
    header = prepared.header
    header[prepared.key] = list(prepared.records())
    return header


class Prepared:
    """A message read off the standings, not yet encoded: everything it needs is copied
    (rows, athlete snapshots, each point's times), so :meth:`encode` may run in another
    thread while the engine goes on changing."""

    __slots__ = ("_records", "header", "key")

    def __init__(self, header: dict[str, Any], key: str, records: Iterator[dict[str, Any]]) -> None:
        self.header = header  # the message without its athletes (or teams)
        self.key = key
        self._records = records

    def records(self) -> Iterator[dict[str, Any]]:
        """The athletes' (or teams') records one by one. Once."""
        return self._records

    def encode(self, each: Callable[[dict[str, Any]], object] | None = None) -> bytes:
        """The message as UTF-8 JSON bytes (the same bytes as ``orjson.dumps`` of
        :func:`build_message`), the athletes encoded 250 at a time, so the message
        never exists whole as Python objects (at 50,000 athletes that tree is several times
        the size of its bytes); ``each`` sees every athlete's (or team's) record first. Once."""
        out = io.BytesIO()  # grown in place; getvalue() hands over its buffer, no copy
        for part in self.parts(each):
            out.write(part)
        return out.getvalue()

    def parts(self, each: Callable[[dict[str, Any]], object] | None = None) -> Iterator[bytes]:
        """:meth:`encode` in pieces, for a writer that needs no whole copy (export)."""
        head = orjson.dumps(self.header)
        yield head[:-1] + b',"' + self.key.encode() + b'":['
        chunk: list[dict[str, Any]] = []
        first = True
        for record in self._records:
            if each is not None:
                each(record)
            chunk.append(record)
            if len(chunk) == _CHUNK:
                yield (b"" if first else b",") + orjson.dumps(chunk)[1:-1]
                chunk.clear()
                first = False
        if chunk:
            yield (b"" if first else b",") + orjson.dumps(chunk)[1:-1]
        yield b"]}"


def prepare_message(
    standings: RaceStandings | StandingsSnapshot, **fields: Unpack[MessageFields]
) -> Prepared:
    """Read the message off the standings (on the thread that changes them); encode later."""
    return Prepared(*_plan(standings, fields))


def build_bytes(standings: RaceStandings | StandingsSnapshot, **fields: Unpack[MessageFields]) -> bytes:
    """:func:`build_message` as UTF-8 JSON bytes (what is POSTed or hosted)."""
    return prepare_message(standings, **fields).encode()
