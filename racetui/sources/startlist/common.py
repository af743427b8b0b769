"""What both start-list APIs share: the entry record, the mapping to a Participant, errors,
and keeping credentials out of logs and messages.

A :class:`StartEntry` is one registration as the cache keeps it: the API's own fields,
lightly normalised (bib as text, gender as M/F/X). The :class:`~racetui.model.Participant`
the engine sees is derived from it in one place, :meth:`StartEntry.to_participant`:

- ``category``: the API's own age group when it has one, else a band from age and gender
  (``M35`` is men 35-39, ``FU20`` women under 20; no band without both age and gender);
- ``club``: the team name; without a team, the hometown ("Provo, UT");
- ``country``: the address's country code as the API gives it ("USA").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from racetui.model import Participant

__all__ = [
    "CredentialsError",
    "Fetched",
    "StartEntry",
    "StartListError",
    "StartListFetcher",
    "Team",
    "age_band",
    "hometown",
    "install_log_redaction",
    "normalise_gender",
    "redact",
    "safe_path",
    "text_or_none",
]


class StartListError(Exception):
    """A sync that failed. The message names the service and what went wrong, never a
    credential; nothing was written to the cache."""


class CredentialsError(StartListError):
    """Credentials missing, refused or expired beyond repair (log in again did not help)."""


# ------------------------------------------------------------------ redaction
# Query parameters and form fields that carry credentials in these two APIs.
_SECRET_NAMES = re.compile(
    r"^(tmp_key|tmp_secret|key|secret|password|user_pass|client_secret|access_token|refresh_token|code)$",
    re.IGNORECASE,
)
_SECRET_IN_TEXT = re.compile(
    r"(?P<name>tmp_key|tmp_secret|key|secret|password|user_pass|client_secret|access_token|refresh_token)"
    r"=(?P<value>[^&\s\"']+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``name=value`` pairs whose name looks like a credential become ``name=***``."""
    return _SECRET_IN_TEXT.sub(lambda m: f"{m.group('name')}=***", text)


def safe_path(url: str) -> str:
    """Path and query of ``url`` with credentials replaced: fit for a log or an error."""
    parts = urlsplit(url)
    if not parts.query:
        return parts.path or "/"
    query = [(k, "***" if _SECRET_NAMES.match(k) else v) for k, v in parse_qsl(parts.query, True)]
    return f"{parts.path or '/'}?{urlencode(query, safe='/,:*')}"


class _RedactFilter(logging.Filter):
    """httpx logs every request URL at INFO; RaceEntry and the ChronoTrack token endpoint
    carry credentials in the query. This filter rewrites such records before any handler
    sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = _RedactFilter()


def install_log_redaction() -> None:
    """Idempotent: attach the redaction filter to the loggers that print request URLs."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


# -------------------------------------------------------------------- mapping
def text_or_none(value: object) -> str | None:
    """``None``, empty and whitespace-only become None; anything else its stripped text."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


_GENDERS = {
    "m": "M",
    "male": "M",
    "man": "M",
    "men": "M",
    "f": "F",
    "female": "F",
    "w": "F",
    "woman": "F",
    "women": "F",
    "x": "X",
    "nb": "X",
    "non-binary": "X",
    "nonbinary": "X",
}


def normalise_gender(value: object) -> str | None:
    """ "M"/"Male" -> "M", "F"/"Female"/"W" -> "F", "X"/"non-binary" -> "X"; else None."""
    text = text_or_none(value)
    return _GENDERS.get(text.casefold()) if text else None


def age_band(age: int | None, gender: str | None) -> str | None:
    """Five-year bands from 20 (``M35`` = 35-39), ``U20`` below; None without both."""
    if age is None or gender is None or age < 0:
        return None
    if age < 20:
        return f"{gender}U20"
    return f"{gender}{age // 5 * 5}"


def hometown(city: str | None, region: str | None) -> str | None:
    parts = [p for p in (city, region) if p]
    return ", ".join(parts) or None


@dataclass(frozen=True, slots=True)
class Team:
    team_id: str
    name: str
    team_type: str | None = None


@dataclass(frozen=True, slots=True)
class StartEntry:
    """One registration, as cached. ``entry_id`` is the API's id (RaceEntry
    ``registration_id``, ChronoTrack ``entry_id``); ``race_id`` is racetui's race."""

    entry_id: str
    race_id: str
    bib: str
    event_id: str | None = None
    first_name: str = ""
    last_name: str = ""
    name: str = ""
    gender: str | None = None
    age: int | None = None
    category: str | None = None  # the API's own age group, if it has one
    team_id: str | None = None
    team: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    modified: int | None = None  # the API's modification time (unix seconds), if any

    def to_participant(self) -> Participant:
        return Participant(
            bib=self.bib,
            race_id=self.race_id,
            first_name=self.first_name,
            last_name=self.last_name,
            name=self.name,
            gender=self.gender,
            age=self.age,
            category=self.category or age_band(self.age, self.gender),
            club=self.team or hometown(self.city, self.region),
            country=self.country,
        )

    def with_team(self, team: str | None) -> StartEntry:
        return replace(self, team=team)

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.columns())

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StartEntry:
        return cls(**{name: row[name] for name in cls.columns()})


@dataclass(slots=True)
class Fetched:
    """What one fetch brought back, before anything is written.

    ``complete``: ``entries`` is the whole start list (a full sync): cached entries of the
    same sync that are not in it are removed. Otherwise ``entries`` are the modified ones
    and ``removed`` the entry ids the API reported removed. ``watermark`` is what the next
    incremental fetch asks from (None: keep the previous one).
    """

    entries: list[StartEntry] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    complete: bool = False
    watermark: int | None = None
    teams: list[Team] | None = None  # None: this API has no team list
    skipped: int = 0  # entries without a bib or that could not be read
    problems: list[str] = field(default_factory=list)  # what was skipped and why (bounded)

    def problem(self, message: str) -> None:
        self.skipped += 1
        if len(self.problems) < 20:
            self.problems.append(message)


class StartListFetcher(Protocol):
    """One remote start list (a RaceEntry race, a ChronoTrack event) feeding the cache."""

    source: str  # "raceentry" or "chronotrack"
    key: str  # which remote list: "race 21", "event 123 races 7,9"

    @property
    def label(self) -> str: ...

    async def fetch(self, watermark: int | None) -> Fetched:
        """Everything (``watermark`` None) or what changed since ``watermark``.
        Raises :class:`StartListError` and leaves nothing half-done."""
        ...

    async def aclose(self) -> None: ...
