"""The dashboard's headless parts: columns, views, tracker, state, themes, table models.

None of these import Textual's app machinery; they run on a seeded race festival
(tests/fakes/race.py, made by the product's own generator).
"""

from __future__ import annotations

import gc
from datetime import timedelta
from pathlib import Path

import pytest

from racetui.engine import ChangeSet, Pipeline
from racetui.model import Incident, Passing, RankBy, Result, Status
from racetui.tui.clock import fixed_clock, race_time
from racetui.tui.columns import (
    Column,
    badge_for,
    fit,
    fit_columns,
    format_change,
    format_signed_gap,
    format_time,
)
from racetui.tui.rows import (
    IncidentsModel,
    LeaderboardModel,
    PassesModel,
    SplitsModel,
    health_badge,
)
from racetui.tui.state import UiState
from racetui.tui.tracker import IncidentBadge, Tracker, Watchlist
from tests.fakes.race import LATER, OPEN, RACE_NOW, WAVES, festival, race_pipeline


# ------------------------------------------------------------------ columns
def test_fit_columns_keeps_essentials_and_drops_by_priority() -> None:
    columns = [
        Column("pos", "Pos", 5, 0, "right"),
        Column("bib", "Bib", 5, 0),
        Column("name", "Name", 18, 0, flex=True),
        Column("club", "Club", 14, 5),
        Column("time", "Time", 8, 0),
        Column("status", "St", 4, 1),
    ]
    wide = [c.key for c, _ in fit_columns(columns, 120)]
    assert wide == ["pos", "bib", "name", "club", "time", "status"]
    narrow = fit_columns(columns, 50)
    assert [c.key for c, _ in narrow] == ["pos", "bib", "name", "time", "status"]
    assert sum(w for _, w in narrow) + len(narrow) - 1 == 50  # the name takes the spare width
    tiny = fit_columns(columns, 20)
    assert [c.key for c, _ in tiny] == ["pos", "bib", "name", "time"]  # essentials are never dropped


def test_fit_pads_and_cuts_by_cells() -> None:
    assert fit("Müller", 8) == "Müller  "
    assert fit("12", 5, "right") == "   12"
    assert fit("Alexandra Smith", 8) == "Alexand…"
    assert fit("東京太郎", 5) == "東京…"  # double-width characters count twice


def test_time_gap_and_change_formats() -> None:
    assert format_time(3_725_001) == "1:02:06"  # rounded up to the second (v1.1)
    assert format_time(None) == ""
    assert format_signed_gap(12_345) == "+12.3"
    assert format_signed_gap(-62_500) == "-1:02.5"
    assert format_signed_gap(0) == "±0.0"
    assert format_change(5, 2) == ("▲3", "rt--gain")
    assert format_change(2, 3) == ("▼1", "rt--loss")
    assert format_change(None, 3) == ("", None)


def test_badges_carry_meaning_in_text() -> None:
    assert badge_for(Status.DSQ, []) == ("DSQ", "rt--alert")
    assert badge_for(Status.DNF, [])[0] == "DNF"
    assert badge_for(Status.OK, [Incident.penalty(10, "drafting")])[0] == "PEN!"
    assert badge_for(Status.OK, [Incident.penalty(10, "drafting", served=True)])[0] == "PEN✓"
    assert badge_for(Status.OK, [], finished=True)[0] == "FIN"


# -------------------------------------------------------------------- views
def _brute(standings, predicate):  # type: ignore[no-untyped-def]
    return [e.bib for e in standings.ordered() if predicate(e)]


def test_filtered_view_matches_brute_force_and_follows_passings() -> None:
    pipeline, feed = race_pipeline(300, seed=3)
    standings = pipeline.engine.races[WAVES]
    men_40 = standings.race.waves[1].id  # Men 40+
    view = standings.view(gender="M", wave_id=men_40)

    def wanted(entry):  # type: ignore[no-untyped-def]
        p = entry.participant
        return p is not None and p.gender == "M" and p.wave_id == men_40

    assert [r.bib for r in view.rows(0, len(view))] == _brute(standings, wanted)
    pipeline.drain()
    feed.advance_to(pipeline, RACE_NOW + timedelta(minutes=20))
    changes = pipeline.drain()
    assert changes.athletes.get(WAVES)
    rows = view.rows(0, len(view))
    assert [r.bib for r in rows] == _brute(standings, wanted)
    ranked = [r.rank for r in rows if r.rank is not None]
    assert ranked == sorted(ranked) and ranked[0] == 1
    assert view.index_of(rows[-1].bib) == len(rows) - 1


