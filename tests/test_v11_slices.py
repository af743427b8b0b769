"""A feed's messages handed to the engine in slices (V11Reader.feed), holding no results."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import pytest

from racetui.engine import Engine
from racetui.hub.core import HubPipeline
from racetui.hub.records import Change, RemoveAthletes
from racetui.model import Race, Result, Status
from racetui.sources.base import Pipeline
from racetui.sources.v11 import V11Error, V11Reader
from tests.support import INDIVIDUAL, RELAY


def field(size: int) -> dict[str, Any]:
    """The spec's individual example with ``size`` athletes (its two, copied under new
    start numbers), leaders first as the spec orders them."""
    data: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    athletes = data["athletes"]
    for n in range(len(athletes), size):
        extra = copy.deepcopy(athletes[n % 2])
        extra["start_num"] = str(100 + n)
        extra["id"] = str(900_000 + n)
        extra["position"] = str(n + 1)
        athletes.append(extra)
    data["num_athletes"] = str(size)
    return data


class Recording(Pipeline):
    """A pipeline that says which calls reached it, with how many results each."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[str]]] = []

    def apply_snapshot(self, race: Race, results: Sequence[Result]) -> Any:
        self.calls.append(("snapshot", [r.bib for r in results]))
        return super().apply_snapshot(race, results)

    def apply_results(self, race_id: str, results: Sequence[Result], *, complete: bool = False) -> Any:
        self.calls.append(("complete" if complete else "results", [r.bib for r in results]))
        return super().apply_results(race_id, results, complete=complete)


def held(engine: Engine) -> dict[str, Any]:
    """What the engine holds of every athlete, to compare two ways of reading."""
    out = {}
    for race_id, standings in engine.races.items():
        for bib, entry in standings.entries.items():
            h = standings.held(bib)
            assert h is not None
            out[f"{race_id}/{bib}"] = (
                entry.participant,
                h.status,
                h.splits,
                h.incidents,
                entry.legs,
                standings.source_reported(bib),
            )
    return out


async def test_a_first_message_arrives_in_slices_leaders_first_with_progress() -> None:
    data = orjson.dumps(field(10))
    pipeline = Recording()
    progress: list[tuple[int, int, str]] = []
    counts: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:  # runs whenever the reader gives the loop a turn
        while not done.is_set():
            counts.append(sum(len(s) for s in pipeline.engine.races.values()))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    update = await V11Reader().feed(data, pipeline, step=4, progress=lambda *a: progress.append(a))
    done.set()
    await watcher

    assert update.first and update.warnings == []
    assert pipeline.calls == [
        ("snapshot", ["26", "22", "102", "103"]),
        ("results", ["104", "105", "106", "107"]),
        ("results", ["108", "109"]),
    ]
    assert progress == [(4, 10, "athletes"), (8, 10, "athletes"), (10, 10, "athletes")]
    assert 4 in counts and 8 in counts  # the loop ran while the message was half read
    # Nothing of the field stays in the reader or the update: the engine holds it.
    assert update.results == [] and update.changed == []
    assert update.changed_bibs == ["26", "22", *(str(100 + n) for n in range(2, 10))]
    whole = Pipeline()
    V11Reader().apply(data, whole)
    assert held(pipeline.engine) == held(whole.engine)


@pytest.mark.parametrize("sample", [INDIVIDUAL, RELAY])
async def test_slices_read_what_a_whole_read_reads(sample: Any) -> None:
    """The spec's examples, then one with an athlete changed and one added, then the added
    one gone again: one athlete a slice against the whole message read at once."""
    first = sample.read_bytes()
    data = orjson.loads(first)
    key = "teams" if "teams" in data else "athletes"
    data[key][-1]["status"] = "DNF"
    extra = copy.deepcopy(data[key][0])
    extra["start_num"] = "999"
    data[key].append(extra)
    second = orjson.dumps(data)
    data[key].pop()
    third = orjson.dumps(data)
    sliced, whole = Pipeline(), Pipeline()
    reader, plain = V11Reader(), V11Reader()
    for message in (first, second, third):
        update = await reader.feed(message, sliced, step=1)
        expected = plain.apply(message, whole)
        assert update.warnings == expected.warnings
        assert update.changed_bibs == [r.bib for r in expected.changed]
        assert update.race == expected.race and update.removed == expected.removed
        assert held(sliced.engine) == held(whole.engine)


async def test_a_bad_field_falls_back_on_what_the_engine_holds() -> None:
    pipeline = Pipeline()
    reader = V11Reader()
    await reader.feed(INDIVIDUAL.read_bytes(), pipeline)
    data = orjson.loads(INDIVIDUAL.read_bytes())
    data["athletes"][0]["splits"][1]["total_time"] = "00:18:xx"
    data["athletes"][0]["country"] = ["ESP"]
    data["athletes"][1]["status"] = "RETIRED"
    update = await reader.feed(orjson.dumps(data), pipeline, step=1)
    assert update.warnings == [
        "athlete 26: country: expected text, got a list: ['ESP']",
        "athlete 26: splits[2].total_time: expected HH:MM:SS.fff, MM:SS.fff or seconds: '00:18:xx'",
        "athlete 22: status: expected DNS, DNF, DSQ, LAP or NC: 'RETIRED'",
    ]
    standings = pipeline.engine.race("307158")
    kept = standings.held("26")
    assert kept is not None and kept.splits == {"1": 654_799, "2": 1_117_911}
    assert standings.entries["26"].participant.country == "ESP"
    assert standings.entries["22"].status is Status.OK


class Frames:
    """A hub's change log: the records its pipeline emits."""

    def __init__(self) -> None:
        self.records: list[Change] = []
        self.results: list[list[str]] = []  # the bibs whose results were sent, per call

    def emit(self, changes: Iterable[Change]) -> None:
        self.records.extend(changes)

    def emit_results(self, race_id: str, bibs: list[str]) -> None:
        self.results.append(list(bibs))


async def test_through_a_hub_the_slices_travel_and_gone_athletes_are_removed() -> None:
    log = Frames()
    pipeline = HubPipeline(log)
    reader = V11Reader()
    await reader.feed(orjson.dumps(field(6)), pipeline, step=2)
    assert log.results == [["26", "22"], ["102", "103"], ["104", "105"]]
    log.records.clear()
    log.results.clear()
    data = field(6)
    del data["athletes"][3]
    update = await reader.feed(orjson.dumps(data), pipeline, step=2)
    assert update.removed == ["103"]
    assert [c.bibs for c in log.records if isinstance(c, RemoveAthletes)] == [["103"]]
    assert log.results == []  # the others did not change
    assert sorted(pipeline.engine.race("307158").entries) == ["102", "104", "105", "22", "26"]


async def test_a_message_without_one_readable_athlete_changes_nothing() -> None:
    pipeline = Recording()
    reader = V11Reader()
    await reader.feed(INDIVIDUAL.read_bytes(), pipeline)
    calls, version = list(pipeline.calls), pipeline.engine.version
    with pytest.raises(V11Error, match="none of the 2 athletes is readable"):
        await reader.feed(b'{"athletes": [{"start_num": null}, "junk"]}', pipeline, step=1)
    assert pipeline.calls == calls and pipeline.engine.version == version
    update = await reader.feed(INDIVIDUAL.read_bytes(), pipeline)
    assert not update.first and update.changed_bibs == []
