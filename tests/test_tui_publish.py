"""The Publish screen (key 6) driven like a user drives it, against a real local World
Triathlon stand-in (tests/fakes/worldtriathlon.py on a free loopback port); and
``--startlist``: names from the local start-list cache on the leaderboard.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from textual.widgets import DataTable, Input, Static

from racetui.cli import build_parser
from racetui.config import Config, OpenTrackConfig, TriathlonConfig
from racetui.model import Event, Participant, Passing, Race, RaceKind, TimingPoint
from racetui.publish.outbox import ItemState, Outbox, PublishService
from racetui.publish.session import Publishing, PublishingOptions, build_publishing, parse_mapping
from racetui.publish.triathlon import FileSender, TriathlonPublisher
from racetui.sources.base import Pipeline, SourceHealth, SourceMode
from racetui.sources.startlist import Fetched, StartEntry, StartListCache
from racetui.sources.startlist.cached import CachedStartList
from racetui.tui.app import RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.launch import startlist_sources
from racetui.tui.screens.publish import ConfirmPublish, PublishScreen
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.widgets.table import RowTable
from tests.dashboard import messages, shown
from tests.fakes.asgi import ServerThread
from tests.fakes.opentrack import OpenTrackFake
from tests.fakes.race import OPEN, RACE_NOW, race_pipeline
from tests.fakes.worldtriathlon import WorldTriathlonFake

KEY = "wt-dash-key-4711"
PROG = "307158"


@pytest.fixture
def wt() -> Iterator[WorldTriathlonFake]:
    fake = WorldTriathlonFake(apikey=KEY)
    with ServerThread(fake.app()) as server:
        fake.url = server.url + "/v1/timing"
        yield fake


def options(*extra: str) -> Any:
    return build_parser().parse_args(["demo", *extra])


def make_app(publishing: Publishing | None, pipeline: Pipeline, sources: list[Any]) -> RaceApp:
    return RaceApp(
        pipeline,
        sources,
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tick=0.05,
        tracker_budget=None,
        strict=True,
        publishing=publishing,
    )


def triathlon_app(url: str, apikey: str = KEY, *extra: str) -> tuple[RaceApp, Publishing]:
    pipeline, feed = race_pipeline(12)
    config = Config(triathlon=TriathlonConfig(apikey=SecretStr(apikey)))
    args = options(
        "--publish-triathlon",
        "--api-url",
        url,
        "--event-id",
        "107158",
        "--prog",
        f"{OPEN}={PROG}",
        "--http-timeout",
        "3",
        "--backoff",
        "0.2",
        "0.5",
        *extra,
    )
    publishing = build_publishing(PublishingOptions.from_args(args), config, pipeline.engine)
    assert publishing is not None
    return make_app(publishing, pipeline, [feed]), publishing


def screen_text(app: RaceApp) -> str:
    """What the Publish screen shows: its texts and the outbox rows."""
    parts = [str(w.render()) for w in app.screen.query(Static)]
    for table in app.screen.query(DataTable):
        for row in range(table.row_count):
            parts.append(" | ".join(str(cell) for cell in table.get_row_at(row)))
    return "\n".join(parts)


async def asked(pilot: Any, app: RaceApp) -> None:
    """``p`` builds the message off the UI loop: its question comes when it is ready."""
    await shown(pilot, lambda: isinstance(app.screen, ConfirmPublish), what="the publish question")


# ------------------------------------------------------------------ options


def test_options_parse_and_refuse_clearly() -> None:
    args = options("--publish-triathlon", "--file", "/tmp/wt/{prog_id}.json", "--no-sandbox", "--startlist")
    assert (args.publish_triathlon, args.file, args.sandbox, args.startlist) == (
        True,
        "/tmp/wt/{prog_id}.json",
        False,
        True,
    )
    assert build_parser().parse_args(["connect", "http://x", "--publish-opentrack"]).publish_opentrack
    assert parse_mapping(["elite=307158", " ag = 9 "], "--prog") == {"elite": "307158", "ag": "9"}
    with pytest.raises(ValueError, match=r"--event: expected RACE=ID, got 'elite'"):
        parse_mapping(["elite"], "--event")
    engine = Pipeline().engine
    assert build_publishing(PublishingOptions.from_args(options()), Config(), engine) is None
    with pytest.raises(ValueError, match="apikey"):
        build_publishing(PublishingOptions.from_args(options("--publish-triathlon")), Config(), engine)
    with pytest.raises(ValueError, match="--competition"):
        config = Config(opentrack=OpenTrackConfig(token=SecretStr("t0ken-abc")))
        build_publishing(PublishingOptions.from_args(options("--publish-opentrack")), config, engine)


def test_dashboard_commands_refuse_publishing_without_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    from racetui.cli import main

    assert main(["demo", "--publish-triathlon"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("racetui demo: ") and "RACETUI_TRIATHLON_APIKEY" in err and err.count("\n") == 1
    assert main(["demo", "--publish-triathlon", "--file", "x.json", "--prog", "elite"]) == 2
    assert "--prog: expected RACE=ID, got 'elite'" in capsys.readouterr().err
    assert [type(s) for s in startlist_sources(options("--startlist"))] == [CachedStartList]
    assert startlist_sources(options()) == []


# ------------------------------------------------------------------ screens


async def test_without_publishing_the_screen_says_which_options_enable_it() -> None:
    pipeline, feed = race_pipeline(12)
    app = make_app(None, pipeline, [feed])
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        assert isinstance(app.screen, PublishScreen)
        text = screen_text(app)
        assert "--publish-triathlon" in text and "--publish-opentrack" in text
        await pilot.press("p")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmPublish)  # no action pretends to publish


async def test_publish_with_confirmation_then_a_400_then_retry(wt: WorldTriathlonFake) -> None:
    app, publishing = triathlon_app(wt.url)
    wt.script[:] = [400]
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        text = screen_text(app)
        assert f"World Triathlon {wt.url} · sandbox ON · {OPEN}→{PROG}" in text
        assert "waiting for p" in text
        # declined: nothing is queued
        await pilot.press("p")
        await asked(pilot, app)
        assert "12 added" in str(app.screen.query_one("#confirm-body Static", Static).render())
        assert "(sandbox)" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert publishing.outbox.items() == []
        # confirmed: sent, refused with the server's reason
        await pilot.press("p")
        await asked(pilot, app)
        await pilot.press("y")
        await shown(
            pilot, lambda: "failed" in screen_text(app), what="the failed upload on the Publish screen"
        )
        [item] = publishing.outbox.items()
        assert item.state is ItemState.FAILED
        text = screen_text(app)
        assert "400 Bad Request: rejected by the test script (400)" in text
        assert "status 400" in text and "response: " in text
        assert publishing.live
        # retry the failed item (asks first)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPublish)
        await pilot.press("y")
        await shown(
            pilot,
            lambda: publishing.outbox.get(item.id).state is ItemState.SENT,
            what="the retried item sent",
        )
        await shown(pilot, lambda: "| sent |" in screen_text(app), what="a sent row on the Publish screen")
    [body] = wt.applied_bodies()
    assert body["prog_id"] == PROG and body["sandbox"] in ("true", True)
    assert len(body["athletes"]) == 12


async def test_p_reads_the_engine_in_slices_with_frames_between_and_says_how_far(
    wt: WorldTriathlonFake,
) -> None:
    """The engine read behind ``p`` leaves the loop between slices of athletes (here 2 of
    the race's 12 a step, as 2,000 of 50,000): frames land in between, the screen says how
    far the read is, and the message asked about and sent is the engine at the version
    after the read's last slice."""
    app, publishing = triathlon_app(wt.url)
    tri = publishing.triathlon
    assert tri is not None
    tri.read_slice = 2
    seen: list[str] = []
    expected: list[str] = []
    landed = 0

    async def replica() -> None:
        """The hub's frames, applied on the loop whenever it is free, while p reads."""
        nonlocal landed
        standings = app.pipeline.engine.race(OPEN)
        finish = next(point for point in standings.race.points if point.is_finish)
        bibs = [athlete.bib for athlete in standings.ordered()]
        while True:
            await asyncio.sleep(0)
            if not isinstance(app.screen, PublishScreen) or not app.screen.is_mounted:
                continue
            line = app.screen.query_one("#publish-progress", Static)
            text = str(line.render()) if line.display else ""
            if text and (not seen or seen[-1] != text):
                seen.append(text)
            if "reading" in text:
                bib = bibs[landed % len(bibs)]
                app.pipeline.apply_passings(
                    [Passing(race_id=OPEN, bib=bib, point_id=finish.id, time_ms=6_000_000 + landed)]
                )
                landed += 1
            elif "building" in text and not expected:
                expected.append(tri.build(OPEN).content_hash)  # the read's version

    async with app.run_test(size=(120, 36)) as pilot:
        frames = asyncio.create_task(replica())
        try:
            await pilot.press("6")
            await pilot.pause()
            await pilot.press("p")
            await asked(pilot, app)
            await pilot.press("y")
            await shown(pilot, lambda: publishing.outbox.items() != [], what="the upload queued")
        finally:
            frames.cancel()
    assert landed >= 3, seen
    assert any(text.startswith(f"{OPEN}: reading 2 of 12 athletes") for text in seen), seen
    assert seen[-1] == f"{OPEN}: read 12 athletes; building the message…", seen
    [item] = publishing.outbox.items()
    assert item.meta["content_hash"] == expected[0]


async def test_sandbox_off_needs_confirmation_and_on_does_not(wt: WorldTriathlonFake) -> None:
    app, publishing = triathlon_app(wt.url)
    tri = publishing.triathlon
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6", "s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPublish) and "OFF" in app.screen.question
        await pilot.press("escape")
        await pilot.pause()
        assert tri.sandbox is True
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert tri.sandbox is False
        assert "sandbox OFF (live results)" in screen_text(app)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmPublish)
        assert tri.sandbox is True


