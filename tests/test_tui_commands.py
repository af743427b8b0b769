"""The dashboard's commands: arguments, clear refusals, and the demo end to end.

The demo test is real: the simulator on a free loopback port, the BBT client over HTTP and
WebSocket, the dashboard headless on top.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

import pytest

from racetui.cli import build_parser, main
from tests.dashboard import shown
from tests.support import async_wait_until


def test_serve_builds_the_command_each_browser_runs() -> None:
    from racetui.commands.serve import build_command

    command = build_command(["--", "demo", "--athletes", "200"], config="/tmp/my config.toml")
    assert command.startswith(f"exec {sys.executable}")  # the shell becomes the dashboard
    assert "-m racetui --config '/tmp/my config.toml' demo --athletes 200" in command
    assert build_command(["replay", "x.jsonl.gz"]).endswith("-m racetui replay x.jsonl.gz")
    with pytest.raises(ValueError, match="expected one of view, demo, connect, feed, replay"):
        build_command(["--", "publish"])
    with pytest.raises(ValueError, match="nothing"):
        build_command([])


def test_serve_without_a_dashboard_command_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "8123"]) == 2
    assert "expected one of view, demo, connect, feed, replay" in capsys.readouterr().err


def test_parser_takes_every_dashboard_option() -> None:
    parser = build_parser()
    args = parser.parse_args(["demo", "--kind", "road", "--athletes", "300", "--speed", "5", "--seed", "9"])
    assert (args.kind, args.athletes, args.speed, args.seed) == ("road", 300, 5.0, 9)
    args = parser.parse_args(
        ["connect", "http://10.0.0.5", "--poll", "--interval", "1.5", "--theme", "monochrome"]
    )
    assert (args.url, args.poll, args.interval, args.theme) == ("http://10.0.0.5", True, 1.5, "monochrome")
    args = parser.parse_args(["feed", "results.json", "--interval", "3"])
    assert (args.target, args.interval) == ("results.json", 3.0)
    args = parser.parse_args(["replay", "day1.jsonl.gz", "--speed", "10"])
    assert (args.path, args.speed) == ("day1.jsonl.gz", 10.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--kind", "swimrun"])


def test_replay_refuses_a_missing_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "journal.jsonl.gz"
    assert main(["replay", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "no such journal file" in err and "Traceback" not in err
    assert main(["replay", str(missing), "--speed", "-1"]) == 2


def test_bad_arguments_end_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connect", "http://127.0.0.1:9", "--interval", "0"]) == 2
    err = capsys.readouterr().err
    assert "--interval" in err and "Traceback" not in err


def test_a_bad_config_ends_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from racetui.tui.launch import run_dashboard

    config = tmp_path / "bad.toml"
    config.write_text("theme = [1, 2\n")
    args = argparse.Namespace(config=str(config), theme=None)
    assert run_dashboard(args, lambda _c: [], command="feed") == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "Traceback" not in err


def test_a_bad_source_argument_ends_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from racetui.tui.launch import run_dashboard

    def sources(_config: object) -> list[object]:
        raise ValueError("target: expected an http(s) URL or a file path, got 'ftp://x'")

    assert run_dashboard(argparse.Namespace(config=None, theme=None), sources, command="feed") == 2
    assert "racetui feed: target: expected" in capsys.readouterr().err


async def test_demo_shows_the_simulated_race_through_the_bbt_client() -> None:
    from racetui.sim.config import SimConfig
    from racetui.sim.source import SimulatedBBT
    from racetui.sources.base import FeedState, Pipeline
    from racetui.tui.app import RaceApp
    from racetui.tui.themes import builtin_theme_dir
    from racetui.tui.widgets.table import RowTable

    source = SimulatedBBT(SimConfig(kind="road", athletes=60, seed=3, speed=200, countdown=0).validate())
    pipeline = Pipeline()
    app = RaceApp(
        pipeline,
        [source],
        clock=source.clock,
        master_offset=False,
        theme_dirs=[builtin_theme_dir()],
        tick=0.1,
    )
    async with app.run_test(size=(120, 36)) as pilot:

        def arrived() -> bool:
            standings = app.state.standings()
            return standings is not None and len(standings) >= 60 and standings.latest_point() >= 0

        await async_wait_until(arrived, what="the simulated field and its first passings")
        assert source.url is not None and source.url.startswith("http://127.0.0.1:")
        standings = app.state.standings()
        assert standings is not None and len(standings) == 60
        assert standings.latest_point() >= 0  # passings arrived
        assert source.health.effective_state() is FeedState.CONNECTED
        app.tick()
        await pilot.pause()
        board = app.screen.query_one(RowTable)
        first = board.row_at(0)
        assert first is not None and first.cells[0][0] == "1"
        header = str(app.screen.query_one("RaceHeader").render())
        assert "● push" in header


def test_demo_defaults_open_an_event_under_way() -> None:
    from racetui.commands.demo import DEMO_SKIP_MINUTES, demo_config

    args = build_parser().parse_args(["demo"])
    config, skip_s = demo_config(args)
    kinds = [spec.kind for spec in config.race_specs()]
    assert kinds == ["triathlon", "road", "relay"]
    assert skip_s == args.countdown + DEMO_SKIP_MINUTES["event"] * 60
    assert config.speed == 3.0
    _config, skip_s = demo_config(build_parser().parse_args(["demo", "--kind", "road", "--skip", "0"]))
    assert skip_s == 0.0
    _config, skip_s = demo_config(build_parser().parse_args(["demo", "--skip", "5"]))
    assert skip_s == args.countdown + 300


def test_demo_refuses_a_negative_skip(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--skip", "-3"]) == 2
    err = capsys.readouterr().err
    assert "skip" in err and "-3" in err and "Traceback" not in err


def test_every_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 3.0)" in out and "(default: event)" in out and "(default: None)" not in out


async def test_demo_opens_with_the_triathlon_on_the_bike() -> None:
    """The default demo's first sync already carries half an hour of racing: no waiting at 'start'."""
    from racetui.commands.demo import demo_config
    from racetui.sim.source import SimulatedBBT
    from racetui.sources.base import Pipeline
    from racetui.tui.app import RaceApp
    from racetui.tui.themes import builtin_theme_dir

    config, skip_s = demo_config(build_parser().parse_args(["demo"]))
    source = SimulatedBBT(config, skip_s)
    app = RaceApp(
        Pipeline(),
        [source],
        clock=source.clock,
        master_offset=False,
        theme_dirs=[builtin_theme_dir()],
        tick=0.1,
    )
    async with app.run_test(size=(120, 36)) as pilot:

        def loaded() -> bool:
            standings = app.state.standings()
            return standings is not None and len(standings) > 0 and standings.latest_point() >= 0

        await shown(pilot, loaded, what="the simulator's race on the board")
        standings = app.state.standings()
        assert standings is not None and len(standings) == 60
        points = [point.name for point in standings.points]
        reached = points[standings.latest_point()]
        assert reached.startswith("Bike"), f"expected the leaders on the bike, they are at {reached!r}"
        assert len(app.state.engine.races) == 3


