"""Provisional or official: the rule, the timer's mark kept per event, the leaderboard's O
and the exports' results column."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import orjson
import pytest

from racetui.cli import main
from racetui.engine import Engine
from racetui.engine.official import Official, results_state
from racetui.model import ClockState, Event, Participant, Passing, Race, RaceClock, TimingPoint, Wave
from racetui.sources.desk import EventKey
from racetui.sources.official import OfficialMark, OfficialStore
from racetui.sources.official import event_key as official_event_key
from racetui.tui.screens.publish import ConfirmPublish
from tests.fakes.race import OPEN
from tests.support import INDIVIDUAL
from tests.test_tui_app import make_app, tick


def waves_race(state: ClockState = ClockState.LIVE) -> Engine:
    engine = Engine()
    race = Race(
        id="r",
        name="10k",
        points=[
            TimingPoint(id="5k", race_id="r", name="5k", order=1),
            TimingPoint(id="fin", race_id="r", name="Finish", order=2, is_finish=True),
        ],
        waves=[
            Wave(id="w1", race_id="r", name="W1"),
            Wave(id="w2", race_id="r", name="W2", offset_ms=600_000),
        ],
        clock=RaceClock(race_id="r", state=state),
    )
    engine.load_event(Event(id="e", name="E", races=[race]))
    engine.add_participants(
        Participant(bib=b, race_id="r", name=f"A{b}", wave_id="w1" if b in "12" else "w2") for b in "1234"
    )
    return engine


def passed(engine: Engine, bib: str, point: str, ms: int) -> None:
    engine.apply_passing(Passing(race_id="r", bib=bib, point_id=point, time_ms=ms))


def test_live_places_are_provisional_until_the_source_or_a_timer_says_official() -> None:
    engine = waves_race(ClockState.PRERACE)
    standings = engine.race("r")
    assert results_state(standings).official is Official.PRERACE and results_state(standings).label == ""
    passed(engine, "1", "5k", 1_200_000)
    passed(engine, "1", "fin", 2_400_000)
    passed(engine, "2", "5k", 1_300_000)
    state = results_state(standings)
    # 2 on course, 3 and 4 (the later wave) not started: a later wave can still beat a time
    assert (state.official, state.on_course, state.not_started, state.waves_to_come) == (
        Official.PROVISIONAL,
        1,
        2,
        2,
    )
    assert (
        state.label == "PROVISIONAL" and state.reason() == "1 on course, 2 not started, 2 waves still racing"
    )
    # everyone in is still not official on its own
    passed(engine, "2", "fin", 2_500_000)
    for bib in "34":
        passed(engine, bib, "fin", 3_000_000)
    state = results_state(standings)
    assert state.official is Official.PROVISIONAL and state.reason() == "everyone in: awaiting confirmation"
    confirmed = results_state(standings, confirmed=True)
    assert (confirmed.official, confirmed.by, confirmed.label) == (Official.OFFICIAL, "timer", "OFFICIAL")
    race = standings.race.model_copy(update={"clock": RaceClock(race_id="r", state=ClockState.OFFICIAL)})
    engine.upsert_race(race)
    assert results_state(standings).by == "source"


def test_the_store_keeps_marks_per_event_and_takes_them_back(tmp_path: Path) -> None:
    store = OfficialStore(tmp_path / "official.json")
    key = EventKey(source="bbt", event="lakeside", date="2026-06-01")
    assert store.marks(key) == {}
    assert store.set(key, "1", OfficialMark("jane", "2026-06-01T11:00:00+00:00"))
    # the same event read from its journal: the mark holds (the source is not in the key)
    replayed = EventKey(source="replay", event="lakeside", date="2026-06-01")
    assert store.marks(replayed) == {"1": OfficialMark("jane", "2026-06-01T11:00:00+00:00")}
    assert store.marks(EventKey(source="bbt", event="lakeside", date="2026-06-02")) == {}
    assert store.set(key, "1", None) and store.marks(key) == {}
    (tmp_path / "official.json").write_text("[not a table")
    assert store.marks(key) == {} and store.problem is not None and "official.json" in store.problem


def export(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["export", "--feed", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_exports_say_provisional_or_official(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # the spec's example as printed: status live
    table = list(csv.DictReader(io.StringIO(export(capsys, str(INDIVIDUAL)))))
    assert {row["results"] for row in table} == {"provisional"}
    # the same message once the referee confirmed it
    official = tmp_path / "official.json"
    official.write_text(INDIVIDUAL.read_text().replace('"status":"live"', '"status":"official"', 1))
    data = orjson.loads(export(capsys, str(official), "--format", "json"))
    assert [race["results"] for race in data["races"]] == ["official"]
    # a timer's mark for the race (as the dashboard's O leaves it in the data dir): a v1.1
    # feed holds races, no event, so the key is its races and the day of its first gun
    message = orjson.loads(INDIVIDUAL.read_bytes())
    day = dt.datetime.fromisoformat(message["start_time"]).date().isoformat()
    races = orjson.loads(export(capsys, str(INDIVIDUAL), "--format", "json"))["races"]
    key = EventKey("racetui", "races " + ",".join(sorted(str(message["prog_id"]) for _ in races)), day)
    store = OfficialStore()
    store.set(key, races[0]["id"], OfficialMark("jane", "2026-06-01T11:00:00+00:00"))
    table = list(csv.DictReader(io.StringIO(export(capsys, str(INDIVIDUAL)))))
    assert {row["results"] for row in table} == {"official"}, store.path.read_text()


async def test_o_on_the_leaderboard_asks_then_marks_the_race_official_and_remembers_it() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await tick(app, pilot)
        info = str(app.screen.query_one("#info").render())
        assert info.startswith("PROVISIONAL · "), info
        await pilot.press("O")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPublish) and "OFFICIAL?" in app.screen.question
        assert "on course" in app.screen.body  # athletes still out: said before confirming
        await pilot.press("n")
        await pilot.pause()
        assert OPEN not in app.state.official
        await pilot.press("O")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert OPEN in app.state.official
        info = str(app.screen.query_one("#info").render())
        assert info.startswith("OFFICIAL · "), info
        key = official_event_key(app.live_pipeline.engine, app.tv.base_clock().date())
        assert OPEN in OfficialStore().marks(key)  # in the data dir, for the next start
    app2, _, _ = make_app()
    async with app2.run_test(size=(80, 24)) as pilot:
        await tick(app2, pilot)
        assert str(app2.screen.query_one("#info").render()).startswith("OFFICIAL · ")
        await pilot.press("O", "y")  # and back to provisional
        await pilot.pause()
        assert OPEN not in app2.state.official and OPEN not in OfficialStore().marks(
            official_event_key(app2.live_pipeline.engine, app2.tv.base_clock().date())
        )
