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

Times are chip times (from the athlete's wave start), which equal gun times in races
without waves. Positions are shared by equal times; DSQ and DNS athletes have no position
(their times are still delivered, as the spec asks). A split whose time since the previous
point would be negative (inconsistent source data) has ``time`` ``null``.

Built for big fields: 2,000 athletes x 17 points in a few tens of milliseconds (durations
are formatted through a per-second cache, positions come from one sorted pass per point).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from racetui.engine.standings import Entry, RaceStandings
from racetui.model.incidents import format_incidents
from racetui.model.race import RaceKind, Status, TimingPoint
from racetui.model.times import HMS_TEXT, MILLIS_TEXT, format_datetime, format_duration, format_hms

__all__ = ["build_bytes", "build_message", "segment_ids"]

_UNPLACED = frozenset({Status.DSQ, Status.DNS})
# The shared duration tables of model/times (the hot loop reads them inline).
_MILLIS = MILLIS_TEXT
_HMS = HMS_TEXT
_hms = format_hms


_PLACES: list[str] = []


def _places(count: int) -> list[str]:
    """``["1", "2", ...]`` at least ``count`` long (shared, grown on demand)."""
    if len(_PLACES) < count:
        _PLACES.extend(str(n) for n in range(len(_PLACES) + 1, count + 1))
    return _PLACES


def _duration(ms: int) -> str:
    """``HH:MM:SS.fff`` for a non-negative duration."""
    return format_duration(ms)


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


class _Context:
    """Per-message precomputation: positions and leaders at every point."""

    __slots__ = ("fmt", "leaders", "millis", "names", "positions", "seg_ids")

    def __init__(self, points: Sequence[TimingPoint], entries: Sequence[Entry], millis: bool) -> None:
        self.seg_ids = segment_ids(points)
        self.names = [p.name for p in points]
        self.millis = millis
        self.fmt = _duration if millis else _duration_whole
        count = len(points)
        chips: list[list[int]] = [[] for _ in range(count)]
        for entry in entries:
            if entry.last < 0 or entry.status in _UNPLACED:
                continue
            for index, chip in enumerate(entry.times):
                if chip is not None:
                    chips[index].append(chip)
        # chip time -> position text, per point (equal times share the place)
        self.positions: list[dict[int, str]] = []
        self.leaders: list[int] = []
        for ordered in chips:
            ordered.sort()
            table: dict[int, str] = {}
            place_text = _places(len(ordered))
            for place, chip in enumerate(ordered):
                if chip not in table:
                    table[chip] = place_text[place]
            self.positions.append(table)
            self.leaders.append(ordered[0] if ordered else -1)
        # Warm the duration cache once, not in the hot loop (slower athletes are rare).
        _hms(max((ordered[-1] for ordered in chips if ordered), default=0) // 1000)


def _head(ctx: _Context, entry: Entry) -> dict[str, Any]:
    """``id``, ``start_num``, ``name``, ``country``, the latest point fields, status, incidents."""
    participant = entry.participant
    last = entry.last
    chip = entry.times[last] if last >= 0 else None
    placed = entry.status not in _UNPLACED
    segment = time = difference = position = None
    if chip is not None:
        fmt = ctx.fmt
        segment = ctx.seg_ids[last]
        time = fmt(chip)
        leader = ctx.leaders[last]
        if leader >= 0:
            difference = fmt(max(0, chip - leader))
        if placed:
            position = ctx.positions[last].get(chip)
    return {
        "id": participant.id if participant else None,
        "start_num": entry.bib,
        "name": entry.name(),
        "country": participant.country if participant else None,
        "segment_id": segment,
        "time": time,
        "difference": difference,
        "position": position,
        "status": None if entry.status is Status.OK else entry.status.value,
        "incidents": format_incidents(entry.incidents) if entry.incidents else None,
    }


def _splits(
    ctx: _Context, entry: Entry, indices: Sequence[int] | None = None
) -> list[dict[str, str | None]] | None:
    """Splits of an entry at the given point indices (all by default); None when none passed.

    The hot loop of the builder (one iteration per athlete and point): formatting is
    inlined through the per-second cache.
    """
    if not ctx.millis:
        return _splits_whole(ctx, entry, indices)
    hms = _HMS
    known = len(hms)
    millis = _MILLIS
    seg_ids = ctx.seg_ids
    names = ctx.names
    leaders = ctx.leaders
    positions = ctx.positions if entry.status not in _UNPLACED else None
    wanted = None if indices is None else set(indices)
    out: list[dict[str, str | None]] = []
    previous = 0
    for index, chip in enumerate(entry.times):
        if chip is None:
            continue
        if wanted is None or index in wanted:
            seconds = chip // 1000
            total = (hms[seconds] if seconds < known else _hms(seconds)) + millis[chip % 1000]
            step = chip - previous
            step_text: str | None = None
            if step >= 0:
                seconds = step // 1000
                step_text = (hms[seconds] if seconds < known else _hms(seconds)) + millis[step % 1000]
            leader = leaders[index]
            if leader < 0:
                gap: str | None = None
            else:
                behind = chip - leader if chip > leader else 0
                seconds = behind // 1000
                gap = (hms[seconds] if seconds < known else _hms(seconds)) + millis[behind % 1000]
            out.append(
                {
                    "id": seg_ids[index],
                    "name": names[index],
                    "total_time": total,
                    "time": step_text,
                    "difference": gap,
                    "position": None if positions is None else positions[index][chip],
                }
            )
        previous = chip
    return out or None


def _splits_whole(
    ctx: _Context, entry: Entry, indices: Sequence[int] | None
) -> list[dict[str, str | None]] | None:
    """:func:`_splits` with the whole-second rule (rare: timers without millisecond data)."""
    fmt = ctx.fmt
    positions = ctx.positions if entry.status not in _UNPLACED else None
    out: list[dict[str, str | None]] = []
    previous = 0
    for index, chip in enumerate(entry.times):
        if chip is None:
            continue
        if indices is None or index in indices:
            leader = ctx.leaders[index]
            step = chip - previous
            out.append(
                {
                    "id": ctx.seg_ids[index],
                    "name": ctx.names[index],
                    "total_time": fmt(chip),
                    "time": fmt(step) if step >= 0 else None,
                    "difference": None if leader < 0 else fmt(max(0, chip - leader)),
                    "position": None if positions is None else positions[index].get(chip),
                }
            )
        previous = chip
    return out or None


def _athlete(ctx: _Context, entry: Entry) -> dict[str, Any]:
    athlete = _head(ctx, entry)
    athlete["splits"] = _splits(ctx, entry) if entry.last >= 0 else None
    participant = entry.participant
    if participant is not None and participant.paratriathlon is not None:
        para = participant.paratriathlon
        athlete["paratriathlon"] = {
            "class": para.sport_class,
            "guide_name": para.guide_name,
            "guide_id": para.guide_id,
            "compensation_time": None if para.compensation_ms is None else ctx.fmt(para.compensation_ms),
        }
    return athlete


def _team(
    ctx: _Context, entry: Entry, leg_points: dict[int, list[int]], loose_points: list[int]
) -> dict[str, Any]:
    team = _head(ctx, entry)
    members = {leg.order: leg.member for leg in entry.legs}
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
                "splits": _splits(ctx, entry, indices) if indices and entry.last >= 0 else None,
            }
        )
    team["athletes"] = athletes
    if loose_points:
        team["splits"] = _splits(ctx, entry, loose_points) if entry.last >= 0 else None
    return team


