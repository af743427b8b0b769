"""A stand-in for the ChronoTrack Live Open Platform API, written from
``chronotrack-live-api.txt``.

- auth: OAuth 2.0 password flow (``GET /oauth2/token``, client id/secret as HTTP Basic;
  refresh tokens), HTTP Basic with the user's credentials; every request names
  ``client_id``; JSON only here.
- collections: ``page`` (from 1); the page size is the server's (``page_size``, announced
  in ``X-Ctlive-Page-Size``), with ``X-Ctlive-Row-Count`` / ``-Current-Rows`` /
  ``-Page-Count`` / ``-Current-Page``; ``modified_after`` / ``modified_before`` (epoch
  seconds) and ``last_id`` (entities after that id) filter. Anything else (``size``) is
  not a documented parameter and is ignored.
- writes: ``POST /api/event/{id}/entry`` (one or more entry entities; an entity with an
  ``entry_id`` updates it) answers one result per entity in order;
  ``PUT /api/entry/{id}`` (a partial entity) and ``DELETE /api/entry/{id}`` answer 200
  with no content, as the document says of PUT and DELETE.
- rate limit: past ``connection_limit`` requests within a 60 s frame of the server clock,
  the client is blacklisted for the rest of the frame: ``503`` with the documented
  "over rate" text (and ``Retry-After`` when ``announce_retry_after``).

The resource reference did not come with the document ("Loading resources..."): entity
fields are those racetui reads (``entry_bib``, ``athlete_first_name`` ...).
"""

from __future__ import annotations

import base64
import secrets
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.startlist_base import StandIn

__all__ = ["OVER_RATE", "FakeChronoTrack"]

OVER_RATE = (
    "over rate This 'IP', 'IP range' or 'email address' has been blacklisted, please contact "
    "esupport@chronotrack.com or call (812) 759-7877 to work with our support staff to resolve this issue."
)
_WRITABLE = (
    "entry_bib",
    "entry_status",
    "entry_race_age",
    "race_id",
    "athlete_first_name",
    "athlete_last_name",
    "athlete_sex",
    "athlete_birthdate",
    "team_name",
    "location_city",
    "location_region",
    "location_country",
)


