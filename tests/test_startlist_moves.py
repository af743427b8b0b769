"""Entries that move between events (RaceEntry) and races (ChronoTrack) leave the old list
and join the new one in the same sync; the full-sync schedule lives in the cache (it
survives restarts); login expiry mid-sync; ChronoTrack's 503 over rate. Real sockets,
against the stand-ins written from the two documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from racetui.sources.startlist import (
    ChronoTrackClient,
    ChronoTrackStartList,
    CredentialsError,
    RaceEntryClient,
    RaceEntryStartList,
    StartListCache,
    StartListError,
    sync_once,
)
from tests.fakes.chronotrack import FakeChronoTrack
from tests.fakes.raceentry import FakeRaceEntry


@pytest.fixture
def cache(tmp_path: Path) -> StartListCache:
    return StartListCache(tmp_path / "startlists.sqlite3")


# ------------------------------------------------------------------- RaceEntry
@pytest.fixture
def re_fake() -> FakeRaceEntry:
    fake = FakeRaceEntry()
    fake.add_race("21", events=(16, 67))
    fake.add(race="21", event="16", registration=30, bib=101, first="John", last="Doe")
    fake.add(race="21", event="16", registration=29, bib=102, first="Jane", last="Doe", gender="F")
    fake.add(race="21", event="67", registration=71, bib=501, first="Bob", last="Smith")
    return fake


@pytest.fixture
def re_url(re_fake: FakeRaceEntry) -> Iterator[str]:
    with re_fake.serve() as base:
        yield base


def re_list(fake: FakeRaceEntry, url: str, event: str, race_id: str, **options: object) -> RaceEntryStartList:
    client = RaceEntryClient(url, fake.key, fake.secret, timeout=10, **options)  # type: ignore[arg-type]
    return RaceEntryStartList(client, "21", events=[event], race_id=race_id)


async def re_sync(fake: FakeRaceEntry, url: str, cache: StartListCache, event: str, race_id: str) -> object:
    source = re_list(fake, url, event, race_id)
    try:
        return await sync_once(source, cache)
    finally:
        await source.aclose()


def bibs(cache: StartListCache, race: str) -> set[str]:
    return {p.bib for p in cache.participants(race)}


async def test_raceentry_switch_event_moves_between_lists_in_one_sync(
    re_fake: FakeRaceEntry, re_url: str, cache: StartListCache
) -> None:
    await re_sync(re_fake, re_url, cache, "16", "10k")
    await re_sync(re_fake, re_url, cache, "67", "5k")
    assert (bibs(cache, "10k"), bibs(cache, "5k")) == ({"101", "102"}, {"501"})

    async with RaceEntryClient(re_url, re_fake.key, re_fake.secret, timeout=10) as client:
        assert await client.switch_events("21", [("30", "67")]) == ["30"]
    assert re_fake.participants["21"]["30"]["event_id"] == 67  # the stand-in moved it

    # One incremental sync of the OLD event's list only.
    outcome = await re_sync(re_fake, re_url, cache, "16", "10k")
    assert re_fake.paths("/participants", "GET")[-1][1]["modified_after_timestamp"] != "0"
    assert bibs(cache, "10k") == {"102"}
    assert bibs(cache, "5k") == {"501", "101"}  # joined the 5 km list in the same transaction
    assert ("10k", "101") in outcome.cleared  # type: ignore[attr-defined]
    assert ("5k", "101") in {(p.race_id, p.bib) for p in outcome.participants}  # type: ignore[attr-defined]


async def test_raceentry_removal_in_another_event_still_removes(
    re_fake: FakeRaceEntry, re_url: str, cache: StartListCache
) -> None:
    await re_sync(re_fake, re_url, cache, "16", "10k")
    # moved to 67 and deleted there before our next sync: the removal names event 67
    re_fake.modify("21", 29, event_id=67)
    re_fake.remove("21", 29)
    await re_sync(re_fake, re_url, cache, "16", "10k")
    assert bibs(cache, "10k") == {"101"}


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, (102, "Credentials expired")), (403, (7, "Forbidden")), (200, (55, "Your session has expired"))],
)
async def test_raceentry_expiry_mid_sync_logs_in_once_more(
    re_fake: FakeRaceEntry, re_url: str, cache: StartListCache, status: int, error: tuple[int, str]
) -> None:
    re_fake.expired_status, re_fake.expired_error = status, error
    source = re_list(re_fake, re_url, "16", "10k")
    try:
        await sync_once(source, cache)
        re_fake.modify("21", 30, first_name="Johnny")
        re_fake.expire_on = "/participants"  # teams were read with the old pair; then it expires
        await sync_once(source, cache)
    finally:
        await source.aclose()
    assert re_fake.logins == 2
    assert {p.bib: p.first_name for p in cache.participants("10k")}["101"] == "Johnny"


async def test_raceentry_still_refused_after_relogin_is_a_clear_message(
    re_fake: FakeRaceEntry, re_url: str, cache: StartListCache
) -> None:
    re_fake.expired_status = 403
    source = re_list(re_fake, re_url, "16", "10k")
    await sync_once(source, cache)
    before = cache.entries()
    re_fake.refuse_every_pair = True
    with pytest.raises(CredentialsError) as info:
        await sync_once(source, cache)
    await source.aclose()
    message = str(info.value)
    assert "refused right after a fresh login (HTTP 403 (Credentials expired))" in message
    assert re_fake.secret not in message and all(k not in message for pair in re_fake.pairs for k in pair)
    assert re_fake.logins == 2  # the first, and exactly one more: then the message
    assert cache.entries() == before


async def test_raceentry_login_field_names_are_configurable(cache: StartListCache) -> None:
    fake = FakeRaceEntry(login_fields=("api_key", "api_secret"))
    fake.add_race("21")
    fake.add(race="21", event="16", registration=30, bib=101, first="John", last="Doe")
    with fake.serve() as url:
        wrong = re_list(fake, url, "16", "10k")
        with pytest.raises(CredentialsError, match="login field names, now 'key'/'secret'"):
            await sync_once(wrong, cache)
        await wrong.aclose()
        right = re_list(fake, url, "16", "10k", login_fields=("api_key", "api_secret"))
        await sync_once(right, cache)
        await right.aclose()
    assert bibs(cache, "10k") == {"101"}
    assert set(fake.paths("/login")[-1][1]) == {"api_key", "api_secret"}


# ----------------------------------------------------------------- ChronoTrack
EVENT = "9001"


@pytest.fixture
def ct_fake() -> FakeChronoTrack:
    fake = FakeChronoTrack()
    fake.add_event(EVENT)
    fake.add_race(EVENT, "77", "Half Marathon")
    fake.add_race(EVENT, "78", "10K")
    for n in range(23):
        fake.add(
            event=EVENT, race="77" if n % 4 else "78", entry=1000 + n, bib=n + 1, first=f"R{n}", last="Lee"
        )
    fake.page_size = 5
    fake.advance(1000)
    return fake


@pytest.fixture
def ct_url(ct_fake: FakeChronoTrack) -> Iterator[str]:
    with ct_fake.serve() as base:
        yield base


def ct_client(fake: FakeChronoTrack, url: str, **options: object) -> ChronoTrackClient:
    return ChronoTrackClient(
        url,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        username=fake.username,
        password=fake.password,
        timeout=10,
        **options,  # type: ignore[arg-type]
    )


async def ct_sync(
    fake: FakeChronoTrack, url: str, cache: StartListCache, races: list[str], race_id: str, **options: object
) -> object:
    """One sync with a fresh fetcher, as each CLI run has."""
    full_every = options.pop("full_every", 10)
    source = ChronoTrackStartList(
        ct_client(fake, url, **options),
        EVENT,
        races=races,
        race_id=race_id,
        full_every=full_every,  # type: ignore[arg-type]
    )
    try:
        return await sync_once(source, cache)
    finally:
        await source.aclose()


async def test_chronotrack_entry_moved_to_another_race_moves_in_one_incremental_sync(
    ct_fake: FakeChronoTrack, ct_url: str, cache: StartListCache
) -> None:
    await ct_sync(ct_fake, ct_url, cache, ["77"], "half")
    await ct_sync(ct_fake, ct_url, cache, ["78"], "10k")
    assert "2" in bibs(cache, "half") and "2" not in bibs(cache, "10k")

    ct_fake.advance(60)
    async with ct_client(ct_fake, ct_url) as client:
        await client.put_entry("1001", {"race_id": "78"})  # bib 2: half -> 10K
    ct_fake.advance(60)

    await ct_sync(ct_fake, ct_url, cache, ["77"], "half")  # incremental, the OLD race's list
    assert "modified_after" in ct_fake.paths("/entry")[-1][1]
    assert "2" not in bibs(cache, "half")
    assert "2" in bibs(cache, "10k")


async def test_chronotrack_full_schedule_survives_restarts(
    ct_fake: FakeChronoTrack, ct_url: str, cache: StartListCache
) -> None:
    """Every 3rd sync is full even when each sync is a new process (a new fetcher)."""
    await ct_sync(ct_fake, ct_url, cache, [], "half", full_every=3)
    ct_fake.delete(EVENT, 1010)  # gone without a trace: only a full pass notices
    ct_fake.advance(10)
    kinds = []
    for _ in range(3):
        await ct_sync(ct_fake, ct_url, cache, [], "half", full_every=3)
        kinds.append("full" if "modified_after" not in ct_fake.paths("/entry")[-1][1] else "incremental")
    assert kinds == ["incremental", "incremental", "full"]
    assert "11" not in bibs(cache, "half")
    info = cache.sync_info("chronotrack", f"event {EVENT}")
    assert info is not None and info.full_at is not None and info.since_full == 0


@pytest.mark.parametrize("announce", [False, True])
async def test_chronotrack_over_rate_backs_off_and_keeps_its_place(
    ct_fake: FakeChronoTrack, ct_url: str, cache: StartListCache, announce: bool
) -> None:
    ct_fake.connection_limit = 3  # token + 2 pages, then 503 over rate for the rest of the minute
    ct_fake.announce_retry_after = announce
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the wait, driven on the server's clock
        waits.append(seconds)
        ct_fake.advance(seconds)

    await ct_sync(ct_fake, ct_url, cache, [], "half", sleep=sleep)
    assert len(bibs(cache, "half")) == 23
    assert ct_fake.over_rate >= 1 and len(waits) == ct_fake.over_rate
    pages = [q["page"] for _, q in ct_fake.paths("/entry")]
    # never re-read from the start: the refused page is asked again, then the next ones
    assert sorted(set(pages), key=int) == ["1", "2", "3", "4", "5"]
    assert pages[:2] == ["1", "2"] and pages.count("1") == 1
    if announce:
        assert all(w >= 1 for w in waits)


async def test_chronotrack_over_rate_for_too_long_fails_and_writes_nothing(
    ct_fake: FakeChronoTrack, ct_url: str, cache: StartListCache
) -> None:
    ct_fake.connection_limit = 2

    async def sleep(seconds: float) -> None:  # the clock does not move: it never clears
        return None

    with pytest.raises(StartListError, match=r"service unavailable \(over rate"):
        await ct_sync(ct_fake, ct_url, cache, [], "half", sleep=sleep, busy_retries=3)
    assert cache.entries() == [] and cache.syncs() == []


async def test_raceentry_teams_written_back_and_read_on_the_next_sync(
    re_fake: FakeRaceEntry, re_url: str, cache: StartListCache
) -> None:
    re_fake.add_team("21", 9, "Sole Survivors")
    async with RaceEntryClient(re_url, re_fake.key, re_fake.secret, timeout=10) as client:
        (new,) = await client.save_teams(
            "21", [{"team_id": "", "team_type_id": 68, "team_name": "Track Pack"}]
        )
        assert await client.save_teams(
            "21", [{"team_id": "9", "team_type_id": 68, "team_name": "Sole Sisters"}]
        ) == ["9"]
        john = {"first_name": "John", "last_name": "Doe", "team_id": new}
        await client.save_participants("21", [{"registration_id": "30", "user": john, "event_id": 16}])
    await re_sync(re_fake, re_url, cache, "16", "10k")
    clubs = {p.bib: p.club for p in cache.participants("10k")}
    assert clubs["101"] == "Track Pack"
    assert {t.name for t in cache.teams("raceentry", "race 21 events 16")} == {"Sole Sisters", "Track Pack"}
