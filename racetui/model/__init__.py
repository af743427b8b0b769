"""racetui's domain model: pydantic types and the time rules. No I/O, no Textual."""

from racetui.model.incidents import Incident, IncidentKind, format_incidents, parse_incidents
from racetui.model.race import (
    ClockState,
    Event,
    Location,
    Paratriathlon,
    Participant,
    Passing,
    Race,
    RaceClock,
    RaceKind,
    RelayLeg,
    RelayMember,
    Result,
    Split,
    Status,
    TimingPoint,
    Wave,
)
from racetui.model.times import TimeValueError

__all__ = [
    "ClockState",
    "Event",
    "Incident",
    "IncidentKind",
    "Location",
    "Paratriathlon",
    "Participant",
    "Passing",
    "Race",
    "RaceClock",
    "RaceKind",
    "RelayLeg",
    "RelayMember",
    "Result",
    "Split",
    "Status",
    "TimeValueError",
    "TimingPoint",
    "Wave",
    "format_incidents",
    "parse_incidents",
]
