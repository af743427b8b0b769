"""A stand-in for World Triathlon's timing endpoint, written from the Live Timing Standard
v1.1 (``POST /v1/timing``, "2 - POST JSON Data", "Authentication", "Response Codes").

It checks the ``apikey`` header and ``Content-Type: application/json``, validates the message
the way a v1.1 receiver would (required fields, ``status`` one of prerace/live/official,
``num_athletes``/``num_teams`` matching the array, durations ``HH:MM:SS.sss``) and answers in
World Triathlon's JSON envelope: 2xx on receipt, 4xx for badly formatted or unauthenticated
messages. A wrong key is echoed in the error message, as some real APIs do, so tests can
prove the client never shows it. Run it with :class:`tests.fakes.asgi.ServerThread`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.upstream import Arrival, ScriptedUpstream

__all__ = ["WorldTriathlonFake", "validate_v11"]


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
class WorldTriathlonFake(ScriptedUpstream):
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
