"""Malformed v1.1 messages: nothing but V11Error ever escapes, and the engine survives."""

from __future__ import annotations

import copy
import os
from typing import Any

import msgspec
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racetui.sources.base import Pipeline
from racetui.sources.v11 import V11Error, V11Reader, parse_message
from tests.support import DATA, published_v11

SAMPLES = [(DATA / name).read_bytes() for name in ("v1.1-individual.json", "v1.1-mixed-relay.json")]
FAST = settings(
    max_examples=int(os.environ.get("RACETUI_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["00:25.000", "-00:00:01.000", "99:99:99", "1e400", "", " ", "DSQ", "01", "²", "live"]),
)
json_trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "start_num",
        "id",
        "name",
        "country",
        "status",
        "incidents",
        "splits",
        "total_time",
        "time",
        "team_order",
        "athletes",
        "teams",
        "paratriathlon",
        "class",
        "compensation_time",
        "latest",
        "conditions",
        "air_temp",
        "date",
        "start_time",
        "wetsuit",
        "num_athletes",
        "prog_id",
    ]
)


def _containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, out)
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        target = draw(st.sampled_from(_containers(message, [])))
        if isinstance(target, dict):
            action = draw(st.sampled_from(["set", "delete", "set-known"]))
            if action == "delete" and target:
                del target[draw(st.sampled_from(sorted(target)))]
            elif action == "set" and target:
                target[draw(st.sampled_from(sorted(target)))] = draw(json_trees)
            else:
                target[draw(keys)] = draw(json_trees)
        elif target:
            index = draw(st.integers(0, len(target) - 1))
            if draw(st.booleans()):
                target[index] = draw(json_trees)
            else:
                target.append(copy.deepcopy(target[index]))
    return message


def _survives(data: Any, pipeline: Pipeline | None = None, reader: V11Reader | None = None) -> None:
    reader = reader or V11Reader()
    try:
        if pipeline is None:
            reader.read(data)
        else:
            reader.apply(data, pipeline)
    except V11Error:
        pass


@FAST
@given(json_trees)
def test_random_json_trees(tree: Any) -> None:
    _survives(tree if isinstance(tree, dict) else msgspec.json.encode(tree))
    _survives({"athletes": tree})
    _survives({"teams": tree})
    _survives({"athletes": [tree]})


@FAST
@given(mutated())
def test_mutated_messages_reach_the_engine(message: dict[str, Any]) -> None:
    pipeline = Pipeline()
    reader = V11Reader()  # one feed: the first message, then the mutations as diffs
    sample = SAMPLES[1] if "teams" in message else SAMPLES[0]
    _survives(sample, pipeline, reader)
    _survives(msgspec.json.encode(message), pipeline, reader)
    _survives(message, pipeline, reader)
    _survives(sample, pipeline, reader)
    _survives(message, pipeline)
    # Whatever the engine holds can still be published.
    for standings in pipeline.engine.races.values():
        built = published_v11(standings)
        assert int(built.get("num_athletes") or built.get("num_teams") or 0) == len(standings)


@FAST
@given(st.sampled_from(SAMPLES), st.data())
def test_truncated_bytes(sample: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(sample) - 1))
    try:
        parse_message(sample[:cut])
    except V11Error:
        pass
    else:  # only a cut inside trailing whitespace can still be whole
        assert sample[cut:].strip() == b""


@FAST
@given(st.binary(max_size=200))
def test_random_bytes(blob: bytes) -> None:
    _survives(blob)
