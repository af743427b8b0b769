"""A stand-in for the RaceEntry Timer API, written from ``raceentry-timer-api.txt``.

Under ``/rest``: ``POST login`` (the spec says only that it returns the key/secret pair;
the form field names are configurable, default ``key``/``secret`` as racetui assumes),
``GET races``, ``GET race/{id}/participants`` and ``removed_participants`` (with the
required ``modified_after_timestamp``), ``POST race/{id}/participants`` (add or modify;
``registration_id`` blank creates), ``POST race/{id}/switch_participant_events``,
``POST race/{id}/delete_participants``, ``GET``/``POST race/{id}/teams`` and
``GET race/{id}/teams/team_types``. Every write takes one form field ``request`` holding a
JSON string, and answers the documented ``{"participants": [{"registration_id": ..}]}``
(``{"race_teams": [{"team_id": ..}]}``) in the order of the request.

What the spec does not show (error bodies, how expiry is signalled) is chosen here and
configurable: errors are ``{"error": {"error_code": n, "error_msg": text}}``; an expired
pair is answered with ``expired_status`` (401, 403, or 200 with error code 102).
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.startlist_base import StandIn

__all__ = ["FakeRaceEntry"]


def _error(code: int, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"error_code": code, "error_msg": message}}, status_code=status)


class FakeRaceEntry(StandIn):
    """The RaceEntry Timer API under ``/rest``."""

    PREFIX = "/rest"

    def __init__(
        self,
        key: str = "re-partner-key-7Q2",
        secret: str = "re-partner-secret-9Zx",
        *,
        login_fields: tuple[str, str] = ("key", "secret"),
    ) -> None:
        super().__init__()
        self.key = key
        self.secret = secret
        self.login_fields = login_fields
        self.clock = 1_745_877_909  # the data clock: last_modified of the next change
        self.races: dict[str, dict[str, Any]] = {}
        self.participants: dict[str, dict[str, dict[str, Any]]] = {}
        self.removed: dict[str, dict[str, dict[str, Any]]] = {}
        self.teams: dict[str, list[dict[str, Any]]] = {}
        self.team_types: dict[str, list[dict[str, Any]]] = {}
        self.events: dict[str, set[int]] = {}  # race -> its event ids (writes must name one)
        self.pairs: list[tuple[str, str]] = []  # every pair issued; the last is valid
        self.expired: set[tuple[str, str]] = set()
        self.expired_status = 401  # how an expired pair is answered (with error code 102)
        self.expired_error = (102, "Credentials expired")  # the error it carries
        self.expire_on: str | None = None  # expire the pair when a request to this path arrives (once)
        self.refuse_every_pair = False  # every pair is answered as expired (an account without access)
        self.logins = 0
        self.next_registration = 500
        self.next_team = 100
        self.app = Starlette(
            routes=[
                Route("/rest/login", self._login, methods=["POST"]),
                Route("/rest/races", self._races),
                Route("/rest/race/{race}/participants", self._participants, methods=["GET", "POST"]),
                Route("/rest/race/{race}/removed_participants", self._removed),
                Route("/rest/race/{race}/switch_participant_events", self._switch, methods=["POST"]),
                Route("/rest/race/{race}/delete_participants", self._delete, methods=["POST"]),
                Route("/rest/race/{race}/teams", self._teams, methods=["GET", "POST"]),
                Route("/rest/race/{race}/teams/team_types", self._team_types),
            ]
        )

    # ---------------------------------------------------------------- data
    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def add_race(
        self, race: str, name: str = "City Fun Run", date: str = "04/17/2026", events: tuple[int, ...] = ()
    ) -> None:
        self.races[race] = {
            "race_id": int(race),
            "name": name,
            "next_date": date,
            "next_end_date": date,
            "is_draft_race": "F",
            "address": {"city": "Provo", "state": "UT", "country_code": "USA"},
            "events": [],
        }
        self.events.setdefault(race, set()).update(events)

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
        self.events.setdefault(race, set()).add(int(event))
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

    def named(self, race: str, first: str, last: str) -> list[dict[str, Any]]:
        """Every participant of ``race`` with this name (a test counts creations)."""
        return [
            r
            for r in self.participants.get(race, {}).values()
            if (r["user"]["first_name"], r["user"]["last_name"]) == (first, last)
        ]

    # ------------------------------------------------------------- handlers
    async def _form(self, request: Request) -> dict[str, str]:
        # application/x-www-form-urlencoded, parsed with the standard library
        return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))

    async def _login(self, request: Request) -> Response:
        form = await self._form(request)
        self._log(request, form)
        if (injected := await self._faulted(request)) is not None:
            return injected
        key_field, secret_field = self.login_fields
        if form.get(key_field) != self.key or form.get(secret_field) != self.secret:
            return _error(101, "Invalid login", 401)
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

    async def _authorised(self, request: Request, form: dict[str, str] | None = None) -> Response | None:
        params = dict(request.query_params)
        self._log(request, {**params, **(form or {})})
        pair = (params.get("tmp_key", ""), params.get("tmp_secret", ""))
        if self.expire_on is not None and self.expire_on in request.url.path:
            self.expire_on = None
            self.expire_keys()
        if self.refuse_every_pair:
            self.expire_keys()
        if pair not in self.pairs:
            return _error(101, "Invalid key", 401)
        if pair in self.expired or pair != self.pairs[-1]:
            return _error(*self.expired_error, self.expired_status)
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
            return _error(400, "modified_after_timestamp is required", 400)
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

    def _known(self, race: str) -> bool:
        return race in self.races or race in self.participants

    async def _request_json(self, request: Request) -> tuple[dict[str, str], Any]:
        form = await self._form(request)
        raw = form.get("request")
        if raw is None:
            return form, None
        try:
            return form, json.loads(raw)
        except ValueError:
            return form, None

    async def _participants(self, request: Request) -> Response:
        race = request.path_params["race"]
        if request.method == "GET":
            if (refused := await self._authorised(request)) is not None:
                return refused
            if not self._known(race):
                return _error(404, "No such race", 404)
            return self._grouped(self.participants.get(race, {}), request)
        form, body = await self._request_json(request)
        if (refused := await self._authorised(request, form)) is not None:
            return refused
        if not self._known(race):
            return _error(404, "No such race", 404)
        if not isinstance(body, dict) or not isinstance(body.get("participants"), list):
            return _error(400, "request: a JSON string with a 'participants' list is required", 400)
        # Check every participant first: a refused request changes nothing.
        for n, item in enumerate(body["participants"]):
            problem = self._check_participant(race, item, n)
            if problem:
                return _error(400, problem, 400)
        answer = []
        for item in body["participants"]:
            answer.append({"registration_id": str(self._save(race, item))})
        await self._after_write()
        return JSONResponse({"participants": answer})

    def _check_participant(self, race: str, item: Any, n: int) -> str | None:
        if not isinstance(item, dict):
            return f"participants[{n}]: not an object"
        user = item.get("user")
        if not isinstance(user, dict) or not user.get("first_name") or not user.get("last_name"):
            return f"participants[{n}].user: first_name and last_name are required"
        registration = str(item.get("registration_id") or "")
        if registration and registration not in self.participants.get(race, {}):
            return f"participants[{n}].registration_id: no registration {registration} in race {race}"
        event = item.get("event_id")
        if not registration and event is None:
            return f"participants[{n}].event_id: required"
        if event is not None:
            try:
                number = int(event)
            except (TypeError, ValueError):
                return f"participants[{n}].event_id: not an integer: {event!r}"
            if self.events.get(race) and number not in self.events[race]:
                return f"participants[{n}].event_id: no event {number} in race {race}"
        dob = user.get("dob")
        if dob is not None and not (isinstance(dob, str) and len(dob) == 10 and dob[4] == dob[7] == "-"):
            return f"participants[{n}].user.dob: expected YYYY-MM-DD, got {dob!r}"
        return None

    def _save(self, race: str, item: dict[str, Any]) -> int:
        user = item["user"]
        registration = str(item.get("registration_id") or "")
        gender = user.get("gender", item.get("gender"))  # the spec's example puts it beside user
        if not registration:
            self.next_registration += 1
            number = self.next_registration
            record = self.add(
                race=race,
                event=str(item["event_id"]),
                registration=number,
                bib=item.get("bib_num"),
                first=user["first_name"],
                last=user["last_name"],
                gender=gender or "",
                age=None,
                dob=user.get("dob"),
                team_id=_int(user.get("team_id", item.get("team_id"))),
            )
            return int(record["registration_id"])
        record = self.participants[race][registration]
        for name in ("first_name", "last_name", "dob"):
            if name in user:
                record["user"][name] = user[name]
        if gender is not None:
            record["user"]["gender"] = gender
        if "team_id" in user or "team_id" in item:
            record["team_id"] = _int(user.get("team_id", item.get("team_id")))
        if "bib_num" in item:
            record["bib_num"] = item["bib_num"]
            record["chip_num"] = item["bib_num"]
        if item.get("event_id") is not None:
            record["event_id"] = int(item["event_id"])
        record["last_modified"] = self.tick()
        return int(registration)

    async def _removed(self, request: Request) -> Response:
        if (refused := await self._authorised(request)) is not None:
            return refused
        return self._grouped(self.removed.get(request.path_params["race"], {}), request)

    async def _registrations(self, request: Request) -> tuple[Response | None, list[dict[str, Any]]]:
        form, body = await self._request_json(request)
        if (refused := await self._authorised(request, form)) is not None:
            return refused, []
        race = request.path_params["race"]
        if not self._known(race):
            return _error(404, "No such race", 404), []
        if not isinstance(body, dict) or not isinstance(body.get("registrations"), list):
            return _error(400, "request: a JSON string with a 'registrations' list is required", 400), []
        held = self.participants.get(race, {})
        for n, item in enumerate(body["registrations"]):
            registration = str(item.get("registration_id") or "") if isinstance(item, dict) else ""
            if registration not in held:
                return _error(
                    400, f"registrations[{n}].registration_id: no registration {registration!r}", 400
                ), []
        return None, body["registrations"]

    async def _switch(self, request: Request) -> Response:
        refused, items = await self._registrations(request)
        if refused is not None:
            return refused
        race = request.path_params["race"]
        for n, item in enumerate(items):
            event = _int(item.get("new_event_id"))
            if event is None or (self.events.get(race) and event not in self.events[race]):
                return _error(
                    400, f"registrations[{n}].new_event_id: no event {item.get('new_event_id')!r}", 400
                )
        for item in items:
            self.modify(race, int(item["registration_id"]), event_id=int(item["new_event_id"]))
        await self._after_write()
        return JSONResponse({"participants": [{"registration_id": int(i["registration_id"])} for i in items]})

    async def _delete(self, request: Request) -> Response:
        refused, items = await self._registrations(request)
        if refused is not None:
            return refused
        race = request.path_params["race"]
        for item in items:
            self.remove(race, int(item["registration_id"]))
        await self._after_write()
        return JSONResponse({"participants": [{"registration_id": int(i["registration_id"])} for i in items]})

    async def _teams(self, request: Request) -> Response:
        race = request.path_params["race"]
        if request.method == "GET":
            if (refused := await self._authorised(request)) is not None:
                return refused
            return JSONResponse(self.teams.get(race, []))
        form, body = await self._request_json(request)
        if (refused := await self._authorised(request, form)) is not None:
            return refused
        if not isinstance(body, dict) or not isinstance(body.get("race_teams"), list):
            return _error(400, "request: a JSON string with a 'race_teams' list is required", 400)
        answer = []
        for n, item in enumerate(body["race_teams"]):
            if not isinstance(item, dict) or not item.get("team_name") or item.get("team_type_id") is None:
                return _error(400, f"race_teams[{n}]: team_type_id and team_name are required", 400)
        for item in body["race_teams"]:
            team_id = _int(item.get("team_id"))
            existing = next((t for t in self.teams.get(race, []) if t["team_id"] == team_id), None)
            if existing is None:
                self.next_team += 1
                team_id = self.next_team
                self.add_team(race, team_id, item["team_name"], int(item["team_type_id"]))
            else:
                existing["team_name"] = item["team_name"]
                existing["last_modified_ts"] = self.tick()
            answer.append({"team_id": team_id})
        await self._after_write()
        return JSONResponse({"race_teams": answer})

    async def _team_types(self, request: Request) -> Response:
        if (refused := await self._authorised(request)) is not None:
            return refused
        return JSONResponse({"race_team_types": self.team_types.get(request.path_params["race"], [])})


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None