async def test_replay_of_a_recorded_run_shows_the_same_standings(tmp_path: Path) -> None:
    from racetui.sim.config import SimConfig
    from racetui.sim.server import running_sim
    from racetui.sources.base import Pipeline
    from racetui.sources.bbt import BBTSource
    from racetui.sources.journal import Journal
    from racetui.sources.replay import ReplaySource
    from racetui.tui.app import RaceApp
    from racetui.tui.clock import system_clock
    from racetui.tui.themes import builtin_theme_dir
    from racetui.tui.widgets.table import RowTable

    path = tmp_path / "run.jsonl.gz"
    live = Pipeline()
    async with running_sim(
        SimConfig(kind="road", athletes=40, seed=4, speed=300, countdown=0), port=0
    ) as sim:
        journal = Journal(path, source="bbt")
        client = BBTSource(sim.base_url, journal=journal)
        task = asyncio.create_task(client.run(live))

        def recorded() -> bool:
            races = list(live.engine.races.values())
            return bool(races) and len(races[0]) == 40 and races[0].latest_point() >= 1

        await async_wait_until(recorded, what="40 athletes past the second timing point")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        journal.close()
    standings = next(iter(live.engine.races.values()))
    expected = [row.bib for row in standings.view().rows(0, 40)]
    assert standings.latest_point() >= 1

    replay = ReplaySource(path, speed=0)
    app = RaceApp(Pipeline(), [replay], clock=system_clock, theme_dirs=[builtin_theme_dir()], tick=0.05)
    async with app.run_test(size=(120, 36)) as pilot:

        def replayed() -> bool:
            shown = app.state.standings()
            return shown is not None and len(shown) == 40 and shown.latest_point() == standings.latest_point()

        await async_wait_until(replayed, what="the replayed standings")
        app.tick()
        await pilot.pause()
        board = app.screen.query_one(RowTable)
        assert [row.key[1] for row in board.model.fetch(0, 40) if row.key] == expected