def test_filtered_view_at_a_point_orders_by_chip_time() -> None:
    pipeline, _ = race_pipeline(200, seed=5)
    standings = pipeline.engine.races[WAVES]
    swim = standings.points[0].id
    view = standings.view(point_id=swim, wave_id=standings.race.waves[0].id)
    chips = [standings.entries[r.bib].times[0] for r in view.rows(0, len(view))]
    assert chips == sorted(chips) and len(chips) > 5


def test_views_say_what_they_rank_by() -> None:
    pipeline, _ = race_pipeline(50)
    standings = pipeline.engine.races[OPEN]
    assert standings.view().rank_by is RankBy.CHIP
    pipeline.engine.upsert_race(standings.race.model_copy(update={"rank_by": RankBy.GUN}))
    assert standings.view().rank_by is RankBy.GUN
    assert standings.view(gender="F").rank_by is RankBy.GUN
    wave = standings.race.waves[0].id
    assert standings.view(wave_id=wave).rank_by is RankBy.CHIP  # within a wave: chip
    assert standings.view(category="Elite").rank_by is RankBy.CHIP


# ------------------------------------------------------------------ tracker
def splits_of(standings, entry) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """An entry's times as a Result's splits (gun time by point id)."""
    return {
        p.id: t + entry.offset_ms for p, t in zip(standings.points, entry.times, strict=True) if t is not None
    }


def test_tracker_keeps_latest_passings_per_point_newest_first() -> None:
    pipeline, feed = race_pipeline(120)
    tracker = Tracker(pipeline.engine, fixed_clock(RACE_NOW), passes_per_point=10)
    tracker.process(pipeline.drain())
    elite = tracker.passes(OPEN)
    assert elite and len(elite) <= 10 * len(pipeline.engine.races[OPEN].points)
    guns = [p.gun_ms for p in elite]
    assert guns == sorted(guns, reverse=True)
    before = {(p.bib, p.point_id) for p in elite}
    applied = feed.step(pipeline, 20)
    tracker.process(pipeline.drain())
    newest = tracker.passes(applied[-1].race_id)[0]
    assert (newest.bib, newest.point_id) == (
        applied[-1].bib,
        applied[-1].point_id,
    ) or newest.gun_ms >= applied[-1].time_ms
    assert (newest.bib, newest.point_id) not in before


def test_tracker_memory_of_each_athlete_is_left_out_of_the_collector() -> None:
    """One record per athlete, replaced at every passing: tracked, a whole field's worth
    of them would be walked by every full collection late in a race."""
    pipeline, feed = race_pipeline(120)
    tracker = Tracker(pipeline.engine, fixed_clock(RACE_NOW))
    tracker.process(pipeline.drain())
    feed.step(pipeline, 20)
    tracker.process(pipeline.drain())
    seen = [record for memory in tracker.races.values() for record in memory.seen.values()]
    assert len(seen) > 100
    assert not any(gc.is_tracked(record) for record in seen)


def _penalised(pipeline: Pipeline) -> Result:
    """The result of an athlete still racing, with a 30 s drafting penalty."""
    entry = next(e for e in pipeline.engine.races[OPEN].entries.values() if e.status is Status.OK)
    result = Result(
        race_id=OPEN,
        bib=entry.bib,
        participant=entry.participant,
        splits=splits_of(pipeline.engine.races[OPEN], entry),
        incidents=[Incident.penalty(30, "drafting")],
    )
    return result


def test_tracker_incidents_record_new_served_and_withdrawn() -> None:
    pipeline, _ = race_pipeline(60)
    tracker = Tracker(pipeline.engine, fixed_clock(RACE_NOW))
    tracker.process(pipeline.drain())
    seen = tracker.seq
    result = _penalised(pipeline)
    pipeline.apply_results(OPEN, [result])
    watch = Watchlist()
    watch.toggle(OPEN, result.bib)
    events = tracker.process(pipeline.drain(), watch)
    records = tracker.athlete_incidents(OPEN, result.bib)
    assert len(records) == 1 and records[0].unserved and records[0].seq > seen
    assert records[0].badge is IncidentBadge.PENALTY
    assert [e.kind for e in events] == ["incident"]
    assert tracker.count_new_incidents(seen) == 1
    # Served: the same record, changed (new again); then withdrawn.
    served = result.model_copy(update={"incidents": [Incident.penalty(30, "drafting", served=True)]})
    pipeline.apply_results(OPEN, [served])
    tracker.process(pipeline.drain())
    records = tracker.athlete_incidents(OPEN, result.bib)
    assert len(records) == 1 and records[0].served and not records[0].unserved
    assert tracker.count_new_incidents(seen) == 1  # counted again: the count is kept per change
    pipeline.apply_results(OPEN, [served.model_copy(update={"incidents": []})])
    tracker.process(pipeline.drain())
    assert not tracker.athlete_incidents(OPEN, result.bib)[0].active
    assert tracker.count_new_incidents(seen) == 0


