"""ChronoTrack Live API against a local server implementing the documented contract:
OAuth2 password flow and HTTP Basic, client_id, JSON, paging by ``page`` with the X-Ctlive
headers (the server's page size), incremental entries, failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from racetui.sources.startlist import (
    ChronoTrackClient,
    ChronoTrackStartList,
    CredentialsError,
    StartListCache,
    StartListError,
    SyncOutcome,
    sync_once,
)
from racetui.sources.startlist.chronotrack import OVERLAP, token_url
from tests.fakes.chronotrack import FakeChronoTrack

EVENT = "9001"


@pytest.fixture
def fake() -> FakeChronoTrack:
    fake = FakeChronoTrack()
    fake.add_event(EVENT, "Harbour Half")
    fake.add_event("9002", "Winter 5K")
    fake.add_race(EVENT, "77", "Half Marathon")
    fake.add_race(EVENT, "78", "10K")
    for n in range(23):
        fake.add(
            event=EVENT,
            race="77" if n % 4 else "78",
            entry=1000 + n,
            bib=n + 1,
            first=f"Runner{n}",
            last="Smith",
            sex="F" if n % 2 else "M",
            age=18 + n * 2,
            team="Harbour Harriers" if n == 5 else None,
        )
    fake.advance(1000)  # registrations are older than the first sync
    return fake


@pytest.fixture
def url(fake: FakeChronoTrack) -> Iterator[str]:
    with fake.serve() as base:
        yield base


@pytest.fixture
def cache(tmp_path: Path) -> StartListCache:
    return StartListCache(tmp_path / "startlists.sqlite3")


def client(fake: FakeChronoTrack, url: str, *, oauth: bool = True, **kwargs: object) -> ChronoTrackClient:
    page_size = kwargs.pop("page_size", None)
    if isinstance(page_size, int):
        fake.page_size = page_size  # the server decides the page size
    return ChronoTrackClient(
        url,
        client_id=fake.client_id,
        client_secret=fake.client_secret if oauth else None,
        username=fake.username,
        password=str(kwargs.pop("password", fake.password)),
        **kwargs,  # type: ignore[arg-type]
    )


async def sync(
    fake: FakeChronoTrack, url: str, cache: StartListCache, *, full: bool = False, **kwargs: object
) -> SyncOutcome:
    races = kwargs.pop("races", ())
    race_id = kwargs.pop("race_id", None)
    source = ChronoTrackStartList(client(fake, url, **kwargs), EVENT, races=races, race_id=race_id)  # type: ignore[arg-type]
    try:
        return await sync_once(source, cache, full=full)
    finally:
        await source.aclose()


async def no_wait(seconds: float) -> None:
    """The client's sleep after a 503, driven directly: no real waiting in tests."""


def snapshot(cache: StartListCache) -> tuple[object, ...]:
    return (cache.entries(), [(s.source_key, s.watermark) for s in cache.syncs()], cache.participants())


def entry_pages(fake: FakeChronoTrack) -> list[tuple[str, str]]:
    """(page asked, page size the server announced) - ``size`` is no documented parameter."""
    assert all("size" not in q for _, q in fake.paths("/entry"))
    return [(q["page"], str(fake.page_size)) for p, q in fake.paths("/entry")]


def test_token_endpoint_sits_beside_api() -> None:
    assert token_url("https://api.chronotrack.com/api") == "https://api.chronotrack.com/oauth2/token"
    assert token_url("http://127.0.0.1:8000/api/") == "http://127.0.0.1:8000/oauth2/token"


