"""The change stream's records: what a hub tells its viewers, in msgpack.

A hub applies every delta from its sources to its own engine, then describes what was
*accepted* as normalized change records (a bib's passing, a bib's whole result, a removal,
a race's setup, a desk decision, health, errors). A viewer applies the same records to its
replica engine and ends up in the same state, without parsing any wire format itself.

Records are msgspec Structs encoded as msgpack arrays: at 50,000 athletes a full snapshot
encodes in a fraction of a second and decodes into these Structs about ten times faster
than pydantic would validate the model types. Passings decode straight into
:class:`PassingRec`, which the engine accepts as it is (it reads ``race_id``, ``bib``,
``point_id`` and ``time_ms``): a replica's cost per passing is the engine's apply alone.
Nested model types that are rare (incidents, relay legs, races, the event) travel as their
own JSON, validated by pydantic on the viewer.

A :class:`Frame` carries a sequence number: the stream's frames are numbered 1, 2, 3…;
a snapshot's frames carry the number of the last frame they cover, ``snapshot=True``, and
start with :class:`Reset`. Nothing here depends on the transport (a local pipe today,
Redis Streams tomorrow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from pydantic import TypeAdapter

from racetui.engine.standings import Override
from racetui.model import Event, Participant, Race, Result, Status
from racetui.model.incidents import Incident
from racetui.model.race import Paratriathlon, RelayLeg, Reported

__all__ = [
    "AddParticipants",
    "ApplyPassings",
    "ApplyResults",
    "Change",
    "Clock",
    "Errors",
    "Frame",
    "Health",
    "HealthRec",
    "Hello",
    "ParticipantRec",
    "PassingRec",
    "RemoveAthletes",
    "Request",
    "Reset",
    "ResultRec",
    "SetEvent",
    "SetOverride",
    "SetRace",
    "decode_frame",
    "decode_request",
    "encode_changes",
    "encode_frame",
    "encode_request",
    "number_frame",
    "participant_from",
    "participant_rec",
    "result_from",
    "result_rec",
]

_INCIDENTS = TypeAdapter(list[Incident])
_LEGS = TypeAdapter(list[RelayLeg])


class PassingRec(msgspec.Struct, array_like=True, frozen=True):
    """One passing, shaped like :class:`racetui.model.Passing` for the engine."""

    race_id: str
    bib: str
    point_id: str
    time_ms: int


class ParticipantRec(msgspec.Struct, array_like=True, frozen=True):
    bib: str
    race_id: str
    id: str | None = None
    first_name: str = ""
    last_name: str = ""
    name: str = ""
    gender: str | None = None
    category: str | None = None
    age: int | None = None
    country: str | None = None
    club: str | None = None
    wave_id: str | None = None
    paratriathlon: bytes | None = None  # Paratriathlon as JSON (rare)


_PARTICIPANT_FIELDS = tuple(f for f in ParticipantRec.__struct_fields__ if f != "paratriathlon")
_set = object.__setattr__


class ResultRec(msgspec.Struct, array_like=True, frozen=True):
    """A bib's whole result as the hub's engine holds it (splits are gun times)."""

    bib: str
    participant: ParticipantRec | None = None
    status: str = "OK"
    splits: dict[str, int] = {}
    incidents: bytes | None = None  # list[Incident] as JSON (rare)
    legs: bytes | None = None  # list[RelayLeg] as JSON (relays only)
    # a v1.1 feed's own positions: msgspec encodes and decodes the (pydantic) dataclass
    # itself, one map per athlete, checked against its field types by the decoder
    reported: Reported | None = None


# ------------------------------------------------------------------ changes
class SetEvent(msgspec.Struct, tag="event", array_like=True):
    event: bytes  # Event.model_dump_json()


class SetRace(msgspec.Struct, tag="race", array_like=True):
    race: bytes  # Race.model_dump_json()


class AddParticipants(msgspec.Struct, tag="participants", array_like=True):
    items: list[ParticipantRec]


class ApplyPassings(msgspec.Struct, tag="passings", array_like=True):
    items: list[PassingRec]


class ApplyResults(msgspec.Struct, tag="results", array_like=True):
    race_id: str
    items: list[ResultRec]


class RemoveAthletes(msgspec.Struct, tag="remove", array_like=True):
    """Bibs gone from a race (a complete result list without them, a deletion)."""

    race_id: str
    bibs: list[str]


class SetOverride(msgspec.Struct, tag="override", array_like=True):
    """A desk decision on one athlete; ``withdrawn`` takes the override away."""

    race_id: str
    bib: str
    withdrawn: bool = False
    status: str | None = None
    incidents: bytes | None = None


class Errors(msgspec.Struct, tag="errors", array_like=True):
    """Per-field errors the hub's engine reported, and the hub's own failures."""

    items: list[str]


class HealthRec(msgspec.Struct, array_like=True):
    name: str
    mode: str
    state: str
    age: float | None  # seconds since the last good message, at the hub's send time
    messages: int = 0
    rejected: int = 0
    reconnects: int = 0
    last_error: str | None = None
    journal_path: str | None = None
    stale_after: float = 10.0
    kind: str = ""  # what the source is (its class name), for the event keys viewers derive
    progress: str | None = None  # how far the source's first load has come


class Health(msgspec.Struct, tag="health", array_like=True):
    sources: list[HealthRec]


class Clock(msgspec.Struct, tag="clock", array_like=True):
    """A source's own event clock (the simulator's): event time ``event`` (unix seconds) at
    wall time ``wall``; a viewer extrapolates at the source's rate."""

    source: str
    wall: float
    event: float


class Reset(msgspec.Struct, tag="reset", array_like=True):
    """A snapshot starts: forget everything; ``athletes`` entries follow in ``frames``
    frames (this one included), for the viewer's progress and to know when it is loaded."""

    athletes: int = 0
    frames: int = 1