def test_tracker_new_incident_count_forgets_a_removed_race() -> None:
    pipeline, _ = race_pipeline(60)
    tracker = Tracker(pipeline.engine, fixed_clock(RACE_NOW))
    tracker.process(pipeline.drain())
    result = _penalised(pipeline)
    pipeline.apply_results(OPEN, [result])
    tracker.process(pipeline.drain())
    assert tracker.count_new_incidents(0) >= 1
    others = sum(
        1 for race_id, m in tracker.races.items() if race_id != OPEN for r in m.incidents.values() if r.active
    )
    del pipeline.engine.races[OPEN]  # the race is gone (a new event): no sequence number moves
    tracker.process(ChangeSet(structure={OPEN}))
    assert tracker.count_new_incidents(0) == others


def test_tracker_reports_watched_passings_and_status() -> None:
    pipeline, feed = race_pipeline(120)
    tracker = Tracker(pipeline.engine, fixed_clock(RACE_NOW))
    tracker.process(pipeline.drain())
    upcoming = next(feed.upcoming())
    watch = Watchlist()
    watch.toggle(upcoming.race_id, upcoming.bib)
    feed.step(pipeline, 1)
    events = tracker.process(pipeline.drain(), watch)
    assert [(e.bib, e.kind) for e in events] == [(upcoming.bib, "pass")]
    assert "passed" in events[0].text
    entry = pipeline.engine.races[upcoming.race_id].entries[upcoming.bib]
    standings = pipeline.engine.races[upcoming.race_id]
    dnf = Result(
        race_id=upcoming.race_id,
        bib=upcoming.bib,
        participant=entry.participant,
        status=Status.DNF,
        splits=splits_of(standings, entry),
    )
    pipeline.apply_results(upcoming.race_id, [dnf])
    events = tracker.process(pipeline.drain(), watch)
    assert any(e.kind == "status" and "DNF" in e.text for e in events)


def test_tracker_budget_spreads_a_big_first_look_over_ticks() -> None:
    pipeline, _ = race_pipeline(3000)
    tracker = Tracker(pipeline.engine, fixed_clock(RACE_NOW))
    tracker.process(pipeline.drain(), budget=0.0)
    assert tracker.backlog > 0
    calls = 1
    while tracker.backlog:
        tracker.process(ChangeSet(), budget=0.0)
        calls += 1
        assert calls < 100
    full = Tracker(pipeline.engine, fixed_clock(RACE_NOW))
    everything = ChangeSet(structure=set(pipeline.engine.races))
    full.process(everything)
    assert len(full.incidents()) == len(tracker.incidents())
    assert [p.gun_ms for p in full.passes(OPEN)] == [p.gun_ms for p in tracker.passes(OPEN)]


def test_tracker_takes_everyone_again_only_when_the_points_change() -> None:
    pipeline, _ = race_pipeline(3000)  # more than one budgeted chunk of athletes
    tracker = Tracker(pipeline.engine, fixed_clock(RACE_NOW))
    tracker.process(pipeline.drain())
    assert tracker.backlog == 0
    # a re-sort or a start-list change marks the race's setup but names its athletes
    tracker.process(ChangeSet(structure={OPEN}), budget=0.0)
    assert tracker.backlog == 0
    race = pipeline.engine.races[OPEN].race
    last = race.points[-1]
    extra = last.model_copy(update={"id": "extra", "order": last.order + 1, "is_finish": False})
    pipeline.upsert_race(race.model_copy(update={"points": [*race.points, extra]}))
    tracker.process(pipeline.drain(), budget=0.0)
    assert tracker.backlog > 0  # the points were remapped: every entry is looked at again