class FakeChronoTrack(StandIn):
    """The ChronoTrack Live API under ``/api``, its token endpoint at ``/oauth2/token``."""

    PREFIX = "/api"

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
        self.page_size = 10  # the server's page size
        self.connection_limit = 1500  # requests per 60 s frame before "503 over rate"
        self.announce_retry_after = False
        self.over_rate = 0  # how many 503 over rate answers were given
        self._frame = (0, 0)  # (frame number, requests in it)
        self.events: dict[str, dict[str, Any]] = {}
        self.races: dict[str, list[dict[str, Any]]] = {}
        self.entries: dict[str, dict[str, dict[str, Any]]] = {}
        self.tokens: dict[str, float] = {}  # access token -> expiry (server clock)
        self.refresh_tokens: set[str] = set()
        self.token_grants: list[str] = []
        self.auth_schemes: list[str] = []  # "Bearer" / "Basic" per API request
        self.next_entry = 50_000
        # page -> something to do (once) just before that page of entries is served
        self.before_entry_page: dict[int, Any] = {}
        self.app = Starlette(
            routes=[
                Route("/oauth2/token", self._token),
                Route("/api/event", self._events),
                Route("/api/event/{event}/race", self._races),
                Route("/api/event/{event}/entry", self._entries, methods=["GET", "POST"]),
                Route("/api/entry/{entry}", self._entry, methods=["GET", "PUT", "DELETE"]),
            ]
        )

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
        birthdate: str | None = None,
    ) -> dict[str, Any]:
        record = {
            "entry_id": str(entry),
            "entry_bib": None if bib is None else str(bib),
            "entry_name": f"{first} {last}",
            "entry_status": status,
            "entry_type": "IND",
            "entry_race_age": age,
            "race_id": race,
            "race_name": self._race_name(event, race),
            "athlete_id": str(entry + 5000),
            "athlete_first_name": first,
            "athlete_last_name": last,
            "athlete_sex": sex,
            "athlete_birthdate": birthdate,
            "athlete_email": f"{first.lower()}@example.com",
            "location_city": city,
            "location_region": region,
            "location_country": country,
            "bracket_name": bracket,
            "team_name": team,
            "_modified": self.now,
            "_event": event,
        }
        self.entries.setdefault(event, {})[str(entry)] = record
        return record

    def _race_name(self, event: str, race: str) -> str:
        return next((r["race_name"] for r in self.races.get(event, []) if r["race_id"] == race), "")

    def modify(self, event: str, entry: int, **changes: Any) -> None:
        record = self.entries[event][str(entry)]
        record.update(changes)
        record["_modified"] = self.now

    def delete(self, event: str, entry: int) -> None:
        del self.entries[event][str(entry)]

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def named(self, event: str, first: str, last: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.entries.get(event, {}).values()
            if (e["athlete_first_name"], e["athlete_last_name"]) == (first, last)
        ]

    def _find(self, entry: str) -> dict[str, Any] | None:
        for records in self.entries.values():
            if entry in records:
                return records[entry]
        return None

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

    def _rate_limited(self) -> Response | None:
        frame = int(self.now // 60)
        number, count = self._frame
        count = count + 1 if number == frame else 1
        self._frame = (frame, count)
        if count <= self.connection_limit:
            return None
        self.over_rate += 1
        headers = self._headers()
        if self.announce_retry_after:
            headers["Retry-After"] = str(int((frame + 1) * 60 - self.now) or 1)
        return Response(OVER_RATE, status_code=503, media_type="text/plain", headers=headers)

    async def _token(self, request: Request) -> Response:
        params = dict(request.query_params)
        self._log(request, params)
        if (limited := self._rate_limited()) is not None:
            return limited
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
        if (limited := self._rate_limited()) is not None:
            return limited
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
        size = self.page_size
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
        return JSONResponse({key: [_public(item) for item in chunk]}, headers=headers)

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
        if request.method == "POST":
            return await self._post_entries(request, event)
        hook = self.before_entry_page.pop(int(request.query_params.get("page", "1")), None)
        if hook is not None:
            hook()
        params = request.query_params
        items = sorted(self.entries.get(event, {}).values(), key=lambda e: int(e["entry_id"]))
        if params.get("modified_after") is not None:
            items = [e for e in items if e["_modified"] > float(params["modified_after"])]
        if params.get("modified_before") is not None:
            items = [e for e in items if e["_modified"] < float(params["modified_before"])]
        if params.get("last_id") is not None:
            items = [e for e in items if int(e["entry_id"]) > int(params["last_id"])]
        return self._page(request, "event_entry", items)

    def _bad(self, message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status, headers=self._headers())

    def _problem(self, event: str, fields: Any, where: str, *, creating: bool) -> str | None:
        if not isinstance(fields, dict):
            return f"{where}: not an entry entity"
        if creating:
            for name in ("athlete_first_name", "athlete_last_name", "race_id"):
                if not fields.get(name):
                    return f"{where}.{name}: required"
        race = fields.get("race_id")
        if race is not None and all(r["race_id"] != str(race) for r in self.races.get(event, [])):
            return f"{where}.race_id: no race {race} in event {event}"
        birthdate = fields.get("athlete_birthdate")
        if birthdate is not None and not (
            isinstance(birthdate, str) and len(birthdate) == 10 and birthdate[4] == birthdate[7] == "-"
        ):
            return f"{where}.athlete_birthdate: expected YYYY-MM-DD, got {birthdate!r}"
        bib = fields.get("entry_bib")
        if bib is not None:
            clash = next(
                (
                    e
                    for e in self.entries.get(event, {}).values()
                    if e["entry_bib"] == str(bib) and e["entry_id"] != str(fields.get("entry_id") or "")
                ),
                None,
            )
            if clash is not None:
                return f"{where}.entry_bib: bib {bib} is already taken by entry {clash['entry_id']}"
        return None

    async def _post_entries(self, request: Request, event: str) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return self._bad("the body is not JSON")
        entities = body if isinstance(body, list) else [body]
        for n, entity in enumerate(entities):
            ident = str(entity.get("entry_id") or "") if isinstance(entity, dict) else ""
            if ident and ident not in self.entries.get(event, {}):
                return self._bad(f"entry[{n}].entry_id: no entry {ident} in event {event}")
            problem = self._problem(event, entity, f"entry[{n}]", creating=not ident)
            if problem:
                return self._bad(problem)
        answer = []
        for entity in entities:
            ident = str(entity.get("entry_id") or "")
            if ident:
                self._update(self.entries[event][ident], entity)
                answer.append({"entry_id": ident, "status": "updated"})
                continue
            self.next_entry += 1
            record = self.add(
                event=event,
                race=str(entity["race_id"]),
                entry=self.next_entry,
                bib=entity.get("entry_bib"),
                first=entity["athlete_first_name"],
                last=entity["athlete_last_name"],
                sex=entity.get("athlete_sex") or "",
                age=entity.get("entry_race_age"),
                team=entity.get("team_name"),
                city=None,
                region=None,
                country=None,
                birthdate=entity.get("athlete_birthdate"),
            )
            answer.append({"entry_id": record["entry_id"], "status": "created"})
        await self._after_write()
        return JSONResponse(answer, headers=self._headers())

    def _update(self, record: dict[str, Any], fields: dict[str, Any]) -> None:
        for name in _WRITABLE:
            if name in fields:
                value = fields[name]
                record[name] = (
                    None if value is None else (str(value) if name in ("entry_bib", "race_id") else value)
                )
        if "race_id" in fields:
            record["race_name"] = self._race_name(record["_event"], record["race_id"])
        record["entry_name"] = f"{record['athlete_first_name']} {record['athlete_last_name']}"
        record["_modified"] = self.now

    async def _entry(self, request: Request) -> Response:
        if (refused := await self._check(request)) is not None:
            return refused
        ident = request.path_params["entry"]
        record = self._find(ident)
        if record is None:
            return self._bad(f"no entry {ident}", 404)
        if request.method == "GET":
            return JSONResponse({"event_entry": [_public(record)]}, headers=self._headers())
        if request.method == "DELETE":
            del self.entries[record["_event"]][ident]
            await self._after_write()
            return Response(status_code=200, headers=self._headers())
        try:
            fields = await request.json()
        except ValueError:
            return self._bad("the body is not JSON")
        problem = self._problem(record["_event"], {**fields, "entry_id": ident}, "entry", creating=False)
        if problem:
            return self._bad(problem)
        self._update(record, fields)
        await self._after_write()
        return Response(status_code=200, headers=self._headers())


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}