async def test_official_needs_the_typed_word(wt: WorldTriathlonFake) -> None:
    app, publishing = triathlon_app(wt.url)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6", "o")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPublish) and "OFFICIAL" in app.screen.question
        await pilot.press("y", "enter")  # y is a letter here, not a yes
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPublish)
        app.screen.query_one(Input).value = ""
        await pilot.press(*"OFFICIAL", "enter")
        await shown(
            pilot,
            lambda: any(i.state is ItemState.SENT for i in publishing.outbox.items()),
            what="an item sent",
        )
        assert publishing.triathlon.is_official(OPEN)
    assert wt.applied_bodies()[-1]["status"] == "official"


async def test_a_refused_key_is_never_shown_and_the_target_resumes(wt: WorldTriathlonFake) -> None:
    wrong = "wrong-key-98765"
    app, publishing = triathlon_app(wt.url, wrong)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6", "p")
        await asked(pilot, app)
        await pilot.press("y")
        await shown(pilot, lambda: "HELD" in screen_text(app), what="the held target on the Publish screen")
        text = screen_text(app)
        assert "401" in text and wrong not in text and "***" in text
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPublish)
        await pilot.press("y")
        await pilot.pause()
        assert publishing.service.targets()[0].held is None


async def test_another_owner_makes_the_screen_read_only(wt: WorldTriathlonFake) -> None:
    code = "from racetui.publish.outbox import Outbox; o = Outbox(); print('ready', flush=True); "
    code += "import sys; sys.stdin.read()"  # holds the outbox until its stdin closes
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        app, publishing = triathlon_app(wt.url)
        assert not publishing.owner
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("6")
            await pilot.pause()
            text = screen_text(app)
            assert f"another racetui process (pid {holder.pid}) is publishing" in text
            assert "read-only" in text
            await pilot.press("p")
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmPublish)
            assert any("read-only" in m for m in messages(app))
        publishing.close()
    finally:
        holder.kill()
        holder.wait()


