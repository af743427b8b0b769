"""A stand-in for OpenTrack's road/XC bulk upload, written from "Road and XC results bulk
upload": ``POST /api/get-auth-token/`` with form fields ``username``/``password`` gives a
token; ``PUT /api/<year>/<country>/<slug>/roadxc_upload/`` with ``Authorization: Token …``
takes one race object or a list of them (``eventid``, ``round``, ``heat``, ``mode``,
``data`` rows ``[bib, time]``), as JSON or zlib-compressed JSON (detected like the real
server: JSON if it parses, else ``zlib.decompress``). replace/append/update are applied to
per-race results (``results[(eventid, round, heat)]``); ``ignore_unknowns`` is honoured
when ``known_bibs`` is set. Run it with :class:`tests.fakes.asgi.ServerThread`.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.upstream import Arrival, ScriptedUpstream

__all__ = ["OpenTrackFake"]


_TIME = re.compile(r"^(?:\d+:)?\d{1,2}:\d{2}(?:\.\d{1,3})?$")


@dataclass
class OpenTrackFake(ScriptedUpstream):
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
