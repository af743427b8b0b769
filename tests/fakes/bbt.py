"""A stand-in BBT master (local API 1.1) for the client's tests, on a free loopback port.

A deterministic race: every athlete's gun time at every point is fixed in advance and
:meth:`FakeBBT.advance` moves the race clock, recording passes in time order and pushing
them. Faults on demand: malformed JSON, wrong types, HTTP 500/503, answers that hang or
trickle, connections dropped, push sockets dropped and refused, lost push messages.

:class:`Variant` makes it answer like masters that differ where the vendor's text is
silent (written from that text, not from racetui's reading): ids as text, durations as
numbers of seconds or milliseconds, list answers without ``total``/``pages`` or as bare
arrays, endpoints an older master lacks (404), push frames in the vendor's short form
without ``seq``, passes and results deleted on the master.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from racetui.model.times import format_duration
from racetui.sources.base import Pipeline
from tests.fakes.asgi import LoopServer
from tests.support import DEADLINE, async_wait_until

GUN = "2026-11-23T09:00:00.000+00:00"


def iso(ms: int) -> str:
    h, rest = divmod(9 * 3600_000 + ms, 3600_000)
    m, rest = divmod(rest, 60_000)
    s, f = divmod(rest, 1000)
    return f"2026-11-23T{h:02d}:{m:02d}:{s:02d}.{f:03d}+00:00"


@dataclass
class Athlete:
    id: int
    race_id: int
    racenum: str
    first: str
    last: str
    gender: str
    category: str
    country: str
    club: str
    wave_id: int
    plan: dict[int, int]  # point id -> planned gun ms
    status: str = "OK"
    splits: dict[int, int] = field(default_factory=dict)  # point id -> gun ms (recorded)


_ID_KEYS = frozenset(("id", "race_id", "point_id", "location_id", "wave_id", "result_id", "last_point_id"))
_DURATION_KEYS = frozenset(("time", "race_time", "split", "offset", "finish_time"))


@dataclass
class Variant:
    """How this master differs where the vendor's text is silent."""

    ids: str = "numbers"  # "numbers" | "text"
    durations: str = "text"  # "text" (HH:MM:SS.fff) | "seconds" | "ms" (numbers)
    paging: str = "envelope"  # "envelope" | "no_totals" (page/page_size/data) | "bare" (array)
    missing: frozenset[str] = frozenset()  # routes answering 404 (an older master)
    push: str = "seq"  # "seq" (documented form) | "vendor" ({"event": ..., basics}, no seq)

    def value(self, key: str, value: Any) -> Any:
        if value is None:
            return None
        if key in _ID_KEYS and self.ids == "text" and isinstance(value, int):
            return str(value)
        if key in _DURATION_KEYS and self.durations != "text" and isinstance(value, str):
            h, m, rest = value.split(":")
            ms = (int(h) * 3600 + int(m) * 60) * 1000 + round(float(rest) * 1000)
            return ms if self.durations == "ms" else ms / 1000
        return value

    def shape(self, body: Any) -> Any:
        if isinstance(body, dict):
            return {
                k: self.shape(v) if isinstance(v, dict | list) else self.value(k, v) for k, v in body.items()
            }
        if isinstance(body, list):
            return [self.shape(v) for v in body]
        return body


@dataclass
class Subscriber:
    ws: WebSocket
    queue: asyncio.Queue[bytes | None]
    seq: int = 0


