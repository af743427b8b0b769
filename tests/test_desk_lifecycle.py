"""The penalty lifecycle on the desk: every path from an official's report to served, or
to a DSQ, with undo and withdrawal; only confirmed entries reach the engine."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from racetui.config import Config, DeskConfig, RaceDeskConfig
from racetui.model import Event, Participant, Passing, Race, Status, TimingPoint
from racetui.sources.base import Pipeline
from racetui.sources.desk import ActionKind, DeskError, EntryState, EventKey, IncidentDesk

EVENT = EventKey("BBTSource", "e", "2026-12-02")
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


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


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(tmp_path: Path, clock: Clock) -> IncidentDesk:
    settings = DeskConfig(
        boxes=["bike box", "run box", "stop-and-go"],
        penalties={"drafting": 30},
        races={"sprint": RaceDeskConfig(boxes=["run box"], penalties={"drafting": 10})},
    )
    return IncidentDesk(
        tmp_path / "desk.sqlite3", operator="TD Jane", event=EVENT, settings=settings, clock=clock
    )


def texts(pipe: Pipeline, bib: str) -> list[str]:
    return [i.standard_text() for i in pipe.engine.race("r").entries[bib].incidents]


def status(pipe: Pipeline, bib: str) -> Status:
    return pipe.engine.race("r").entries[bib].status


def test_report_confirm_assign_enter_leave(desk: IncidentDesk, pipeline: Pipeline, clock: Clock) -> None:
    seen = T0 - timedelta(minutes=2)
    rep = desk.report(
        "r", "1", infringement="drafting", location="bike lap 2", seen_at=seen, operator="Ref Bo"
    )
    desk.apply(pipeline)
    # reported: on the desk, for the technical delegates only
    assert texts(pipeline, "1") == []
    assert pipeline.engine.race("r").entries["1"].override is None
    (pending,) = desk.pending()
    assert (pending.id, pending.state, pending.seconds, pending.reported_by) == (
        rep.id,
        "reported",
        30,
        "Ref Bo",
    )
    assert (pending.location, pending.action.when) == ("bike lap 2", seen)
    assert desk.pending("other") == []

    clock.move(60)
    desk.confirm("r", "1", rep.id, operator="CTO Ann")
    desk.apply(pipeline, "r", "1")
    assert texts(pipeline, "1") == ["30 second penalty for drafting"]
    assert desk.pending() == []
    (entry,) = desk.due()
    assert entry.decided is not None and entry.decided.operator == "CTO Ann"

    desk.assign("r", "1", rep.id, box="run box")
    assert desk.entries_of("r", "1")[0].state is EntryState.ASSIGNED
    assert desk.entries_of("r", "1")[0].box == "run box"
    clock.move(600)
    desk.enter_box("r", "1", rep.id)
    entry = desk.entries_of("r", "1")[0]
    assert (entry.state, entry.entered) == (EntryState.IN_BOX, clock.now)  # the time starts on entering
    assert texts(pipeline, "1") == ["30 second penalty for drafting"]
    clock.move(30)
    desk.leave_box("r", "1", rep.id)
    desk.apply(pipeline, "r", "1")
    entry = desk.entries_of("r", "1")[0]
    assert (entry.state, entry.left, entry.box) == (EntryState.SERVED, clock.now, "run box")
    assert texts(pipeline, "1") == ["Served 30 second penalty for drafting"]
    assert desk.due() == []
    assert [a.action for a in desk.audit()] == ["report", "confirm", "assign", "enter", "leave"]
    assert [a.operator for a in desk.audit()] == ["Ref Bo", "CTO Ann", "TD Jane", "TD Jane", "TD Jane"]
    assert desk.audit()[0].describe() == (
        f"#{rep.id} 09:00:00 Ref Bo: bib 1: reported: 30 second penalty for drafting"
        " at bike lap 2 (seen 08:58:00)"
    )


def test_a_declined_report_never_leaves_the_desk(desk: IncidentDesk, pipeline: Pipeline) -> None:
    rep = desk.report("r", "2", seconds=15, infringement="littering")
    with pytest.raises(DeskError, match="reason"):
        desk.decline("r", "2", rep.id, reason=" ")
    desk.decline("r", "2", rep.id, reason="video shows the bottle was handed up", operator="CTO Ann")
    desk.apply(pipeline)
    assert texts(pipeline, "2") == [] and desk.pending() == [] and desk.entries_of("r", "2") == []
    (gone,) = desk.history()
    assert gone.state is EntryState.DECLINED and gone.decided is not None
    assert gone.decided.reason == "video shows the bottle was handed up"
    with pytest.raises(DeskError, match="not a standing entry"):
        desk.confirm("r", "2", rep.id)


def test_served_on_an_earlier_lap_counts(desk: IncidentDesk, pipeline: Pipeline) -> None:
    pen = desk.record("r", "3", ActionKind.PENALTY, seconds=15, infringement="cutting the course")
    desk.serve("r", "3", pen.id, box="run box", location="run lap 1")
    desk.apply(pipeline)
    assert texts(pipeline, "3") == ["Served 15 second penalty for cutting the course"]
    with pytest.raises(DeskError, match="already served"):
        desk.mark_unserved("r", "3", pen.id)


def test_unserved_at_the_finish_is_dsq_only_once_confirmed(desk: IncidentDesk, pipeline: Pipeline) -> None:
    pen = desk.record("r", "4", ActionKind.PENALTY, seconds=30, infringement="drafting")
    prop = desk.mark_unserved("r", "4", pen.id)
    desk.apply(pipeline)
    assert status(pipeline, "4") is Status.OK  # proposed only
    assert texts(pipeline, "4") == ["30 second penalty for drafting"]
    (dsq,) = desk.pending()
    assert (dsq.id, dsq.kind, dsq.penalty) == (prop.id, ActionKind.DSQ, pen.id)
    assert dsq.wording() == "DSQ for failing to serve a 30 second penalty for drafting"
    with pytest.raises(DeskError, match="not served at the finish"):
        desk.serve("r", "4", pen.id)
    desk.confirm("r", "4", prop.id)
    desk.apply(pipeline, "r", "4")
    assert status(pipeline, "4") is Status.DSQ
    assert texts(pipeline, "4") == [
        "30 second penalty for drafting",
        "DSQ for failing to serve a 30 second penalty for drafting",
    ]
    # undo the confirmation, then the proposal: the penalty is due again
    with pytest.raises(DeskError, match="latest step"):
        desk.undo("r", "4", prop.id)
    confirm = desk.last_step("r", "4", prop.id)
    assert confirm is not None and confirm.action is ActionKind.CONFIRM
    desk.undo("r", "4", confirm.id)
    desk.apply(pipeline, "r", "4")
    assert status(pipeline, "4") is Status.OK
    desk.undo("r", "4", prop.id)
    assert [e.state for e in desk.entries_of("r", "4")] == [EntryState.CONFIRMED]
    assert [e.id for e in desk.due()] == [pen.id]


def test_a_declined_dsq_proposal_leaves_the_penalty_unserved(desk: IncidentDesk, pipeline: Pipeline) -> None:
    pen = desk.record("r", "4", ActionKind.PENALTY, seconds=30, infringement="drafting")
    prop = desk.mark_unserved("r", "4", pen.id)
    desk.decline("r", "4", prop.id, reason="served on the last lap, box sheet")
    desk.apply(pipeline)
    assert status(pipeline, "4") is Status.OK
    assert [e.state for e in desk.history("r", "4")] == [EntryState.UNSERVED, EntryState.DECLINED]


def test_several_penalties_add_up(desk: IncidentDesk, pipeline: Pipeline) -> None:
    a = desk.record("r", "1", "penalty", seconds=10, infringement="drafting")
    b = desk.record("r", "1", "penalty", seconds=15, infringement="littering")
    desk.report("r", "1", infringement="drafting")  # pending: not counted
    desk.apply(pipeline)
    assert texts(pipeline, "1") == ["10 second penalty for drafting", "15 second penalty for littering"]
    assert [e.id for e in desk.due()] == [a.id, b.id]
    assert sum(e.seconds or 0 for e in desk.due()) == 25
    desk.serve("r", "1", a.id)
    assert [e.id for e in desk.due()] == [b.id]


def test_undo_and_withdraw_every_step(desk: IncidentDesk, pipeline: Pipeline) -> None:
    rep = desk.report("r", "2", seconds=20, infringement="unsafe mount")
    confirm = desk.confirm("r", "2", rep.id)
    assign = desk.assign("r", "2", rep.id, box="bike box")
    enter = desk.enter_box("r", "2", rep.id)
    states = []
    for step in (enter, assign, confirm):
        desk.undo("r", "2", step.id, reason="wrong bib")
        states.append(desk.entries_of("r", "2")[0].state)
    assert states == [EntryState.ASSIGNED, EntryState.CONFIRMED, EntryState.REPORTED]
    desk.apply(pipeline)
    assert texts(pipeline, "2") == []
    desk.undo("r", "2", rep.id)  # the report itself: gone
    assert desk.entries_of("r", "2") == [] and desk.pending() == []
    with pytest.raises(DeskError, match="not a standing entry"):
        desk.undo("r", "2", 999)

    pen = desk.record("r", "2", "penalty", seconds=20, infringement="unsafe mount")
    wd = desk.withdraw("r", "2", pen.id, reason="protest upheld")
    desk.apply(pipeline)
    assert texts(pipeline, "2") == []
    desk.undo("r", "2", wd.id)  # the withdrawal taken back
    desk.apply(pipeline)
    assert texts(pipeline, "2") == ["20 second penalty for unsafe mount"]
    kinds = [a.action for a in desk.audit(bib="2")]
    assert kinds.count(ActionKind.UNDO) == 5 and kinds.count(ActionKind.WITHDRAW) == 1


def test_a_dsq_report_applies_once_confirmed(desk: IncidentDesk, pipeline: Pipeline) -> None:
    rep = desk.report("r", "3", infringement="dangerous riding", dsq=True, location="T2")
    desk.apply(pipeline)
    assert status(pipeline, "3") is Status.OK
    desk.confirm("r", "3", rep.id)
    desk.apply(pipeline)
    assert status(pipeline, "3") is Status.DSQ
    assert texts(pipeline, "3") == ["DSQ for dangerous riding"]


Refusal = Callable[[IncidentDesk, int], object]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (lambda d, i: d.assign("r", "1", i, box="bike box"), "not confirmed yet"),
        (lambda d, i: d.serve("r", "1", i), "not confirmed yet"),
        (lambda d, i: d.enter_box("r", "1", i, box="bike box"), "not confirmed yet"),
        (lambda d, i: d.leave_box("r", "1", i), "not confirmed yet"),
        (lambda d, i: d.mark_unserved("r", "1", i), "not confirmed yet"),
        (lambda d, i: d.confirm("r", "1", i + 1), "not a standing entry"),
    ],
)
def test_a_report_cannot_skip_its_confirmation(desk: IncidentDesk, step: Refusal, message: str) -> None:
    rep = desk.report("r", "1", seconds=10, infringement="drafting")
    with pytest.raises(DeskError, match=message):
        step(desk, rep.id)
    assert len(desk.audit()) == 1


def test_boxes_and_lengths_are_race_settings(desk: IncidentDesk) -> None:
    assert desk.boxes("r") == ["bike box", "run box", "stop-and-go"]
    assert desk.boxes("sprint") == ["run box"]
    assert desk.report("sprint", "7", infringement="drafting").seconds == 10  # the race's own length
    assert desk.report("r", "7", infringement="drafting").seconds == 30
    with pytest.raises(DeskError, match="seconds"):
        desk.report("r", "7", infringement="an unlisted rule")  # no length: say it
    pen = desk.record("sprint", "7", "penalty", seconds=10, infringement="drafting")
    with pytest.raises(DeskError, match="'bike box' is not a penalty box of race sprint"):
        desk.assign("sprint", "7", pen.id, box="bike box")
    with pytest.raises(DeskError, match="which one"):
        desk.enter_box("sprint", "7", pen.id)
    desk.enter_box("sprint", "7", pen.id, box="run box")
    with pytest.raises(DeskError, match="already in the run box"):
        desk.enter_box("sprint", "7", pen.id, box="run box")
    cfg = Config.model_validate(
        {"desk": {"boxes": ["penalty tent"], "races": {"a": {"penalties": {"x": 5}}}}}
    )
    assert cfg.desk.boxes_for("a") == ["penalty tent"] and cfg.desk.penalties_for("a") == {"x": 5}
    with pytest.raises(ValueError, match="greater than 0"):
        Config.model_validate({"desk": {"penalties": {"drafting": 0}}})


def test_a_database_from_before_the_lifecycle_keeps_working(tmp_path: Path, pipeline: Pipeline) -> None:
    path = tmp_path / "desk.sqlite3"
    ev = EVENT.text()
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(
            f"""
            CREATE TABLE actions (
                id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, operator TEXT NOT NULL,
                race_id TEXT NOT NULL, bib TEXT NOT NULL, action TEXT NOT NULL, seconds INTEGER,
                infringement TEXT, reason TEXT, target INTEGER REFERENCES actions(id),
                event TEXT NOT NULL DEFAULT ''
            );
            INSERT INTO actions (at, operator, race_id, bib, action, seconds, infringement, event)
            VALUES ('2026-12-02T08:00:00+00:00', 'TD', 'r', '1', 'penalty', 15, 'littering', '{ev}');
            INSERT INTO actions (at, operator, race_id, bib, action, target, event)
            VALUES ('2026-12-02T08:05:00+00:00', 'TD', 'r', '1', 'serve', 1, '{ev}');
            INSERT INTO actions (at, operator, race_id, bib, action, infringement, event)
            VALUES ('2026-12-02T08:06:00+00:00', 'TD', 'r', '2', 'dsq', 'drafting', '{ev}');
            """
        )
    desk = IncidentDesk(path, event=EVENT)
    desk.apply(pipeline)
    assert texts(pipeline, "1") == ["Served 15 second penalty for littering"]
    assert status(pipeline, "2") is Status.DSQ
    rep = desk.report("r", "3", seconds=10, infringement="drafting", location="P1")
    assert desk.pending()[0].id == rep.id and desk.pending()[0].location == "P1"
    with closing(sqlite3.connect(path)) as db:
        columns = [str(row[1]) for row in db.execute("PRAGMA table_info(actions)")]
    assert columns[-5:] == ["location", "box", "seen_at", "subject", "name"]


def test_a_held_decision_stays_on_the_desk_until_released(desk: IncidentDesk, pipeline: Pipeline) -> None:
    pen = desk.record("r", "2", "penalty", seconds=30, infringement="drafting")
    with pytest.raises(DeskError, match="not published"):
        desk.hold("r", "2", desk.report("r", "2", seconds=10, infringement="littering").id)
    hold = desk.hold("r", "2", pen.id, operator="CTO Ann")
    desk.apply(pipeline)
    assert texts(pipeline, "2") == []  # held back: not in the results
    assert [e.id for e in desk.pending()] == [pen.id, pen.id + 1]  # held, and the report: oldest first
    held = desk.entry("r", "2", pen.id)
    assert held is not None and held.held and not held.published and held.desk_only
    assert desk.due() == []  # not on the board until released
    with pytest.raises(DeskError, match="not published"):
        desk.hold("r", "2", pen.id)
    desk.confirm("r", "2", pen.id)  # released
    desk.apply(pipeline)
    assert texts(pipeline, "2") == ["30 second penalty for drafting"]
    assert [e.id for e in desk.due()] == [pen.id]
    assert [a.action for a in desk.audit(bib="2")][-2:] == ["hold", "confirm"]
    assert hold.describe().endswith("held back: on the desk only until released")