def build_message(
    standings: RaceStandings,
    *,
    event_id: str,
    event_name: str,
    prog_id: str,
    prog_name: str,
    status: str,
    sandbox: bool,
    date: datetime,
    start_time: datetime | None,
    wetsuit: bool | None,
    air_temp: float | None,
    water_temp: float | None,
    millis: bool = True,
) -> dict[str, Any]:
    """The complete v1.1 message for one race (program), as a JSON-ready ``dict``.

    ``status`` is the message status (``prerace``, ``live`` or ``official``). ``millis``
    is True when the timer has millisecond data (the normal case); False applies the
    whole-second rule to every duration.
    """
    entries = list(standings.ordered_entries())
    points = standings.points
    ctx = _Context(points, entries, millis)
    relay = standings.race.kind is RaceKind.RELAY

    latest: dict[str, str] | None = None
    furthest = max((entry.last for entry in entries), default=-1)
    if furthest >= 0:
        passed = sum(1 for entry in entries if entry.times[furthest] is not None)
        latest = {
            "segment_id": ctx.seg_ids[furthest],
            "segment_name": ctx.names[furthest],
            ("num_teams" if relay else "num_athletes"): str(passed),
        }

    message: dict[str, Any] = {
        "date": format_datetime(date),
        "start_time": None if start_time is None else format_datetime(start_time),
        "event_id": _text(event_id),
        "event_name": event_name,
        "prog_id": _text(prog_id),
        "prog_name": prog_name,
        "wetsuit": _bool(wetsuit),
        "sandbox": _bool(sandbox),
    }
    if relay:
        leg_points: dict[int, list[int]] = {}
        loose: list[int] = []
        for index, point in enumerate(points):
            if point.leg is None:
                loose.append(index)
            else:
                leg_points.setdefault(point.leg, []).append(index)
        teams = [_team(ctx, entry, leg_points, loose) for entry in entries]
        message["num_teams"] = str(len(teams))
    else:
        athletes = [_athlete(ctx, entry) for entry in entries]
        message["num_athletes"] = str(len(athletes))
    message["status"] = status
    message["latest"] = latest
    message["conditions"] = {"air_temp": _text(air_temp), "water_temp": _text(water_temp)}
    if relay:
        message["teams"] = teams
    else:
        message["athletes"] = athletes
    return message


def build_bytes(
    standings: RaceStandings,
    *,
    event_id: str,
    event_name: str,
    prog_id: str,
    prog_name: str,
    status: str,
    sandbox: bool,
    date: datetime,
    start_time: datetime | None,
    wetsuit: bool | None,
    air_temp: float | None,
    water_temp: float | None,
    millis: bool = True,
) -> bytes:
    """:func:`build_message` as UTF-8 JSON bytes (what is POSTed or hosted)."""
    return orjson.dumps(
        build_message(
            standings,
            event_id=event_id,
            event_name=event_name,
            prog_id=prog_id,
            prog_name=prog_name,
            status=status,
            sandbox=sandbox,
            date=date,
            start_time=start_time,
            wetsuit=wetsuit,
            air_temp=air_temp,
            water_temp=water_temp,
            millis=millis,
        )
    )
