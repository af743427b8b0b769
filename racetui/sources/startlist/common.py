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

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from racetui.model import Participant
from racetui.util.secrets import safe_url

__all__ = [
    "LOCAL_PREFIX",
    "CredentialsError",
    "Fetched",
    "ServiceRefused",
    "ServiceUnavailable",
    "StartEntry",
    "StartListError",
    "StartListFetcher",
    "Team",
    "age_band",
    "hometown",
    "normalise_gender",
    "safe_path",
    "text_or_none",
]


class StartListError(Exception):
    """A sync that failed. The message names the service and what went wrong, never a
    credential; nothing was written to the cache."""


class CredentialsError(StartListError):
    """Credentials missing, refused or expired beyond repair (log in again did not help)."""


class ServiceRefused(StartListError):
    """The service understood the request and said no (a 4xx other than credentials):
    ``reason`` is its own words. Sending the same request again will not help."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ServiceUnavailable(StartListError):
    """No answer, or a temporary one (timeout, refused connection, 5xx, 503 over rate):
    the same request may succeed later (``retry_after`` seconds, if the service said)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def safe_path(url: str) -> str:
    """Path and query of ``url`` with credentials replaced: fit for a log or an error."""
    shown = safe_url(url)
    parts = urlsplit(shown)
    return f"{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")


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


#: Entry ids of entries created here before the service gave them its own id.
LOCAL_PREFIX = "local-"


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
    dob: str | None = None  # date of birth, YYYY-MM-DD, when the API gives it
    # A change made here and not yet confirmed by the service ("add", "edit", "move",
    # "delete"): shown at once, marked, and never overwritten by a sync until answered.
    pending: str | None = None

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

    def local(self) -> bool:
        """Created here and not yet known to the service (no service id yet)."""
        return self.entry_id.startswith(LOCAL_PREFIX)

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
    same sync that are not in it are removed. ``outside``: entries of the same remote list
    (RaceEntry race, ChronoTrack event) that this list's event/race filter leaves out - an
    entry that moved out of this list goes here (and its id into ``removed``), so the cache
    moves it into whichever other cached list of the same remote list wants it, in the same
    transaction. Otherwise ``entries`` are the modified ones
    and ``removed`` the entry ids the API reported removed. ``watermark`` is what the next
    incremental fetch asks from (None: keep the previous one).
    """

    entries: list[StartEntry] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    complete: bool = False
    watermark: int | None = None
    outside: list[StartEntry] = field(default_factory=list)
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
    key: str  # which list: "race 21", "event 123 races 7,9"
    container: str  # the remote list it is part of: "race 21", "event 123"
    wanted: tuple[str, ...]  # the remote events/races it keeps (empty: all)
    race_id: str | None  # the racetui race its entries go to (None: the remote event/race id)
    full_every: int  # every n-th sync is a full one (0: only the first)
    full_after: float  # a full sync when the last one is older than this (seconds; 0: never)

    @property
    def label(self) -> str: ...

    async def fetch(self, watermark: int | None) -> Fetched:
        """Everything (``watermark`` None) or what changed since ``watermark``.
        Raises :class:`StartListError` and leaves nothing half-done."""
        ...

    async def aclose(self) -> None: ...
