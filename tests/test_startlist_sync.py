"""StartListSync as a Source: cached names first, background incremental refresh, removed
participants cleared, races loaded later filled in, failures only in health."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from racetui.model import Race
from racetui.sources.base import FeedState, Pipeline, Source
from racetui.sources.startlist import (
    RaceEntryClient,
    RaceEntryStartList,
    StartListCache,
    StartListSync,
)
from tests.fakes.raceentry import FakeRaceEntry
from tests.support import async_wait_until as until


@pytest.fixture
def fake() -> FakeRaceEntry:
    fake = FakeRaceEntry()
    fake.add_race("21")
    fake.add(race="21", event="16", registration=30, bib=50004, first="John", last="Doe", age=35)
    fake.add(race="21", event="16", registration=29, bib=50003, first="Jane", last="Doe", gender="F", age=25)
    return fake


@pytest.fixture
def url(fake: FakeRaceEntry) -> Iterator[str]:
    with fake.serve() as base:
        yield base


@pytest.fixture
def cache(tmp_path: Path) -> StartListCache:
    return StartListCache(tmp_path / "startlists.sqlite3")


def make_sync(
    fake: FakeRaceEntry, url: str, cache: StartListCache, *, interval: float = 0.05
) -> StartListSync:
    client = RaceEntryClient(url, fake.key, fake.secret, timeout=5.0)
    return StartListSync(RaceEntryStartList(client, "21", race_id="5k"), cache=cache, interval=interval)


@contextlib.asynccontextmanager
async def running(source: StartListSync, pipeline: Pipeline) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run(pipeline))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def name(pipeline: Pipeline, race: str, bib: str) -> str | None:
    entry = pipeline.engine.race(race).entries.get(bib)
    if entry is None:
        return None
    return entry.participant.display_name() if entry.participant else ""


async def test_background_refresh_pushes_changes_and_clears_removed(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    pipeline = Pipeline()
    pipeline.upsert_race(Race(id="5k", name="5K"))
    source = make_sync(fake, url, cache)
    as_source: Source = source  # the protocol, checked by mypy
    assert as_source.name == "RaceEntry race 21 -> racetui race 5k"
    async with running(source, pipeline):
        await until(lambda: name(pipeline, "5k", "50004") == "John Doe")
        assert name(pipeline, "5k", "50003") == "Jane Doe"
        assert source.health.effective_state() is FeedState.CONNECTED
        entry = pipeline.engine.race("5k").entries["50003"]
        assert entry.participant is not None and entry.participant.category == "F25"

        fake.modify("21", 30, first_name="Johnny")
        fake.remove("21", 29)
        await until(lambda: name(pipeline, "5k", "50004") == "Johnny Doe")
        await until(lambda: name(pipeline, "5k", "50003") == "")
        cleared = pipeline.engine.race("5k").entries["50003"].participant
        assert cleared is not None and (cleared.category, cleared.gender, cleared.club) == (None, None, None)
    assert {p.bib for p in cache.participants("5k")} == {"50004"}
    assert source.health.state is FeedState.STOPPED
    assert fake.logins == 1  # one login for the whole session


async def test_cached_names_arrive_first_even_offline(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    warm = make_sync(fake, url, cache)
    await warm.refresh(Pipeline())
    await warm.fetcher.aclose()

    pipeline = Pipeline()
    pipeline.upsert_race(Race(id="5k", name="5K"))
    offline = StartListSync(
        RaceEntryStartList(
            RaceEntryClient("http://127.0.0.1:9/rest", "k", "s", timeout=0.2), "21", race_id="5k"
        ),
        cache=cache,
        interval=0.05,
    )
    async with running(offline, pipeline):
        await until(lambda: name(pipeline, "5k", "50004") == "John Doe")
        await until(lambda: offline.health.state is FeedState.ERROR)
    assert offline.health.last_error is not None and "cannot connect" in offline.health.last_error


async def test_race_loaded_later_gets_its_names(fake: FakeRaceEntry, url: str, cache: StartListCache) -> None:
    pipeline = Pipeline()
    # no second refresh during the test: the push comes from the race appearing
    source = make_sync(fake, url, cache, interval=30.0)
    async with running(source, pipeline):
        await until(lambda: source.syncs == 1)
        assert "5k" not in pipeline.engine.races and not pipeline.errors
        pipeline.upsert_race(Race(id="5k", name="5K"))
        await until(lambda: name(pipeline, "5k", "50003") == "Jane Doe")
        assert source.syncs == 1


async def test_failures_land_in_health_and_the_loop_goes_on(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    pipeline = Pipeline()
    pipeline.upsert_race(Race(id="5k", name="5K"))
    source = make_sync(fake, url, cache)
    fake.fault("/participants", status=500, nth=1)
    async with running(source, pipeline):
        await until(lambda: source.health.reconnects >= 1)
        assert source.health.last_error is not None and "HTTP 500" in source.health.last_error
        await until(lambda: name(pipeline, "5k", "50004") == "John Doe")
        assert source.health.state is FeedState.CONNECTED
        assert source.health.last_error is None


async def test_refused_credentials_in_health_without_secrets(
    fake: FakeRaceEntry, url: str, cache: StartListCache
) -> None:
    source = StartListSync(
        RaceEntryStartList(RaceEntryClient(url, fake.key, "bad-secret-777", timeout=5), "21"),
        cache=cache,
        interval=0.05,
    )
    async with running(source, Pipeline()):
        await until(lambda: source.health.state is FeedState.ERROR)
    assert source.health.last_error is not None
    assert "login refused" in source.health.last_error
    assert "bad-secret-777" not in source.health.last_error and fake.key not in source.health.last_error
