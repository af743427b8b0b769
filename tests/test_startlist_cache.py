"""The start-list cache: one transaction per sync, WAL, 0600, participants by bib."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from racetui.sources.startlist import (
    CACHE_NAME,
    Fetched,
    StartEntry,
    StartListCache,
    Team,
    age_band,
    load_participants,
)
from racetui.sources.startlist.common import normalise_gender, safe_path
from racetui.util.secrets import scrub


def entry(entry_id: str, bib: str, **kwargs: object) -> StartEntry:
    base: dict[str, object] = {"race_id": "r1", "first_name": f"First{entry_id}", "last_name": "Last"}
    base.update(kwargs)
    return StartEntry(entry_id=entry_id, bib=bib, **base)  # type: ignore[arg-type]


@pytest.fixture
def cache(tmp_path: Path) -> StartListCache:
    return StartListCache(tmp_path / "startlists.sqlite3")


@pytest.mark.parametrize(
    ("age", "gender", "band"),
    [
        (35, "M", "M35"),
        (39, "F", "F35"),
        (40, "F", "F40"),
        (19, "M", "MU20"),
        (20, "X", "X20"),
        (None, "M", None),
    ],
)
def test_age_bands(age: int | None, gender: str | None, band: str | None) -> None:
    assert age_band(age, gender) == band
    assert age_band(35, None) is None


def test_gender_words() -> None:
    assert [normalise_gender(g) for g in ("M", "male", " F ", "Female", "W", "X", "", None, "?")] == [
        "M",
        "M",
        "F",
        "F",
        "F",
        "X",
        None,
        None,
        None,
    ]


def test_mapping_prefers_the_apis_category_and_team() -> None:
    p = entry(
        "1", "7", gender="F", age=44, category="F40-44", team="Club A", city="Bend", region="OR"
    ).to_participant()
    assert (p.category, p.club) == ("F40-44", "Club A")
    q = entry("2", "8", gender="F", age=44, city="Bend", region="OR", country="USA").to_participant()
    assert (q.category, q.club, q.country) == ("F40", "Bend, OR", "USA")


def test_redaction_of_credentials_in_urls_and_text() -> None:
    assert safe_path("http://h/rest/races?tmp_key=abc&tmp_secret=def&start_date=2026-04-01") == (
        "/rest/races?tmp_key=***&tmp_secret=***&start_date=2026-04-01"
    )
    assert scrub('GET /oauth2/token?grant_type=password&username=u&password=hunter2 "200"') == (
        'GET /oauth2/token?grant_type=password&username=u&password=*** "200"'
    )


def test_cache_file_is_private_and_in_wal_mode(cache: StartListCache) -> None:
    cache.apply("raceentry", "race 1", Fetched(entries=[entry("1", "7")], complete=True, watermark=5))
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_location_is_the_data_dir(isolated_dirs: Path) -> None:
    assert load_participants() == []  # no cache yet: nothing, and no file created
    assert not (isolated_dirs / CACHE_NAME).exists()
    StartListCache().apply("raceentry", "race 1", Fetched(entries=[entry("1", "7")], complete=True))
    assert (isolated_dirs / CACHE_NAME).exists()
    assert [p.bib for p in load_participants("r1")] == ["7"]
    assert load_participants("other") == []


def test_full_sync_replaces_incremental_upserts_and_removes(cache: StartListCache) -> None:
    first = cache.apply(
        "raceentry",
        "race 1",
        Fetched(entries=[entry("1", "7"), entry("2", "8")], complete=True, watermark=100),
    )
    assert (first.added, first.total, first.watermark) == (2, 2, 100)

    inc = cache.apply(
        "raceentry",
        "race 1",
        Fetched(
            entries=[entry("1", "7", last_name="New"), entry("3", "9")], removed={"2", "404"}, watermark=150
        ),
    )
    assert (inc.added, inc.updated, inc.removed, inc.total, inc.watermark) == (1, 1, 1, 2, 150)
    assert inc.cleared == [("r1", "8")]
    assert [(p.bib, p.last_name) for p in inc.participants] == [("7", "New"), ("9", "Last")]

    # an incremental answer with nothing newer keeps the watermark
    assert cache.apply("raceentry", "race 1", Fetched(watermark=None)).watermark == 150
    assert cache.apply("raceentry", "race 1", Fetched(watermark=120)).watermark == 150

    full = cache.apply(
        "raceentry", "race 1", Fetched(entries=[entry("3", "9")], complete=True, watermark=160)
    )
    assert (full.removed, full.total) == (1, 1)
    assert [p.bib for p in cache.participants()] == ["9"]


def test_bib_change_clears_the_old_bib_but_not_a_swapped_one(cache: StartListCache) -> None:
    cache.apply("raceentry", "race 1", Fetched(entries=[entry("1", "7"), entry("2", "8")], complete=True))
    moved = cache.apply("raceentry", "race 1", Fetched(entries=[entry("1", "17")]))
    assert moved.cleared == [("r1", "7")]
    swapped = cache.apply("raceentry", "race 1", Fetched(entries=[entry("1", "8"), entry("2", "17")]))
    assert swapped.cleared == []
    assert {p.bib: p.first_name for p in swapped.participants} == {"8": "First1", "17": "First2"}


def test_one_bib_from_two_lists_latest_modified_wins(cache: StartListCache) -> None:
    cache.apply("raceentry", "race 1", Fetched(entries=[entry("1", "7", first_name="Old", modified=10)]))
    cache.apply("chronotrack", "event 5", Fetched(entries=[entry("a", "7", first_name="New", modified=20)]))
    assert [p.first_name for p in cache.participants("r1")] == ["New"]
    gone = cache.apply("chronotrack", "event 5", Fetched(complete=True))
    assert gone.cleared == []  # the RaceEntry registration still names bib 7
    assert [p.first_name for p in gone.participants] == ["Old"]


def test_start_order_is_numeric(cache: StartListCache) -> None:
    entries = [entry(str(n), bib) for n, bib in enumerate(["10", "9", "A2", "100", "1"])]
    cache.apply("raceentry", "race 1", Fetched(entries=entries, complete=True))
    assert [p.bib for p in cache.participants()] == ["1", "A2", "9", "10", "100"]


def test_a_failure_inside_the_transaction_writes_nothing(
    cache: StartListCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.apply(
        "raceentry",
        "race 1",
        Fetched(entries=[entry("1", "7")], complete=True, watermark=100, teams=[Team("9", "Club")]),
    )
    before = (cache.entries(), cache.syncs(), cache.teams("raceentry", "race 1"))

    def boom(*args: object) -> list[object]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(StartListCache, "_participants", staticmethod(boom))
    with pytest.raises(Exception, match="disk I/O error; nothing written"):
        cache.apply(
            "raceentry",
            "race 1",
            Fetched(entries=[entry("2", "8")], removed={"1"}, watermark=200, teams=[]),
        )
    monkeypatch.undo()
    assert (cache.entries(), cache.syncs(), cache.teams("raceentry", "race 1")) == before


def test_forget_drops_one_list(cache: StartListCache) -> None:
    cache.apply("raceentry", "race 1", Fetched(entries=[entry("1", "7")], complete=True, watermark=1))
    cache.apply("chronotrack", "event 2", Fetched(entries=[entry("a", "8")], complete=True, watermark=2))
    assert cache.forget("raceentry", "race 1") == 1
    assert [p.bib for p in cache.participants()] == ["8"]
    assert cache.watermark("raceentry", "race 1") is None
    assert cache.watermark("chronotrack", "event 2") == 2