# -------------------------------------------------------------------- state
def test_state_cycles_races_points_and_filters() -> None:
    pipeline, _ = race_pipeline(80)
    state = UiState(pipeline.engine, fixed_clock(RACE_NOW))
    assert state.ensure_race() == OPEN
    assert state.cycle_race() == WAVES
    assert state.cycle_race() == LATER
    assert state.cycle_race(-1) == WAVES
    state.cycle_wave()
    waves = pipeline.engine.races[WAVES].race.waves
    assert state.wave_id == waves[0].id
    clock = state.race_clock()
    assert clock is not None and clock.elapsed_ms == 35 * 60_000  # wave 1 starts with the gun
    state.cycle_wave()
    clock = state.race_clock()
    assert clock is not None and clock.elapsed_ms == 30 * 60_000  # wave 2: five minutes later
    assert state.cycle_point() == pipeline.engine.races[WAVES].points[0].id
    assert state.point_name() == "Swim Lap 1"
    genders = state.genders()
    assert state.cycle_gender() == genders[0]
    view = state.view()
    assert view is not None and view.filter.wave_id == waves[1].id
    assert all(r.gender == genders[0] for r in view.rows(0, len(view)))


def test_state_gap_between_any_two_athletes() -> None:
    pipeline, _ = race_pipeline(80)
    state = UiState(pipeline.engine, fixed_clock(RACE_NOW))
    rows = pipeline.engine.races[OPEN].view().rows(0, 5)
    gap = state.gap((OPEN, rows[0].bib), (OPEN, rows[3].bib))
    assert gap is not None and gap.ms > 0 and gap.point_name == "Transition 2"
    back = state.gap((OPEN, rows[3].bib), (OPEN, rows[0].bib))
    assert back is not None and back.ms == -gap.ms
    assert state.gap((OPEN, rows[0].bib), (WAVES, rows[0].bib)) is None


def test_state_find_by_bib_or_name() -> None:
    pipeline, _ = race_pipeline(80)
    state = UiState(pipeline.engine, fixed_clock(RACE_NOW))
    assert state.find("12") == [(OPEN, "12"), (WAVES, "12")]  # a bib in each race
    entry = pipeline.engine.races[OPEN].entries["12"]
    last = entry.participant.last_name.lower()  # type: ignore[union-attr]
    found = state.find(last)
    assert (OPEN, "12") in found
    assert all(last in pipeline.engine.races[r].entries[b].name().lower() for r, b in found)
    assert state.find("zzzz") == []


def test_race_clock_follows_the_timing_masters_clock_unless_told_not_to() -> None:
    pipeline, _ = race_pipeline(10)
    race = pipeline.engine.races[OPEN].race
    assert race.clock is not None
    ahead = race.model_copy(update={"clock": race.clock.model_copy(update={"server_offset_ms": 3000})})
    assert race_time(ahead, RACE_NOW).text() == "45:03"
    assert race_time(ahead, RACE_NOW, master_offset=False).text() == "45:00"


def test_race_clock_counts_down_before_the_gun() -> None:
    pipeline, _ = race_pipeline(10)
    clock = race_time(pipeline.engine.races[LATER].race, RACE_NOW)
    assert not clock.started and clock.text() == "-55:00" and clock.label() == "starts in"


# ------------------------------------------------------------------- models
def test_leaderboard_model_rows_carry_marks_and_badges() -> None:
    pipeline, _ = race_pipeline(120)
    state = UiState(pipeline.engine, fixed_clock(RACE_NOW))
    state.tracker.process(pipeline.drain())
    model = LeaderboardModel(state)
    names = [c.key for c in model.columns()]
    rows = model.fetch(0, 3)
    first = rows[0]
    assert first.cells[names.index("pos")] == ("1", None)
    assert first.cells[names.index("gap")][0] == "—"
    state.toggle_watch(first.key)  # type: ignore[arg-type]
    state.toggle_mark(first.key)  # type: ignore[arg-type]
    again = model.fetch(0, 1)[0]
    assert again != first
    assert again.cells[names.index("name")][0].startswith("★◆ ")
    penalised = next(
        e for e in pipeline.engine.races[OPEN].entries.values()
        if any(not i.served and i.kind == "penalty" for i in e.incidents) and e.status is Status.OK
    )  # fmt: skip
    index = model.index_of((OPEN, penalised.bib))
    assert index is not None
    row = model.fetch(index, index + 1)[0]
    assert row.cells[names.index("status")] == ("PEN!", "rt--alert")


