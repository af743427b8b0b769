"""The race domain: event, races, waves, timing points, participants, passings, results.

Times are whole milliseconds (see :mod:`racetui.model.times`). Identifiers are strings:
every timing system names things its own way and we never do arithmetic on ids.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from racetui.model.incidents import Incident

__all__ = [
    "ClockState",
    "Event",
    "Location",
    "Paratriathlon",
    "Participant",
    "Passing",
    "Race",
    "RaceClock",
    "RaceKind",
    "RankBy",
    "RelayLeg",
    "RelayMember",
    "Reported",
    "Result",
    "Split",
    "Status",
    "TimingPoint",
    "Wave",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


class Status(StrEnum):
    """Result status. ``OK`` is racing or finished; the rest are the v1.1 statuses."""

    OK = "OK"
    DNS = "DNS"
    DNF = "DNF"
    DSQ = "DSQ"
    LAP = "LAP"
    NC = "NC"

    @classmethod
    def parse(cls, value: object) -> Status:
        """``None``/empty is ``OK``; unknown text raises ``ValueError`` naming it."""
        if value is None:
            return cls.OK
        text = str(value).strip().upper()
        if not text:
            return cls.OK
        if text in ("DQ", "DISQ"):
            return cls.DSQ
        try:
            return cls(text)
        except ValueError:
            raise ValueError(
                f"status: unknown status {value!r} (expected DNS, DNF, DSQ, LAP or NC)"
            ) from None


class ClockState(StrEnum):
    PRERACE = "prerace"
    LIVE = "live"
    OFFICIAL = "official"


class RaceKind(StrEnum):
    ROAD = "road"
    TRIATHLON = "triathlon"
    RELAY = "relay"


class RankBy(StrEnum):
    """What an overall ranking orders by: gun time (since the race gun; official in road
    running) or chip time (since the athlete's own wave start). Views within one wave or
    category always rank by chip time."""

    CHIP = "chip"
    GUN = "gun"


class Location(_Model):
    id: str
    name: str


class TimingPoint(_Model):
    """A place where passings are recorded, in course order, with its distance from the start."""

    id: str
    race_id: str
    name: str
    order: int
    distance_m: float | None = None
    location_id: str | None = None
    is_finish: bool = False
    leg: int | None = None  # relay leg this point belongs to


class Wave(_Model):
    id: str
    race_id: str
    name: str
    offset_ms: int = 0  # start offset after the race gun


class Paratriathlon(_Model):
    sport_class: str = Field(alias="class")
    guide_name: str | None = None
    guide_id: str | None = None
    compensation_ms: int | None = None

    model_config = ConfigDict(populate_by_name=True, extra="ignore")


@pydantic_dataclass(slots=True, frozen=True, config=ConfigDict(extra="ignore"))
class Participant:
    """One athlete (or relay team) on the start list.

    A validated, frozen, slotted dataclass rather than a BaseModel: the engine holds one per
    athlete, and at 50,000 athletes a BaseModel's per-instance dict and field set cost
    about 50 MB more (benchmarks/bench_ui.py's peak RSS)."""

    bib: str
    race_id: str
    id: str | None = None  # the timing system's own id (BBT result id, v1.1 athlete id)
    first_name: str = ""
    last_name: str = ""
    name: str = ""  # display name; derived from first/last when not given
    gender: str | None = None  # "M", "F", "X"
    category: str | None = None
    age: int | None = None
    country: str | None = None
    club: str | None = None
    wave_id: str | None = None
    paratriathlon: Paratriathlon | None = None

    def display_name(self) -> str:
        if self.name:
            return self.name
        return f"{self.first_name} {self.last_name}".strip()


class RelayMember(_Model):
    id: str | None = None
    name: str
    country: str | None = None
    gender: str | None = None


class RelayLeg(_Model):
    order: int  # team_order, 1-based
    member: RelayMember


class Split(_Model):
    point_id: str
    time_ms: int  # cumulative race time at the point
    split_ms: int | None = None  # time since the previous point
    position: int | None = None
    gap_ms: int | None = None  # to the leader at this point


@pydantic_dataclass(slots=True, frozen=True, config=ConfigDict(extra="ignore"))
class Reported:
    """Positions and differences exactly as a source that computes them (a v1.1 feed) gave
    them: re-published as they came while nothing in racetui changed the athlete, because
    the source may rank a field racetui only sees part of.

    ``splits`` maps point id to (position, difference ms) at that point."""

    position: int | None = None
    difference_ms: int | None = None
    splits: dict[str, tuple[int | None, int | None]] = Field(default_factory=dict)


class Passing(_Model):
    """One athlete crossing one timing point: the unit of incremental updates."""

    race_id: str
    bib: str
    point_id: str
    time_ms: int  # gun time: since the race gun
    time_of_day: datetime | None = None


class Result(_Model):
    """An athlete's (or relay team's) whole result: what a snapshot carries."""

    race_id: str
    bib: str
    participant: Participant | None = None
    status: Status = Status.OK
    splits: dict[str, int] = Field(default_factory=dict)  # point id -> gun time ms
    incidents: list[Incident] = Field(default_factory=list)
    legs: list[RelayLeg] = Field(default_factory=list)
    reported: Reported | None = None  # the source's own positions and differences


class RaceClock(_Model):
    race_id: str
    state: ClockState = ClockState.PRERACE
    gun_time: datetime | None = None  # wall-clock time of the gun, by the timing system's clock
    # The timing system's clock minus ours (whole seconds), so the race clock on screen is
    # the master's, not this laptop's, when the two disagree.
    server_offset_ms: int = 0


class Race(_Model):
    id: str
    name: str
    kind: RaceKind = RaceKind.ROAD
    distance_m: float | None = None
    waves: list[Wave] = Field(default_factory=list)
    points: list[TimingPoint] = Field(default_factory=list)
    clock: RaceClock | None = None
    wetsuit: bool | None = None
    air_temp: float | None = None
    water_temp: float | None = None
    external_id: str | None = None  # e.g. the v1.1 prog_id
    rank_by: RankBy = RankBy.CHIP  # what the overall ranking orders by (a race setting)


class Event(_Model):
    id: str
    name: str
    races: list[Race] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
