"""Incidents in the v1.1 Standard Incident Guidelines wording, parsed into typed records.

The guidelines give three fixed sentences and allow free text for withdrawals:

* ``x second penalty for <infringement>``
* ``Served x second penalty for <infringement>``
* ``DSQ for <infringement>``
* e.g. ``Withdrew from the race due to bike crash.``

Several incidents of one athlete are joined by commas. Free text may itself hold commas,
so a comma only separates incidents when what follows starts a guideline sentence.
The original text of every incident is kept for display and re-publishing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

__all__ = ["Incident", "IncidentKind", "format_incidents", "parse_incidents"]


class IncidentKind(StrEnum):
    PENALTY = "penalty"
    DSQ = "dsq"
    DNF = "dnf"
    DNS = "dns"
    LAP = "lap"
    NOTE = "note"  # free text: a withdrawal reason, a warning


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: IncidentKind
    text: str
    seconds: int | None = None
    infringement: str | None = None
    served: bool = False

    def standard_text(self) -> str:
        """The Standard Incident Guidelines wording for this incident."""
        if self.kind is IncidentKind.PENALTY and self.seconds is not None and self.infringement:
            sentence = f"{self.seconds} second penalty for {self.infringement}"
            return f"Served {sentence}" if self.served else sentence
        if self.kind is IncidentKind.DSQ and self.infringement:
            return f"DSQ for {self.infringement}"
        return self.text

    @classmethod
    def penalty(cls, seconds: int, infringement: str, *, served: bool = False) -> Incident:
        probe = cls(
            kind=IncidentKind.PENALTY, text="", seconds=seconds, infringement=infringement, served=served
        )
        return probe.model_copy(update={"text": probe.standard_text()})

    @classmethod
    def dsq(cls, infringement: str) -> Incident:
        return cls(kind=IncidentKind.DSQ, text=f"DSQ for {infringement}", infringement=infringement)

    @classmethod
    def note(cls, text: str, kind: IncidentKind = IncidentKind.NOTE) -> Incident:
        return cls(kind=kind, text=text)


_PENALTY = re.compile(
    r"^(?P<served>served\s+)?(?P<seconds>\d+)\s*(?:-\s*)?(?:second|sec|s)s?\s+penalty\s+for\s+(?P<what>.+?)\.?$",
    re.IGNORECASE,
)
_DSQ = re.compile(r"^(?:DSQ|disqualified)\s+for\s+(?P<what>.+?)\.?$", re.IGNORECASE)
# A comma separates incidents only when a guideline sentence follows it.
_SPLIT = re.compile(
    r",\s*(?=(?:served\s+)?\d+\s*(?:-\s*)?(?:second|sec|s)s?\s+penalty\b|DSQ\b|disqualified\b|withdrew\b)",
    re.IGNORECASE,
)


def _parse_one(text: str) -> Incident:
    penalty = _PENALTY.match(text)
    if penalty:
        return Incident(
            kind=IncidentKind.PENALTY,
            text=text,
            seconds=int(penalty["seconds"]),
            infringement=penalty["what"].strip(),
            served=penalty["served"] is not None,
        )
    dsq = _DSQ.match(text)
    if dsq:
        return Incident(kind=IncidentKind.DSQ, text=text, infringement=dsq["what"].strip())
    return Incident(kind=IncidentKind.NOTE, text=text)


def parse_incidents(text: str | None) -> list[Incident]:
    """Parse an athlete's ``incidents`` field into records, keeping each original text."""
    if text is None:
        return []
    parts = (part.strip().strip(",").strip() for part in _SPLIT.split(text))
    return [_parse_one(part) for part in parts if part]


def format_incidents(incidents: Sequence[Incident]) -> str | None:
    """Join incidents for the v1.1 ``incidents`` field (``None`` when there are none)."""
    texts = [incident.standard_text() for incident in incidents if incident.standard_text()]
    return ", ".join(texts) if texts else None