def test_splits_model_shows_positions_and_changes() -> None:
    pipeline, _ = race_pipeline(120)
    state = UiState(pipeline.engine, fixed_clock(RACE_NOW))
    model = SplitsModel(state)
    row = model.fetch(0, 1)[0]
    standings = pipeline.engine.races[OPEN]
    bib = row.key[1]  # type: ignore[index]
    t1 = row.cells[4]  # the second timing point
    assert isinstance(t1, tuple) and len(t1) == 4
    position = standings.placing(bib, 1)
    assert t1[2][0].strip() == str(position)
    before = standings.placing(bib, 0)
    text, style = format_change(before, position)
    assert (t1[3][0].strip(), t1[3][1]) == (text, style)


def test_incidents_and_passes_models() -> None:
    pipeline, _ = race_pipeline(120)
    state = UiState(pipeline.engine, fixed_clock(RACE_NOW))
    state.tracker.process(pipeline.drain())
    incidents = IncidentsModel(state)
    incidents.reload()
    counts = incidents.counts()
    assert counts["unserved"] >= 1 and counts["new"] == len(incidents)
    unserved = [r for r in incidents.fetch(0, len(incidents)) if r.style == "rt--alert-row"]
    assert len(unserved) == counts["unserved"]
    assert all("NOT SERVED" in str(r.cells[-1][0]) for r in unserved)
    incidents.unserved_only = True
    incidents.reload()
    assert len(incidents) == counts["unserved"]
    state.incidents_seen = state.tracker.seq
    assert incidents.counts()["new"] == 0
    passes = PassesModel(state)
    passes.reload()
    assert len(passes) > 0
    passes.cycle()  # the first timing point
    first = pipeline.engine.races[OPEN].points[0].id
    assert passes.filter == ("point", first)
    assert {r.point_id for r in passes.records} == {first}
    while passes.filter is None or passes.filter[0] != "location":
        passes.cycle()
    assert {"Race"} <= {c.title for c in passes.columns() if c.priority < 99}


def test_health_badge_words() -> None:
    from racetui.sources.base import FeedState, SourceHealth, SourceMode

    now = [100.0]
    health = SourceHealth("bbt", mode=SourceMode.PUSH, clock=lambda: now[0])
    health.received()
    assert health_badge(health)[0] == "● push"
    health.mode = SourceMode.POLLING
    assert health_badge(health)[0] == "◐ polling"
    now[0] += 12.4
    assert health_badge(health) == ("○ stale 12 s", "rt--alert")
    health.state = FeedState.ERROR
    assert health_badge(health)[0] == "✕ error"


# ------------------------------------------------------------------- themes
def test_builtin_themes_load() -> None:
    from racetui.tui.themes import builtin_theme_dir, load_themes

    themes, problems = load_themes([builtin_theme_dir()])
    assert problems == []
    assert {"racetui-dark", "racetui-light", "high-contrast", "colour-blind", "monochrome"} <= set(themes)
    assert themes["racetui-light"].dark is False
    assert themes["monochrome"].variables["racetui-alert-style"] == "bold reverse"


def test_bad_theme_files_are_reported_and_skipped(tmp_path: Path) -> None:
    from racetui.tui.themes import builtin_theme_dir, load_themes

    (tmp_path / "broken.toml").write_text('name = "broken"\n[colors]\nprimary = "blu"\n')
    (tmp_path / "notoml.toml").write_text("name = \n")
    (tmp_path / "mine.json").write_text('{"name": "mine", "dark": false, "colors": {"primary": "#123456"},'
                                         ' "variables": {"alert": "#ff0000"}}')  # fmt: skip
    (tmp_path / "racetui-dark.toml").write_text('name = "racetui-dark"\n[colors]\nprimary = "#000000"\n')
    themes, problems = load_themes([builtin_theme_dir(), tmp_path])
    assert "mine" in themes and "broken" not in themes
    assert themes["racetui-dark"].primary == "#000000"  # a user theme overrides a built-in
    assert any("broken.toml" in p and "colors.primary" in p and "not a colour" in p for p in problems)
    assert any("notoml.toml" in p and "not valid TOML" in p for p in problems)