class Hello(msgspec.Struct, tag="hello", array_like=True):
    """The hub's first record: its sources are built (``failed`` says why not)."""

    sources: list[HealthRec]
    failed: str | None = None


Change = (
    SetEvent
    | SetRace
    | AddParticipants
    | ApplyPassings
    | ApplyResults
    | RemoveAthletes
    | SetOverride
    | Errors
    | Health
    | Clock
    | Reset
    | Hello
)


class Frame(msgspec.Struct, array_like=True):
    seq: int
    changes: list[Change]
    snapshot: bool = False


class Request(msgspec.Struct, array_like=True):
    """Viewer → hub. ``snapshot``: send a snapshot (a gap, or a new viewer)."""

    kind: str
    after: int = 0


_frame_encoder = msgspec.msgpack.Encoder()
_frame_decoder = msgspec.msgpack.Decoder(Frame)
_request_decoder = msgspec.msgpack.Decoder(Request)


def encode_frame(frame: Frame) -> bytes:
    return _frame_encoder.encode(frame)


class _NumberedLater(msgspec.Struct, array_like=True):
    """A :class:`Frame` whose records were encoded before its number was known."""

    seq: int
    changes: msgspec.Raw
    snapshot: bool = False


def encode_changes(changes: list[Change]) -> msgspec.Raw:
    """A frame's records encoded now, numbered later (:func:`number_frame`): what waits to
    be sent is its bytes, a fraction of the records' objects."""
    return msgspec.Raw(_frame_encoder.encode(changes))


def number_frame(seq: int, changes: msgspec.Raw, *, snapshot: bool = False) -> bytes:
    """The same bytes as ``encode_frame(Frame(seq, changes, snapshot))``."""
    return _frame_encoder.encode(_NumberedLater(seq, changes, snapshot))


def decode_frame(data: bytes) -> Frame:
    """A frame; ``msgspec.DecodeError`` / ``ValidationError`` for anything else."""
    return _frame_decoder.decode(data)


def encode_request(request: Request) -> bytes:
    return _frame_encoder.encode(request)


def decode_request(data: bytes) -> Request:
    return _request_decoder.decode(data)


# --------------------------------------------------------------- conversions
def participant_rec(p: Participant) -> ParticipantRec:
    para = p.paratriathlon
    return ParticipantRec(
        p.bib,
        p.race_id,
        p.id,
        p.first_name,
        p.last_name,
        p.name,
        p.gender,
        p.category,
        p.age,
        p.country,
        p.club,
        p.wave_id,
        None if para is None else para.model_dump_json(by_alias=True).encode(),
    )


def participant_from(rec: ParticipantRec) -> Participant:
    """The hub's participant again, without validating it a second time: the hub's own
    was validated when its source read it, and the decoder checked every field's type
    (a slotted frozen dataclass: its slots are set as its ``__init__`` would set them)."""
    para = None if rec.paratriathlon is None else Paratriathlon.model_validate_json(rec.paratriathlon)
    participant = object.__new__(Participant)
    for name in _PARTICIPANT_FIELDS:
        _set(participant, name, getattr(rec, name))
    _set(participant, "paratriathlon", para)
    return participant


def incidents_json(incidents: Sequence[Incident]) -> bytes | None:
    return _INCIDENTS.dump_json(list(incidents)) if incidents else None


def incidents_from(data: bytes | None) -> list[Incident]:
    return [] if not data else _INCIDENTS.validate_json(data)


def result_rec(
    bib: str,
    participant: Participant | None,
    status: Status,
    splits: dict[str, int],
    incidents: Sequence[Incident],
    legs: Sequence[RelayLeg],
    reported: Reported | None = None,
) -> ResultRec:
    return ResultRec(
        bib,
        None if participant is None else participant_rec(participant),
        str(status),
        splits,
        incidents_json(incidents),
        _LEGS.dump_json(list(legs)) if legs else None,
        reported,
    )


class ResultView:
    """What the engine reads of a :class:`~racetui.model.Result` (``apply_results`` takes
    any object with these attributes): a replica's result without building the model."""

    __slots__ = ("bib", "incidents", "legs", "participant", "race_id", "reported", "splits", "status")

    def __init__(self, race_id: str, rec: ResultRec) -> None:
        self.race_id = race_id
        self.bib = rec.bib
        self.participant = None if rec.participant is None else participant_from(rec.participant)
        self.status = Status(rec.status)
        self.splits = rec.splits
        self.incidents = incidents_from(rec.incidents)
        self.legs = [] if not rec.legs else _LEGS.validate_json(rec.legs)
        self.reported = rec.reported


def result_from(race_id: str, rec: ResultRec) -> Result:
    """A replica's result, as the engine reads it (see :class:`ResultView`)."""
    result: Result = as_any(ResultView(race_id, rec))
    return result


def override_rec(race_id: str, bib: str, override: Override | None) -> SetOverride:
    if override is None:
        return SetOverride(race_id, bib, withdrawn=True)
    status = None if override.status is None else str(override.status)
    return SetOverride(race_id, bib, False, status, incidents_json(override.incidents))


def override_from(rec: SetOverride) -> Override | None:
    if rec.withdrawn:
        return None
    return Override(
        status=None if rec.status is None else Status(rec.status),
        incidents=tuple(incidents_from(rec.incidents)),
    )


def event_from(rec: SetEvent) -> Event:
    return Event.model_validate_json(rec.event)


def race_from(rec: SetRace) -> Race:
    return Race.model_validate_json(rec.race)


def as_any(value: Any) -> Any:
    """Hand a record to an engine method that reads the same attribute names."""
    return value
