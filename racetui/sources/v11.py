"""Read World Triathlon Live Timing v1.1 messages into racetui's model.

Two entry points:

* :func:`parse_message` — one message (bytes, str or an already decoded ``dict``) into a
  :class:`V11Update`: the :class:`~racetui.model.Race` (kind ``triathlon`` or ``relay``,
  points from the segments seen, ``external_id`` = ``prog_id``, conditions, wetsuit, clock
  state and start time) and one :class:`~racetui.model.Result` per athlete or team.
* :class:`V11Reader` — a stream of messages of one race (a feed). It keeps a digest of the
  previous message's athletes by start number and builds ``Result`` objects only for
  athletes whose data changed, so only they reach the engine (:meth:`V11Reader.apply`).
  :meth:`V11Reader.feed` (the feed source's) does the same in slices of a few thousand
  athletes, in the message's order (the spec's: leaders first), giving the event loop a
  turn between two, and keeps no ``Result`` at all: the engine holds the last good values.

What is read, and how leniently (real timers send string-typed and native values, mixed):

* ``start_num`` is the bib; ``id``, ``name``, ``country``, ``status`` (DNS/DNF/DSQ/LAP/NC,
  ``null`` = racing), ``incidents`` (Standard Incident Guidelines wording, parsed by
  :func:`racetui.model.parse_incidents`), ``paratriathlon`` (class, guide, compensation
  time) and ``splits``: every split's ``total_time`` becomes the gun time at the point
  whose id is the split's ``id`` (a split with only ``time`` is accumulated from the
  previous split). Mixed relays: ``teams``, each with ``athletes`` (``team_order`` = leg)
  whose splits make the team's times; the points they name belong to that leg.
* ``position``/``difference`` of athletes and splits are kept as the feed gave them
  (:class:`~racetui.model.Reported`): while racetui changes nothing about an athlete they
  are what a re-published message carries (the feed may rank a field racetui sees only
  part of); screens rank with the engine. ``time``, ``athlete.segment_id`` and the
  ``latest`` block are not read (the engine recomputes them; ``latest`` is returned as
  information only).
* Times like ``"00:25.000"``, ``"00:09:15"``, numbers of seconds; dates like
  ``"2017-06-11T17:03:12+0000"``; booleans as ``true``/``"true"``/``"false"``/``0``/``1``;
  ``null`` splits, a ``null`` latest, missing optional fields and unknown extra fields.

Bad input:

* A whole message that cannot be a v1.1 message (not JSON, truncated, not an object, no
  ``athletes``/``teams`` list, or a list in which not one athlete is readable) raises
  :class:`V11Error` with the reason; a reader keeps its previous state.
* A bad field of one athlete is a warning ``"athlete <start_num>: <field>: <reason>:
  <value>"`` and the rest of the message is kept. The bad field is dropped: the athlete
  keeps that field's value from the last good message (or its empty value when there is
  none). A bad split drops only that split in the same way. An athlete without a readable
  ``start_num`` is dropped whole (``athlete #<n>: start_num: ...``). Duplicate start
  numbers (the first one counts) and a ``num_athletes``/``num_teams`` that disagrees with
  the list are warnings; so are bad header fields (they keep their previous value).

Speed and memory (a 2,000 athletes x 17 splits message every second; 50,000 athletes):
the header is decoded by msgspec into typed structs and each athlete is left as its raw
JSON bytes; an athlete whose bytes are those of the previous message (a 16-byte digest is
all that is kept of it) is unchanged, and only changed athletes are decoded, converted and
validated. An athlete whose shape does not fit the structs (a wrong type somewhere) is
decoded generically and checked field by field; a message whose header does not fit takes
the lenient path as a whole: the same warnings either way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from sys import intern
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import msgspec

from racetui.model.incidents import Incident, parse_incidents
from racetui.model.race import (
    ClockState,
    Paratriathlon,
    Participant,
    Race,
    RaceClock,
    RaceKind,
    RelayLeg,
    RelayMember,
    Reported,
    Result,
    Status,
    TimingPoint,
)
from racetui.model.times import (
    TimeValueError,
    parse_canonical_duration,
    parse_datetime,
    parse_optional_duration,
)

if TYPE_CHECKING:
    from racetui.engine.standings import RaceStandings
    from racetui.sources.base import Pipeline

__all__ = [
    "V11ApiError",
    "V11Error",
    "V11Header",
    "V11Reader",
    "V11Update",
    "parse_message",
    "unwrap_envelope",
]

# ------------------------------------------------------------------ wire structs (fast path)
Scalar: TypeAlias = str | int | float | bool | None
_T = TypeVar("_T")


class _Split(msgspec.Struct, gc=False):
    id: Scalar = None
    name: Scalar = None
    total_time: Scalar = None
    time: Scalar = None
    difference: Scalar = None
    position: Scalar = None


class _Para(msgspec.Struct, gc=False):
    class_: Scalar = msgspec.field(default=None, name="class")
    guide_name: Scalar = None
    guide_id: Scalar = None
    compensation_time: Scalar = None


class _Member(msgspec.Struct, gc=False):
    id: Scalar = None
    team_order: Scalar = None
    name: Scalar = None
    country: Scalar = None
    splits: list[_Split] | None = None


class _Entry(msgspec.Struct, gc=False):
    """An athlete, or a relay team (then ``athletes`` holds its members)."""

    id: Scalar = None
    start_num: Scalar = None
    name: Scalar = None
    country: Scalar = None
    segment_id: Scalar = None
    time: Scalar = None
    difference: Scalar = None
    position: Scalar = None
    status: Scalar = None
    incidents: Scalar = None
    splits: list[_Split] | None = None
    paratriathlon: _Para | None = None
    athletes: list[_Member] | None = None


class _Latest(msgspec.Struct, gc=False):
    segment_id: Scalar = None
    segment_name: Scalar = None
    num_athletes: Scalar = None
    num_teams: Scalar = None


class _Conditions(msgspec.Struct, gc=False):
    air_temp: Scalar = None
    water_temp: Scalar = None


class _Message(msgspec.Struct, gc=False):
    """A v1.1 message, or a World Triathlon API envelope around one (``code``/``data``);
    each athlete or team is left as its raw JSON bytes."""

    date: Scalar = None
    start_time: Scalar = None
    event_id: Scalar = None
    event_name: Scalar = None
    prog_id: Scalar = None
    prog_name: Scalar = None
    wetsuit: Scalar = None
    sandbox: Scalar = None
    num_athletes: Scalar = None
    num_teams: Scalar = None
    status: Scalar = None
    latest: _Latest | None = None
    conditions: _Conditions | None = None
    athletes: list[msgspec.Raw] | None = None
    teams: list[msgspec.Raw] | None = None
    code: Scalar = None
    data: _Message | None = None


SLICE = 2500  # athletes read and handed to the engine at a time by V11Reader.feed
TURN = 400  # athletes handed over per turn given to the loop after a slice

_DECODER = msgspec.json.Decoder(_Message)
_ENTRY = msgspec.json.Decoder(_Entry)


def _digest(raw: msgspec.Raw) -> bytes:
    """What is kept of an athlete's bytes to tell the next message's from them."""
    return hashlib.blake2b(raw, digest_size=16).digest()


def _decode_entry(raw: msgspec.Raw) -> object:
    """An athlete's bytes as an :class:`_Entry`, or generically decoded when a field has a
    type the struct does not take (the field-by-field checks then name it)."""
    try:
        return _ENTRY.decode(raw)
    except msgspec.ValidationError:
        return msgspec.json.decode(raw)


_HEADER_FIELDS = tuple(
    f for f in _Message.__struct_fields__ if f not in ("athletes", "teams", "code", "data")
)


# ------------------------------------------------------------------------------ results
class V11Error(ValueError):
    """A message that cannot be read at all; the text says why."""


class V11ApiError(V11Error):
    """A World Triathlon API ``fail``/``error`` envelope; ``code`` is its status code."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class V11Header:
    """The message-level fields (information beyond the ``Race``)."""

    event_id: str | None = None
    event_name: str | None = None
    prog_id: str | None = None
    prog_name: str | None = None
    status: ClockState | None = None
    date: datetime | None = None
    start_time: datetime | None = None
    sandbox: bool | None = None
    wetsuit: bool | None = None
    air_temp: float | None = None
    water_temp: float | None = None
    latest_segment_id: str | None = None
    latest_segment_name: str | None = None
    latest_count: int | None = None