def test_without_any_theme_files_the_default_still_exists(tmp_path: Path) -> None:
    from racetui.tui.themes import DEFAULT_THEME, load_themes

    themes, problems = load_themes([tmp_path])
    assert DEFAULT_THEME in themes and problems


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_festival_is_the_same_on_every_run(seed: int) -> None:
    a, b = festival(50, seed=seed), festival(50, seed=seed)
    assert a.participants == b.participants and a.schedule == b.schedule
    moments = [h.at_ms for h in a.schedule]
    assert moments == sorted(moments)
    _, feed = race_pipeline(50, seed=seed)
    upcoming = list(feed.upcoming())
    assert upcoming and all(isinstance(p, Passing) for p in upcoming)
    assert all(h.at_ms > 45 * 60_000 for h in a.schedule[feed.state.cursor :])  # the rest is later


# ------------------------------------------------- search, point labels, clocks
def test_search_ignores_case_and_accents() -> None:
    from racetui.engine import Engine
    from racetui.model import Event, Participant, Race

    engine = Engine()
    engine.load_event(Event(id="e", name="E", races=[Race(id="r", name="R")]))
    names = {"1": "Lina Müller", "2": "Erik Sjöberg", "3": "Øyvind Løkken", "4": "Ana Muller"}
    engine.add_participants(Participant(bib=b, race_id="r", name=n) for b, n in names.items())
    state = UiState(engine, fixed_clock(RACE_NOW))
    assert state.find("muller") == [("r", "1"), ("r", "4")]
    assert state.find("MÜLLER") == [("r", "1"), ("r", "4")]
    assert state.find("sjo") == [("r", "2")]
    assert state.find("oyvind lokken") == [("r", "3")]
    assert state.find("3") == [("r", "3")]  # a bib


def test_point_labels_tell_transitions_and_legs_apart() -> None:
    from racetui.tui.columns import point_label

    assert point_label("Transition 1") == "T1"
    assert point_label("Transition 2") == "T2"
    assert point_label("Leg 3 Transition 2") == "L3 T2"
    assert point_label("Leg 2 Swim Exit") == "L2 Swim Exit"
    assert point_label("Finish") == "Finish"
    labels = {point_label(f"Leg {leg} Transition {t}") for leg in (1, 2, 3, 4) for t in (1, 2)}
    assert len(labels) == 8 and all(len(label) <= 10 for label in labels)  # the At column


def test_clocks_stop_when_the_race_is_over() -> None:
    from racetui.engine import Engine
    from racetui.model import ClockState, Event, Participant, Race, RaceClock, TimingPoint

    gun = RACE_NOW - timedelta(hours=3)
    race = Race(
        id="r",
        name="R",
        points=[
            TimingPoint(id="half", race_id="r", name="Half", order=1),
            TimingPoint(id="fin", race_id="r", name="Finish", order=2, is_finish=True),
        ],
        clock=RaceClock(race_id="r", state=ClockState.LIVE, gun_time=gun),
    )
    engine = Engine()
    engine.load_event(Event(id="e", name="E", races=[race]))
    engine.add_participants(Participant(bib=str(b), race_id="r") for b in (1, 2, 3))
    engine.apply_passings(
        [
            Passing(race_id="r", bib="1", point_id="fin", time_ms=3_600_000),
            Passing(race_id="r", bib="2", point_id="half", time_ms=1_800_000),
        ]
    )
    state = UiState(engine, fixed_clock(RACE_NOW))
    running = state.race_clock()
    assert running is not None and running.elapsed_ms == 3 * 3_600_000 and running.stopped is None
    # bib 2 is out on the course: the race is not over until they are in (or out)
    engine.apply_results("r", [Result(race_id="r", bib="2", status=Status.DNF, splits={"half": 1_800_000})])
    over = state.race_clock()
    assert over is not None and over.elapsed_ms == 3_600_000 and over.label() == "race over"
    assert over.text() == "1:00:00"  # bib 3 never started: they do not keep the clock going


def test_a_feed_file_from_the_past_shows_its_own_race_time() -> None:
    from racetui.engine import Engine
    from racetui.sources.v11 import parse_message
    from tests.support import INDIVIDUAL

    update = parse_message(INDIVIDUAL.read_bytes())
    engine = Engine()
    engine.apply_snapshot(update.race, update.results)
    clock = UiState(engine, fixed_clock(RACE_NOW)).race_clock()
    # the race time of its latest passing (Gomez Noya at Swim Exit), not years of hours since 2017
    assert clock is not None and clock.text() == "18:37"
    assert clock.label() == "as of the last passing (2017-03-04)"
