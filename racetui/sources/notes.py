"""Athlete cards: the commentator's notes file, read by bib or athlete id.

A CSV file (a header row, one athlete a row) or a TOML file (``[[athlete]]`` tables), told
apart by the extension. Columns / keys:

``bib`` or ``id`` (athlete id)   which athlete (one of the two is required)
``bio`` (``bio2``, ``bio 3`` …)  bio lines (TOML: a string or a list of strings)
``previous`` / ``results``       previous results, one line each (CSV: ``;`` between)
``pronunciation`` / ``say``      how to say the name
``birthday`` / ``born``          ``YYYY-MM-DD`` or ``MM-DD``
``note`` / ``notes``             notes added during the race
anything else                    kept as an extra line, ``Column: value``

Several rows for one athlete add up. A row that cannot be used (no bib or id, a birthday
that is not a date, a TOML value of the wrong kind) is rejected with its line (CSV) or
entry number (TOML) and field, counted in :attr:`NotesBook.health`, and the rest load.
Notes added from the dashboard are appended to the user's file when it is theirs to write,
else to a file for the event in the data dir (:func:`event_notes_path`); both are read.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racetui.config import data_dir
from racetui.sources.base import SourceHealth, SourceMode

__all__ = [
    "Card",
    "NotesBook",
    "NotesError",
    "can_append",
    "event_notes_path",
    "parse_birthday",
    "yours_to_write",
]

_BIB = ("bib",)
_ID = ("id", "athlete_id", "athlete id", "athleteid")
_PREVIOUS = ("previous", "previous results", "previous_results", "results", "palmares")
_SAY = ("pronunciation", "pronounce", "say")
_BIRTHDAY = ("birthday", "born", "birth date", "birth_date", "date of birth", "dob")
_NOTE = ("note", "notes")
_BIO = re.compile(r"^bio[\s_]*\d*$")


class NotesError(ValueError):
    """A note that could not be saved; the message says why and where."""


@dataclass(frozen=True, slots=True)
class Birthday:
    month: int
    day: int
    year: int | None = None

    def is_on(self, day: dt.date) -> bool:
        if (self.month, self.day) == (2, 29) and not _leap(day.year):
            return (day.month, day.day) == (2, 28)
        return (day.month, day.day) == (self.month, self.day)

    def text(self) -> str:
        return (
            f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
            if self.year
            else f"{self.month:02d}-{self.day:02d}"
        )


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def parse_birthday(value: object) -> Birthday:
    """``1994-03-07``, a TOML date, or ``03-07`` (no year). ValueError naming the value."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return Birthday(value.month, value.day, value.year)
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.date.fromisoformat(text)
            return Birthday(day.month, day.day, day.year)
        if re.fullmatch(r"-{0,2}\d{2}-\d{2}", text):
            day = dt.date.fromisoformat("2000-" + text.lstrip("-"))  # a leap year: 02-29 is fine
            return Birthday(day.month, day.day)
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or MM-DD)")


@dataclass(slots=True)
class Card:
    """What the notes say about one athlete."""

    bio: list[str] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)
    pronunciation: str | None = None
    birthday: Birthday | None = None
    extra: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def merge(self, other: Card) -> None:
        self.bio += other.bio
        self.previous += other.previous
        self.pronunciation = other.pronunciation or self.pronunciation
        self.birthday = other.birthday or self.birthday
        self.extra += other.extra
        self.notes += other.notes

    def lines(self, race_day: dt.date | None = None, *, limit: int | None = None) -> list[str]:
        """The card as text lines: birthday today first, then how to say it, bio, results."""
        out: list[str] = []
        if self.birthday is not None and race_day is not None and self.birthday.is_on(race_day):
            age = f" ({race_day.year - self.birthday.year})" if self.birthday.year else ""
            out.append(f"Birthday today{age}")
        if self.pronunciation:
            out.append(f"say: {self.pronunciation}")
        out += self.bio
        if self.previous:  # one line: the detail has little room at 80x24
            out.append("prev: " + " · ".join(self.previous))
        out += self.extra
        out += [f"note: {line}" for line in self.notes]
        return out if limit is None else out[:limit]


def _lines(value: object, field_name: str, *, split: bool = False) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str | int | float) for v in value):
            raise ValueError(f"{field_name}: expected text lines")
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str | int | float):
        text = str(value).strip()
        if split:
            return [part.strip() for part in text.split(";") if part.strip()]
        return [text] if text else []
    raise ValueError(f"{field_name}: expected text, got {type(value).__name__}")


def _card(values: dict[str, Any]) -> tuple[str | None, str | None, Card]:
    """(bib, athlete id, card) from one row's values; ValueError naming the field."""
    bib = athlete_id = None
    card = Card()
    for raw_key, value in values.items():
        key = str(raw_key).strip()
        low = key.casefold()
        if value is None or value == "":
            continue
        if low in _BIB:
            bib = str(value).strip() or None
        elif low in _ID:
            athlete_id = str(value).strip() or None
        elif _BIO.match(low):
            card.bio += _lines(value, key)
        elif low in _PREVIOUS:
            card.previous += _lines(value, key, split=True)
        elif low in _SAY:
            card.pronunciation = " ".join(_lines(value, key)) or None
        elif low in _BIRTHDAY:
            try:
                card.birthday = parse_birthday(value)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        elif low in _NOTE:
            card.notes += _lines(value, key)
        else:
            card.extra += [f"{key}: {line}" for line in _lines(value, key)]
    if bib is None and athlete_id is None:
        raise ValueError("bib: missing (a bib or an athlete id is needed)")
    return bib, athlete_id, card


