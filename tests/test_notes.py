"""The notes file behind athlete cards: CSV and TOML by extension, by bib or athlete id,
unknown columns kept, bad rows rejected by line and field (counted, the rest loads), notes
added during the race appended where the user may write, birthdays on the race day."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racetui.sources.notes import (
    NotesBook,
    NotesError,
    can_append,
    event_notes_path,
    parse_birthday,
    yours_to_write,
)
from tests.support import DATA

RACE_DAY = dt.date(2026, 6, 6)


def problems(book: NotesBook) -> list[str]:
    return [p.message for p in book.health.problems]


def test_a_csv_file_loads_its_good_rows_and_names_each_bad_one() -> None:
    book = NotesBook([DATA / "notes.csv"])
    card = book.card("1")
    assert card is not None
    assert card.bio == ["Two-time national champion", "Swims with the local club", "Won here in 2023"]
    assert card.previous == ["2025: 2nd", "2024: 5th"]
    assert card.pronunciation == "YOO-kee"
    assert card.extra == ["coach: Jane Roe"]  # an unknown column is kept as a line
    assert card.lines(RACE_DAY)[:2] == ["Birthday today (28)", "say: YOO-kee"]
    by_id = book.card("999", "A-77")
    assert by_id is not None and by_id.bio == ["Former rower"]
    assert book.loaded == 3
    assert book.health.rejected == 3
    assert problems(book) == [
        "notes.csv line 3: birthday: '1999-13-01' is not a date (YYYY-MM-DD or MM-DD); row skipped",
        "notes.csv line 5: bib: missing (a bib or an athlete id is needed); row skipped",
        "notes.csv line 6: 1 more cell(s) than the header has columns; row skipped",
    ]
    assert book.card("4") is None  # its only row was bad: nothing half-loaded


def test_a_toml_file_loads_by_bib_and_id_and_names_each_bad_entry() -> None:
    book = NotesBook([DATA / "notes.toml"])
    card = book.card("13")
    assert card is not None
    assert card.lines(RACE_DAY) == [
        "Birthday today (30)",
        "say: YOO-kee soo-ZOO-kee",
        "Olympic finalist",
        "Lives in Kyoto",
        "prev: 2025 World Cup: 1st",
    ]
    assert card.lines(RACE_DAY + dt.timedelta(days=1))[0] == "say: YOO-kee soo-ZOO-kee"
    sponsor = book.card("58")
    assert sponsor is not None and sponsor.extra == ["sponsor: Harbour Bikes"]
    assert problems(book) == [
        "notes.toml [[athlete]] #2: birthday: '14/03' is not a date (YYYY-MM-DD or MM-DD); row skipped",
        "notes.toml [[athlete]] #3: bio: expected text, got dict; row skipped",
    ]


def test_a_file_that_is_not_toml_or_missing_is_reported_not_fatal(tmp_path: Path) -> None:
    broken = tmp_path / "cards.toml"
    broken.write_text('[[athlete]]\nbib = "1"\nbio = "unterminated\n')
    book = NotesBook([broken, tmp_path / "gone.csv"])
    assert book.card("1") is None
    messages = problems(book)
    assert any(m.startswith("cards.toml: ") and "rest of the file skipped" in m for m in messages)
    assert any("gone.csv: no such file" in m for m in messages)


@pytest.mark.parametrize("name", ["notes.csv", "notes.toml"])
def test_notes_added_during_the_race_are_appended_and_read_back(tmp_path: Path, name: str) -> None:
    mine = tmp_path / name
    shutil.copy(DATA / name, mine)
    if name.endswith(".csv"):
        assert not can_append(mine)  # no note column: racetui does not rewrite the header
        mine.write_text("bib,note\n1,Warm-up looked sharp")
    assert can_append(mine)
    book = NotesBook([mine], writable=mine)
    assert book.add_note("13", 'Punctured on lap 1, "still smiling"') == mine
    card = book.card("13")
    assert card is not None and card.notes == ['Punctured on lap 1, "still smiling"']
    again = NotesBook([mine])
    card = again.card("13")
    assert card is not None and card.notes == ['Punctured on lap 1, "still smiling"']
    with pytest.raises(NotesError, match="empty"):
        book.add_note("13", "   ")


def test_notes_for_a_file_not_ours_go_to_the_events_own_file(tmp_path: Path) -> None:
    given_file = tmp_path / "handed-out.csv"
    shutil.copy(DATA / "notes.csv", given_file)
    given_file.chmod(0o444)  # handed out read-only (as root: someone else's file)
    if os.access(given_file, os.W_OK):
        os.chown(given_file, 65534, 65534)
    try:
        assert not yours_to_write(given_file)
        own = event_notes_path("BBT · Lakeside · 2026-06-06")
        assert own.name == "BBT-Lakeside-2026-06-06.csv"
        book = NotesBook([given_file, own], writable=own)
        book.add_note("1", "Waved to the crowd")
        card = book.card("1")
        assert card is not None and card.notes == ["Waved to the crowd"]
        assert "Waved" not in given_file.read_text() and own.read_text().startswith("bib,note")
    finally:
        given_file.chmod(0o644)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_birthdays_match_the_race_day_in_both_forms(day: dt.date) -> None:
    full = parse_birthday(day.isoformat())
    assert full.is_on(day) and full.year == day.year
    short = parse_birthday(f"{day.month:02d}-{day.day:02d}")
    assert short.is_on(day) and short.year is None
    assert not full.is_on(day + dt.timedelta(days=1)) or (day.month, day.day) == (2, 28)


def test_a_leap_day_birthday_is_celebrated_on_the_28th_otherwise() -> None:
    leap = parse_birthday("2000-02-29")
    assert leap.is_on(dt.date(2026, 2, 28)) and not leap.is_on(dt.date(2028, 2, 28))
