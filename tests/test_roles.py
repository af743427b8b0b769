"""Roles: what each may do (data in racetui.config), where it comes from (--role,
RACETUI_ROLE, the config file), and that the dashboard keeps to it."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import SelectionList

from racetui.config import Config, ConfigError, Permission, Role, data_dir, load_config, role_allows
from racetui.model import Status
from racetui.sources.desk import ActionKind, IncidentDesk
from racetui.tui.app import SCREENS, RaceApp
from racetui.tui.clock import fixed_clock
from racetui.tui.messages import RecordDeskEntry
from racetui.tui.rows import LeaderboardModel
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.desk import DESK_BINDINGS, ConfirmDeskEntry, DeskRequest
from racetui.tui.screens.layout import LayoutScreen
from racetui.tui.themes import builtin_theme_dir
from racetui.tui.widgets.header import RaceHeader
from tests.fakes.race import OPEN, RACE_NOW, WAVES, race_pipeline


def test_each_role_allows_what_the_docs_say() -> None:
    assert not Role.COMMENTATOR.permissions  # read-only: nothing at all
    assert Role.TD.allows(Permission.DESK) and Role.TD.allows(Permission.STATUS)
    assert Role.TD.allows(Permission.REVIEW)
    assert not Role.TD.allows(Permission.PUBLISH)
    assert Role.TIMER.allows(Permission.PUBLISH) and Role.TIMER.allows(Permission.STATUS)
    assert not Role.TIMER.allows(Permission.DESK) and not Role.TIMER.allows(Permission.REVIEW)
    for permission in Permission:  # no role: one person at a small race does everything
        assert role_allows(None, permission)
        assert role_allows(Role.COMMENTATOR, permission) is False


def test_role_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config().role is None
    path = tmp_path / "config.toml"
    path.write_text('role = "td"\noperator = "Jane Doe"\n')
    config = load_config()
    assert config.role is Role.TD and config.operator == "Jane Doe"
    monkeypatch.setenv("RACETUI_ROLE", "commentator")  # the environment wins
    assert load_config().role is Role.COMMENTATOR


def test_a_bad_role_names_the_key_and_the_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACETUI_ROLE", "referee")
    with pytest.raises(ConfigError) as caught:
        load_config()
    text = str(caught.value)
    assert text.startswith("environment RACETUI_ROLE: role:")
    assert "'timer', 'commentator' or 'td'" in text


def test_operator_defaults_to_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "jdoe")
    assert Config().operator == "jdoe"
    monkeypatch.delenv("USER")
    monkeypatch.setenv("LOGNAME", "jsmith")
    assert Config().operator == "jsmith"


# -- the command line ------------------------------------------------------------------------


def test_role_and_operator_on_the_command_line_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from racetui.cli import build_parser
    from racetui.tui.launch import session_config

    (tmp_path / "config.toml").write_text('role = "timer"\noperator = "Jane"\n')
    for command in (["demo"], ["view", "redis://localhost:6379/0"]):
        args = build_parser().parse_args([*command, "--role", "td", "--operator", "  Ann Official "])
        config = session_config(args, load_config())
        assert (config.role, config.operator) == (Role.TD, "Ann Official")
    args = build_parser().parse_args(["demo"])  # without them: the config's
    config = session_config(args, load_config())
    assert (config.role, config.operator) == (Role.TIMER, "Jane")
    with pytest.raises(ValueError, match="--operator: expected the official's name"):
        session_config(build_parser().parse_args(["demo", "--operator", " "]), load_config())


def test_a_bad_role_on_the_command_line_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    from racetui.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["demo", "--role", "referee"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--role: invalid choice: 'referee'" in err and "'commentator'" in err


# -- the dashboard ---------------------------------------------------------------------------

# every desk key there is (the desk's own list), and the box screen's
DESK_KEYS = tuple(dict.fromkeys([str(b.key).split(",")[0] for b in DESK_BINDINGS] + ["B", "O", "z"]))  # type: ignore[union-attr]


def make_app(role: Role | None, **kwargs: Any) -> RaceApp:
    pipeline, feed = race_pipeline(120)
    return RaceApp(
        pipeline,
        [feed],
        config=Config(operator="Ann", role=role),
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tick=0.25,
        tracker_budget=None,
        strict=True,
        **kwargs,
    )


def notices(app: RaceApp) -> list[str]:
    return [n.message for n in app._notifications]


def footer_keys(app: RaceApp) -> list[str]:
    from racetui.tui.widgets.footer import RaceFooter

    return [item.description for item in app.screen.query_one(RaceFooter).items]


def desk_rows() -> int:
    path = data_dir() / "incidents.sqlite3"
    if not path.exists():
        return 0
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM actions").fetchone()[0])


async def close_modals(app: RaceApp, pilot: Any) -> None:
    while len(app.screen_stack) > 1:
        app.pop_screen()
        await pilot.pause()


async def test_a_commentator_session_records_nothing_whatever_is_pressed() -> None:
    desk = IncidentDesk(operator="Ann")
    app = make_app(Role.COMMENTATOR, desk=desk)
    async with app.run_test(size=(120, 36)) as pilot:
        app.tick()
        await pilot.pause()
        assert "commentator" in str(app.screen.query_one(RaceHeader).render())
        for _mode, key, _title, _about in SCREENS:
            await pilot.press(key)
            await pilot.pause()
            assert "Penalty" not in footer_keys(app) and "Publish" not in footer_keys(app)
            for desk_key in DESK_KEYS:
                await pilot.press(desk_key)
                if len(app.screen_stack) > 1:  # whatever opened, try to confirm it
                    await pilot.press("enter", "y")
                    await close_modals(app, pilot)
        # on an athlete's detail and on an Incidents row
        await pilot.press("4")
        await pilot.pause()
        targets = [lambda: app.open_athlete((OPEN, "42")), lambda: None]
        for open_target in targets:
            open_target()
            await pilot.pause()
            for desk_key in DESK_KEYS:
                base = len(app.screen_stack)
                await pilot.press(desk_key)
                if len(app.screen_stack) > base:
                    await pilot.press("enter", "y")
                    await pilot.pause()
                if not isinstance(app.screen, AthleteScreen):
                    await close_modals(app, pilot)
            await close_modals(app, pilot)
        assert "read-only: commentator role" in notices(app)
        # and asked directly, past the keys: the app refuses too
        app.post_message(RecordDeskEntry(DeskRequest(OPEN, "42", ActionKind.DNS), "DNS"))
        await pilot.pause()
    assert desk_rows() == 0
    assert desk.audit() == []


async def test_no_role_shows_and_allows_every_desk_key() -> None:
    app = make_app(None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert "Penalty" in footer_keys(app)
        header = str(app.screen.query_one(RaceHeader).render())
        assert "commentator" not in header and " TD " not in header
        app.open_athlete((OPEN, "42"))
        await pilot.pause()
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeskEntry)
        await pilot.press("y")
        await pilot.pause()
    assert desk_rows() == 1


async def test_a_timer_records_race_status_but_not_penalties() -> None:
    app = make_app(Role.TIMER)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert app.current_mode == "leaderboard"
        await pilot.press("4")
        await pilot.pause()
        shown = footer_keys(app)
        assert "DNF" in shown and "DNS" in shown and "Penalty" not in shown and "DSQ" not in shown
        app.open_athlete((OPEN, "42"))
        await pilot.pause()
        await pilot.press("plus")
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)  # no form opened
        assert "not for the timer role: penalties and DSQ are the TD's" in notices(app)
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeskEntry)
        await pilot.press("y")
        await pilot.pause()
        assert app.pipeline.engine.races[OPEN].entries["42"].status is Status.DNS
        # Withdrawing a status is status work too (the desk's one rule, as the hub applies
        # it); withdrawing a penalty is not.
        assert app.desk is not None
        penalty = app.desk.record(OPEN, "42", ActionKind.PENALTY, seconds=30, infringement="drafting")
        (dns,) = [e.action.id for e in app.desk.entries_of(OPEN, "42") if e.kind is ActionKind.DNS]
        for target in (dns, penalty.id):
            request = DeskRequest(OPEN, "42", ActionKind.WITHDRAW, reason="wrong bib", target=target)
            app.post_message(RecordDeskEntry(request, "withdrawn"))
            await pilot.pause()
        assert [e.kind for e in app.desk.entries_of(OPEN, "42")] == [ActionKind.PENALTY]
        assert notices(app).count("not for the timer role: penalties and DSQ are the TD's") == 2
    assert desk_rows() == 3


def file_publishing(tmp_path: Path, pipeline: Any) -> Any:
    """Publishing as ``--publish-triathlon --file`` builds it (no network: a hosted file)."""
    from racetui.cli import build_parser
    from racetui.publish.session import PublishingOptions, build_publishing

    args = build_parser().parse_args(
        [
            *("demo", "--publish-triathlon", "--file", str(tmp_path / "{prog_id}.json")),
            *("--event-id", "107158", "--prog", f"{OPEN}=307158"),
        ]
    )
    return build_publishing(PublishingOptions.from_args(args), Config(), pipeline.engine)


@pytest.mark.parametrize("role", [Role.TD, Role.TIMER])
async def test_publishing_keys_are_the_timers(tmp_path: Path, role: Role) -> None:
    pipeline, feed = race_pipeline(120)
    publishing = file_publishing(tmp_path, pipeline)
    app = RaceApp(
        pipeline,
        [feed],
        config=Config(operator="Ann", role=role),
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tick=0.25,
        tracker_budget=None,
        strict=True,
        publishing=publishing,
    )
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            assert app.current_mode == ("incidents" if role is Role.TD else "leaderboard")
            assert role.label in str(app.screen.query_one(RaceHeader).render())
            await pilot.press("6")
            await pilot.pause()
            shown = footer_keys(app)
            await pilot.press("p")
            await pilot.pause()
            if role is Role.TD:
                assert "Publish" not in shown and "Sandbox" not in shown
                assert "not for the TD role: publishing is the timer's" in notices(app)
                assert len(app.screen_stack) == 1  # nothing asked
            else:
                assert "Publish" in shown and "Sandbox" in shown
                assert len(app.screen_stack) == 2  # "publish now?" asks first
    finally:
        publishing.close()


def test_a_role_that_may_not_publish_is_refused_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    from racetui.cli import main

    assert main(["demo", "--role", "commentator", "--publish-triathlon"]) == 2
    assert capsys.readouterr().err.strip() == (
        "racetui demo: --publish-triathlon: not with the commentator role "
        "(publishing is the timer's; --role timer, or no role)"
    )


async def test_the_layout_is_saved_per_role_and_restored() -> None:
    app = make_app(Role.COMMENTATOR)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert app.layouts.layout.screens == (
            "leaderboard",
            "splits",
            "clock",
            "incidents",
            "passes",
            "coming",
        )
        await pilot.press("r")  # the next race: saved
        await pilot.pause()
        app.tick()
        assert app.state.race_id == WAVES
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, LayoutScreen)
        columns = app.screen.query_one("#columns", SelectionList)
        columns.deselect("club")
        columns.deselect("nat")
        screens = app.screen.query_one("#screens", SelectionList)
        screens.deselect("splits")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        titles = [c.title for c in LeaderboardModel(app.state).columns()]
        assert "Ctry" not in titles and "Club" not in titles and "Name" in titles
    saved = json.loads((data_dir() / "layouts" / "commentator.json").read_text())
    assert saved == {
        "screens": ["leaderboard", "clock", "incidents", "passes", "coming"],
        "hidden_columns": ["club", "nat"],
        "race": WAVES,
    }
    again = make_app(Role.COMMENTATOR)
    async with again.run_test(size=(120, 36)) as pilot:
        again.tick()
        await pilot.pause()
        assert again.state.race_id == WAVES
        assert again.state.hidden_columns == {"club", "nat"}
        assert again.shows_binding(again.screen, "app.switch_mode('splits')") is False
    other = make_app(Role.TD)  # another role: its own layout
    async with other.run_test(size=(120, 36)) as pilot:
        other.tick()
        await pilot.pause()
        assert other.state.race_id == OPEN and other.state.hidden_columns == set()


async def test_a_broken_layout_file_gives_the_defaults_and_one_notice() -> None:
    path = data_dir() / "layouts" / "td.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"screens": "incidents"')
    app = make_app(Role.TD)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert app.current_mode == "incidents"
        assert any(n.startswith("layout td.json is not a layout") for n in notices(app))


@pytest.mark.parametrize("role", [Role.COMMENTATOR, Role.TIMER, Role.TD, None])
async def test_reported_entries_are_shown_to_technical_delegates_alone(role: Role | None) -> None:
    from racetui.sources.desk import EventKey

    pipeline, feed = race_pipeline(120)
    event = EventKey.of(pipeline.engine, type(feed).__name__, RACE_NOW.date())
    desk = IncidentDesk(operator="Ann", event=event)
    desk.report(OPEN, "42", seconds=30, infringement="drafting", location="Bike Lap 2")
    app = RaceApp(
        pipeline,
        [feed],
        config=Config(operator="Ann", role=role),
        clock=fixed_clock(RACE_NOW),
        theme_dirs=[builtin_theme_dir()],
        tick=0.25,
        tracker_budget=None,
        strict=True,
        desk=desk,
    )
    sees = role in (Role.TD, None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        app.tick()
        await pilot.pause()
        assert ("on the desk only" in str(app.screen.query_one("#info").render())) is sees
        app.open_athlete((OPEN, "42"))
        await pilot.pause()
        detail = str(app.screen.query_one("#incidents").render())
        assert ("drafting" in detail) is sees, detail