Row = tuple[str, dict[str, Any] | str]  # (where, values or why the row is unusable)


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row in reader:
        where = f"line {reader.line_num}"
        extra = row.pop(None, None)
        if extra and any(str(cell).strip() for cell in extra):
            yield where, f"{len(extra)} more cell(s) than the header has columns"
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # a blank line
        yield where, dict(row)


def _toml_rows(text: str) -> Iterator[Row]:
    data = tomllib.loads(text)
    athletes = data.get("athlete", [])
    if not isinstance(athletes, list):
        raise ValueError("athlete: expected [[athlete]] tables")
    for n, table in enumerate(athletes, start=1):
        where = f"[[athlete]] #{n}"
        yield (where, table) if isinstance(table, dict) else (where, "not a table")


class NotesBook:
    """Every card from the notes files, by bib and by athlete id."""

    def __init__(self, paths: Iterable[Path] = (), *, writable: Path | None = None) -> None:
        self.paths = [p for p in paths]
        self.writable = writable  # where notes added during the race go
        self.optional: set[Path] = set()  # files that need not exist yet (the event's own)
        self.health = SourceHealth("notes", mode=SourceMode.FILE)
        self.by_bib: dict[str, Card] = {}
        self.by_id: dict[str, Card] = {}
        self.loaded = 0
        self.reload()

    def reload(self) -> None:
        """Read every file again (a file that is missing is fine until it exists)."""
        self.by_bib, self.by_id, self.loaded = {}, {}, 0
        self.health.rejected = 0
        self.health.problems.clear()
        for path in dict.fromkeys(self.paths):
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            if path != self.writable and path not in self.optional:
                self.health.error(f"{path}: no such file")
            return
        except (OSError, UnicodeDecodeError) as exc:
            self.health.error(f"{path}: cannot read it ({exc})")
            return
        rows = _toml_rows(text) if path.suffix.casefold() == ".toml" else _csv_rows(text)
        try:
            for where, values in rows:
                try:
                    if isinstance(values, str):
                        raise ValueError(values)
                    bib, athlete_id, card = _card(values)
                except ValueError as exc:
                    self.health.reject(f"{path.name} {where}: {exc}; row skipped")
                    continue
                for key, index in ((bib, self.by_bib), (athlete_id, self.by_id)):
                    if key is not None:
                        index.setdefault(key, Card()).merge(card)
                self.loaded += 1
        except (ValueError, csv.Error) as exc:  # tomllib.TOMLDecodeError is a ValueError
            self.health.reject(f"{path.name}: {exc}; rest of the file skipped")
        self.health.received()

    def card(self, bib: str, athlete_id: str | None = None) -> Card | None:
        """The athlete's card (by bib, and by athlete id: both add up), None without notes."""
        by_bib = self.by_bib.get(bib)
        by_id = self.by_id.get(athlete_id) if athlete_id else None
        if by_bib is None or by_id is None:
            return by_bib or by_id
        both = Card()
        both.merge(by_id)
        both.merge(by_bib)
        return both

    def add_note(self, bib: str, text: str) -> Path:
        """Append one line to the writable notes file; returns it. NotesError on failure."""
        line = " ".join(text.split())
        if not line:
            raise NotesError("note: empty, nothing saved")
        path = self.writable
        if path is None:
            raise NotesError("no notes file to write to")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.casefold() == ".toml":
                block = f'\n[[athlete]]\nbib = "{_toml_escape(bib)}"\nnote = "{_toml_escape(line)}"\n'
                with path.open("a", encoding="utf-8") as out:
                    out.write(block)
            else:
                _append_csv(path, bib, line)
        except OSError as exc:
            raise NotesError(f"note not saved to {path}: {exc}") from None
        self.reload()
        return path


def _toml_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _append_csv(path: Path, bib: str, line: str) -> None:
    """One row (bib, note) under the file's own header; a new file gets ``bib,note``."""
    header: list[str] = []
    ends_with_newline = True
    with contextlib.suppress(FileNotFoundError):
        text = path.read_text(encoding="utf-8-sig")
        header = next(csv.reader(io.StringIO(text)), [])
        ends_with_newline = text.endswith(("\n", "\r"))
    low = [h.strip().casefold() for h in header]
    with path.open("a", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        if not header:
            writer.writerow(["bib", "note"])
            low = ["bib", "note"]
        elif "note" not in low and "notes" not in low:
            raise OSError("its header has no note column (notes go to the event's own file)")
        if not ends_with_newline:
            out.write("\r\n")
        key = "note" if "note" in low else "notes"
        row = ["" for _ in low]
        row[low.index("bib") if "bib" in low else 0] = bib
        row[low.index(key)] = line
        writer.writerow(row)


def event_notes_path(event: str) -> Path:
    """The data dir's notes file for an event (notes added during the race)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", event).strip("-") or "event"
    return data_dir() / "notes" / f"{slug}.csv"


def can_append(path: Path) -> bool:
    """Notes can go to ``path`` itself: it is the user's to write, and (CSV) its header has
    a note column (racetui never rewrites a user's file to add one)."""
    if not yours_to_write(path):
        return False
    if path.suffix.casefold() == ".toml":
        return True
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return bool({"note", "notes"} & {h.strip().casefold() for h in header})


def yours_to_write(path: Path) -> bool:
    """A notes file the dashboard may append to: it exists, is this user's and writable
    (a file handed out by someone else is left as it is)."""
    try:
        info = path.stat()
    except OSError:
        return False
    owner = getattr(os, "getuid", None)
    return os.access(path, os.W_OK) and (owner is None or info.st_uid == owner())
