"""The simulator's HTTP side: the BBT local API 1.1 (``docs/bbt-api.md``), the push
WebSocket, and the hosted World Triathlon v1.1 files, as one Starlette app.

Every answer is JSON (orjson). Bad requests get a 4xx JSON error naming what was wrong;
a catch-all handler answers JSON too, so nothing ever reaches a client as an HTML page or
a dropped connection.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime as http_date
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from racetui.engine import Filter
from racetui.model import RaceKind
from racetui.model.incidents import format_incidents
from racetui.model.times import format_datetime, format_duration
from racetui.sim.push import CLOSE_POLICY, EVENTS, Subscriber
from racetui.sim.state import AthleteTruth, PassRecord, RaceRun

if TYPE_CHECKING:
    from racetui.sim.server import Sim

__all__ = ["ApiError", "BbtApi", "FeedCache", "RefuseHttp", "build_app", "dur", "json_response"]

log = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"
MAX_PAGE_SIZE = 1000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def _missing(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def _error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": error, "message": message}, status, headers)


# ------------------------------------------------------------------ formatting
def dur(ms: int | None) -> str | None:
    """``HH:MM:SS.fff`` (``None`` stays ``None``; a negative value is shown as zero)."""
    if ms is None:
        return None
    return format_duration(max(0, ms))


# ------------------------------------------------------------------- parameters
def _int(
    request: Request,
    name: str,
    *,
    required: bool = False,
    default: int | None = None,
    minimum: int = 1,
    maximum: int | None = None,
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise _bad(f"{name}: required")
        return default
    text = raw.strip()
    try:
        if not text.isdigit() or len(text) > 18:
            raise ValueError(text)
        value = int(text)
    except ValueError:
        raise _bad(f"{name}: expected a whole number >= {minimum}, got {raw[:40]!r}") from None
    if value < minimum:
        raise _bad(f"{name}: expected a whole number >= {minimum}, got {raw[:40]!r}")
    if maximum is not None and value > maximum:
        raise _bad(f"{name}: at most {maximum}, got {value}")
    return value


def _page(request: Request) -> tuple[int, int]:
    page = _int(request, "page", default=1) or 1
    size = _int(request, "page_size", default=50, maximum=MAX_PAGE_SIZE) or 50
    return page, size


def _envelope(page: int, size: int, total: int, data: list[Any]) -> dict[str, Any]:
    return {"page": page, "page_size": size, "total": total, "pages": -(-total // size), "data": data}


def _gender(request: Request) -> str | None:
    raw = request.query_params.get("gender")
    if raw is None or not raw.strip():
        return None
    value = raw.strip().upper()
    if value not in ("M", "F", "X"):
        raise _bad(f"gender: expected M, F or X, got {raw[:40]!r}")
    return value


# ------------------------------------------------------------------------ the API
class BbtApi:
    """Request handlers over one running simulation."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.state = sim.state
        self.epoch = sim.state.epoch
        state = sim.state
        self.by_result: dict[int, tuple[RaceRun, AthleteTruth]] = {}
        self.by_racenum: dict[str, list[tuple[RaceRun, AthleteTruth]]] = {}
        self.listing: dict[int, list[tuple[RaceRun, AthleteTruth]]] = {}
        self.haystack: dict[int, str] = {}
        for run in sorted(state.runs.values(), key=lambda r: r.sim.number):
            rows = sorted(run.entries.values(), key=lambda t: (t.number, t.bib))
            self.listing[run.sim.number] = [(run, t) for t in rows]
            for truth in rows:
                self.by_result[truth.result_id] = (run, truth)
                self.by_racenum.setdefault(truth.bib, []).append((run, truth))
                p = truth.participant
                words = [truth.bib, p.first_name, p.last_name, p.name, p.club or "", p.country or ""]
                words += [leg.member.name for leg in truth.legs]
                self.haystack[truth.result_id] = "\x00".join(words).lower()
        self.points: list[dict[str, Any]] = []
        for sim_race in sim.event.races:
            for point in sorted(sim_race.race.points, key=lambda p: p.order):
                self.points.append(
                    {
                        "id": int(point.id),
                        "race_id": sim_race.number,
                        "location_id": int(point.location_id) if point.location_id else None,
                        "name": point.name,
                        "order": point.order,
                        "distance": None if point.distance_m is None else int(point.distance_m),
                        "is_finish": point.is_finish,
                        "leg": point.leg,
                    }
                )
        self.point_race: dict[int, RaceRun] = {}
        for run in state.runs.values():
            for pid in run.point_ids:
                self.point_race[int(pid)] = run

    # ---------------------------------------------------------------- helpers
    def tod(self, at_ms: int) -> str:
        return format_datetime(self.epoch + timedelta(milliseconds=at_ms))

    def run(self, request: Request, *, required: bool = True) -> RaceRun | None:
        race_id = _int(request, "race_id", required=required, minimum=0)
        if race_id is None:
            return None
        run = self.state.runs.get(str(race_id))
        if run is None:
            raise _missing(f"race_id: no race {race_id}")
        return run

    def point(self, request: Request, run: RaceRun | None) -> tuple[RaceRun, int]:
        point_id = _int(request, "point_id", required=True, minimum=0)
        assert point_id is not None
        owner = self.point_race.get(point_id)
        if owner is None:
            raise _missing(f"point_id: no timing point {point_id}")
        if run is not None and owner is not run:
            raise _missing(f"point_id: no timing point {point_id} in race {run.sim.number}")
        return owner, owner.point_index[str(point_id)]

    def result(self, run: RaceRun, truth: AthleteTruth, at: int | None = None) -> dict[str, Any]:
        """The BBT result object; ``at`` is the point index for times and positions."""
        p = truth.participant
        index = truth.last if at is None else at
        chip = truth.chips[index] if index >= 0 else None
        position = gender_position = category_position = None
        if chip is not None:
            # places come from the engine's read side, as every screen's do
            standings = self.state.engine.race(run.sim.id)
            position = standings.placing(truth.bib, index)
            if position is not None and p.gender:
                gender_position = standings.placing(truth.bib, index, Filter(gender=p.gender))
            if position is not None and p.category:
                category_position = standings.placing(truth.bib, index, Filter(category=p.category))
        finish = truth.chips[run.finish_index]
        return {
            "id": truth.result_id,
            "race_id": run.sim.number,
            "racenum": truth.bib,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "name": p.display_name(),
            "gender": p.gender,
            "category": p.category,
            "age": p.age,
            "country": p.country,
            "club": p.club,
            "wave_id": int(p.wave_id) if p.wave_id else None,
            "status": truth.status.value,
            "last_point_id": int(run.point_ids[truth.last]) if truth.last >= 0 else None,
            "time": dur(chip),
            "race_time": None if chip is None else dur(chip + truth.offset_ms),
            "position": position,
            "gender_position": gender_position,
            "category_position": category_position,
            "finish_time": dur(finish),
            "incidents": format_incidents(truth.incidents) if truth.incidents else None,
            "members": [
                {
                    "order": leg.order,
                    "id": int(leg.member.id) if leg.member.id else None,
                    "name": leg.member.name,
                    "gender": leg.member.gender,
                    "country": leg.member.country,
                }
                for leg in truth.legs
            ]
            if truth.legs
            else None,
        }

    def pass_item(self, record: PassRecord) -> dict[str, Any]:
        truth = record.truth
        return {
            "id": record.id,
            "result_id": truth.result_id,
            "race_id": record.race_number,
            "racenum": truth.bib,
            "name": truth.participant.display_name(),
            "point_id": record.point_id,
            "location_id": record.location_id,
            "time_of_day": self.tod(record.at_ms),
            "race_time": dur(record.gun_ms),
            "time": dur(record.chip_ms),
        }

    def race_state(self, run: RaceRun) -> dict[str, Any]:
        race = run.sim.race
        return {
            "id": run.sim.number,
            "name": race.name,
            "kind": race.kind.value,
            "distance": None if race.distance_m is None else int(race.distance_m),
            "start_mode": run.sim.start_mode,
            "state": run.state.value,
            "gun_time": None if run.gun_ms is None else self.tod(run.gun_ms),
            "wetsuit": race.wetsuit,
            "air_temp": run.air_temp,
            "water_temp": race.water_temp,
        }

    # --------------------------------------------------------------- handlers
    async def races(self, request: Request) -> Response:
        page, size = _page(request)
        runs = sorted(self.state.runs.values(), key=lambda r: r.sim.number)
        return self._paged(page, size, [self.race_state(run) for run in runs])

    async def waves(self, request: Request) -> Response:
        page, size = _page(request)
        waves = [
            {"id": int(w.id), "race_id": r.number, "name": w.name, "offset": dur(w.offset_ms)}
            for r in self.sim.event.races
            for w in r.race.waves
        ]
        return self._paged(page, size, waves)

    async def locations(self, request: Request) -> Response:
        page, size = _page(request)
        data = [{"id": int(loc.id), "name": loc.name} for loc in self.sim.event.event.locations]
        return self._paged(page, size, data)

    async def timing_points(self, request: Request) -> Response:
        page, size = _page(request)
        return self._paged(page, size, self.points)

    def _paged(self, page: int, size: int, items: list[Any]) -> Response:
        start = (page - 1) * size
        return json_response(_envelope(page, size, len(items), items[start : start + size]))

    async def raceclock(self, request: Request) -> Response:
        run = self.run(request)
        assert run is not None
        now = self.sim.now_ms
        gun = run.gun_ms
        return json_response(
            {
                "race_id": run.sim.number,
                "state": run.state.value,
                "gun_time": self.tod(gun if gun is not None else run.sim.gun_at_ms),
                "server_time": self.tod(now),
                "race_time": None if gun is None else dur(max(0, now - gun)),
                "waves": [{"id": int(w.id), "offset": dur(w.offset_ms)} for w in run.sim.race.waves],
            }
        )

    def _at_point(self, run: RaceRun, index: int, gender: str | None, page: int, size: int) -> Response:
        view = self.state.engine.race(run.sim.id).view(point_id=run.point_ids[index], gender=gender)
        total = len(view)
        start = (page - 1) * size
        rows = view.rows(start, start + size) if start < total else []
        data = [self.result(run, run.entries[row.bib], index) for row in rows]
        return json_response(_envelope(page, size, total, data))

    async def toplist(self, request: Request) -> Response:
        run = self.run(request)
        assert run is not None
        page, size = _page(request)
        return self._at_point(run, run.finish_index, None, page, size)

    async def toplistforpoint(self, request: Request) -> Response:
        run = self.run(request)
        assert run is not None
        owner, index = self.point(request, run)
        gender = _gender(request)
        page, size = _page(request)
        return self._at_point(owner, index, gender, page, size)

    async def latest(self, request: Request) -> Response:
        page, size = _page(request)
        point_id = _int(request, "point_id", minimum=0)
        records: list[PassRecord]
        if point_id is not None:
            if point_id not in self.point_race:
                raise _missing(f"point_id: no timing point {point_id}")
            records = self.state.passes_at_point[point_id]
        else:
            location_id = _int(request, "location_id", minimum=0)
            if location_id is None:
                raise _bad("point_id or location_id: required")
            if location_id not in self.state.passes_at_location:
                raise _missing(f"location_id: no location {location_id}")
            records = self.state.passes_at_location[location_id]
        total = len(records)
        # newest first: page 1 is the end of the log
        stop = total - (page - 1) * size
        start = max(0, stop - size)
        chosen = records[start:stop] if stop > 0 else []
        data = [self.pass_item(record) for record in reversed(chosen)]
        return json_response(_envelope(page, size, total, data))

    async def results_list(self, request: Request) -> Response:
        run = self.run(request, required=False)
        page, size = _page(request)
        racenum = request.query_params.get("racenum")
        search = (request.query_params.get("search") or "").strip().lower()
        if run is not None:
            rows = self.listing[run.sim.number]
        else:
            rows = [row for number in sorted(self.listing) for row in self.listing[number]]
        if racenum is not None and racenum.strip():
            wanted = racenum.strip()
            rows = [row for row in rows if row[1].bib == wanted]
        if search:
            haystack = self.haystack
            rows = [row for row in rows if search in haystack[row[1].result_id]]
        start = (page - 1) * size
        data = [self.result(r, t) for r, t in rows[start : start + size]]
        return json_response(_envelope(page, size, len(rows), data))

    async def leaders(self, request: Request) -> Response:
        run = self.run(request)
        assert run is not None
        gender = _gender(request)
        standings = self.state.engine.race(run.sim.id)
        points = []
        for index, pid in enumerate(run.point_ids):
            rows = standings.view(point_id=pid, gender=gender).rows(0, 3)
            points.append(
                {
                    "point_id": int(pid),
                    "name": standings.points[index].name,
                    "leaders": [self.result(run, run.entries[row.bib], index) for row in rows],
                }
            )
        return json_response({"race_id": run.sim.number, "gender": gender, "points": points})

    async def participant(self, request: Request) -> Response:
        run = self.run(request, required=False)
        result_id = _int(request, "result_id", minimum=0)
        racenum = (request.query_params.get("racenum") or "").strip()
        if result_id is not None:
            found = self.by_result.get(result_id)
            if found is None or (run is not None and found[0] is not run):
                where = f" in race {run.sim.number}" if run is not None else ""
                raise _missing(f"result_id: no result {result_id}{where}")
        elif racenum:
            matches = self.by_racenum.get(racenum, [])
            if run is not None:
                matches = [m for m in matches if m[0] is run]
            if not matches:
                where = f" in race {run.sim.number}" if run is not None else ""
                raise _missing(f"racenum: no race number {racenum[:40]!r}{where}")
            if len(matches) > 1:
                races = ", ".join(str(m[0].sim.number) for m in matches)
                raise _bad(f"racenum: {racenum!r} is in races {races}; give race_id")
            found = matches[0]
        else:
            raise _bad("result_id or racenum: required")
        owner, truth = found
        body = self.result(owner, truth)
        standings = self.state.engine.race(owner.sim.id)
        splits = []
        for split in standings.splits(truth.bib):
            splits.append(
                {
                    "point_id": int(owner.point_ids[split.point_index]),
                    "name": split.point_name,
                    "time_of_day": self.tod(owner.sim.gun_at_ms + split.gun_ms),
                    "race_time": dur(split.gun_ms),
                    "time": dur(split.time_ms),
                    "split": dur(split.split_ms),
                    "position": split.position,
                }
            )
        body["splits"] = splits
        return json_response(body)

    async def push_over_http(self, request: Request) -> Response:
        raise _bad("push: a WebSocket endpoint; connect with ws:// and ?events=results,eventdata")

    async def push(self, websocket: WebSocket) -> None:
        hub = self.sim.hub
        left = hub.refusing()
        if left > 0:
            if "websocket.http.response" in websocket.scope.get("extensions", {}):
                await websocket.send_denial_response(
                    _error(
                        503,
                        "unavailable",
                        "push refused for now: try again later",
                        {"Retry-After": str(max(1, round(left)))},
                    )
                )
            else:
                await websocket.close(1013)
            return
        raw = websocket.query_params.get("events") or ""
        names = [name.strip() for name in raw.split(",") if name.strip()]
        unknown = [name for name in names if name not in EVENTS]
        await websocket.accept()
        if not names or unknown:
            reason = (
                f"events: unknown {', '.join(unknown)[:60]} (known: results, eventdata)"
                if unknown
                else "events: required (results, eventdata)"
            )
            await websocket.close(CLOSE_POLICY, reason[:120])
            return
        subscriber = Subscriber(websocket, frozenset(names), self.sim.config.push_queue)
        hub.add(subscriber)
        try:
            await subscriber.serve()
        finally:
            hub.remove(subscriber)

    async def feed(self, request: Request) -> Response:
        raw = request.path_params.get("race_id", "")
        run = self.state.runs.get(raw) if raw.isdigit() else None
        if run is None:
            raise _missing(f"race_id: no race {raw[:40]!r}")
        if run.sim.kind is RaceKind.ROAD:
            raise _missing(f"race_id: race {run.sim.number} is a road race: no v1.1 feed")
        feed = self.sim.feeds.get(run)
        if feed is None:
            return _error(503, "unavailable", "the v1.1 message builder is not available")
        body, etag, modified = feed
        headers = {
            "ETag": etag,
            "Last-Modified": http_date(modified, usegmt=True),
            "Cache-Control": "no-cache",
        }
        match = request.headers.get("if-none-match")
        if match is not None:
            tags = [t.strip().removeprefix("W/") for t in match.split(",")]
            if "*" in tags or etag in tags:
                return Response(status_code=304, headers=headers)
        else:
            since = request.headers.get("if-modified-since")
            if since:
                try:
                    when = parsedate_to_datetime(since)
                except (TypeError, ValueError, IndexError):
                    when = None
                if when is not None:
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=UTC)
                    if modified <= when:
                        return Response(status_code=304, headers=headers)
        return Response(body, media_type=JSON, headers=headers)