@dataclass(slots=True)
class V11Update:
    """What one message says, and what changed since the reader's previous message.

    ``results`` holds every athlete of the message (message order); ``changed`` only those
    whose data differ from the previous message (all of them for the first message);
    ``removed`` the start numbers gone since the previous message.
    """

    race: Race
    header: V11Header
    results: list[Result]
    changed: list[Result]
    removed: list[str]
    race_changed: bool
    first: bool
    warnings: list[str] = field(default_factory=list)
    changed_bibs: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------- values
class _Bad(Exception):
    """One bad field: the reason (the caller adds the field name and the value)."""


def _text(value: object) -> str | None:
    """A scalar as text; ``None``/empty is ``None``; objects and lists are bad."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -_BIG < value < _BIG:
            raise _Bad("number too large")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Bad("not a finite number")
        if value.is_integer() and -_BIG < value < _BIG:
            return str(int(value))
        return repr(value)
    raise _Bad(f"expected text, got {_kind(value)}")


_BIG = 10**18
_BIB_MAX = 40  # characters


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _bib(value: object) -> str:
    if isinstance(value, bool):
        raise _Bad("not a start number")
    if isinstance(value, float) and not value.is_integer():
        raise _Bad("not a start number")
    text = _text(value)
    if text is None:
        raise _Bad("missing start number")
    if len(text) > _BIB_MAX:
        raise _Bad("start number too long")
    return text


_SEGMENT_MAX = 100_000


def _segment(value: object) -> str:
    """A segment id: numbers and digit strings canonical (``"01"`` -> ``"1"``)."""
    if (
        type(value) is str
        and len(value) < 5
        and value.isascii()
        and value.isdigit()
        and (value[0] != "0" or len(value) == 1)
    ):
        return value  # the common case, already canonical
    if isinstance(value, bool):
        raise _Bad("not a segment id")
    if isinstance(value, int | float):
        if value < 0:
            raise _Bad("negative segment id")
        if not (value < _SEGMENT_MAX and float(value).is_integer()):
            raise _Bad("not a segment id")
        return str(int(value))
    text = _text(value)
    if text is None:
        raise _Bad("missing segment id")
    if len(text) > 40:
        raise _Bad("segment id too long")
    if text.isdigit() and text.isascii():
        if int(text) >= _SEGMENT_MAX:
            raise _Bad("not a segment id")
        return str(int(text))
    if text.startswith("-") and text[1:].isdigit():
        raise _Bad("negative segment id")
    return text


_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def _bool(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Bad("not a boolean")


def _float(value: object) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _Bad("not a number")
    try:
        number = float(value) if isinstance(value, int | float | str) else None
    except (ValueError, OverflowError):
        number = None
    if number is None or not math.isfinite(number):
        raise _Bad("not a number")
    return number


def _count(value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _Bad("not a count")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise _Bad("not a count")
        value = int(text)
    if not isinstance(value, int) or not 0 <= value < _BIG:
        raise _Bad("not a count")
    return value


def _date(value: object, name: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_datetime(value, name)
    except TimeValueError as exc:
        raise _Bad(exc.reason) from None


_TIME_MAX = 1000 * 3600 * 1000  # a thousand hours


def _duration(value: object, name: str) -> int | None:
    try:
        ms = parse_optional_duration(value, name)
    except TimeValueError as exc:
        raise _Bad(exc.reason) from None
    except (ValueError, OverflowError):  # absurdly long digit strings, huge floats
        raise _Bad("not a time") from None
    if ms is None:
        return None
    if ms >= _TIME_MAX:
        raise _Bad("time too large")
    return ms


def _clock_state(value: object) -> ClockState | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return ClockState(text.lower())
    except ValueError:
        raise _Bad("expected prerace, live or official") from None


def _status(value: object) -> Status:
    try:
        return Status.parse(_text(value))
    except ValueError:
        raise _Bad("expected DNS, DNF, DSQ, LAP or NC") from None


def _incidents(value: object) -> list[Incident]:
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise _Bad("expected text")
        return parse_incidents(", ".join(item.strip() for item in value if item.strip()) or None)
    if not isinstance(value, str):
        raise _Bad(f"expected text, got {_kind(value)}")
    return parse_incidents(value.strip() or None)


def unwrap_envelope(payload: object) -> object:
    """World Triathlon API answers wrap the message: ``{"code":200,"status":"success","data":{...}}``.

    Returns the message inside a success envelope and the payload itself when it is not an
    envelope. A ``fail``/``error`` envelope raises :class:`V11Error` with the API's message.
    """
    if not isinstance(payload, dict) or "athletes" in payload or "teams" in payload:
        return payload
    status = payload.get("status")
    if status not in ("success", "fail", "error") or not ("data" in payload or "message" in payload):
        return payload
    code = payload.get("code")
    if status == "success":
        if not isinstance(payload.get("data"), dict):
            raise V11Error(f"World Triathlon API answered success without a message: {_short(payload)}")
        return payload.get("data")
    detail = payload.get("message")
    data = payload.get("data")
    if detail is None and isinstance(data, dict):
        detail = data.get("message") or data.get("error") or data
    if detail is None:
        detail = data
    text = _short(detail, 200) if not isinstance(detail, str) else detail[:200]
    number = code if isinstance(code, int) and not isinstance(code, bool) else None
    if isinstance(code, str) and code.strip().isdigit() and len(code.strip()) < 6:
        number = int(code)
    raise V11ApiError(f"World Triathlon API answered {status} (code {code}): {text}", number)


# ----------------------------------------------------------------------------- points
@dataclass(slots=True)
class _Point:
    name: str
    order: int
    leg: int | None


_NAMED_ORDER_BASE = 1_000_000  # non-numeric segment ids go after numbered ones


class _Points:
    """Segments seen so far in a feed (they only grow: a point never disappears)."""

    def __init__(self) -> None:
        self.points: dict[str, _Point] = {}
        self.version = 0

    def see(self, point_id: str, name: str | None, leg: int | None) -> None:
        point = self.points.get(point_id)
        if point is not None and point.leg == leg and point.name == name:
            return
        if point is None:
            numbered = point_id.isascii() and point_id.isdigit()
            order = int(point_id) if numbered else _NAMED_ORDER_BASE + len(self.points)
            self.points[point_id] = _Point(name or f"Segment {point_id}", order, leg)
            self.version += 1
            return
        if name and point.name == f"Segment {point_id}" and name != point.name:
            point.name = name
            self.version += 1
        if point.leg is None and leg is not None:
            point.leg = leg
            self.version += 1

    def timing_points(self, race_id: str, relay: bool) -> list[TimingPoint]:
        ordered = sorted(self.points.items(), key=lambda item: (item[1].order, item[0]))
        return [
            TimingPoint(
                id=point_id,
                race_id=race_id,
                name=point.name,
                order=point.order,
                leg=point.leg,
                is_finish=not relay and point.name.strip().lower() == "finish",
            )
            for point_id, point in ordered
        ]


# ----------------------------------------------------------------------------- reader
class V11Reader:
    """Reads the successive messages of one feed and tells what changed.

    ``race_id`` names the race in racetui (default: the message's ``prog_id``). A message
    for another program resets the reader (a new race). A bad message (:class:`V11Error`)
    leaves the reader's state as it was.
    """

    def __init__(self, race_id: str | None = None) -> None:
        self.race_id = race_id
        self._reset(None)

    def _reset(self, race_id: str | None) -> None:
        self._current_id = race_id
        self._raw: dict[str, object] = {}  # bib -> the digest of its bytes (or its object)
        self._digests: dict[bytes, str] = {}  # digest -> bib, of the last message
        self._results: dict[str, Result] = {}
        self._points = _Points()
        self._race: Race | None = None
        self._header = V11Header()
        self._order: list[str] = []

    @property
    def race(self) -> Race | None:
        """The race as of the last good message."""
        return self._race

    @property
    def header(self) -> V11Header:
        return self._header

    # ---------------------------------------------------------------------- engine
    def apply(
        self, data: bytes | bytearray | memoryview | str | Mapping[str, Any], pipeline: Pipeline
    ) -> V11Update:
        """Read a message and apply what changed: the first message as a snapshot (the race
        and every athlete, athletes the engine held beyond them removed), later ones as the
        changed athletes only, plus the removal of athletes gone from the message."""
        update = self.read(data)
        race = update.race
        if update.first:
            pipeline.apply_snapshot(race, update.results)
            return update
        if update.race_changed:
            pipeline.upsert_race(race)
        if update.removed:
            # Unchanged athletes compare equal in the engine and cost no change.
            pipeline.apply_results(race.id, update.results, complete=True)
        elif update.changed:
            pipeline.apply_results(race.id, update.changed)
        return update

    async def feed(
        self,
        data: bytes | bytearray | memoryview | str | Mapping[str, Any],
        pipeline: Pipeline,
        *,
        step: int = SLICE,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> V11Update:
        """:meth:`apply` for a live feed at any size: the athletes are read and handed to
        ``pipeline`` ``step`` at a time, in the message's order (the spec's: leaders first),
        giving the event loop a turn between two slices, so the engine (and a hub's frames
        to its viewers) start with the first slice instead of after the whole message.
        ``progress(done, total, "athletes")`` (or ``"teams"``) follows a first message's
        slices.

        Nothing is kept of an athlete but a digest of its bytes: a bad field falls back on
        what ``pipeline``'s engine holds (the last good values), and the update's
        ``results`` and ``changed`` stay empty (``changed_bibs`` says who changed), so no
        second copy of the field outlives the message. A :class:`V11Error` (a message
        without one readable athlete) leaves the reader and the engine as they were; a
        message cut short (cancelled between slices) leaves the reader as it was, and the
        next message is read as a first one.
        """
        job = self._begin(data, pipeline)
        total = len(job.entries)
        sent: Race | None = None if job.first else self._race
        for start in range(0, total, step):
            stop = min(start + step, total)
            changed = job.take(start, stop)
            if changed:
                race = job.race()
                if sent is None:
                    pipeline.apply_snapshot(race, changed)
                else:
                    if race != sent:  # a segment first seen in this slice
                        pipeline.upsert_race(race)
                    pipeline.apply_results(race.id, changed)
                sent = race
            del changed
            if progress is not None and job.first:
                progress(stop, total, f"{job.label}s")
            if stop < total:
                # A turn of the loop for every few hundred athletes handed over: a hub
                # sends its viewers a frame a turn, and so keeps up with the slices.
                for _ in range(-(-(stop - start) // TURN)):
                    await asyncio.sleep(0)
        update = job.finish()
        race = update.race
        if sent is None:  # a first message without athletes
            pipeline.apply_snapshot(race, [])
        elif race != sent:
            pipeline.upsert_race(race)
        if update.removed:
            standings = pipeline.engine.races.get(race.id)
            if standings is not None:
                # The field as the engine now holds it, the gone athletes left out: they
                # are removed, everyone else compares equal and costs no change.
                kept = [held for bib in job.raw_by_bib if (held := _held_result(standings, bib)) is not None]
                pipeline.apply_results(race.id, kept, complete=True)
        return update

    # -------------------------------------------------------------------- decoding
    def read(self, data: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> V11Update:
        """Parse, validate and diff one message against the previous one."""
        job = self._begin(data, None)
        job.take(0, len(job.entries))
        return job.finish()

    def _begin(
        self, data: bytes | bytearray | memoryview | str | Mapping[str, Any], pipeline: Pipeline | None
    ) -> _Reading:
        if isinstance(data, Mapping):
            return self._read_loose(data, pipeline)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise V11Error(f"not a v1.1 message: expected JSON bytes or an object, got {_kind(data)}")
        try:
            message = _DECODER.decode(data)
        except msgspec.ValidationError:
            pass  # a wrong type somewhere: the lenient path names it
        except msgspec.DecodeError as exc:
            raise V11Error(f"not JSON: {exc}") from None
        else:
            if message.athletes is not None or message.teams is not None:
                return self._read_fast(message, pipeline)
            inner = message.data if message.status == "success" else None
            if inner is not None and (inner.athletes is not None or inner.teams is not None):
                return self._read_fast(inner, pipeline)  # a World Triathlon API envelope
        try:
            loose = msgspec.json.decode(data)
        except (msgspec.DecodeError, RecursionError) as exc:  # pragma: no cover - decoded above
            raise V11Error(f"not JSON: {exc}") from None
        return self._read_loose(loose, pipeline)

    def _read_fast(self, message: _Message, pipeline: Pipeline | None) -> _Reading:
        header = {name: getattr(message, name) for name in _HEADER_FIELDS}
        if message.latest is not None:
            header["latest"] = msgspec.structs.asdict(message.latest)
        if message.conditions is not None:
            header["conditions"] = msgspec.structs.asdict(message.conditions)
        relay = message.teams is not None
        entries = message.teams if relay else message.athletes
        if entries is None:
            raise V11Error("not a v1.1 message: no athletes or teams list")
        return _Reading(self, header, entries, relay, pipeline)

    def _read_loose(self, message: object, pipeline: Pipeline | None) -> _Reading:
        message = unwrap_envelope(message)
        if not isinstance(message, Mapping):
            raise V11Error(f"not a v1.1 message: expected a JSON object, got {_kind(message)}")
        relay = isinstance(message.get("teams"), list | dict) and not isinstance(
            message.get("athletes"), list
        )
        entries = message.get("teams" if relay else "athletes")
        if isinstance(entries, dict):  # {"athlete": [...]}, as the spec's table words it
            inner = entries.get("team" if relay else "athlete")
            entries = inner if isinstance(inner, list) else [inner] if isinstance(inner, dict) else None
        if not isinstance(entries, list):
            raise V11Error("not a v1.1 message: no athletes or teams list")
        return _Reading(self, message, entries, relay, pipeline)

    def _copy_points(self) -> _Points:
        copy = _Points()
        copy.points = {k: _Point(p.name, p.order, p.leg) for k, p in self._points.points.items()}
        copy.version = self._points.version
        return copy

    def _read_header(self, raw: Mapping[str, Any], relay: bool, warnings: list[str]) -> V11Header:
        old = self._header
        new = V11Header()

        def take(name: str, parse: Any, fallback: Any, *args: Any) -> Any:
            value = raw.get(name)
            try:
                return parse(value, *args)
            except _Bad as exc:
                warnings.append(f"{name}: {exc}: {_short(value)}")
                return fallback

        new.event_id = take("event_id", _text, old.event_id)
        new.event_name = take("event_name", _text, old.event_name)
        new.prog_id = take("prog_id", _text, old.prog_id)
        new.prog_name = take("prog_name", _text, old.prog_name)
        new.status = take("status", _clock_state, old.status)
        new.date = take("date", _date, old.date, "date")
        new.start_time = take("start_time", _date, old.start_time, "start_time")
        new.sandbox = take("sandbox", _bool, old.sandbox)
        new.wetsuit = take("wetsuit", _bool, old.wetsuit)
        conditions = raw.get("conditions")
        if isinstance(conditions, Mapping):
            for name in ("air_temp", "water_temp"):
                value = conditions.get(name)
                try:
                    setattr(new, name, _float(value))
                except _Bad as exc:
                    warnings.append(f"conditions.{name}: {exc}: {_short(value)}")
                    setattr(new, name, getattr(old, name))
        elif conditions is not None:
            warnings.append(f"conditions: expected an object, got {_kind(conditions)}: {_short(conditions)}")
            new.air_temp, new.water_temp = old.air_temp, old.water_temp
        latest = raw.get("latest")
        if isinstance(latest, Mapping):
            try:
                new.latest_segment_id = _segment(latest.get("segment_id"))
                new.latest_segment_name = _text(latest.get("segment_name"))
                new.latest_count = _count(latest.get("num_teams" if relay else "num_athletes"))
            except _Bad as exc:
                warnings.append(f"latest: {exc}: {_short(latest)}")
        elif latest is not None:
            warnings.append(f"latest: expected an object, got {_kind(latest)}: {_short(latest)}")
        return new

    # ------------------------------------------------------------------- athletes
    def _entry(
        self,
        raw: dict[str, Any],
        bib: str,
        race_id: str,
        relay: bool,
        old: Result | None,
        points: _Points,
        warnings: list[str],
    ) -> Result:
        label = f"{'team' if relay else 'athlete'} {bib}"
        old_participant = old.participant if old is not None else None

        def take(name: str, parse: Any, fallback: Any) -> Any:
            value = raw.get(name)
            try:
                return parse(value)
            except _Bad as exc:
                warnings.append(f"{label}: {name}: {exc}: {_short(value)}")
                return fallback

        participant = Participant(
            bib=bib,
            race_id=race_id,
            id=take("id", _text, old_participant.id if old_participant else None),
            name=take("name", _text, old_participant.name if old_participant else "") or "",
            country=take("country", _text, old_participant.country if old_participant else None),
            paratriathlon=take(
                "paratriathlon", _paratriathlon, old_participant.paratriathlon if old_participant else None
            ),
        )
        status = take("status", _status, old.status if old is not None else Status.OK)
        incidents = take("incidents", _incidents, old.incidents if old is not None else [])
        old_splits = old.splits if old is not None else {}
        splits: dict[str, int] = {}
        given: dict[str, tuple[int | None, int | None]] = {}
        legs: list[RelayLeg] = []
        if relay:
            members = raw.get("athletes")
            if isinstance(members, list):
                for index, member in enumerate(members):
                    leg = self._member(member, index, label, splits, old_splits, points, warnings, given)
                    if leg is not None:
                        legs.append(leg)
            elif members is not None:
                warnings.append(
                    f"{label}: athletes: expected a list, got {_kind(members)}: {_short(members)}"
                )
                legs = list(old.legs) if old is not None else []
                splits.update(old_splits)
            loose = raw.get("splits")
            if loose is not None:
                _splits(loose, "splits", label, None, splits, old_splits, points, warnings, given)
        else:
            _splits(raw.get("splits"), "splits", label, None, splits, old_splits, points, warnings, given)
        position = take("position", _count, None)
        difference = take("difference", lambda v: _duration(v, "difference"), None)
        reported = None
        if position is not None or difference is not None or any(v != (None, None) for v in given.values()):
            reported = Reported(position=position, difference_ms=difference, splits=given)
        return Result(
            race_id=race_id,
            bib=bib,
            participant=participant,
            status=status,
            splits=splits,
            incidents=incidents,
            legs=legs,
            reported=reported,
        )

    def _member(
        self,
        raw: object,
        index: int,
        label: str,
        splits: dict[str, int],
        old_splits: dict[str, int],
        points: _Points,
        warnings: list[str],
        given: dict[str, tuple[int | None, int | None]],
    ) -> RelayLeg | None:
        where = f"athletes[{index}]"
        if not isinstance(raw, dict):
            warnings.append(f"{label}: {where}: not an object: {_short(raw)}")
            return None
        order_value = raw.get("team_order")
        try:
            order = _count(order_value)
            if order == 0:
                raise _Bad("team order starts at 1")
        except _Bad as exc:
            warnings.append(f"{label}: {where}.team_order: {exc}: {_short(order_value)}")
            order = None
        if order is None:
            order = index + 1
        fields: dict[str, str | None] = {}
        for name in ("id", "name", "country"):
            try:
                fields[name] = _text(raw.get(name))
            except _Bad as exc:
                warnings.append(f"{label}: {where}.{name}: {exc}: {_short(raw.get(name))}")
                fields[name] = None
        _splits(
            raw.get("splits"), f"{where}.splits", label, order, splits, old_splits, points, warnings, given
        )
        if fields["id"] is None and fields["name"] is None:
            return None
        member = RelayMember(id=fields["id"], name=fields["name"] or "", country=fields["country"])
        return RelayLeg(order=order, member=member)


class _Reading:
    """One message being read against the reader's state: the header at once, the athletes
    in slices (:meth:`take`), the reader's new state committed by :meth:`finish` (a
    :class:`V11Error` before it leaves the reader untouched).

    Without ``pipeline`` the reader keeps a :class:`Result` per athlete (``read``: every
    athlete is in the update, and a bad field falls back on the reader's last result);
    with one, only a digest per athlete, and a bad field falls back on the engine's.
    """

    def __init__(
        self,
        reader: V11Reader,
        raw_header: Mapping[str, Any],
        entries: list[Any],
        relay: bool,
        pipeline: Pipeline | None,
    ) -> None:
        self.reader = reader
        self.raw_header = raw_header
        self.entries = entries
        self.relay = relay
        self.pipeline = pipeline
        self.warnings: list[str] = []
        self.header = reader._read_header(raw_header, relay, self.warnings)
        self.race_id = race_id = reader.race_id or self.header.prog_id or "v11"
        self.first = first = race_id != reader._current_id or reader._race is None
        # Work on copies of the state: a V11Error must leave the reader untouched.
        self.points = _Points() if first else reader._copy_points()
        self.previous_raw: dict[str, object] = {} if first else reader._raw
        self.previous_digests: dict[bytes, str] = {} if first else reader._digests
        self.previous_results: dict[str, Result] = {} if first else reader._results
        self.keep = pipeline is None
        # Who has a last state to stay unchanged on: a reader that keeps results needs one.
        self.known: Mapping[str, object] = self.previous_results if self.keep else self.previous_raw
        self.label = "team" if relay else "athlete"
        self.raw_by_bib: dict[str, object] = {}
        self.digests: dict[bytes, str] = {}
        self.results: dict[str, Result] = {}  # only while keeping results
        self.changed: list[Result] = []  # likewise
        self.changed_bibs: list[str] = []
        self._race: Race | None = None
        self._race_version = -1

    def take(self, start: int, stop: int) -> list[Result]:
        """Read ``entries[start:stop]``: the results of those that changed."""
        entries, warnings, label = self.entries, self.warnings, self.label
        raw_by_bib, digests, results, known_bibs = self.raw_by_bib, self.digests, self.results, self.known
        previous_raw, previous_digests = self.previous_raw, self.previous_digests
        keep, race_id, points = self.keep, self.race_id, self.points
        changed: list[Result] = []
        for index in range(start, stop):
            raw = entries[index]
            seen: object = raw
            if isinstance(raw, msgspec.Raw):
                seen = digest = _digest(raw)
                known = previous_digests.get(digest)
                if known is not None and known not in raw_by_bib and known in known_bibs:
                    raw_by_bib[known] = digest  # the same bytes as last time: unchanged
                    digests[digest] = known
                    if keep:
                        results[known] = self.previous_results[known]
                    continue
                raw = _decode_entry(raw)
            start_num = (
                raw.start_num
                if isinstance(raw, _Entry)
                else (raw.get("start_num") if isinstance(raw, dict) else None)
            )
            if not isinstance(raw, _Entry | dict):
                warnings.append(f"{label} #{index + 1}: not an object: {_short(raw)}")
                continue
            try:
                bib = _bib(start_num)
            except _Bad as exc:
                warnings.append(f"{label} #{index + 1}: start_num: {exc}: {_short(start_num)}")
                continue
            if bib in raw_by_bib:
                warnings.append(f"{label} {bib}: start_num: duplicate start number (first kept): {bib!r}")
                continue
            raw_by_bib[bib] = seen
            if isinstance(seen, bytes):
                digests[seen] = bib
            if bib in known_bibs and previous_raw.get(bib) == seen:
                if keep:
                    results[bib] = self.previous_results[bib]
                continue
            result = _entry_fast(raw, bib, race_id, points) if type(raw) is _Entry else None
            if result is None:  # something unusual: the field-by-field checks name it
                plain = msgspec.to_builtins(raw) if isinstance(raw, _Entry) else raw
                result = self.reader._entry(plain, bib, race_id, self.relay, self._old(bib), points, warnings)
            changed.append(result)
            self.changed_bibs.append(bib)
            if keep:
                results[bib] = result
        if keep:
            self.changed += changed
        return changed

    def _old(self, bib: str) -> Result | None:
        """The athlete's last good result, for a bad field to fall back on."""
        if self.first:
            return None
        if self.keep:
            return self.previous_results.get(bib)
        assert self.pipeline is not None
        standings = self.pipeline.engine.races.get(self.race_id)
        return None if standings is None else _held_result(standings, bib)

    def race(self) -> Race:
        """The race with the segments seen so far."""
        if self._race is None or self._race_version != self.points.version:
            header, race_id = self.header, self.race_id
            self._race_version = self.points.version
            self._race = Race(
                id=race_id,
                name=header.prog_name or race_id,
                kind=RaceKind.RELAY if self.relay else RaceKind.TRIATHLON,
                points=self.points.timing_points(race_id, self.relay),
                clock=RaceClock(
                    race_id=race_id,
                    state=header.status or ClockState.PRERACE,
                    gun_time=header.start_time,
                ),
                wetsuit=header.wetsuit,
                air_temp=header.air_temp,
                water_temp=header.water_temp,
                external_id=header.prog_id,
            )
        return self._race

    def finish(self) -> V11Update:
        """Check the message as a whole and commit the reader's new state."""
        reader, entries, label, warnings = self.reader, self.entries, self.label, self.warnings
        raw_by_bib = self.raw_by_bib
        if entries and not raw_by_bib:
            raise V11Error(f"not a v1.1 message: none of the {len(entries)} {label}s is readable")
        count_field = "num_teams" if self.relay else "num_athletes"
        try:
            count = _count(self.raw_header.get(count_field))
        except _Bad as exc:
            warnings.append(f"{count_field}: {exc}: {_short(self.raw_header.get(count_field))}")
        else:
            if count is not None and count != len(entries):
                warnings.append(
                    f"{count_field}: says {count} but the message lists {len(entries)} {label}s: "
                    f"{_short(self.raw_header.get(count_field))}"
                )
        race = self.race()
        first = self.first
        removed = [] if first else [bib for bib in reader._raw if bib not in raw_by_bib]
        race_changed = first or race != reader._race
        # Commit the new state.
        if first:
            reader._reset(self.race_id)
        reader._points = self.points
        reader._raw = raw_by_bib
        reader._digests = self.digests
        reader._results = self.results
        reader._race = race
        reader._header = self.header
        return V11Update(
            race=race,
            header=self.header,
            results=list(self.results.values()),
            changed=self.changed,
            removed=removed,
            race_changed=race_changed,
            first=first,
            warnings=warnings,
            changed_bibs=self.changed_bibs,
        )


def _held_result(standings: RaceStandings, bib: str) -> Result | None:
    """What the engine holds of ``bib`` from its source, as a result (no desk overrides)."""
    entry = standings.entries.get(bib)
    held = standings.held(bib)
    if entry is None or held is None:
        return None
    return Result.model_construct(
        race_id=standings.race.id,
        bib=bib,
        participant=entry.participant,
        status=held.status,
        splits=held.splits,
        incidents=list(held.incidents),
        legs=list(entry.legs),
        reported=standings.source_reported(bib),
    )


def _paratriathlon(value: object) -> Paratriathlon | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad(f"expected an object, got {_kind(value)}")
    sport_class = _text(value.get("class"))
    if sport_class is None:
        raise _Bad("missing class")
    return Paratriathlon.model_validate(
        {
            "class": sport_class,
            "guide_name": _text(value.get("guide_name")),
            "guide_id": _text(value.get("guide_id")),
            "compensation_ms": _duration(value.get("compensation_time"), "compensation_time"),
        }
    )


def _splits(
    raw: object,
    where: str,
    label: str,
    leg: int | None,
    out: dict[str, int],
    old: dict[str, int],
    points: _Points,
    warnings: list[str],
    given: dict[str, tuple[int | None, int | None]],
) -> None:
    """Read a ``splits`` list into ``out`` (point id -> gun ms); bad splits keep their old
    time. The split's own ``position``/``difference`` go to ``given`` (a bad one is a
    warning and left out)."""
    if raw is None:
        return
    if not isinstance(raw, list):
        warnings.append(f"{label}: {where}: expected a list, got {_kind(raw)}: {_short(raw)}")
        out.update(old)
        return
    previous: int | None = None
    for index, split in enumerate(raw):
        if not isinstance(split, dict):
            warnings.append(f"{label}: {where}[{index}]: not an object: {_short(split)}")
            continue
        try:
            point_id = _segment(split.get("id"))
        except _Bad as exc:
            warnings.append(f"{label}: {where}[{index}].id: {exc}: {_short(split.get('id'))}")
            continue
        try:
            name = _text(split.get("name"))
        except _Bad:
            name = None
        total_value = split.get("total_time")
        try:
            total = _duration(total_value, "total_time")
            if total is None:
                step = _duration(split.get("time"), "time")
                if step is not None:
                    total = step if previous is None else previous + step
        except _Bad as exc:
            bad = total_value if total_value is not None else split.get("time")
            field_name = "total_time" if total_value is not None else "time"
            warnings.append(f"{label}: splits[{point_id}].{field_name}: {exc}: {_short(bad)}")
            points.see(point_id, name, leg)
            if point_id in old:
                out[point_id] = old[point_id]
            continue
        points.see(point_id, name, leg)
        if total is None:
            continue
        if point_id in out:
            warnings.append(f"{label}: splits[{point_id}]: duplicate split (first kept): {point_id!r}")
            continue
        out[point_id] = total
        previous = total
        place: int | None = None
        difference: int | None = None
        try:
            place = _count(split.get("position"))
        except _Bad as exc:
            warnings.append(f"{label}: splits[{point_id}].position: {exc}: {_short(split.get('position'))}")
        try:
            difference = _duration(split.get("difference"), "difference")
        except _Bad as exc:
            warnings.append(
                f"{label}: splits[{point_id}].difference: {exc}: {_short(split.get('difference'))}"
            )
        given[point_id] = (place, difference)


_STATUS_TEXT = {status.value: status for status in Status}


def _plain_text(value: Scalar) -> str | None:
    """The fast path's text: a string stripped (None when blank); anything else is unusual."""
    if value is None:
        return None
    if type(value) is not str:
        raise _Unusual
    text = value.strip()
    return text or None


def _intern_text(value: Scalar) -> str | None:
    """:func:`_plain_text` shared: a value of few distinct ones (a country) kept once."""
    text = _plain_text(value)
    return None if text is None else intern(text)


def _plain_count(value: Scalar) -> int | None:
    if value is None:
        return None
    if type(value) is not str or not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise _Unusual
    return int(value)


def _plain_duration(value: Scalar) -> int | None:
    if value is None:
        return None
    ms = parse_canonical_duration(value)
    if ms is None:
        raise _Unusual
    return ms


class _Unusual(Exception):
    """A value the fast path does not take; the field-by-field checks read the athlete."""


def _entry_fast(entry: _Entry, bib: str, race_id: str, points: _Points) -> Result | None:
    """The common athlete (strings as the spec prints them, every split with its canonical
    ``total_time``) straight from its struct, or None for anything else: the field-by-field
    path then reads it and names what is wrong. Everything taken here is what that path
    would take, so the result is the same; pydantic validation is skipped because every
    value is already checked."""
    if entry.athletes is not None or entry.paratriathlon is not None or entry.incidents is not None:
        return None
    status_value = entry.status
    if status_value is None:
        status = Status.OK
    elif type(status_value) is str and status_value in _STATUS_TEXT:
        status = _STATUS_TEXT[status_value]
    else:
        return None
    try:
        participant = _construct(
            Participant,
            bib=bib,
            race_id=race_id,
            id=_plain_text(entry.id),
            name=_plain_text(entry.name) or "",
            country=_intern_text(entry.country),
        )
        splits: dict[str, int] = {}
        given: dict[str, tuple[int | None, int | None]] = {}
        seen = points.points
        for split in entry.splits or ():
            point_id = split.id
            if (
                not (
                    type(point_id) is str
                    and 0 < len(point_id) < 5
                    and point_id.isascii()
                    and point_id.isdigit()
                    and (point_id[0] != "0" or len(point_id) == 1)
                )
                or point_id in splits
            ):
                return None
            # One string per segment id, not one per split: the positions the engine keeps
            # are keyed by them (half a million strings, 22 MB, at 50,000 x 10).
            point_id = intern(point_id)
            total = split.total_time
            ms = parse_canonical_duration(total) if type(total) is str else None
            if ms is None:
                return None
            name = split.name
            if name is not None:
                if type(name) is not str:
                    return None
                name = name.strip() or None
            known = seen.get(point_id)
            if known is None or known.leg is not None or known.name != name:
                points.see(point_id, name, None)
            splits[point_id] = ms
            given[point_id] = (_plain_count(split.position), _plain_duration(split.difference))
        position = _plain_count(entry.position)
        difference = _plain_duration(entry.difference)
    except _Unusual:
        return None
    reported = None
    if position is not None or difference is not None or any(v != (None, None) for v in given.values()):
        reported = _construct(Reported, position=position, difference_ms=difference, splits=given)
    made = object.__new__(Result)
    # What Result.model_construct does, without its per-field default handling (every
    # field is given, in the model's order): half its cost, 50,000 times per first message.
    object.__setattr__(
        made,
        "__dict__",
        {
            "race_id": race_id,
            "bib": bib,
            "participant": participant,
            "status": status,
            "splits": splits,
            "incidents": [],
            "legs": [],
            "reported": reported,
        },
    )
    object.__setattr__(made, "__pydantic_fields_set__", _RESULT_FIELDS)
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


_RESULT_FIELDS = frozenset(Result.model_fields)


_DEFAULTS: dict[type, dict[str, Any]] = {}
_GIVEN = object()  # a field without a plain default: the caller must give it


def _construct(cls: type[_T], **values: Any) -> _T:
    """A frozen model dataclass from values already checked (no second validation)."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = {
            f.name: f.default if type(f.default) in (type(None), str, int, bool) else _GIVEN
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        }
    made = object.__new__(cls)
    for name, default in defaults.items():
        value = values.get(name, default)
        if value is _GIVEN:
            raise TypeError(f"{cls.__name__}: {name} must be given")
        object.__setattr__(made, name, value)
    return made


def _short(value: object, limit: int = 80) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        text = f"<{_kind(value)}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_message(
    data: bytes | bytearray | memoryview | str | Mapping[str, Any], *, race_id: str | None = None
) -> V11Update:
    """Read one whole v1.1 message (no previous state): every athlete is in ``changed``."""
    return V11Reader(race_id).read(data)
