"""The incident desk's durable record, its folding into overrides, and the engine merge."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from racetui.model import Event, Incident, Participant, Passing, Race, RaceClock, Result, Status, TimingPoint
from racetui.sources.base import Pipeline
from racetui.sources.desk import ActionKind, DeskError, EventKey, IncidentDesk


@pytest.fixture
def pipeline() -> Pipeline:
    pipe = Pipeline()
    race = Race(
        id="r",
        name="Elite Men",
        points=[TimingPoint(id=f"p{i}", race_id="r", name=f"P{i}", order=i) for i in (1, 2)],
    )
    pipe.load_event(Event(id="e", name="E", races=[race]))
    pipe.add_participants(Participant(bib=str(b), race_id="r", name=f"A{b}") for b in range(1, 5))
    pipe.apply_passings(
        Passing(race_id="r", bib=str(b), point_id="p1", time_ms=1000 * b) for b in range(1, 5)
    )
    return pipe


def texts(pipe: Pipeline, bib: str) -> list[str]:
    return [i.standard_text() for i in pipe.engine.race("r").entries[bib].incidents]


def test_every_kind_of_action_reaches_the_engine(pipeline: Pipeline, tmp_path: Path) -> None:
    desk = IncidentDesk(tmp_path / "desk.sqlite3", operator="TD Jane")
    pen = desk.record("r", "1", ActionKind.PENALTY, seconds=15, infringement="cutting the swim course")
    desk.apply(pipeline, "r", "1")
    assert texts(pipeline, "1") == ["15 second penalty for cutting the swim course"]
    desk.record("r", "1", ActionKind.SERVE, target=pen.id)
    desk.apply(pipeline, "r", "1")
    assert texts(pipeline, "1") == ["Served 15 second penalty for cutting the swim course"]

    desk.record("r", "2", ActionKind.DSQ, infringement="dangerous riding")
    desk.record("r", "3", ActionKind.DNF, reason="Withdrew from the race due to bike crash.")
    desk.record("r", "4", ActionKind.LAP)
    desk.apply(pipeline)
    entries = pipeline.engine.race("r").entries
    assert [entries[b].status for b in "1234"] == [Status.OK, Status.DSQ, Status.DNF, Status.LAP]
    assert texts(pipeline, "2") == ["DSQ for dangerous riding"]
    assert texts(pipeline, "3") == ["Withdrew from the race due to bike crash."]
    order = [e.bib for e in pipeline.engine.race("r").ordered()]
    assert order == ["1", "4", "3", "2"]  # LAP, then DNF, DSQ at the bottom
    audit = desk.audit()
    assert [a.action for a in audit] == ["penalty", "serve", "dsq", "dnf", "lap"]
    assert all(a.operator == "TD Jane" for a in audit)
    assert "DSQ for dangerous riding" in audit[2].describe()


def test_edit_withdraw_and_reinstate(pipeline: Pipeline, tmp_path: Path) -> None:
    desk = IncidentDesk(tmp_path / "desk.sqlite3")
    pen = desk.record("r", "1", "penalty", seconds=10, infringement="drafting")
    desk.record("r", "1", "edit", target=pen.id, seconds=30, reason="video review")
    desk.apply(pipeline, "r", "1")
    assert texts(pipeline, "1") == ["30 second penalty for drafting"]
    desk.record("r", "1", "withdraw", target=pen.id, reason="wrong athlete")
    desk.apply(pipeline, "r", "1")
    assert texts(pipeline, "1") == []
    assert pipeline.engine.race("r").view().row(0).local is False  # nothing on the desk any more

    dsq = desk.record("r", "2", "dsq", infringement="unsportsmanlike conduct")
    desk.apply(pipeline, "r", "2")
    assert [e.bib for e in pipeline.engine.race("r").ordered()][-1] == "2"
    desk.record("r", "2", "reinstate", reason="protest upheld")
    desk.apply(pipeline, "r", "2")
    assert [e.bib for e in pipeline.engine.race("r").ordered()] == ["1", "2", "3", "4"]
    assert desk.entries_of("r", "2")[0].kind is ActionKind.REINSTATE
    assert all(e.id != dsq.id for e in desk.entries_of("r", "2"))


def test_a_restart_keeps_everything(pipeline: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite3"
    desk = IncidentDesk(path)
    desk.record("r", "3", "dsq", infringement="abandoning equipment")
    desk.record("r", "4", "dns")
    reopened = IncidentDesk(path)
    fresh = Pipeline()
    fresh.load_event(pipeline.engine.event)  # type: ignore[arg-type]
    reopened.apply(fresh)
    assert fresh.engine.race("r").entries["3"].status is Status.DSQ
    assert fresh.engine.race("r").entries["4"].status is Status.DNS
    assert len(reopened.audit()) == 2


def test_source_updates_do_not_undo_a_desk_entry(pipeline: Pipeline, tmp_path: Path) -> None:
    desk = IncidentDesk(tmp_path / "desk.sqlite3")
    desk.record("r", "2", "dsq", infringement="dangerous riding")
    desk.apply(pipeline)
    pipeline.apply_results(
        "r",
        [
            Result(
                race_id="r",
                bib="2",
                status=Status.OK,
                splits={"p1": 2000, "p2": 5000},
                incidents=[Incident.penalty(10, "littering")],
            )
        ],
    )
    entry = pipeline.engine.race("r").entries["2"]
    assert entry.status is Status.DSQ
    assert [i.standard_text() for i in entry.incidents] == [
        "DSQ for dangerous riding",
        "10 second penalty for littering",
    ]


@pytest.mark.parametrize(
    ("action", "kwargs", "message"),
    [
        ("penalty", {"infringement": "drafting"}, "seconds"),
        ("penalty", {"seconds": -5, "infringement": "drafting"}, "seconds"),
        ("penalty", {"seconds": 10}, "infringement"),
        ("dsq", {}, "infringement"),
        ("serve", {"target": 999}, "#999"),
        ("withdraw", {"target": 1}, "reason"),
        ("reinstate", {}, "no DSQ"),
    ],
)
def test_bad_actions_are_refused_with_a_reason(
    tmp_path: Path, action: str, kwargs: dict[str, object], message: str
) -> None:
    desk = IncidentDesk(tmp_path / "desk.sqlite3")
    with pytest.raises(DeskError, match=message):
        desk.record("r", "1", action, **kwargs)  # type: ignore[arg-type]
    assert desk.audit() == []


def test_serving_twice_or_serving_a_dsq_is_refused(tmp_path: Path) -> None:
    desk = IncidentDesk(tmp_path / "desk.sqlite3")
    pen = desk.record("r", "1", "penalty", seconds=15, infringement="littering")
    desk.record("r", "1", "serve", target=pen.id)
    with pytest.raises(DeskError, match="already served"):
        desk.record("r", "1", "serve", target=pen.id)
    dsq = desk.record("r", "1", "dsq", infringement="x")
    with pytest.raises(DeskError, match="not a penalty"):
        desk.record("r", "1", "serve", target=dsq.id)


def test_an_entry_of_event_a_is_absent_from_event_b(pipeline: Pipeline, tmp_path: Path) -> None:
    """One database for every event: a decision of yesterday's demo never reaches today's race."""
    path = tmp_path / "desk.sqlite3"
    monday = EventKey("BBTSource", "demo", "2026-11-30")
    tuesday = EventKey("BBTSource", "relay demo", "2026-12-01")
    desk = IncidentDesk(path, event=monday)
    desk.record("r", "2", ActionKind.DSQ, infringement="dangerous riding")
    desk.record("r", "3", ActionKind.PENALTY, seconds=10, infringement="drafting")
    desk.apply(pipeline)
    assert pipeline.engine.race("r").entries["2"].status is Status.DSQ

    other = IncidentDesk(path, event=tuesday)
    assert other.audit() == [] and other.overrides() == {}
    fresh = Pipeline()
    race = pipeline.engine.race("r").race
    fresh.load_event(Event(id="e2", name="E2", races=[race]))
    fresh.add_participants(Participant(bib=str(b), race_id="r", name=f"A{b}") for b in range(1, 5))
    other.apply(fresh)
    assert [fresh.engine.race("r").entries[b].status for b in "123"] == [Status.OK] * 3
    assert texts(fresh, "3") == []
    assert other.event_text == "BBTSource · relay demo · 2026-12-01"

    # re-bound to another event, a desk withdraws what it had put into the engine
    assert desk.bind(tuesday)
    desk.apply(pipeline)
    assert pipeline.engine.race("r").entries["2"].status is Status.OK
    assert texts(pipeline, "3") == []
    assert desk.bind(monday)
    desk.apply(pipeline)
    assert pipeline.engine.race("r").entries["2"].status is Status.DSQ
    assert [a.event for a in desk.audit()] == [monday.text()] * 2


def test_an_old_database_is_migrated_and_its_entries_apply_nowhere(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    path = tmp_path / "desk.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(
            """
            CREATE TABLE actions (
                id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, operator TEXT NOT NULL,
                race_id TEXT NOT NULL, bib TEXT NOT NULL, action TEXT NOT NULL, seconds INTEGER,
                infringement TEXT, reason TEXT, target INTEGER REFERENCES actions(id)
            );
            INSERT INTO actions (at, operator, race_id, bib, action, infringement)
            VALUES ('2026-11-30T10:00:00+00:00', 'TD', 'r', '2', 'dsq', 'drafting');
            """
        )
    desk = IncidentDesk(path, event=EventKey("BBTSource", "e", "2026-12-01"))
    desk.apply(pipeline)
    assert pipeline.engine.race("r").entries["2"].status is Status.OK
    desk.record("r", "1", ActionKind.DNS)
    assert [a.bib for a in desk.audit()] == ["1"]
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT bib, event FROM actions ORDER BY id").fetchall()
    assert rows == [("2", ""), ("1", "BBTSource · e · 2026-12-01")]


def test_the_event_key_comes_from_the_engine() -> None:
    pipe = Pipeline()
    assert EventKey.of(pipe.engine, "FeedSource", date(2026, 12, 1)) is None
    gun = datetime(2026, 6, 11, 14, 39, tzinfo=UTC)
    race = Race(id="r", name="R", clock=RaceClock(race_id="r", gun_time=gun))
    pipe.load_event(Event(id="107161", name="Hamburg", races=[race]))
    assert EventKey.of(pipe.engine, "FeedSource", date(2026, 12, 1)) == EventKey(
        "FeedSource", "107161", "2026-06-11"
    )