class FeedCache:
    """The hosted v1.1 file of every triathlon and relay race, rebuilt when its race changed."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.built: dict[str, tuple[int, bytes, str, datetime]] = {}
        self.unavailable = False

    def get(self, run: RaceRun) -> tuple[bytes, str, datetime] | None:
        cached = self.built.get(run.sim.id)
        if cached is not None and cached[0] == run.version:
            return cached[1], cached[2], cached[3]
        try:
            from racetui.publish.v11 import build_message
        except ImportError:
            return None
        sim = self.sim
        race = run.sim.race
        changed = sim.state.time_of_day(run.changed_at_ms)
        message = build_message(
            sim.state.engine.race(run.sim.id),
            event_id=sim.event.event.id,
            event_name=sim.event.event.name,
            prog_id=race.external_id or run.sim.id,
            prog_name=race.name,
            status=run.state.value,
            sandbox=True,
            date=changed,
            start_time=None if run.gun_ms is None else sim.state.time_of_day(run.gun_ms),
            wetsuit=race.wetsuit,
            air_temp=run.air_temp,
            water_temp=race.water_temp,
        )
        body = orjson.dumps(message)
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        # HTTP dates have whole seconds: a new body always gets a later Last-Modified, so
        # If-Modified-Since never hides a change made within the same second.
        modified = changed.astimezone(UTC).replace(microsecond=0)
        if cached is not None:
            if cached[2] == etag:
                modified = cached[3]
            elif modified <= cached[3]:
                modified = cached[3] + timedelta(seconds=1)
        self.built[run.sim.id] = (run.version, body, etag, modified)
        return body, etag, modified


# ------------------------------------------------------------------------ the app
class RefuseHttp:
    """ASGI middleware: answers 503 to every HTTP request while ``sim.refuse_http`` is on."""

    def __init__(self, app: ASGIApp, sim: Sim) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            left = self.sim.http_refused_for()
            if left > 0:
                response = _error(
                    503,
                    "unavailable",
                    "the API is unavailable for now: try again later",
                    {"Retry-After": str(max(1, round(left)))},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(sim: Sim) -> ASGIApp:
    api = BbtApi(sim)
    base = "/api/1.1"

    def get(path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
        return Route(base + path, endpoint, methods=["GET"])

    routes = [
        get("/event/races", api.races),
        get("/event/waves", api.waves),
        get("/timing/locations", api.locations),
        get("/timing/points", api.timing_points),
        get("/timing/raceclock", api.raceclock),
        get("/results/toplist", api.toplist),
        get("/results/toplistforpoint", api.toplistforpoint),
        get("/results/latest", api.latest),
        get("/results/list", api.results_list),
        get("/results/leaders", api.leaders),
        get("/results/participant", api.participant),
        WebSocketRoute(base + "/push", api.push),
        get("/push", api.push_over_http),
        Route("/feeds/v1.1/{race_id}.json", api.feed, methods=["GET"]),
    ]

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error(exc.status, exc.error, exc.message)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        path = request.url.path[:200]
        if exc.status_code == 404:
            return _error(404, "not_found", f"no endpoint {path}")
        if exc.status_code == 405:
            return _error(
                405,
                "method_not_allowed",
                f"{request.method} not allowed on {path}: use GET",
                dict(exc.headers or {}),
            )
        error = "bad_request" if exc.status_code == 400 else "http_error"
        return _error(exc.status_code, error, str(exc.detail)[:200], dict(exc.headers or {}))

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("simulator: unexpected error on %s", request.url.path)
        return _error(500, "internal", f"internal error: {type(exc).__name__}")

    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_crash},
    )
    return RefuseHttp(app, sim)
