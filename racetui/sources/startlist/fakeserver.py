"""Local stand-ins for the RaceEntry Timer API and the ChronoTrack Live API, over real
sockets (starlette + uvicorn on an ephemeral port): for tests, rehearsals and demos.

They implement the documented contracts - paths, parameter names, auth, body shapes,
paging headers - plus what a test needs to steer them: the data clock, key/token expiry,
a 500 or a slow answer on a chosen request, a request log.

    fake = FakeRaceEntry()
    fake.add(race="21", event="16", registration=30, bib=50004, first="John", last="Doe")
    with fake.serve() as base_url:   # "http://127.0.0.1:PORT/rest"
        ...
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeChronoTrack", "FakeRaceEntry", "Fault", "serve_app"]


@contextmanager
def serve_app(app: Any, on_exit: Any = None) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1:<free port> in a background thread; yields the origin."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,  # request lines carry credentials in the query
        lifespan="off",
        date_header=False,  # the fakes send their own Date (their clock)
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-startlist-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake start-list server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        if on_exit is not None:
            on_exit()
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Fault:
    """Make the ``nth`` matching request (1-based; 0 = every one) to a path containing
    ``path`` (and, for ChronoTrack, asking for ``page``) fail with ``status`` or answer
    only after ``delay`` seconds."""

    path: str
    status: int | None = None
    delay: float = 0.0
    page: int | None = None
    nth: int = 0
    seen: int = 0


class _Fake:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._released = threading.Event()

    def fault(self, path: str, **kwargs: Any) -> Fault:
        fault = Fault(path, **kwargs)
        self.faults.append(fault)
        return fault

    def release(self) -> None:
        """End every slow answer now (on shutdown)."""
        self._released.set()

    async def _faulted(self, request: Request, page: int | None = None) -> Response | None:
        for fault in self.faults:
            if fault.path not in request.url.path or (fault.page is not None and fault.page != page):
                continue
            fault.seen += 1
            if fault.nth and fault.seen != fault.nth:
                continue
            if fault.delay:
                end = time.monotonic() + fault.delay
                while time.monotonic() < end and not self._released.is_set():
                    await asyncio.sleep(0.02)
            if fault.status is not None:
                return JSONResponse({"message": "injected failure"}, status_code=fault.status)
        return None

    def _log(self, request: Request, params: dict[str, str]) -> None:
        self.requests.append((request.method, request.url.path, params))

    def paths(self, contains: str = "") -> list[tuple[str, dict[str, str]]]:
        return [(path, params) for _, path, params in self.requests if contains in path]


# --------------------------------------------------------------------------- RaceEntry
class FakeRaceEntry(_Fake):
    """The RaceEntry Timer API under ``/rest``."""

    def __init__(self, key: str = "re-partner-key-7Q2", secret: str = "re-partner-secret-9Zx") -> None:
        super().__init__()
        self.key = key
        self.secret = secret
        self.clock = 1_745_877_909  # the data clock: last_modified of the next change
        self.races: dict[str, dict[str, Any]] = {}
        self.participants: dict[str, dict[str, dict[str, Any]]] = {}
        self.removed: dict[str, dict[str, dict[str, Any]]] = {}
        self.teams: dict[str, list[dict[str, Any]]] = {}
        self.team_types: dict[str, list[dict[str, Any]]] = {}
        self.pairs: list[tuple[str, str]] = []  # every pair issued; the last is valid
        self.expired: set[tuple[str, str]] = set()
        self.expired_status = 401  # how an expired pair is answered (with error code 102)
        self.logins = 0
        self.app = Starlette(
            routes=[
                Route("/rest/login", self._login, methods=["POST"]),
                Route("/rest/races", self._races),
                Route("/rest/race/{race}/participants", self._participants),
                Route("/rest/race/{race}/removed_participants", self._removed),
                Route("/rest/race/{race}/teams", self._teams),
                Route("/rest/race/{race}/teams/team_types", self._team_types),
            ]
        )

    @contextmanager
    def serve(self) -> Iterator[str]:
        with serve_app(self.app, self.release) as origin:
            yield origin + "/rest"

    # ---------------------------------------------------------------- data
    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def add_race(self, race: str, name: str = "City Fun Run", date: str = "04/17/2026") -> None:
        self.races[race] = {
            "race_id": int(race),
            "name": name,
            "next_date": date,
            "next_end_date": date,
            "is_draft_race": "F",
            "address": {"city": "Provo", "state": "UT", "country_code": "USA"},
            "events": [],
        }

    def add(
        self,
        *,
        race: str = "21",
        event: str = "16",
        registration: int,
        bib: int | str | None,
        first: str,
        last: str,
        gender: str = "M",
        age: int | None = 35,
        dob: str | None = None,
        team_id: int | None = None,
        team_name: str | None = None,
        city: str = "Provo",
        state: str = "UT",
        country: str = "USA",
    ) -> dict[str, Any]:
        record = {
            "user": {
                "user_id": registration + 1000,
                "first_name": first,
                "middle_name": None,
                "last_name": last,
                "email": f"{first.lower()}@example.com",
                "address": {
                    "street": "1 Main St",
                    "city": city,
                    "state": state,
                    "zipcode": "84601",
                    "country_code": country,
                },
                "dob": dob,
                "gender": gender,
                "phone": "5555555555",
                "profile_image_url": None,
            },
            "registration_id": registration,
            "event_id": int(event),
            "bib_num": bib,
            "chip_num": bib,
            "age": age,
            "registration_date": "04/24/2025 10:22",
            "team_id": team_id,
            "team_name": team_name,
            "team_type_id": None,
            "team_type": None,
            "last_modified": self.tick(),
            "imported": "T",
            "checked_in": "F",
        }
        self.participants.setdefault(race, {})[str(registration)] = record
        self.removed.get(race, {}).pop(str(registration), None)
        return record

    def modify(self, race: str, registration: int, **changes: Any) -> None:
        record = self.participants[race][str(registration)]
        for name, value in changes.items():
            if name in ("first_name", "last_name", "gender", "dob"):
                record["user"][name] = value
            elif name in ("city", "state", "country_code"):
                record["user"]["address"][name] = value
            else:
                record[name] = value
        record["last_modified"] = self.tick()

    def remove(self, race: str, registration: int) -> None:
        record = self.participants[race].pop(str(registration))
        record["last_modified"] = self.tick()
        self.removed.setdefault(race, {})[str(registration)] = record

    def add_team(self, race: str, team_id: int, name: str, team_type_id: int = 68) -> None:
        self.teams.setdefault(race, []).append(
            {
                "team_id": team_id,
                "team_type_id": team_type_id,
                "team_name": name,
                "team_gender": None,
                "team_bib_num": None,
                "team_age_restriction_id": None,
                "last_modified_ts": self.tick(),
            }
        )
        types = self.team_types.setdefault(race, [])
        if all(t["team_type_id"] != team_type_id for t in types):
            types.append({"team_type_id": team_type_id, "team_type": "Team Marathon", "min_members": 0})

    def expire_keys(self) -> None:
        """The server forgets the current temporary pair (its 24 hours ran out)."""
        self.expired.update(self.pairs)

    # ------------------------------------------------------------- handlers
    async def _login(self, request: Request) -> Response:
        # application/x-www-form-urlencoded, parsed by hand (no python-multipart needed)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        self._log(request, form)
        if (injected := await self._faulted(request)) is not None:
            return injected
        if form.get("key") != self.key or form.get("secret") != self.secret:
            return JSONResponse({"error": {"error_code": 101, "error_msg": "Invalid login"}}, status_code=401)
        pair = (secrets.token_hex(16), secrets.token_hex(16))
        self.pairs.append(pair)
        self.logins += 1
        return JSONResponse(
            {
                "tmp_key": pair[0],
                "tmp_secret": pair[1],
                "user": {"user": {"user_id": "1", "first_name": "Tim"}},
            }
        )

    async def _authorised(self, request: Request) -> Response | None:
        params = dict(request.query_params)
        self._log(request, params)
        pair = (params.get("tmp_key", ""), params.get("tmp_secret", ""))
        if pair not in self.pairs:
            return JSONResponse({"error": {"error_code": 101, "error_msg": "Invalid key"}}, status_code=401)
        if pair in self.expired or pair != self.pairs[-1]:
            return JSONResponse(
                {"error": {"error_code": 102, "error_msg": "Credentials expired"}},
                status_code=self.expired_status,
            )
        return await self._faulted(request)

    async def _races(self, request: Request) -> Response:
        if (refused := await self._authorised(request)) is not None:
            return refused
        start, end = request.query_params.get("start_date"), request.query_params.get("end_date")

        def iso(us: str) -> str:
            month, day, year = us.split("/")
            return f"{year}-{month}-{day}"

        races = [
            {"race": race}
            for race in self.races.values()
            if (not start or iso(race["next_date"]) >= start) and (not end or iso(race["next_date"]) <= end)
        ]
        return JSONResponse({"races": races})

    def _grouped(self, records: dict[str, dict[str, Any]], request: Request) -> Response:
        raw = request.query_params.get("modified_after_timestamp")
        if raw is None:
            return JSONResponse(
                {"error": {"error_code": 400, "error_msg": "modified_after_timestamp is required"}},
                status_code=400,
            )
        since = int(raw)
        groups: dict[int, list[dict[str, Any]]] = {}
        for record in sorted(records.values(), key=lambda r: r["registration_id"]):
            if record["last_modified"] > since:
                groups.setdefault(record["event_id"], []).append(record)
        return JSONResponse(
            [
                {"event": {"event_id": event, "participants": []}, "participants": group}
                for event, group in groups.items()
            ]
        )

    async def _participants(self, request: Request) -> Response:
        if (refused := await self._authorised(request)) is not None:
            return refused
        race = request.path_params["race"]
        if race not in self.races and race not in self.participants:
            return JSONResponse({"error": {"error_code": 404, "error_msg": "No such race"}}, status_code=404)
        return self._grouped(self.participants.get(race, {}), request)

    async def _removed(self, request: Request) -> Response:
        if (refused := await self._authorised(request)) is not None:
            return refused
        return self._grouped(self.removed.get(request.path_params["race"], {}), request)

    async def _teams(self, request: Request) -> Response:
        if (refused := await self._authorised(request)) is not None:
            return refused
        return JSONResponse(self.teams.get(request.path_params["race"], []))

    async def _team_types(self, request: Request) -> Response:
        if (refused := await self._authorised(request)) is not None:
            return refused
        return JSONResponse({"race_team_types": self.team_types.get(request.path_params["race"], [])})


# ------------------------------------------------------------------------- ChronoTrack
class FakeChronoTrack(_Fake):
    """The ChronoTrack Live API under ``/api``, its token endpoint at ``/oauth2/token``."""

    def __init__(
        self,
        client_id: str = "ct-app-41",
        client_secret: str = "ct-client-secret-Hh3",
        username: str = "timer@example.com",
        password: str = "ct-user-password-Kk8",
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.now = 1_763_000_000.0  # the server clock (Date header, entry modification)
        self.max_page_size = 1000
        self.events: dict[str, dict[str, Any]] = {}
        self.races: dict[str, list[dict[str, Any]]] = {}
        self.entries: dict[str, dict[str, dict[str, Any]]] = {}
        self.tokens: dict[str, float] = {}  # access token -> expiry (server clock)
        self.refresh_tokens: set[str] = set()
        self.token_grants: list[str] = []
        self.auth_schemes: list[str] = []  # "Bearer" / "Basic" per API request
        # page -> something to do (once) just before that page of entries is served
        self.before_entry_page: dict[int, Any] = {}
        self.app = Starlette(
            routes=[
                Route("/oauth2/token", self._token),
                Route("/api/event", self._events),
                Route("/api/event/{event}/race", self._races),
                Route("/api/event/{event}/entry", self._entries),
            ]
        )

    @contextmanager
    def serve(self) -> Iterator[str]:
        with serve_app(self.app, self.release) as origin:
            yield origin + "/api"

    # ---------------------------------------------------------------- data
    def advance(self, seconds: float = 1.0) -> None:
        self.now += seconds

    def add_event(self, event: str, name: str = "Harbour Half") -> None:
        self.events[event] = {"event_id": event, "event_name": name, "event_start_time": int(self.now)}
        self.races.setdefault(event, [])
        self.entries.setdefault(event, {})

    def add_race(self, event: str, race: str, name: str) -> None:
        self.races.setdefault(event, []).append({"race_id": race, "race_name": name, "race_event_id": event})

    def add(
        self,
        *,
        event: str = "9001",
        race: str = "77",
        entry: int,
        bib: str | int | None,
        first: str,
        last: str,
        sex: str = "M",
        age: int | None = 35,
        team: str | None = None,
        city: str | None = "Portland",
        region: str | None = "OR",
        country: str | None = "USA",
        bracket: str | None = None,
        status: str = "ACTIVE",
    ) -> dict[str, Any]:
        record = {
            "entry_id": str(entry),
            "entry_bib": None if bib is None else str(bib),
            "entry_name": f"{first} {last}",
            "entry_status": status,
            "entry_type": "IND",
            "entry_race_age": age,
            "race_id": race,
            "race_name": next(
                (r["race_name"] for r in self.races.get(event, []) if r["race_id"] == race), ""
            ),
            "athlete_id": str(entry + 5000),
            "athlete_first_name": first,
            "athlete_last_name": last,
            "athlete_sex": sex,
            "athlete_email": f"{first.lower()}@example.com",
            "location_city": city,
            "location_region": region,
            "location_country": country,
            "bracket_name": bracket,
            "team_name": team,
            "_modified": self.now,
        }
        self.entries.setdefault(event, {})[str(entry)] = record
        return record

    def modify(self, event: str, entry: int, **changes: Any) -> None:
        record = self.entries[event][str(entry)]
        record.update(changes)
        record["_modified"] = self.now

    def delete(self, event: str, entry: int) -> None:
        del self.entries[event][str(entry)]

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # ------------------------------------------------------------- handlers
    def _basic(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password

    def _headers(self) -> dict[str, str]:
        return {"Date": formatdate(self.now, usegmt=True), "X-Ctlive-Api-Version": "1.0"}

    async def _token(self, request: Request) -> Response:
        params = dict(request.query_params)
        self._log(request, params)
        if (injected := await self._faulted(request)) is not None:
            return injected
        if self._basic(request) != (self.client_id, self.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401, headers=self._headers())
        grant = params.get("grant_type")
        self.token_grants.append(grant or "")
        if grant == "password":
            if (params.get("username"), params.get("password")) != (self.username, self.password):
                return JSONResponse({"error": "invalid_grant"}, status_code=401, headers=self._headers())
        elif grant == "refresh_token":
            if params.get("refresh_token") not in self.refresh_tokens:
                return JSONResponse({"error": "invalid_grant"}, status_code=400, headers=self._headers())
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400, headers=self._headers())
        token, refresh = secrets.token_hex(12), secrets.token_hex(12)
        expires = self.now + 72 * 3600
        self.tokens[token] = expires
        self.refresh_tokens.add(refresh)
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires": str(int(expires)),
                "refresh_token": refresh,
            },
            headers=self._headers(),
        )

    async def _check(self, request: Request) -> Response | None:
        params = dict(request.query_params)
        self._log(request, params)
        if params.get("client_id") != self.client_id:
            return JSONResponse({"message": "unknown client_id"}, status_code=400, headers=self._headers())
        if params.get("format", "json") != "json":
            return JSONResponse({"message": "only json here"}, status_code=400, headers=self._headers())
        header = request.headers.get("authorization", "")
        self.auth_schemes.append(header.partition(" ")[0])
        if header.startswith("Bearer "):
            expiry = self.tokens.get(header[7:])
            if expiry is None or expiry < self.now:
                return JSONResponse(
                    {"message": "invalid or expired token"}, status_code=401, headers=self._headers()
                )
        elif self._basic(request) != (self.username, self.password):
            return JSONResponse(
                {"message": "bad credentials"},
                status_code=401,
                headers={**self._headers(), "WWW-Authenticate": 'Basic realm="ctlive"'},
            )
        page = int(params.get("page", "1"))
        return await self._faulted(request, page)

    def _page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
        params = request.query_params
        page = max(1, int(params.get("page", "1")))
        size = max(1, min(int(params.get("size", "50")), self.max_page_size))
        rows = len(items)
        pages = max(1, -(-rows // size))
        chunk = items[(page - 1) * size : page * size]
        first = (page - 1) * size + 1
        headers = {
            **self._headers(),
            "X-Ctlive-Row-Count": str(rows),
            "X-Ctlive-Current-Rows": f"{first}-{first + len(chunk) - 1}" if chunk else "0-0",
            "X-Ctlive-Page-Count": str(pages),
            "X-Ctlive-Page-Size": str(size),
            "X-Ctlive-Current-Page": str(page),
        }
        public = [{k: v for k, v in item.items() if not k.startswith("_")} for item in chunk]
        return JSONResponse({key: public}, headers=headers)

    async def _events(self, request: Request) -> Response:
        if (refused := await self._check(request)) is not None:
            return refused
        return self._page(request, "event_list", list(self.events.values()))

    async def _races(self, request: Request) -> Response:
        if (refused := await self._check(request)) is not None:
            return refused
        event = request.path_params["event"]
        if event not in self.events:
            return JSONResponse({"message": "no such event"}, status_code=404, headers=self._headers())
        return self._page(request, "event_race", self.races.get(event, []))

    async def _entries(self, request: Request) -> Response:
        if (refused := await self._check(request)) is not None:
            return refused
        event = request.path_params["event"]
        if event not in self.events:
            return JSONResponse({"message": "no such event"}, status_code=404, headers=self._headers())
        hook = self.before_entry_page.pop(int(request.query_params.get("page", "1")), None)
        if hook is not None:
            hook()
        since = request.query_params.get("modified_after")
        items = sorted(self.entries.get(event, {}).values(), key=lambda e: int(e["entry_id"]))
        if since is not None:
            items = [e for e in items if e["_modified"] > float(since)]
        return self._page(request, "event_entry", items)