async def test_oauth_password_flow_and_paging_to_the_end(
    fake: FakeChronoTrack, url: str, cache: StartListCache
) -> None:
    outcome = await sync(fake, url, cache, page_size=5)

    assert (outcome.added, outcome.total) == (23, 23)
    assert entry_pages(fake) == [("1", "5"), ("2", "5"), ("3", "5"), ("4", "5"), ("5", "5")]
    token_calls = fake.paths("/oauth2/token")
    assert len(token_calls) == 1 and token_calls[0][1]["grant_type"] == "password"
    for _, params in fake.paths("/api/"):
        assert params["client_id"] == fake.client_id and params["format"] == "json"
    by_bib = {p.bib: p for p in cache.participants()}
    assert len(by_bib) == 23
    first = by_bib["1"]
    assert (first.race_id, first.first_name, first.last_name, first.gender, first.age) == (
        "78",
        "Runner0",
        "Smith",
        "M",
        18,
    )
    assert first.category == "MU20"
    assert by_bib["2"].category == "F20"
    assert by_bib["6"].club == "Harbour Harriers"
    assert by_bib["1"].club == "Portland, OR"
    assert first.country == "USA"
    assert outcome.watermark == int(fake.now)  # the server's Date


async def test_registration_during_paging_is_not_missed(
    fake: FakeChronoTrack, url: str, cache: StartListCache
) -> None:
    """An entry registered between page 1 and page 2 shifts every row: page 2 repeats the
    last row of page 1 and the total says one more. The whole collection is read again."""

    def register_early() -> None:
        fake.add(event=EVENT, race="77", entry=999, bib=900, first="Early", last="Bird")

    fake.before_entry_page[2] = register_early
    outcome = await sync(fake, url, cache, page_size=10)
    assert outcome.added == 24
    assert [page for page, _ in entry_pages(fake)] == ["1", "2", "3", "1", "2", "3"]
    assert "900" in {p.bib for p in cache.participants()}


async def test_http_basic_authentication(fake: FakeChronoTrack, url: str, cache: StartListCache) -> None:
    outcome = await sync(fake, url, cache, oauth=False, page_size=50)
    assert outcome.added == 23
    assert fake.paths("/oauth2/token") == []
    assert fake.auth_schemes == ["Basic"]  # and the server refuses any other user:password


async def test_oauth_sends_bearer_token(fake: FakeChronoTrack, url: str, cache: StartListCache) -> None:
    await sync(fake, url, cache, page_size=10)
    assert fake.auth_schemes == ["Bearer", "Bearer", "Bearer"]


async def test_expired_token_renewed_transparently(
    fake: FakeChronoTrack, url: str, cache: StartListCache
) -> None:
    source = ChronoTrackStartList(client(fake, url, page_size=10), EVENT)
    try:
        await sync_once(source, cache)
        fake.expire_tokens()
        fake.advance(30)
        fake.modify(EVENT, 1003, athlete_last_name="Jones")
        outcome = await sync_once(source, cache)
    finally:
        await source.aclose()
    assert fake.token_grants == ["password", "refresh_token"]
    assert outcome.updated == 1
    assert {p.bib: p.last_name for p in cache.participants()}["4"] == "Jones"


async def test_incremental_sync_modified_and_withdrawn(
    fake: FakeChronoTrack, url: str, cache: StartListCache
) -> None:
    first = await sync(fake, url, cache, page_size=10)
    fake.advance(600)
    fake.modify(EVENT, 1002, athlete_first_name="Renamed")
    fake.modify(EVENT, 1004, entry_status="CANCELLED")
    fake.add(event=EVENT, race="77", entry=2000, bib=500, first="Late", last="Entry", sex="F", age=41)
    outcome = await sync(fake, url, cache, page_size=10)

    assert first.watermark is not None
    assert fake.paths("/entry")[-1][1]["modified_after"] == str(first.watermark - OVERLAP)
    assert len(fake.paths("/entry")) == 3 + 1  # three pages for all 23, one for the 3 changed
    assert (outcome.added, outcome.updated, outcome.removed) == (1, 1, 1)
    by_bib = {p.bib: p for p in cache.participants()}
    assert by_bib["3"].first_name == "Renamed"
    assert "5" not in by_bib
    assert by_bib["500"].category == "F40"
    assert outcome.cleared == [("78", "5")]


async def test_periodic_full_sync_drops_deleted_entries(
    fake: FakeChronoTrack, url: str, cache: StartListCache
) -> None:
    source = ChronoTrackStartList(client(fake, url, page_size=50), EVENT, full_every=3)
    try:
        await sync_once(source, cache)
        fake.delete(EVENT, 1010)  # gone without a trace: only a full fetch notices
        fake.advance(10)
        one = await sync_once(source, cache)
        two = await sync_once(source, cache)
        three = await sync_once(source, cache)
    finally:
        await source.aclose()
    assert (one.removed, two.removed, three.removed) == (0, 0, 1)
    assert "modified_after" not in fake.paths("/entry")[-1][1]
    assert "11" not in {p.bib for p in cache.participants()}


