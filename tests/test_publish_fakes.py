"""Local servers implementing the upstream contracts, for the publish tests.

* :class:`WorldTriathlonFake` — ``POST /v1/timing``: checks ``apikey`` and
  ``Content-Type: application/json``, validates the v1.1 message (required fields,
  ``num_athletes == len(athletes)``), answers in World Triathlon's envelope.
* :class:`OpenTrackFake` — ``POST /api/get-auth-token/`` (form fields) and
  ``PUT /api/<competition>/roadxc_upload/`` with ``Authorization: Token``; the body is
  JSON or zlib (detected like the real server: try JSON, else ``zlib.decompress``); rows
  are validated; replace/append/update are applied to per-race results.

Both record every arrival (monotonic time, idempotency key, body) and apply a request
once per ``Idempotency-Key`` (a repeat gets the stored answer), so tests can tell "arrived"
from "applied". ``script`` holds the answers for the next requests: an ``int`` status, or
``("slow", seconds)`` (applied, then answered late), or ``"close"`` (no answer at all).

:class:`ServerThread` runs a starlette app with uvicorn on port 0 in a background thread.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Action = int | str | tuple[str, float]


def free_port() -> int:
    """A port nothing listens on (for refused connections)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """uvicorn in a background thread; ``url`` once started."""

    def __init__(self, app: Starlette, port: int = 0) -> None:
        self.config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="error", lifespan="off", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = port

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Arrival:
    at: float  # time.monotonic()
    key: str | None
    headers: dict[str, str]
    body: Any
    raw: bytes
    status: int = 0
    duplicate: bool = False


@dataclass
class _Base:
    url: str = ""  # set by the test once the server runs
    script: list[Action] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    applied: dict[str, Any] = field(default_factory=dict)  # idempotency key -> body
    lock: threading.Lock = field(default_factory=threading.Lock)
    _answers: dict[str, tuple[int, Any]] = field(default_factory=dict)

    def next_action(self) -> Action:
        with self.lock:
            return self.script.pop(0) if self.script else 200

    def applied_bodies(self) -> list[Any]:
        with self.lock:
            return list(self.applied.values())

    async def _finish(self, action: Action, arrival: Arrival, answer: Callable[[], Response]) -> Response:
        if action == "close":
            await asyncio.sleep(3600)  # never answers: the client times out
        if isinstance(action, tuple) and action[0] == "slow":
            await asyncio.sleep(action[1])
        return answer()


def _fail(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "status": "fail", "data": {"message": message}}, status_code=code)


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "status": "error", "message": message}, status_code=code)


_REQUIRED = (
    "date",
    "event_id",
    "event_name",
    "prog_id",
    "prog_name",
    "status",
    "sandbox",
    "latest",
    "conditions",
)
_ATHLETE = ("id", "start_num", "name", "country", "segment_id", "time", "position", "status", "splits")
_DURATION = re.compile(r"^\d{2,}:\d{2}:\d{2}(\.\d{3})?$")


def validate_v11(message: Any) -> str | None:
    """The checks a v1.1 receiver makes; the problem in one line, or None."""
    if not isinstance(message, dict):
        return "body must be a JSON object"
    missing = [name for name in _REQUIRED if name not in message]
    if missing:
        return f"missing field(s): {', '.join(missing)}"
    if message["status"] not in ("prerace", "live", "official"):
        return f"status must be prerace, live or official, not {message['status']!r}"
    if str(message["sandbox"]).lower() not in ("true", "false"):
        return "sandbox must be a boolean"
    group = "teams" if "teams" in message else "athletes"
    count_field = "num_teams" if group == "teams" else "num_athletes"
    records = message.get(group)
    if not isinstance(records, list):
        return f"{group} must be an array"
    try:
        count = int(message.get(count_field))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"{count_field} must be an integer"
    if count != len(records):
        return f"{count_field} ({count}) does not match the number of {group} ({len(records)})"
    for record in records:
        missing = [
            name for name in _ATHLETE if name not in record and not (group == "teams" and name == "splits")
        ]
        if missing:
            return f"{group[:-1]} {record.get('start_num')}: missing {', '.join(missing)}"
        if record["time"] is not None and not _DURATION.match(str(record["time"])):
            return f"{group[:-1]} {record['start_num']}: bad time {record['time']!r}"
    return None


