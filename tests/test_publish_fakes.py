"""The upstream stand-ins follow their documents: what the spec prints is accepted, what it
forbids is refused with a 4xx naming why, and a repeated idempotency key is applied once.
If these fail, the publish tests built on the stand-ins prove nothing."""

from __future__ import annotations

import copy
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes.asgi import ServerThread
from tests.fakes.opentrack import OpenTrackFake
from tests.fakes.worldtriathlon import WorldTriathlonFake, validate_v11
from tests.support import INDIVIDUAL, RELAY

KEY = "wt-fake-key-9"


@pytest.fixture
def wt() -> Iterator[WorldTriathlonFake]:
    fake = WorldTriathlonFake(apikey=KEY)
    with ServerThread(fake.app()) as server:
        fake.url = server.url + "/v1/timing"
        yield fake


@pytest.fixture
def ot() -> Iterator[OpenTrackFake]:
    fake = OpenTrackFake()
    with ServerThread(fake.app()) as server:
        fake.url = server.url
        yield fake


def example(path: Any = INDIVIDUAL) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


@pytest.mark.parametrize("path", [INDIVIDUAL, RELAY])
def test_the_spec_examples_are_valid_v11(path: Any) -> None:
    assert validate_v11(example(path)) is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.pop("prog_id"), "missing field(s): prog_id"),
        (lambda m: m.update(status="finished"), "status must be prerace, live or official, not 'finished'"),
        (lambda m: m.update(num_athletes="99"), "num_athletes (99) does not match the number of athletes"),
        (lambda m: m["athletes"][0].update(time="1:02"), "bad time '1:02'"),
    ],
)
def test_a_broken_message_is_refused_naming_why(change: Any, problem: str) -> None:
    message = copy.deepcopy(example())
    change(message)
    found = validate_v11(message)
    assert found is not None and problem in found


def test_world_triathlon_post_checks_key_and_type_and_applies_once(wt: WorldTriathlonFake) -> None:
    body = INDIVIDUAL.read_bytes()
    json_type = {"content-type": "application/json"}
    with httpx.Client(timeout=10) as client:
        bad_key = client.post(wt.url, content=body, headers={**json_type, "apikey": "nope"})
        assert bad_key.status_code == 401 and bad_key.json()["status"] == "fail"
        wrong_type = client.post(wt.url, content=body, headers={"apikey": KEY, "content-type": "text/plain"})
        assert wrong_type.status_code == 415
        headers = {**json_type, "apikey": KEY, "idempotency-key": "k1"}
        first = client.post(wt.url, content=body, headers=headers)
        again = client.post(wt.url, content=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == {"code": 200, "status": "success", "data": {"prog_id": example()["prog_id"]}}
    assert [a.status for a in wt.arrivals] == [401, 415, 200, 200]
    assert [a.duplicate for a in wt.arrivals] == [False, False, False, True]
    assert wt.applied_bodies() == [example()]


def test_world_triathlon_script_answers_the_next_requests(wt: WorldTriathlonFake) -> None:
    wt.script[:] = [503, 400]
    headers = {"content-type": "application/json", "apikey": KEY}
    with httpx.Client(timeout=10) as client:
        codes = [
            client.post(wt.url, content=INDIVIDUAL.read_bytes(), headers=headers).status_code for _ in "abc"
        ]
    assert codes == [503, 400, 200]
    assert len(wt.applied_bodies()) == 1


def test_opentrack_token_then_upload_json_and_zlib_in_every_mode(ot: OpenTrackFake) -> None:
    with httpx.Client(base_url=ot.url, timeout=10) as client:
        refused = client.post("/api/get-auth-token/", data={"username": ot.username, "password": "x"})
        assert refused.status_code == 400
        token = client.post(
            "/api/get-auth-token/", data={"username": ot.username, "password": ot.password}
        ).json()["token"]
        url = "/api/2026/GBR/api-test/roadxc_upload/"
        auth = {"Authorization": f"Token {token}"}
        assert client.put(url, content=b"{}", headers={"Authorization": "Token wrong"}).status_code == 401

        def unit(mode: str, rows: list[list[str]]) -> dict[str, Any]:
            return {"eventid": "R1", "round": 1, "heat": 1, "mode": mode, "data": rows}

        # the document's own example rows, as JSON then compressed
        put = client.put(
            url,
            content=orjson.dumps(unit("replace", [["349", "14:25.10"], ["347", "14:33.00"]])),
            headers=auth,
        )
        assert put.status_code == 200
        compressed = zlib.compress(orjson.dumps([unit("append", [["347", "15:00.00"], ["393", "14:36.00"]])]))
        assert client.put(url, content=compressed, headers=auth).status_code == 200
        assert (
            client.put(url, content=orjson.dumps(unit("update", [["349", "DNF"]])), headers=auth).status_code
            == 200
        )
        bad = client.put(url, content=orjson.dumps(unit("update", [["1", "soon"]])), headers=auth)
    assert bad.status_code == 400 and "bib 1: bad time 'soon'" in bad.json()["detail"]
    assert ot.compressed == [False, True, False]
    # append keeps the 347 already there and adds 393; update overwrites 349
    assert ot.results[("R1", 1, 1)] == {"349": "DNF", "347": "14:33.00", "393": "14:36.00"}