# ----------------------------------------------------------------- snapshots

FIXED = (RACE_NOW - timedelta(minutes=5)).timestamp()


def fixed_publishing(pipeline: Pipeline) -> Publishing:
    """An outbox with one upload in every state and fixed times; delivery never runs."""
    ticks = iter(FIXED + 7 * n for n in range(100))
    outbox = Outbox(clock=lambda: next(ticks))
    service = PublishService(outbox, [FileSender()])
    tri = TriathlonPublisher(
        pipeline.engine,
        service,
        destination="/srv/wt/{prog_id}.json",
        hosted_file=True,
        event_id="107158",
        programs={OPEN: PROG},
        races=[OPEN],
    )
    url = "/srv/wt/307158.json"

    def add(summary: str) -> int:
        item = outbox.enqueue(
            target="triathlon-file", group=f"g{summary}", method="WRITE", url=url, body=b"{}", summary=summary
        )
        return item.id

    first = add("Elite Men Sprint (prog 307158) live sandbox, 12 athletes")
    outbox.claim(first)
    outbox.mark_sent(first, None, None)
    bad = add("Elite Men Sprint (prog 307158) live sandbox, 12 athletes")
    outbox.claim(bad)
    outbox.mark_failed(bad, status_code=None, error="/srv/wt: Permission denied", response=None)
    cancelled = add("Age Group Standard (prog 300002) live sandbox, 90 athletes")
    outbox.cancel(cancelled)
    add("Elite Men Sprint (prog 307158) live sandbox, 12 athletes")
    status = service.target("triathlon-file")
    status.last_attempt_at = FIXED + 14
    status.last_error = "/srv/wt: Permission denied"
    status.sent = 1
    publishing = Publishing(outbox, service, triathlon=tri)

    async def no_delivery(_pipeline: Any) -> None:
        return None

    publishing.run = no_delivery  # type: ignore[method-assign,assignment]
    return publishing


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "small"])
def test_publish_screen_snapshot(snap_compare: Any, size: tuple[int, int]) -> None:
    pipeline, feed = race_pipeline(12)
    app = RaceApp(
        pipeline,
        [feed],
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tracker_budget=None,
        strict=True,
        publishing=fixed_publishing(pipeline),
    )
    assert snap_compare(app, press=["6", "down"], terminal_size=size)