@dataclass
class WorldTriathlonFake(_Base):
    apikey: str = "wt-test-key-123"

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/timing", self.timing, methods=["POST"])])

    async def timing(self, request: Request) -> Response:
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        arrival = Arrival(time.monotonic(), key, dict(request.headers), None, raw)
        with self.lock:
            self.arrivals.append(arrival)
        action = self.next_action()
        if request.headers.get("apikey") != self.apikey:
            arrival.status = 401
            return _fail(401, f"Invalid API key {request.headers.get('apikey')}")  # echoes it, like some do
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            arrival.status = 415
            return _fail(415, "Content-Type must be application/json")
        try:
            body = json.loads(raw)
        except ValueError:
            arrival.status = 400
            return _fail(400, "body is not JSON")
        arrival.body = body
        problem = validate_v11(body)
        if problem:
            arrival.status = 400
            return _fail(400, problem)
        if isinstance(action, int) and action >= 400:
            arrival.status = action
            if action >= 500:
                return _error(action, "Internal Server Error")
            return _fail(action, f"rejected by the test script ({action})")
        with self.lock:
            if key is not None and key in self.applied:
                arrival.duplicate = True
            else:
                self.applied[key or f"no-key-{len(self.applied)}"] = body
        arrival.status = 200

        def answer() -> Response:
            return JSONResponse({"code": 200, "status": "success", "data": {"prog_id": body.get("prog_id")}})

        return await self._finish(action, arrival, answer)


_TIME = re.compile(r"^(?:\d+:)?\d{1,2}:\d{2}(?:\.\d{1,3})?$")


@dataclass
class OpenTrackFake(_Base):
    username: str = "director@example.org"
    password: str = "pw-s3cret-456"
    token_value: str = "tok-0001"
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    results: dict[tuple[str, int, int], dict[str, str]] = field(default_factory=dict)
    compressed: list[bool] = field(default_factory=list)
    known_bibs: set[str] | None = None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/get-auth-token/", self.auth, methods=["POST"]),
                Route("/api/{year}/{country}/{slug}/roadxc_upload/", self.upload, methods=["PUT"]),
            ]
        )

    def revoke(self) -> None:
        with self.lock:
            self.valid_tokens.clear()

    async def auth(self, request: Request) -> Response:
        # form fields, parsed by hand (starlette's form parser needs python-multipart)
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return JSONResponse({"detail": "expected form fields username and password"}, 415)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("username") != self.username or form.get("password") != self.password:
            return JSONResponse({"non_field_errors": ["Unable to log in with provided credentials."]}, 400)
        with self.lock:
            self.tokens_issued += 1
            token = f"{self.token_value}-{self.tokens_issued}"
            self.valid_tokens.add(token)
        return JSONResponse({"token": token})

    async def upload(self, request: Request) -> Response:
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        arrival = Arrival(time.monotonic(), key, dict(request.headers), None, raw)
        with self.lock:
            self.arrivals.append(arrival)
        action = self.next_action()
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Token ") or auth[6:] not in self.valid_tokens:
            arrival.status = 401
            return JSONResponse({"detail": "Invalid token."}, 401)
        try:
            body = json.loads(raw)
            was_compressed = False
        except ValueError:
            try:
                body = json.loads(zlib.decompress(raw))
                was_compressed = True
            except (zlib.error, ValueError):
                arrival.status = 400
                return JSONResponse({"detail": "payload is neither JSON nor zlib-compressed JSON"}, 400)
        arrival.body = body
        units = body if isinstance(body, list) else [body]
        for unit in units:
            problem = self._validate(unit)
            if problem:
                arrival.status = 400
                return JSONResponse({"detail": problem}, 400)
        if isinstance(action, int) and action >= 400:
            arrival.status = action
            return JSONResponse({"detail": f"rejected by the test script ({action})"}, action)
        with self.lock:
            if key is not None and key in self.applied:
                arrival.duplicate = True
            else:
                self.applied[key or f"no-key-{len(self.applied)}"] = body
                self.compressed.append(was_compressed)
                for unit in units:
                    self._apply(unit)
        arrival.status = 200

        def answer() -> Response:
            return JSONResponse({"status": "ok", "races": len(units)})

        return await self._finish(action, arrival, answer)

    def _validate(self, unit: Any) -> str | None:
        if not isinstance(unit, dict):
            return "each race must be an object"
        for name in ("eventid", "round", "heat", "mode", "data"):
            if name not in unit:
                return f"missing {name}"
        if unit["mode"] not in ("replace", "append", "update"):
            return f"unknown mode {unit['mode']!r}"
        if not isinstance(unit["data"], list):
            return "data must be a list"
        for row in unit["data"]:
            if not (isinstance(row, list) and len(row) == 2 and all(isinstance(v, str) for v in row)):
                return f"bad row {row!r}: expected [bib, time]"
            if row[1] not in ("DNF", "DNS", "DQ") and not _TIME.match(row[1]):
                return f"bib {row[0]}: bad time {row[1]!r}"
            if (
                self.known_bibs is not None
                and row[0] not in self.known_bibs
                and unit.get("ignore_unknowns") != "True"
            ):
                return f"bib {row[0]} is not in the start list"
        return None

    def _apply(self, unit: dict[str, Any]) -> None:
        key = (str(unit["eventid"]), int(unit["round"]), int(unit["heat"]))
        rows = {bib: value for bib, value in unit["data"]}
        current = self.results.setdefault(key, {})
        if unit["mode"] == "replace":
            self.results[key] = rows
        elif unit["mode"] == "append":
            for bib, value in rows.items():
                current.setdefault(bib, value)
        else:
            current.update(rows)
