"""RaceEntry Timer API against a local server implementing the documented contract:
login and expiry, races, incremental participants and removals, teams, failures."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from racetui.sources.startlist import (
    CredentialsError,
    RaceEntryClient,
    RaceEntryStartList,
    StartListCache,
    StartListError,
    SyncOutcome,
    sync_once,
)
from racetui.sources.startlist.raceentry import OVERLAP
from tests.fakes.raceentry import FakeRaceEntry


@pytest.fixture
def fake() -> FakeRaceEntry:
    fake = FakeRaceEntry()
    fake.add_race("21", "City Fun Run", "04/17/2026")
    fake.add_race("22", "Autumn 10K", "10/02/2026")
    fake.add_team("21", 9, "Sole Survivors")
    fake.add(race="21", event="16", registration=30, bib=50004, first="John", last="Doe", gender="M", age=35)
    fake.add(
        race="21",
        event="16",
        registration=29,
        bib=50003,
        first="Jane",
        last="Doe",
        gender="F",
        age=25,
        team_id=9,
    )
    fake.add(
        race="21",
        event="67",
        registration=71,
        bib=50007,
        first="Bob",
        last="Smith",
        gender="",
        age=36,
        city="Orem",
        team_id=9,
        team_name="Sole Survivors",
    )
    fake.add(race="21", event="67", registration=72, bib=None, first="No", last="Bib")
    return fake


@pytest.fixture
def url(fake: FakeRaceEntry) -> Iterator[str]:
    with fake.serve() as base:
        yield base


@pytest.fixture
def cache(tmp_path: Path) -> StartListCache:
    return StartListCache(tmp_path / "startlists.sqlite3")


def fetcher(
    fake: FakeRaceEntry,
    url: str,
    *,
    timeout: float = 5.0,
    events: Sequence[str] = (),
    race_id: str | None = None,
) -> RaceEntryStartList:
    client = RaceEntryClient(url, fake.key, fake.secret, timeout=timeout)
    return RaceEntryStartList(client, "21", events=events, race_id=race_id)


async def sync(
    fake: FakeRaceEntry,
    url: str,
    cache: StartListCache,
    *,
    full: bool = False,
    timeout: float = 5.0,
    events: Sequence[str] = (),
    race_id: str | None = None,
) -> SyncOutcome:
    source = fetcher(fake, url, timeout=timeout, events=events, race_id=race_id)
    try:
        return await sync_once(source, cache, full=full)
    finally:
        await source.aclose()


def snapshot(cache: StartListCache) -> tuple[object, ...]:
    return (cache.entries(), [(s.source_key, s.watermark) for s in cache.syncs()], cache.participants())


async def test_full_sync_maps_bibs_to_participants(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    outcome = await sync(fake, url, cache)

    assert (outcome.added, outcome.updated, outcome.removed, outcome.skipped) == (3, 0, 0, 1)
    by_bib = {p.bib: p for p in cache.participants()}
    assert set(by_bib) == {"50003", "50004", "50007"}
    john, jane, bob = by_bib["50004"], by_bib["50003"], by_bib["50007"]
    # no --race-id: each RaceEntry event is its own racetui race
    assert (john.race_id, jane.race_id, bob.race_id) == ("16", "16", "67")
    assert (john.first_name, john.last_name, john.display_name()) == ("John", "Doe", "John Doe")
    assert (john.gender, john.age, john.category) == ("M", 35, "M35")
    assert (jane.gender, jane.category) == ("F", "F25")
    assert john.club == "Provo, UT"  # no team: the hometown
    assert jane.club == "Sole Survivors"  # team_id only: the name comes from race/21/teams
    assert bob.club == "Sole Survivors"
    assert (bob.gender, bob.category) == (None, None)  # no gender, no band
    assert john.country == "USA"
    assert [(t.team_id, t.name, t.team_type) for t in cache.teams("raceentry", "race 21")] == [
        ("9", "Sole Survivors", "Team Marathon")
    ]
    # a full sync asks for everything and needs no removals
    calls = fake.paths("/participants")
    assert calls[-1][1]["modified_after_timestamp"] == "0"
    assert not fake.paths("removed_participants")
    assert outcome.watermark == max(r["last_modified"] for r in fake.participants["21"].values())
    assert fake.logins == 1


async def test_race_id_and_event_filter(fake: FakeRaceEntry, url: str, cache: StartListCache) -> None:
    outcome = await sync(fake, url, cache, events=["67"], race_id="10k")
    assert outcome.added == 1
    assert [(p.race_id, p.bib) for p in cache.participants()] == [("10k", "50007")]
    assert cache.syncs()[0].source_key == "race 21 events 67"


async def test_incremental_sync_with_modified_and_removed(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    first = await sync(fake, url, cache)
    assert first.watermark is not None

    fake.modify("21", 30, last_name="Doe-Smith", team_id=9)
    fake.add(race="21", event="16", registration=40, bib=50010, first="Ann", last="Lee", gender="F", age=52)
    fake.remove("21", 29)
    outcome = await sync(fake, url, cache)

    # asked only for what changed since the watermark (less the overlap)
    expected = str(first.watermark - OVERLAP)
    assert fake.paths("/participants")[-1][1]["modified_after_timestamp"] == expected
    assert fake.paths("removed_participants")[-1][1]["modified_after_timestamp"] == expected
    assert (outcome.added, outcome.updated, outcome.removed) == (1, 1, 1)
    by_bib = {p.bib: p for p in cache.participants()}
    assert set(by_bib) == {"50004", "50007", "50010"}
    assert by_bib["50004"].last_name == "Doe-Smith"
    assert by_bib["50004"].club == "Sole Survivors"
    assert by_bib["50010"].category == "F50"
    assert outcome.cleared == [("16", "50003")]
    assert {(p.race_id, p.bib) for p in outcome.participants} == {("16", "50004"), ("16", "50010")}
    assert outcome.watermark == fake.clock

    # nothing changed: nothing reported, watermark kept
    again = await sync(fake, url, cache)
    assert (again.added, again.updated, again.removed) == (0, 0, 0)
    assert again.watermark == outcome.watermark


async def test_removed_then_registered_again_is_kept(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    await sync(fake, url, cache)
    fake.remove("21", 30)
    fake.add(race="21", event="16", registration=30, bib=50004, first="John", last="Doe")
    fake.removed["21"]["30"] = {**fake.participants["21"]["30"], "last_modified": fake.clock - 1}
    outcome = await sync(fake, url, cache)
    assert outcome.removed == 0
    assert "50004" in {p.bib for p in cache.participants()}


async def test_team_renamed_upstream_renames_the_club(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    await sync(fake, url, cache)
    fake.teams["21"][0]["team_name"] = "Sole Sisters"
    outcome = await sync(fake, url, cache)
    assert outcome.updated == 2  # Jane and Bob, neither modified themselves
    clubs = {p.bib: p.club for p in cache.participants()}
    assert clubs == {"50003": "Sole Sisters", "50004": "Provo, UT", "50007": "Sole Sisters"}


@pytest.mark.parametrize("expired_status", [401, 200])
async def test_expired_key_logs_in_again_transparently(
    fake: FakeRaceEntry, url: str, cache: StartListCache, expired_status: int
) -> None:
    fake.expired_status = expired_status  # 102 with HTTP 401, or inside a 200
    client = RaceEntryClient(url, fake.key, fake.secret, timeout=5)
    source = RaceEntryStartList(client, "21")
    try:
        await sync_once(source, cache)
        first_pair = fake.pairs[-1]
        fake.expire_keys()
        fake.modify("21", 30, first_name="Johnny")
        outcome = await sync_once(source, cache)
    finally:
        await source.aclose()
    assert fake.logins == 2
    assert client.logins == 2
    assert fake.pairs[-1] != first_pair
    assert outcome.updated == 1
    assert {p.bib: p.first_name for p in cache.participants()}["50004"] == "Johnny"


async def test_key_renewed_before_24_hours(fake: FakeRaceEntry, url: str) -> None:
    now = [0.0]
    async with RaceEntryClient(url, fake.key, fake.secret, timeout=5, clock=lambda: now[0]) as client:
        await client.races()
        now[0] = 23.5 * 3600
        await client.races()
    assert fake.logins == 2


async def test_races_with_date_filter(fake: FakeRaceEntry, url: str) -> None:
    async with RaceEntryClient(url, fake.key, fake.secret, timeout=5) as client:
        april = await client.races("2026-04-01", "2026-04-30")
        every = await client.races()
    assert [r["race_id"] for r in april] == [21]
    assert sorted(r["race_id"] for r in every) == [21, 22]
    params = fake.paths("/races")[0][1]
    assert (params["start_date"], params["end_date"]) == ("2026-04-01", "2026-04-30")


async def test_refused_credentials_write_nothing(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    await sync(fake, url, cache)
    before = snapshot(cache)
    fake.modify("21", 30, first_name="Changed")
    source = RaceEntryStartList(RaceEntryClient(url, fake.key, "wrong-secret-123", timeout=5), "21")
    with pytest.raises(CredentialsError) as info:
        await sync_once(source, cache)
    await source.aclose()
    message = str(info.value)
    assert "login refused" in message and "RACETUI_RACEENTRY_KEY" in message
    assert "wrong-secret-123" not in message and fake.key not in message
    assert snapshot(cache) == before


def test_missing_credentials_name_the_variables() -> None:
    with pytest.raises(CredentialsError, match="RACETUI_RACEENTRY_KEY and RACETUI_RACEENTRY_SECRET"):
        RaceEntryClient("http://127.0.0.1:9/rest", None, "x")


async def test_server_error_midway_keeps_previous_sync(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    await sync(fake, url, cache)
    before = snapshot(cache)
    fake.modify("21", 30, first_name="Changed")
    fake.remove("21", 29)
    fake.fault("removed_participants", status=500)  # after participants came back fine
    with pytest.raises(StartListError, match=r"removed_participants: server error HTTP 500"):
        await sync(fake, url, cache)
    assert snapshot(cache) == before
    fake.faults.clear()
    outcome = await sync(fake, url, cache)  # the next sync picks everything up
    assert (outcome.updated, outcome.removed) == (1, 1)


async def test_slow_answer_beyond_timeout_keeps_previous_sync(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    await sync(fake, url, cache)
    before = snapshot(cache)
    fake.modify("21", 30, first_name="Changed")
    fake.fault("/participants", delay=3.0, nth=1)
    with pytest.raises(StartListError, match=r"no answer within 0.3 s"):
        await sync(fake, url, cache, timeout=0.3)
    assert snapshot(cache) == before


async def test_unknown_race_is_a_clear_error(fake: FakeRaceEntry, url: str, cache: StartListCache) -> None:
    client = RaceEntryClient(url, fake.key, fake.secret, timeout=5)
    source = RaceEntryStartList(client, "999")
    with pytest.raises(StartListError, match=r"race/999/participants: not found"):
        await sync_once(source, cache)
    await source.aclose()
    assert cache.entries() == []


async def test_participant_answer_shapes_are_read_tolerantly(fake: FakeRaceEntry, url: str) -> None:
    """The spec's example: a user with an empty address list, bib as text, dob but no age."""
    fake.add(
        race="21", event="16", registration=80, bib=" 81 ", first="Dee", last="Ob", age=None, dob="1980-06-30"
    )
    fake.participants["21"]["80"]["user"]["address"] = []
    source = fetcher(fake, url)
    try:
        fetched = await source.fetch(None)
    finally:
        await source.aclose()
    dee = next(e for e in fetched.entries if e.entry_id == "80")
    assert dee.bib == "81" and dee.city is None and dee.age is not None and dee.age >= 44
    assert fetched.problems == ["participant: bib_num: missing"]