async def test_race_filter_and_race_id(fake: FakeChronoTrack, url: str, cache: StartListCache) -> None:
    outcome = await sync(fake, url, cache, races=["78"], race_id="10k")
    assert outcome.added == 6
    assert {p.race_id for p in cache.participants()} == {"10k"}
    assert cache.syncs()[0].source_key == "event 9001 races 78"


async def test_events_and_races_listing(fake: FakeChronoTrack, url: str) -> None:
    async with client(fake, url) as api:
        events = await api.events()
        races = await api.races(EVENT)
    assert [e["event_id"] for e in events] == [EVENT, "9002"]
    assert [(r["race_id"], r["race_name"]) for r in races] == [("77", "Half Marathon"), ("78", "10K")]


@pytest.mark.parametrize("oauth", [True, False])
async def test_refused_credentials_write_nothing(
    fake: FakeChronoTrack, url: str, cache: StartListCache, oauth: bool
) -> None:
    await sync(fake, url, cache)
    before = snapshot(cache)
    fake.advance(60)
    fake.modify(EVENT, 1001, athlete_first_name="Changed")
    with pytest.raises(CredentialsError) as info:
        await sync(fake, url, cache, oauth=oauth, password="not-the-password-42")
    message = str(info.value)
    assert "refused" in message and "RACETUI_CHRONOTRACK" in message
    assert "not-the-password-42" not in message and fake.client_secret not in message
    assert snapshot(cache) == before


def test_missing_credentials_name_the_variables() -> None:
    with pytest.raises(CredentialsError, match="RACETUI_CHRONOTRACK_USERNAME, RACETUI_CHRONOTRACK_PASSWORD"):
        ChronoTrackClient("http://127.0.0.1:9/api", client_id="x", username=None, password=None)


async def test_server_error_mid_pagination_commits_nothing(
    fake: FakeChronoTrack, url: str, cache: StartListCache
) -> None:
    await sync(fake, url, cache, page_size=5)
    before = snapshot(cache)
    fake.advance(60)
    for n in (1000, 1007, 1014, 1021):  # a change on every page
        fake.modify(EVENT, n, athlete_last_name="Changed")
    fake.fault("/entry", status=500, page=2)
    with pytest.raises(StartListError, match="server error HTTP 500"):
        await sync(fake, url, cache, page_size=5, full=True)
    assert [page for page, _ in entry_pages(fake)][-2:] == ["1", "2"]  # page 1 was read, then failed
    assert snapshot(cache) == before


async def test_first_sync_failing_mid_pagination_leaves_no_watermark(
    fake: FakeChronoTrack, url: str, cache: StartListCache
) -> None:
    fake.fault("/entry", status=503, page=3)  # every time: the waits run out
    with pytest.raises(StartListError, match="service unavailable"):
        await sync(fake, url, cache, page_size=5, sleep=no_wait, busy_retries=2)
    assert cache.entries() == [] and cache.syncs() == []


async def test_slow_page_beyond_timeout_commits_nothing(
    fake: FakeChronoTrack, url: str, cache: StartListCache
) -> None:
    await sync(fake, url, cache, page_size=5)
    before = snapshot(cache)
    fake.fault("/entry", delay=3.0, page=2)
    with pytest.raises(StartListError, match=r"no answer within 0.3 s"):
        await sync(fake, url, cache, page_size=5, timeout=0.3, full=True)
    assert snapshot(cache) == before


async def test_unknown_event_is_a_clear_error(fake: FakeChronoTrack, url: str, cache: StartListCache) -> None:
    source = ChronoTrackStartList(client(fake, url), "404404")
    with pytest.raises(StartListError, match=r"event/404404/entry: not found \(check the event id\)"):
        await sync_once(source, cache)
    await source.aclose()
    assert cache.entries() == []