# ---------------------------------------------------------------- start list


class BibsOnly:
    """A timing source that knows bibs and nothing else about the athletes."""

    name = "bibs"

    def __init__(self) -> None:
        self.health = SourceHealth("bibs", mode=SourceMode.PUSH)

    async def run(self, pipeline: Pipeline) -> None:
        points = [TimingPoint(id="fin", race_id="r1", name="Finish", order=1, is_finish=True)]
        race = Race(id="r1", name="10K", kind=RaceKind.ROAD, points=points)
        pipeline.load_event(Event(id="ev", name="Town 10K", races=[race]))
        pipeline.add_participants(Participant(bib=bib, race_id="r1") for bib in ("7", "8"))
        await asyncio.Event().wait()


async def test_cached_start_list_fills_names_on_the_leaderboard() -> None:
    def entry(bib: str, first: str, last: str) -> StartEntry:
        return StartEntry(entry_id=bib, race_id="r1", bib=bib, first_name=first, last_name=last, gender="F")

    StartListCache().apply(
        "raceentry", "race 1", Fetched(entries=[entry("7", "Ada", "Lovelace"), entry("8", "Grace", "Hopper")])
    )
    assert options("--startlist").startlist

    app = make_app(None, Pipeline(), [BibsOnly(), CachedStartList(interval=0.05)])
    async with app.run_test(size=(120, 36)) as pilot:

        def names() -> str:
            table = app.screen.query_one(RowTable)
            rows = [table.row_at(i) for i in range(2)]
            return " ".join(str(cell[0]) for row in rows if row is not None for cell in row.cells)

        await shown(
            pilot,
            lambda: "Lovelace" in names() and "Hopper" in names(),
            what="the start list's names on the board",
        )


async def test_opentrack_from_the_screen() -> None:
    fake = OpenTrackFake()
    with ServerThread(fake.app()) as server:
        fake.url = server.url
        pipeline, feed = race_pipeline(12)
        config = Config(
            opentrack=OpenTrackConfig(
                server=fake.url, username=fake.username, password=SecretStr(fake.password)
            )
        )
        competition = fake.url + "/api/2026/GBR/api-test/"
        args = options("--publish-opentrack", "--competition", competition, "--event", f"{OPEN}=ELITE")
        publishing = build_publishing(PublishingOptions.from_args(args), config, pipeline.engine)
        assert publishing is not None and publishing.triathlon is None
        standings = pipeline.engine.race(OPEN)
        finish = next(point for point in standings.race.points if point.is_finish)
        bib = standings.view().row(0).bib
        pipeline.apply_passings([Passing(race_id=OPEN, bib=bib, point_id=finish.id, time_ms=6_000_000)])
        app = make_app(publishing, pipeline, [feed])
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("6")
            await pilot.pause()
            assert f"OpenTrack {competition}roadxc_upload/ · replace · {OPEN}→ELITE/1/1" in screen_text(app)
            await pilot.press("p")
            await asked(pilot, app)
            assert "OpenTrack ELITE/1/1 (replace" in str(
                app.screen.query_one("#confirm-body Static", Static).render()
            )
            await pilot.press("y")
            await shown(
                pilot, lambda: "| sent |" in screen_text(app), what="a sent row on the Publish screen"
            )
            assert fake.password not in screen_text(app)
            await pilot.press("s")  # sandbox is World Triathlon's: said, nothing asked
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmPublish)
    # the finisher, and the festival's DNF and DSQ at this moment
    assert fake.results[("ELITE", 1, 1)] == {bib: "1:40:00.00", "7": "DNF", "10": "DQ"}
