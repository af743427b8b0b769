"""The v1.1 feed reader: only changed athletes reach the engine."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from racetui.engine import ChangeSet
from racetui.model import Status
from racetui.sources.base import Pipeline
from racetui.sources.v11 import V11Error, V11Reader
from tests.support import INDIVIDUAL


def message(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    data.update(changes)
    return data


def athlete(bib: str, *splits: str) -> dict[str, Any]:
    return {
        "id": f"9{bib}",
        "start_num": bib,
        "name": f"Athlete {bib}",
        "country": "NED",
        "status": None,
        "incidents": None,
        "splits": [{"id": str(i + 1), "name": f"S{i + 1}", "total_time": t} for i, t in enumerate(splits)]
        or None,
    }


@pytest.fixture
def recorded() -> tuple[Pipeline, list[ChangeSet]]:
    pipeline = Pipeline()
    seen: list[ChangeSet] = []
    pipeline.listeners.append(seen.append)
    return pipeline, seen


def test_first_message_is_a_snapshot(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, seen = recorded
    reader = V11Reader()
    update = reader.apply(orjson.dumps(message()), pipeline)
    assert update.first
    standings = pipeline.engine.race("307158")
    assert [entry.bib for entry in standings.ordered()] == ["26", "22"]
    assert seen[-1].athletes == {"307158": {"26", "22"}}


def test_unchanged_message_changes_nothing(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, seen = recorded
    reader = V11Reader()
    reader.apply(orjson.dumps(message()), pipeline)
    version = pipeline.engine.version
    update = reader.apply(orjson.dumps(message(date="2017-03-04T18:25:12+04:00")), pipeline)
    assert update.changed == [] and update.removed == [] and not update.race_changed
    assert pipeline.engine.version == version
    assert len(seen) == 1


def test_only_changed_athletes_reach_the_engine(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, seen = recorded
    reader = V11Reader()
    base = message()
    base["athletes"] += [athlete(str(bib), "00:11:00.000") for bib in range(100, 150)]
    base["num_athletes"] = str(len(base["athletes"]))
    reader.apply(orjson.dumps(base), pipeline)
    base["athletes"][1]["splits"].append(
        {"id": "2", "name": "Swim Exit", "total_time": "00:18:30.000", "time": "00:07:36.004"}
    )
    update = reader.apply(orjson.dumps(base), pipeline)
    assert [r.bib for r in update.changed] == ["22"]
    assert seen[-1].athletes == {"307158": {"22"}}
    standings = pipeline.engine.race("307158")
    assert next(standings.ordered()).bib == "22"  # now leads at the furthest point


def test_new_segment_updates_the_race(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, _ = recorded
    reader = V11Reader()
    reader.apply(orjson.dumps(message()), pipeline)
    data = message()
    data["athletes"][0]["splits"].append({"id": "3", "name": "Transition 1", "total_time": "00:19:30.000"})
    update = reader.apply(orjson.dumps(data), pipeline)
    assert update.race_changed
    standings = pipeline.engine.race("307158")
    assert [p.id for p in standings.points] == ["1", "2", "3"]
    assert list(standings.entries["26"].times) == [654_799, 1_117_911, 1_170_000]
    assert list(standings.entries["22"].times) == [653_996, None, None]


def test_athletes_gone_from_the_message_are_removed(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, seen = recorded
    reader = V11Reader()
    reader.apply(orjson.dumps(message()), pipeline)
    data = message()
    del data["athletes"][1]
    update = reader.apply(orjson.dumps(data), pipeline)
    assert update.removed == ["22"]
    assert list(pipeline.engine.race("307158").entries) == ["26"]
    assert seen[-1].athletes == {"307158": {"22"}}


def test_status_change_moves_athlete_to_the_bottom(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, _ = recorded
    reader = V11Reader()
    reader.apply(orjson.dumps(message()), pipeline)
    data = message()
    data["athletes"][0]["status"] = "DSQ"
    data["athletes"][0]["incidents"] = "DSQ for drafting"
    reader.apply(orjson.dumps(data), pipeline)
    standings = pipeline.engine.race("307158")
    assert [e.bib for e in standings.ordered()] == ["22", "26"]
    assert standings.entries["26"].status is Status.DSQ


def test_bad_message_keeps_the_last_good_state(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, _ = recorded
    reader = V11Reader()
    reader.apply(orjson.dumps(message()), pipeline)
    version = pipeline.engine.version
    with pytest.raises(V11Error):
        reader.apply(b'{"athletes": [', pipeline)
    with pytest.raises(V11Error):
        reader.apply(b'{"athletes": [{"start_num": null}]}', pipeline)
    assert pipeline.engine.version == version
    update = reader.apply(orjson.dumps(message()), pipeline)
    assert not update.first and update.changed == []


def test_switching_between_fast_and_lenient_paths(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, _ = recorded
    reader = V11Reader()
    reader.apply(orjson.dumps(message()), pipeline)
    odd = message()
    odd["athletes"][1]["position"] = {"weird": True}  # does not fit the typed structs
    update = reader.apply(orjson.dumps(odd), pipeline)
    # the feed's own position is kept for re-publishing: a bad one is named, the rest read
    assert update.warnings == ["athlete 22: position: not a count: {'weird': True}"]
    assert len(pipeline.engine.race("307158").entries) == 2
    update = reader.apply(orjson.dumps(odd), pipeline)
    assert update.changed == []


def test_another_program_is_another_race(recorded: tuple[Pipeline, list[ChangeSet]]) -> None:
    pipeline, _ = recorded
    reader = V11Reader()
    reader.apply(orjson.dumps(message()), pipeline)
    update = reader.apply(orjson.dumps(message(prog_id="999")), pipeline)
    assert update.first
    assert set(pipeline.engine.races) == {"307158", "999"}


def test_fixed_race_id() -> None:
    pipeline = Pipeline()
    V11Reader("elite-men").apply(orjson.dumps(message()), pipeline)
    standings = pipeline.engine.race("elite-men")
    assert standings.race.external_id == "307158"
    assert len(standings) == 2


def test_fast_path_reads_what_the_field_by_field_checks_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common athlete is read straight from its struct; whatever that path takes must
    come out exactly as the field-by-field checks read it (the spec's example as printed,
    plus athletes with the values that path leaves to the checks)."""
    import racetui.sources.v11 as v11

    data = message()
    odd = [
        {**athlete("901", "00:10:00.000"), "status": "dnf"},
        {**athlete("902", "00:10:00.000"), "position": 3},
        {**athlete("903"), "splits": [{"id": "1", "name": "Swim", "time": "00:10:00.000"}]},
        {**athlete("904", "00:10:00.000"), "name": "  Padded  ", "country": ""},
        {**athlete("905", "0:10:00"), "difference": "00:00:01.5"},
    ]
    data["athletes"] = [*data["athletes"], *odd]
    data["num_athletes"] = str(len(data["athletes"]))
    body = orjson.dumps(data)
    taken: list[str] = []
    fast = v11._entry_fast

    def counting(entry: Any, bib: str, race_id: str, points: Any) -> Any:
        result = fast(entry, bib, race_id, points)
        if result is not None:
            taken.append(bib)
        return result

    monkeypatch.setattr(v11, "_entry_fast", counting)
    quick = V11Reader().read(body)
    monkeypatch.setattr(v11, "_entry_fast", lambda *args: None)
    checked = V11Reader().read(body)
    assert len(taken) >= len(data["athletes"]) - len(odd)  # the spec's athletes take the fast path
    assert "901" not in taken and "902" not in taken and "905" not in taken
    assert quick.results == checked.results
    assert [r.participant for r in quick.results] == [r.participant for r in checked.results]
    assert [r.reported for r in quick.results] == [r.reported for r in checked.results]
    assert quick.race == checked.race
    assert quick.warnings == checked.warnings