class FakeBBT:
    def __init__(self, athletes: int = 120, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.races: list[dict[str, Any]] = [
            {
                "id": 1,
                "name": "City 10k",
                "kind": "road",
                "distance": 10000,
                "start_mode": "waves",
                "state": "live",
                "gun_time": GUN,
                "wetsuit": None,
                "air_temp": None,
                "water_temp": None,
            },
            {
                "id": 2,
                "name": "Elite Women",
                "kind": "triathlon",
                "distance": 51500,
                "start_mode": "mass",
                "state": "live",
                "gun_time": GUN,
                "wetsuit": True,
                "air_temp": 17.5,
                "water_temp": 19.1,
            },
        ]
        self.waves: list[dict[str, Any]] = [
            {"id": 1, "race_id": 1, "name": "Elite", "offset": "00:00:00.000"},
            {"id": 2, "race_id": 1, "name": "Wave A", "offset": "00:05:00.000"},
            {"id": 3, "race_id": 2, "name": "Elite Women", "offset": "00:00:00.000"},
        ]
        self.offsets = {1: 0, 2: 300_000, 3: 0}
        self.locations: list[dict[str, Any]] = [
            {"id": 1, "name": "Start / Finish arch"},
            {"id": 2, "name": "Harbour bridge"},
        ]
        self.points: list[dict[str, Any]] = [
            {"id": 11, "race_id": 1, "location_id": 2, "name": "2.5 km", "order": 1, "distance": 2500},
            {"id": 12, "race_id": 1, "location_id": 2, "name": "5 km", "order": 2, "distance": 5000},
            {"id": 13, "race_id": 1, "location_id": 1, "name": "Finish", "order": 3, "distance": 10000},
            {"id": 21, "race_id": 2, "location_id": 2, "name": "Swim", "order": 1, "distance": 1500},
            {"id": 22, "race_id": 2, "location_id": 2, "name": "Bike", "order": 2, "distance": 41500},
            {"id": 23, "race_id": 2, "location_id": 1, "name": "Finish", "order": 3, "distance": 51500},
        ]
        for point in self.points:
            point["is_finish"] = point["name"] == "Finish"
            point["leg"] = None
        self.athletes: dict[int, Athlete] = {}
        for i in range(athletes):
            race_id = 1 if i % 4 else 2
            wave = 3 if race_id == 2 else (1 if i % 3 == 0 else 2)
            pace = rng.uniform(170, 300)  # ms per metre
            plan = {}
            for point in self.points:
                if point["race_id"] == race_id:
                    chip = int(point["distance"] * pace) + rng.randint(0, 999)
                    plan[point["id"]] = chip + self.offsets[wave]
            self.add_athlete(
                Athlete(
                    id=1000 + i,
                    race_id=race_id,
                    racenum=str(i + 1),
                    first=f"First{i}",
                    last=f"Last{i}",
                    gender="F" if i % 2 else "M",
                    category=("F" if i % 2 else "M") + str(20 + 5 * (i % 5)),
                    country=["NOR", "SWE", "GBR", "USA"][i % 4],
                    club=f"Club {i % 7}",
                    wave_id=wave,
                    plan=plan,
                )
            )
        # A few ties at the finish: equal times share a place, ordered by race number.
        ids = sorted(a for a in self.athletes if self.athletes[a].race_id == 1)
        for tied in ids[4:6]:
            athlete = self.athletes[tied]
            athlete.plan[13] = 2_500_000 + self.offsets[athlete.wave_id]
        self.clock = 0
        self.pass_id = 50_000
        self.passes: list[dict[str, Any]] = []
        self.subscribers: list[Subscriber] = []
        self.refuse_until = 0.0
        self.faults: dict[str, list[str]] = {}
        self.hang = asyncio.Event()
        self.hang_pages: set[tuple[str, int]] = set()  # (route, page) held like hang_routes
        self.hang.set()
        self.hang_routes: set[str] = set()
        self.requests: Counter[str] = Counter()
        self.push_attempts = 0
        self.push_refused = 0
        self.lose_next_push = 0
        self.url = ""
        self.variant = Variant()
        # (route, page) -> faults to answer with, in turn: "503", "timeout", "drop".
        self.page_faults: dict[tuple[str, int], list[str]] = {}
        self.fail_pages_from = 0  # >0: every page at or past it fails once per read (see fail_reads)
        self.fail_reads: dict[str, str] = {}  # route -> fault for pages >= fail_pages_from
        self.timeout_after = 5.0
        self._server: LoopServer | None = None
        self.port = 0

    # -------------------------------------------------------------------- race
    def add_athlete(self, athlete: Athlete) -> None:
        self.athletes[athlete.id] = athlete

    def by_racenum(self, racenum: str, race_id: int | None = None) -> Athlete:
        return next(
            a for a in self.athletes.values() if a.racenum == racenum and race_id in (None, a.race_id)
        )

    async def advance(self, to_ms: int) -> int:
        """Move the race clock, recording (and pushing) every pass due, in time order."""
        due = sorted(
            (gun, a.id, point_id)
            for a in self.athletes.values()
            if a.status in ("OK",)
            for point_id, gun in a.plan.items()
            if gun <= to_ms and point_id not in a.splits
        )
        for gun, athlete_id, point_id in due:
            self.record_pass(self.athletes[athlete_id], point_id, gun)
        self.clock = to_ms
        await asyncio.sleep(0)
        return len(due)

    def record_pass(self, athlete: Athlete, point_id: int, gun: int) -> None:
        athlete.splits[point_id] = gun
        self.pass_id += 1
        point = self.point(point_id)
        chip = gun - self.offsets[athlete.wave_id]
        self.passes.append(
            {
                "id": self.pass_id,
                "result_id": athlete.id,
                "race_id": athlete.race_id,
                "racenum": athlete.racenum,
                "name": f"{athlete.first} {athlete.last}",
                "point_id": point_id,
                "location_id": point["location_id"],
                "time_of_day": iso(gun),
                "race_time": format_duration(gun),
                "time": format_duration(chip),
            }
        )
        self.push(
            {
                "event": "results",
                "id": athlete.id,
                "race_id": athlete.race_id,
                "racenum": athlete.racenum,
                "point_id": point_id,
                "time": format_duration(chip),
                "race_time": format_duration(gun),
                "time_of_day": iso(gun),
                "status": athlete.status,
                "finish": bool(point["is_finish"]),
            }
        )

    def set_status(self, racenum: str, status: str) -> None:
        athlete = self.by_racenum(racenum)
        athlete.status = status
        self.push(
            {
                "event": "results",
                "id": athlete.id,
                "race_id": athlete.race_id,
                "racenum": athlete.racenum,
                "point_id": None,
                "time": None,
                "race_time": None,
                "time_of_day": None,
                "status": status,
                "finish": False,
            }
        )

    def delete_pass(self, racenum: str, point_id: int, race_id: int | None = None) -> None:
        """The timer deletes a (misread) pass: it leaves the master's answers and the
        result is recomputed (pushed)."""
        athlete = self.by_racenum(racenum, race_id)
        del athlete.splits[point_id]
        athlete.plan.pop(point_id, None)
        self.passes = [
            p for p in self.passes if not (p["result_id"] == athlete.id and p["point_id"] == point_id)
        ]
        self.push(self._status_frame(athlete))

    def delete_athlete(self, racenum: str, race_id: int | None = None) -> None:
        """The timer deletes a whole result (an entry made by mistake)."""
        athlete = self.by_racenum(racenum, race_id)
        del self.athletes[athlete.id]
        self.passes = [p for p in self.passes if p["result_id"] != athlete.id]
        self.push(self._status_frame(athlete))

    @staticmethod
    def _status_frame(athlete: Athlete) -> dict[str, Any]:
        return {
            "event": "results",
            "id": athlete.id,
            "race_id": athlete.race_id,
            "racenum": athlete.racenum,
            "point_id": None,
            "time": None,
            "race_time": None,
            "time_of_day": None,
            "status": athlete.status,
            "finish": False,
        }

    def point(self, point_id: int) -> dict[str, Any]:
        return next(p for p in self.points if p["id"] == point_id)

    # ------------------------------------------------------------------- truth
    def truth(self) -> dict[tuple[str, str], tuple[str, dict[str, int]]]:
        """(race id, bib) -> (status, gun ms by point id), as racetui ids."""
        return {
            (str(a.race_id), a.racenum): (a.status, {str(p): t for p, t in a.splits.items()})
            for a in self.athletes.values()
        }

    def toplist(self, race_id: int) -> list[str]:
        finish = next(p["id"] for p in self.points if p["race_id"] == race_id and p["is_finish"])
        rows = [
            a
            for a in self.athletes.values()
            if a.race_id == race_id and finish in a.splits and a.status not in ("DSQ", "DNF")
        ]
        rows.sort(key=lambda a: (a.splits[finish] - self.offsets[a.wave_id], int(a.racenum)))
        return [a.racenum for a in rows]

    # -------------------------------------------------------------------- push
    def push(self, message: dict[str, Any]) -> None:
        if self.variant.push == "vendor":
            # The vendor's text: {"event": "results"} plus "the basics of the result (id,
            # race, finish time etc)" — no seq, no timing point.
            athlete = self.athletes[message["id"]]
            finish = next(
                (p["id"] for p in self.points if p["race_id"] == athlete.race_id and p["is_finish"]), None
            )
            gun = athlete.splits.get(finish) if finish is not None else None
            message = {
                "event": "results",
                "id": athlete.id,
                "race_id": athlete.race_id,
                "racenum": athlete.racenum,
                "status": athlete.status,
                "finish_time": None if gun is None else format_duration(gun - self.offsets[athlete.wave_id]),
            }
            message = self.variant.shape(message)
        for sub in list(self.subscribers):
            sub.seq += 1
            if self.lose_next_push:
                self.lose_next_push -= 1
                continue
            frame = (
                message if self.variant.push == "vendor" else {**self.variant.shape(message), "seq": sub.seq}
            )
            sub.queue.put_nowait(orjson.dumps(frame))

    def pushed(self) -> bool:
        """Every frame queued so far has gone out to every subscriber (to pace a test on
        deliveries rather than on the clock)."""
        return all(sub.queue.empty() for sub in self.subscribers)

    def push_raw(self, frame: bytes) -> None:
        for sub in list(self.subscribers):
            sub.queue.put_nowait(frame)

    async def drop_push(self, refuse_for: float = 0.0) -> None:
        self.refuse_until = asyncio.get_running_loop().time() + refuse_for
        subs, self.subscribers = self.subscribers, []
        for sub in subs:
            sub.queue.put_nowait(None)

    # ---------------------------------------------------------------- results
    def result(self, a: Athlete, at: int | None = None) -> dict[str, Any]:
        points = [p for p in self.points if p["race_id"] == a.race_id and p["id"] in a.splits]
        point = (
            self.point(at) if at is not None else (max(points, key=lambda p: p["order"]) if points else None)
        )
        gun = a.splits[point["id"]] if point else None
        chip = None if gun is None else gun - self.offsets[a.wave_id]
        finish = next((p["id"] for p in points if p["is_finish"]), None)
        return {
            "id": a.id,
            "race_id": a.race_id,
            "racenum": a.racenum,
            "first_name": a.first,
            "last_name": a.last,
            "name": f"{a.first} {a.last}",
            "gender": a.gender,
            "category": a.category,
            "age": 30,
            "country": a.country,
            "club": a.club,
            "wave_id": a.wave_id,
            "status": a.status,
            "last_point_id": point["id"] if point else None,
            "time": None if chip is None else format_duration(chip),
            "race_time": None if gun is None else format_duration(gun),
            "position": None,
            "gender_position": None,
            "category_position": None,
            "finish_time": None
            if finish is None
            else format_duration(a.splits[finish] - self.offsets[a.wave_id]),
        }

    # ------------------------------------------------------------------ server
    def app(self) -> Starlette:
        routes = [
            Route("/api/1.1/event/races", self._races),
            Route("/api/1.1/event/waves", self._waves),
            Route("/api/1.1/timing/points", self._points),
            Route("/api/1.1/timing/locations", self._locations),
            Route("/api/1.1/timing/raceclock", self._raceclock),
            Route("/api/1.1/results/list", self._list),
            Route("/api/1.1/results/toplist", self._toplist),
            Route("/api/1.1/results/toplistforpoint", self._toplistforpoint),
            Route("/api/1.1/results/latest", self._latest),
            Route("/api/1.1/results/participant", self._participant),
            WebSocketRoute("/api/1.1/push", self._push),
        ]
        return Starlette(routes=routes)

    async def start(self, port: int = 0) -> FakeBBT:
        self._server = LoopServer(self.app(), port=port)
        await self._server.start()
        self.port = self._server.port
        self.url = self._server.url
        return self

    async def stop(self) -> None:
        await self.drop_push()
        self.hang.set()
        if self._server is not None:
            await self._server.stop()
        self._server = None

    async def __aenter__(self) -> FakeBBT:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -------------------------------------------------------------- endpoints
    async def _answer(self, request: Request, body: Any) -> Response:
        route = request.url.path.removeprefix("/api/1.1")
        self.requests[route] += 1
        if route in self.variant.missing:
            return self._error(404, "not_found", f"no endpoint /api/1.1{route}")
        page = int(request.query_params.get("page", "1") or 1)
        queued = self.page_faults.get((route, page))
        page_fault = queued.pop(0) if queued else None
        if page_fault is None and self.fail_pages_from and page >= self.fail_pages_from:
            page_fault = self.fail_reads.get(route)
        if page_fault == "503":
            return JSONResponse(
                {"error": "unavailable", "message": "busy"}, status_code=503, headers={"Retry-After": "0"}
            )
        if page_fault == "timeout":
            await asyncio.sleep(self.timeout_after)
        if page_fault == "drop":
            raise ConnectionResetError("the master dropped the connection")
        if route in self.hang_routes or (route, page) in self.hang_pages:
            await self.hang.wait()
        faults = self.faults.get(route)
        fault = faults.pop(0) if faults else None
        if fault == "malformed":
            return Response(b'{"page": 1, "data": [', media_type="application/json")
        if fault == "500":
            return JSONResponse({"error": "internal", "message": "boom"}, status_code=500)
        if fault == "wrongtypes" and isinstance(body, dict) and body.get("data"):
            body = {
                **body,
                "data": [{**body["data"][0], "race_id": "one", "racenum": None}, *body["data"][1:]],
            }
        if fault == "notalist":
            body = {**body, "data": "nope"}
        if isinstance(body, dict) and "data" in body and "pages" in body:
            if self.variant.paging == "no_totals":
                body = {k: v for k, v in body.items() if k not in ("total", "pages")}
            elif self.variant.paging == "bare":
                body = body["data"]
        return Response(orjson.dumps(self.variant.shape(body)), media_type="application/json; charset=utf-8")

    @staticmethod
    def _error(status: int, kind: str, message: str) -> Response:
        return JSONResponse({"error": kind, "message": message}, status_code=status)

    def _paged(self, request: Request, rows: list[Any]) -> dict[str, Any] | Response:
        try:
            page = int(request.query_params.get("page", "1"))
            size = int(request.query_params.get("page_size", "50"))
        except ValueError:
            return self._error(400, "bad_request", "page/page_size: expected a whole number")
        if page < 1 or size < 1:
            return self._error(400, "bad_request", "page: expected a whole number >= 1")
        if size > 1000:
            return self._error(400, "bad_request", f"page_size: at most 1000, got {size}")
        pages = (len(rows) + size - 1) // size
        return {
            "page": page,
            "page_size": size,
            "total": len(rows),
            "pages": pages,
            "data": rows[(page - 1) * size : page * size],
        }

    async def _send_paged(self, request: Request, rows: list[Any]) -> Response:
        body = self._paged(request, rows)
        return body if isinstance(body, Response) else await self._answer(request, body)

    def _race_param(self, request: Request, required: bool = True) -> int | Response | None:
        raw = request.query_params.get("race_id")
        if raw is None:
            return self._error(400, "bad_request", "race_id: required") if required else None
        if not raw.isdigit():
            return self._error(400, "bad_request", f"race_id: expected a whole number, got {raw!r}")
        if all(r["id"] != int(raw) for r in self.races):
            return self._error(404, "not_found", f"race_id: no race {raw}")
        return int(raw)

    async def _races(self, request: Request) -> Response:
        return await self._send_paged(request, self.races)

    async def _waves(self, request: Request) -> Response:
        return await self._send_paged(request, self.waves)

    async def _points(self, request: Request) -> Response:
        return await self._send_paged(request, self.points)

    async def _locations(self, request: Request) -> Response:
        return await self._send_paged(request, self.locations)

    async def _raceclock(self, request: Request) -> Response:
        race_id = self._race_param(request)
        if isinstance(race_id, Response):
            return race_id
        race = next(r for r in self.races if r["id"] == race_id)
        waves = [{"id": w["id"], "offset": w["offset"]} for w in self.waves if w["race_id"] == race_id]
        return await self._answer(
            request,
            {
                "race_id": race_id,
                "state": race["state"],
                "gun_time": race["gun_time"],
                "server_time": iso(self.clock),
                "race_time": format_duration(self.clock) if race["state"] != "prerace" else None,
                "waves": waves,
            },
        )

    async def _list(self, request: Request) -> Response:
        race_id = self._race_param(request, required=False)
        if isinstance(race_id, Response):
            return race_id
        rows = sorted(
            (a for a in self.athletes.values() if race_id is None or a.race_id == race_id),
            key=lambda a: (a.race_id, int(a.racenum)),
        )
        racenum = request.query_params.get("racenum")
        if racenum is not None:
            rows = [a for a in rows if a.racenum == racenum]
        return await self._send_paged(request, [self.result(a) for a in rows])

    async def _toplist(self, request: Request) -> Response:
        race_id = self._race_param(request)
        if isinstance(race_id, Response) or race_id is None:
            return race_id or self._error(400, "bad_request", "race_id: required")
        return await self._send_paged(
            request, [self.result(self.by_racenum(n)) for n in self.toplist(race_id)]
        )

    async def _toplistforpoint(self, request: Request) -> Response:
        race_id = self._race_param(request)
        if isinstance(race_id, Response):
            return race_id
        raw = request.query_params.get("point_id", "")
        if not raw.isdigit() or all(p["id"] != int(raw) or p["race_id"] != race_id for p in self.points):
            return self._error(404, "not_found", f"point_id: no point {raw!r} in race {race_id}")
        point_id = int(raw)
        rows = [a for a in self.athletes.values() if a.race_id == race_id and point_id in a.splits]
        rows = [a for a in rows if a.status not in ("DSQ", "DNS")] + [
            a for a in rows if a.status in ("DSQ", "DNS")
        ]
        rows.sort(key=lambda a: (a.status in ("DSQ", "DNS"), a.splits[point_id] - self.offsets[a.wave_id]))
        return await self._send_paged(request, [self.result(a, point_id) for a in rows])

    async def _latest(self, request: Request) -> Response:
        raw = request.query_params.get("point_id")
        loc = request.query_params.get("location_id")
        if raw is None and loc is None:
            return self._error(400, "bad_request", "point_id or location_id: required")
        if raw is not None:
            rows = [p for p in reversed(self.passes) if str(p["point_id"]) == raw]
        else:
            rows = [p for p in reversed(self.passes) if str(p["location_id"]) == loc]
        return await self._send_paged(request, rows)

    async def _participant(self, request: Request) -> Response:
        raw = request.query_params.get("result_id")
        if raw is not None:
            athlete = self.athletes.get(int(raw)) if raw.isdigit() else None
        else:
            racenum = request.query_params.get("racenum")
            athlete = next((a for a in self.athletes.values() if a.racenum == racenum), None)
        if athlete is None:
            return self._error(404, "not_found", "result_id: no such result")
        body = self.result(athlete)
        order = sorted((p for p in self.points if p["id"] in athlete.splits), key=lambda p: p["order"])
        splits, previous = [], 0
        for p in order:
            gun = athlete.splits[p["id"]]
            chip = gun - self.offsets[athlete.wave_id]
            splits.append(
                {
                    "point_id": p["id"],
                    "name": p["name"],
                    "time_of_day": iso(gun),
                    "race_time": format_duration(gun),
                    "time": format_duration(chip),
                    "split": format_duration(chip - previous),
                    "position": None,
                }
            )
            previous = chip
        body["splits"] = splits
        return await self._answer(request, body)

    async def _push(self, websocket: WebSocket) -> None:
        self.push_attempts += 1
        events = set((websocket.query_params.get("events") or "").split(","))
        if asyncio.get_running_loop().time() < self.refuse_until:
            self.push_refused += 1
            await websocket.close(code=1013)  # before accept: the upgrade is refused (HTTP 403)
            return
        await websocket.accept()
        if not events <= {"results", "eventdata"}:
            await websocket.close(code=1008, reason="unknown event")
            return
        sub = Subscriber(websocket, asyncio.Queue())
        self.subscribers.append(sub)
        try:
            while True:
                frame = await sub.queue.get()
                if frame is None:
                    await websocket.close(code=1012)
                    return
                await websocket.send_bytes(frame) if frame.startswith(b"\xff") else await websocket.send_text(
                    frame.decode("utf-8", "replace")
                )
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if sub in self.subscribers:
                self.subscribers.remove(sub)


# ----------------------------------------------------------------------- helpers
async def until(condition: Any, timeout: float = DEADLINE, what: str = "condition") -> None:
    """:func:`tests.support.async_wait_until` (``timeout`` is its deadline)."""
    await async_wait_until(condition, deadline=timeout, what=what)


def engine_state(pipeline: Pipeline) -> dict[tuple[str, str], tuple[str, dict[str, int]]]:
    """(race id, bib) -> (status, gun ms by point id) as the engine holds it."""
    state = {}
    for race_id, standings in pipeline.engine.races.items():
        for bib, entry in standings.entries.items():
            times = {
                standings.points[i].id: t + entry.offset_ms
                for i, t in enumerate(entry.times)
                if t is not None
            }
            state[(race_id, bib)] = (str(entry.status), times)
    return state


def shows_the_truth(bbt: FakeBBT, pipeline: Pipeline) -> bool:
    """The engine holds the master's passes and statuses *and* its read side shows them (the
    finish order of every race): what a screen would show once a resync is over."""
    if engine_state(pipeline) != bbt.truth():
        return False
    races = {p["race_id"] for p in bbt.points if p["is_finish"]}
    return all(
        str(race_id) in pipeline.engine.races
        and engine_finishers(pipeline, str(race_id)) == bbt.toplist(race_id)
        for race_id in races
    )


def engine_finishers(pipeline: Pipeline, race_id: str) -> list[str]:
    """Finish order as the engine shows it (the finish point's leaderboard, racing field)."""
    standings = pipeline.engine.races[race_id]
    finish = next(p.id for p in standings.points if p.is_finish)
    rows = standings.view(point_id=finish).rows(0, 10**9)
    return [r.bib for r in rows if r.status.value == "OK"]
