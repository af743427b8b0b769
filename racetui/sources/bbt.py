"""The BBT local API 1.1 client: WebSocket push with REST resync, polling as fallback.

The wire contract is ``docs/bbt-api.md``. Two layers:

* **Message handling** (:meth:`BBTSource.handle_rest`, :meth:`BBTSource.handle_push` and
  their ``*_body`` forms) turns one REST answer or one push frame into engine deltas. It
  does no I/O and does not care whether the bytes came from a socket or a journal:
  :class:`racetui.sources.replay.ReplaySource` feeds recorded messages through the same
  methods. What a message cannot settle by itself (an unknown race number, a ``seq`` gap,
  changed event data) is noted in ``wanted`` / ``needs_resync`` / ``needs_eventdata`` for
  the I/O layer to fetch.
* **I/O** (:meth:`BBTSource.run`, :meth:`BBTSource.sync_once`): one reused
  ``httpx.AsyncClient`` with timeouts, a WebSocket on ``/api/1.1/push`` (with its own
  keepalive ping), reconnects with capped exponential backoff and jitter, polling while
  push is refused or unavailable, and a REST resync after every (re)connect and every
  ``seq`` gap so that no passing is lost.

Loading 50,000 athletes costs no per-athlete request: ``/results/list`` per race gives
everyone's details, status and latest time; ``/results/toplistforpoint`` per timing point
gives everyone's time there; both paged 1,000 at a time. The newest pass id of each point
is read first (its watermark); a resync then only reads ``/results/latest`` newest first
down to the watermark (every pass recorded since, usually one request a point) plus
``/results/list`` for statuses — the same catch-up polling does every ``poll_interval``.
``/results/participant`` is only asked for an athlete a push or a pass names that we do
not know, and after a status/incident push (the push carries the status, not the
incidents). Result objects' ``incidents`` (Standard Incident Guidelines text) and relay
``members`` reach the engine as ``Result.incidents`` / ``Result.legs``.

The engine is given gun times computed as chip ``time`` plus the wave offset it holds
(when the athlete's wave is known), so its chip times — what rankings use — are exactly
the master's even while a late wave start is not re-read yet.

REST answers are applied as they arrive and only ever add or update times (never drop a
point), so a page read a moment before a push cannot erase what the push brought; pushes
received during a resync are applied again once it is done (a stale page cannot undo a
status change or a corrected time).

Bad input (malformed JSON, wrong types, missing fields, HTTP errors, a timing PC that
vanished) is rejected with a message naming what was wrong (``health.reject`` /
``health.error``); the last good state stays and the source keeps going. Nothing but
``CancelledError`` leaves :meth:`run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from racetui.model import (
    ClockState,
    Event,
    Incident,
    Location,
    Participant,
    Passing,
    Race,
    RaceClock,
    RaceKind,
    RelayLeg,
    RelayMember,
    Result,
    Status,
    TimingPoint,
    Wave,
)
from racetui.model.incidents import parse_incidents
from racetui.model.times import parse_datetime, parse_optional_duration
from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode
from racetui.sources.journal import Journal

__all__ = ["API_PREFIX", "BBTError", "BBTSource", "BadData", "RestInfo"]

log = logging.getLogger(__name__)

API_PREFIX = "/api/1.1"
PUSH_EVENTS = "results,eventdata"
T = TypeVar("T")


class BBTError(Exception):
    """A request that failed (unreachable, timeout, HTTP error, rejected body); names what."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, from a 503's Retry-After


def _retry_after(headers: Any) -> float | None:
    """``Retry-After`` in seconds (the delta form; an HTTP date is not worth the parse)."""
    try:
        value = float(headers.get("retry-after", ""))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


class BadData(ValueError):
    """A field with the wrong type or value, or missing; the message names it."""


@dataclass(slots=True)
class RestInfo:
    """What handling one REST answer learnt, for the I/O layer's paging decisions."""

    ok: bool
    route: str = ""
    page: int = 1
    pages: int = 1
    ids: list[int] = field(default_factory=list)  # pass ids, newest first (/results/latest)
    floor: int = -1  # /results/latest: the newest pass id already held before this read
    error: str | None = None


@dataclass(slots=True)
class _RaceData:
    id: str
    name: str
    kind: RaceKind
    distance_m: float | None
    state: ClockState
    gun_time: datetime | None
    wetsuit: bool | None
    air_temp: float | None
    water_temp: float | None


@dataclass(slots=True)
class _Clock:
    state: ClockState
    gun_time: datetime | None
    offsets: dict[str, int]
    server_offset_ms: int = 0


@dataclass(slots=True)
class _Res:
    result_id: int
    race_id: str
    bib: str
    participant: Participant
    status: Status
    last_point_id: str | None
    gun: int | None  # gun time at last_point_id (or at the asked point)
    incidents: list[Incident] | None  # None: the answer does not carry them (keep)
    legs: list[RelayLeg] | None  # relay members; None: not carried (keep)


# One athlete's update: bib, participant, status, gun times by point id, incidents, legs
# (None = keep what the engine holds; times are merged into what it holds).
_Row = tuple[
    str, Participant | None, Status | None, dict[str, int], list[Incident] | None, list[RelayLeg] | None
]


# --------------------------------------------------------------------- field readers
def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        if key not in obj:
            raise BadData(f"{key}: missing")
        raise BadData(f"{key}: expected a whole number, got {_show(value)}")
    return value


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    return None if obj.get(key) is None else _int(obj, key)


def _id(obj: Mapping[str, Any], key: str) -> str:
    return str(_int(obj, key))


def _opt_id(obj: Mapping[str, Any], key: str) -> str | None:
    value = _opt_int(obj, key)
    return None if value is None else str(value)


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        if key not in obj:
            raise BadData(f"{key}: missing")
        raise BadData(f"{key}: expected text, got {_show(value)}")
    return value


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    return None if obj.get(key) is None else _str(obj, key)


def _opt_float(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadData(f"{key}: expected a number, got {_show(value)}")
    return float(value)


def _opt_bool(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise BadData(f"{key}: expected true or false, got {_show(value)}")


def _racenum(obj: Mapping[str, Any]) -> str:
    value = obj.get("racenum")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if "racenum" not in obj:
        raise BadData("racenum: missing")
    raise BadData(f"racenum: expected a race number, got {_show(value)}")


def _duration(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    # Fast path for the documented form HH:MM:SS.fff (hundreds of thousands on a big start).
    if (
        type(value) is str
        and len(value) == 12
        and value.isascii()
        and value[2] == ":"
        and value[5] == ":"
        and value[8] == "."
        and value[:2].isdigit()
        and value[3:5].isdigit()
        and value[6:8].isdigit()
        and value[9:].isdigit()
        and value[3] < "6"
        and value[6] < "6"
    ):
        return (int(value[:2]) * 3600 + int(value[3:5]) * 60 + int(value[6:8])) * 1000 + int(value[9:])
    try:
        return parse_optional_duration(value, key)
    except ValueError as exc:
        raise BadData(str(exc)) from None


def _datetime(obj: Mapping[str, Any], key: str) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    try:
        return parse_datetime(value, key)
    except ValueError as exc:
        raise BadData(str(exc)) from None


def _enum(obj: Mapping[str, Any], key: str, kind: type[T], default: T) -> T:
    value = obj.get(key)
    if value is None:
        return default
    try:
        return kind(value)  # type: ignore[call-arg]
    except ValueError:
        raise BadData(f"{key}: unknown value {_show(value)}") from None


def _status(obj: Mapping[str, Any]) -> Status:
    try:
        return Status.parse(obj.get("status"))
    except ValueError as exc:
        raise BadData(str(exc)) from None


def _incidents(obj: Mapping[str, Any]) -> list[Incident]:
    value = obj.get("incidents")
    if value is None:
        return []
    if not isinstance(value, str):
        raise BadData(f"incidents: expected text, got {_show(value)}")
    return parse_incidents(value.strip() or None)


def _members(obj: Mapping[str, Any]) -> list[RelayLeg]:
    value = obj.get("members")
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadData(f"members: expected a list, got {_show(value)}")
    legs = []
    for i, member in enumerate(value):
        if not isinstance(member, dict):
            raise BadData(f"members[{i}]: expected an object, got {_show(member)}")
        try:
            legs.append(
                RelayLeg(
                    order=_int(member, "order"),
                    member=RelayMember(
                        id=_opt_id(member, "id"),
                        name=_opt_str(member, "name") or "",
                        gender=_opt_str(member, "gender"),
                        country=_opt_str(member, "country"),
                    ),
                )
            )
        except BadData as exc:
            raise BadData(f"members[{i}].{exc}") from None
    return legs


def _envelope(body: Any) -> tuple[list[Any], int, int]:
    if not isinstance(body, dict):
        raise BadData(f"expected a JSON object, got {type(body).__name__}")
    data = body.get("data")
    if not isinstance(data, list):
        raise BadData("data: missing" if "data" not in body else f"data: expected a list, got {_show(data)}")
    page = body.get("page", 1)
    pages = body.get("pages", 1)
    for key, value in (("page", page), ("pages", pages)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadData(f"{key}: expected a whole number, got {_show(value)}")
    return data, page, pages


_DIGEST_KEYS = (
    "race_id",
    "racenum",
    "first_name",
    "last_name",
    "name",
    "gender",
    "category",
    "age",
    "country",
    "club",
    "wave_id",
    "status",
    "last_point_id",
    "time",
    "race_time",
    "incidents",
    "members",
)


def _digest(item: Any) -> tuple[int, int] | None:
    """(result id, hash of what racetui uses) of a result object; None if it has no usable id."""
    if not isinstance(item, dict):
        return None
    result_id = item.get("id")
    if type(result_id) is not int:
        return None
    try:
        return result_id, hash(orjson.dumps([item.get(key) for key in _DIGEST_KEYS]))
    except TypeError:  # a value JSON cannot hold (not from a JSON body)
        return None


def _numeric(text: str) -> tuple[int, str]:
    return (int(text), text) if text.isdigit() else (1 << 62, text)


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    path = parts.path
    where = path.find(API_PREFIX)
    route = path[where + len(API_PREFIX) :] if where >= 0 else path
    return route or "/", dict(parse_qsl(parts.query))


async def _gather(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently; the first failure cancels the rest and is raised as itself."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            for aw in aws:
                tasks.append(group.create_task(_as_coro(aw)))
    except BaseExceptionGroup as group_exc:
        first = group_exc.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


async def _as_coro(aw: Awaitable[T]) -> T:
    return await aw


# ---------------------------------------------------------------------------- source
class BBTSource:
    """A BBT master's local API 1.1: push first, polling when push is not available.

    ``base_url`` is the master's web server (``http://host[:port]``, with or without the
    ``/api/1.1`` suffix). ``poll=True`` never tries the WebSocket (a BBT Extender
    connection). ``journal`` records every received message. ``headers`` are sent with
    every request (values may be secret; never logged or journaled).
    """

    def __init__(
        self,
        base_url: str,
        *,
        poll: bool = False,
        poll_interval: float = 2.0,
        journal: Journal | None = None,
        backoff_cap: float = 10.0,
        backoff_base: float = 0.5,
        timeout: float = 10.0,
        page_size: int = 1000,
        latest_page_size: int = 100,
        concurrency: int = 4,
        list_refresh: float = 30.0,
        ping_interval: float | None = 5.0,
        stale_after: float = 10.0,
        headers: Mapping[str, str | SecretStr] | None = None,
        name: str | None = None,
    ) -> None:
        text = base_url.strip()
        if "://" not in text:
            text = "http://" + text
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            shown = base_url if not parts.password else base_url.replace(parts.password, "***")
            raise ValueError(f"base_url: expected http://host[:port], got {shown!r}")
        path = parts.path.rstrip("/")
        if path.endswith(API_PREFIX):
            path = path[: -len(API_PREFIX)]
        host = parts.hostname + (f":{port}" if port else "")
        self.name = name or f"BBT {host}"
        self.api_url = f"{parts.scheme}://{parts.netloc}{path}{API_PREFIX}"
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        self.push_path = f"{path}{API_PREFIX}/push?events={PUSH_EVENTS}"
        self.push_url = f"{ws_scheme}://{parts.netloc}{self.push_path}"
        self._headers = {
            k: (v.get_secret_value() if isinstance(v, SecretStr) else str(v))
            for k, v in (headers or {}).items()
        }
        # Longest first, and never a 1-2 character value (it would blank out ordinary text).
        self._secrets = sorted(
            {s for s in (parts.password, *self._headers.values()) if s and len(s) >= 3}, key=len, reverse=True
        )

        self.poll = poll
        self.poll_interval = poll_interval
        self.journal = journal
        self.backoff_cap = backoff_cap
        self.backoff_base = backoff_base
        self.timeout = timeout
        self.page_size = page_size
        self.latest_page_size = latest_page_size
        self.concurrency = concurrency
        self.list_refresh = list_refresh
        self.ping_interval = ping_interval
        self.health = SourceHealth(self.name, mode=SourceMode.POLLING if poll else SourceMode.PUSH)
        self.health.stale_after = stale_after
        if journal is not None:
            self.health.journal_path = str(journal.path)

        # Event data as last read (committed when the last page of a listing arrived).
        self._races: dict[str, _RaceData] = {}
        self._waves: dict[str, Wave] = {}
        self._points: dict[str, TimingPoint] = {}
        self._locations: dict[str, Location] = {}
        self._clocks: dict[str, _Clock] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._offsets: dict[tuple[str, str], int] = {}  # (race id, wave id) -> offset ms
        # Athletes whose details we hold: (race id, bib) -> wave id.
        self._known: dict[tuple[str, str], str | None] = {}
        self._list_seen: dict[int, int] = {}  # result id -> digest of its last applied list item
        # /results/latest: newest pass id seen per point, and the current read's floor.
        self._latest_max: dict[str, int] = {}
        self._latest_cycle: dict[str, tuple[int, set[tuple[str, str, str]]]] = {}
        self._loaded_points: set[str] = set()  # points whose every pass was loaded once
        # What messages could not settle by themselves (the I/O layer acts on these).
        self.needs_resync = False
        self.needs_eventdata = False
        self.wanted: dict[int, str] = {}  # result id -> why
        self._seq: int | None = None
        self._live = False  # run()/sync_once() fetch what is wanted; a replay does not
        self._syncing = False
        self._sync_buffer: list[dict[str, Any]] | None = None
        self._wake: asyncio.Event | None = None
        self._sem: asyncio.Semaphore | None = None
        self._failures = 0
        self._push_failures = 0
        self._push_due = 0.0
        self._rejects_logged = 0
        self._journal_reported = False
        self.syncs = 0  # completed REST syncs (the first load and every resync)

    @property
    def syncing(self) -> bool:
        """A full REST sync is under way (the screen may say "resyncing")."""
        return self._syncing

    # ================================================================ message handling
    def handle_rest(self, pipeline: Pipeline, url: str, payload: bytes | str) -> RestInfo:
        """One REST answer (``url``: path and query as requested, ``payload``: the body)."""
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            route, _ = _split_url(url)
            return self._bad(f"GET {route}: not JSON ({exc})", route)
        return self.handle_rest_body(pipeline, url, body)

    def handle_rest_body(self, pipeline: Pipeline, url: str, body: Any) -> RestInfo:
        """Like :meth:`handle_rest` with the body already decoded."""
        route, params = _split_url(url)
        handler = self._routes.get(route)
        if handler is None:
            return self._bad(f"GET {route}: no handler for this endpoint", route)
        try:
            info = handler(self, pipeline, params, body)
        except BadData as exc:
            page = f" page {params['page']}" if "page" in params else ""
            return self._bad(f"GET {route}{page}: {exc}", route)
        info.route = route
        self.health.received()
        return info

    def handle_push(self, pipeline: Pipeline, payload: bytes | str) -> bool:
        """One push frame. Returns False when it was rejected."""
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self._reject(f"push: not JSON ({exc})")
            self._need_resync("a push message could not be read")
            return False
        return self.handle_push_body(pipeline, body)

    def handle_push_body(self, pipeline: Pipeline, body: Any) -> bool:
        if not isinstance(body, dict):
            self._reject(f"push: expected a JSON object, got {type(body).__name__}")
            self._need_resync("a push message could not be read")
            return False
        seq = body.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            what = "missing" if "seq" not in body else f"expected a whole number, got {_show(seq)}"
            self._reject(f"push {body.get('event', '?')}: seq: {what}")
            self._need_resync("a push message without a valid seq")
        else:
            if self._seq is not None and seq != self._seq + 1:
                self._need_resync(f"push seq gap: {self._seq} then {seq}")
            self._seq = seq
        event = body.get("event")
        if event == "results":
            if self._sync_buffer is not None:
                self._sync_buffer.append(body)
            ok = self._apply_push_result(pipeline, body)
        elif event == "eventdata":
            self.needs_eventdata = True
            self._notify()
            ok = True
        else:
            self._reject(f"push: event: unknown event {_show(event)}")
            return False
        if ok:
            self.health.received()
        return ok

    # ---------------------------------------------------------------- push results
    def _apply_push_result(self, pipeline: Pipeline, body: dict[str, Any]) -> bool:
        try:
            result_id = _int(body, "id")
            race_id = _id(body, "race_id")
            bib = _racenum(body)
            point_id = _opt_id(body, "point_id")
            chip = _duration(body, "time")
            gun = _duration(body, "race_time")
            status = _status(body) if body.get("status") is not None else None
        except BadData as exc:
            self._reject(f"push results (seq {body.get('seq')}): {exc}")
            return False
        standings = pipeline.engine.races.get(race_id)
        if standings is None:
            self._need_eventdata(f"push names race {race_id}, which is not loaded")
            return True
        if point_id is not None:
            if point_id not in standings.point_index:
                self._need_eventdata(f"push names timing point {point_id} of race {race_id}, not loaded")
                self._want(result_id, "unknown timing point")
                return True
            gun = self._gun(race_id, bib, None, chip, gun)
            if gun is None:
                self._reject(
                    f"push results (seq {body.get('seq')}): point_id {point_id} without time or race_time"
                )
                return False
            pipeline.apply_passings((Passing(race_id=race_id, bib=bib, point_id=point_id, time_ms=gun),))
        if status is not None:
            entry = standings.entries.get(bib)
            if entry is None or entry.source_status != status:
                self._apply_merged(pipeline, race_id, [(bib, None, status, {}, None, None)])
        if (race_id, bib) not in self._known:
            self._want(result_id, f"race number {bib} of race {race_id} is not known")
        elif point_id is None:
            # A status or incident change: the push carries the status, not the incidents.
            self._want(result_id, f"race number {bib} of race {race_id}: status or incidents changed")
        return True

    # ------------------------------------------------------------------ event data
    def _collect(self, name: str, page: int) -> dict[str, Any]:
        if page <= 1 or name not in self._pending:
            self._pending[name] = {}
        return self._pending[name]

    def _listing(
        self,
        pipeline: Pipeline,
        body: Any,
        name: str,
        parse: Callable[[dict[str, Any]], tuple[str, Any]],
    ) -> RestInfo:
        items, page, pages = _envelope(body)
        collected = self._collect(name, page)
        for i, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise BadData(f"expected an object, got {_show(item)}")
                key, value = parse(item)
            except BadData as exc:
                self._reject(f"GET {name} page {page} item {i}: {exc}")
                continue
            collected[key] = value
        if page >= pages:
            del self._pending[name]
            setattr(self, f"_{name.rsplit('/', 1)[-1]}", collected)
            self._publish_event(pipeline)
        return RestInfo(True, page=page, pages=pages)

    def _on_races(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        def parse(item: dict[str, Any]) -> tuple[str, _RaceData]:
            race = _RaceData(
                id=_id(item, "id"),
                name=_str(item, "name"),
                kind=_enum(item, "kind", RaceKind, RaceKind.ROAD),
                distance_m=_opt_float(item, "distance"),
                state=_enum(item, "state", ClockState, ClockState.PRERACE),
                gun_time=_datetime(item, "gun_time"),
                wetsuit=_opt_bool(item, "wetsuit"),
                air_temp=_opt_float(item, "air_temp"),
                water_temp=_opt_float(item, "water_temp"),
            )
            return race.id, race

        return self._listing(pipeline, body, "races", parse)

    def _on_waves(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        def parse(item: dict[str, Any]) -> tuple[str, Wave]:
            wave = Wave(
                id=_id(item, "id"),
                race_id=_id(item, "race_id"),
                name=_opt_str(item, "name") or "",
                offset_ms=_duration(item, "offset") or 0,
            )
            return wave.id, wave

        return self._listing(pipeline, body, "waves", parse)

    def _on_points(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        def parse(item: dict[str, Any]) -> tuple[str, TimingPoint]:
            point = TimingPoint(
                id=_id(item, "id"),
                race_id=_id(item, "race_id"),
                name=_opt_str(item, "name") or "",
                order=_int(item, "order"),
                distance_m=_opt_float(item, "distance"),
                location_id=_opt_id(item, "location_id"),
                is_finish=bool(_opt_bool(item, "is_finish")),
                leg=_opt_int(item, "leg"),
            )
            return point.id, point

        return self._listing(pipeline, body, "points", parse)

    def _on_locations(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        def parse(item: dict[str, Any]) -> tuple[str, Location]:
            location = Location(id=_id(item, "id"), name=_opt_str(item, "name") or "")
            return location.id, location

        return self._listing(pipeline, body, "locations", parse)

    def _on_raceclock(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        if not isinstance(body, dict):
            raise BadData(f"expected a JSON object, got {type(body).__name__}")
        race_id = _id(body, "race_id")
        waves = body.get("waves") or []
        if not isinstance(waves, list):
            raise BadData(f"waves: expected a list, got {_show(waves)}")
        offsets: dict[str, int] = {}
        for i, wave in enumerate(waves):
            if not isinstance(wave, dict):
                raise BadData(f"waves[{i}]: expected an object, got {_show(wave)}")
            try:
                offsets[_id(wave, "id")] = _duration(wave, "offset") or 0
            except BadData as exc:
                raise BadData(f"waves[{i}].{exc}") from None
        server_time = _datetime(body, "server_time")
        skew = 0
        if server_time is not None:  # whole seconds: a re-read must not count as a change
            skew = round((server_time - datetime.now(UTC)).total_seconds()) * 1000
        self._clocks[race_id] = _Clock(
            state=_enum(body, "state", ClockState, ClockState.PRERACE),
            gun_time=_datetime(body, "gun_time"),
            offsets=offsets,
            server_offset_ms=skew,
        )
        self._publish_event(pipeline)
        return RestInfo(True)

    def _publish_event(self, pipeline: Pipeline) -> None:
        races = []
        offsets: dict[tuple[str, str], int] = {}
        for race_id in sorted(self._races, key=_numeric):
            data = self._races[race_id]
            clock = self._clocks.get(race_id)
            waves = []
            for wave in sorted(
                (w for w in self._waves.values() if w.race_id == race_id), key=lambda w: _numeric(w.id)
            ):
                offset = clock.offsets.get(wave.id, wave.offset_ms) if clock else wave.offset_ms
                offsets[(race_id, wave.id)] = offset
                waves.append(
                    wave if offset == wave.offset_ms else wave.model_copy(update={"offset_ms": offset})
                )
            points = sorted(
                (p for p in self._points.values() if p.race_id == race_id),
                key=lambda p: (p.order, _numeric(p.id)),
            )
            races.append(
                Race(
                    id=race_id,
                    name=data.name,
                    kind=data.kind,
                    distance_m=data.distance_m,
                    waves=waves,
                    points=points,
                    clock=RaceClock(
                        race_id=race_id,
                        state=clock.state if clock else data.state,
                        gun_time=clock.gun_time if clock else data.gun_time,
                        server_offset_ms=clock.server_offset_ms if clock else 0,
                    ),
                    wetsuit=data.wetsuit,
                    air_temp=data.air_temp,
                    water_temp=data.water_temp,
                )
            )
        self._offsets = offsets
        locations = [self._locations[k] for k in sorted(self._locations, key=_numeric)]
        pipeline.load_event(Event(id="bbt", name=self.name, races=races, locations=locations))

    # --------------------------------------------------------------------- results
    def _parse_result(self, item: Any) -> _Res:
        if not isinstance(item, dict):
            raise BadData(f"expected a result object, got {_show(item)}")
        race_id = _id(item, "race_id")
        bib = _racenum(item)
        result_id = _int(item, "id")
        try:
            wave_id = _opt_id(item, "wave_id")
            participant = Participant(
                bib=bib,
                race_id=race_id,
                id=str(result_id),
                first_name=_opt_str(item, "first_name") or "",
                last_name=_opt_str(item, "last_name") or "",
                name=_opt_str(item, "name") or "",
                gender=_opt_str(item, "gender"),
                category=_opt_str(item, "category"),
                age=_opt_int(item, "age"),
                country=_opt_str(item, "country"),
                club=_opt_str(item, "club"),
                wave_id=wave_id,
            )
            status = _status(item)
            incidents = _incidents(item) if "incidents" in item else None
            legs = _members(item) if "members" in item else None
            last_point = _opt_id(item, "last_point_id")
            gun = self._gun(race_id, bib, wave_id, _duration(item, "time"), _duration(item, "race_time"))
        except BadData as exc:
            raise BadData(f"racenum {bib}: {exc}") from None
        return _Res(result_id, race_id, bib, participant, status, last_point, gun, incidents, legs)

    def _register(self, res: _Res) -> None:
        self._known[(res.race_id, res.bib)] = res.participant.wave_id
        self.wanted.pop(res.result_id, None)

    def _gun(
        self, race_id: str, bib: str, wave_id: str | None, chip: int | None, gun: int | None
    ) -> int | None:
        """The gun time to give the engine.

        The engine keeps chip time = gun time - the athlete's wave offset, and ranks by
        chip time. When the athlete's wave is known, chip ``time`` plus that wave's offset
        (the one the engine holds) makes the engine's chip time exactly the master's, even
        while a changed wave offset is not re-read yet. Otherwise ``race_time`` (the
        engine subtracts the offset once it learns the wave), else ``time`` alone.
        """
        if wave_id is None:
            if (race_id, bib) in self._known:
                wave_id = self._known[(race_id, bib)]
            elif gun is not None:
                return gun
        if chip is None:
            return gun
        return chip + (self._offsets.get((race_id, wave_id), 0) if wave_id is not None else 0)

    def _results(self, body: Any, route: str, page: int) -> list[_Res]:
        items, _, _ = _envelope(body)
        parsed = []
        for i, item in enumerate(items):
            try:
                parsed.append(self._parse_result(item))
            except BadData as exc:
                self._reject(f"GET {route} page {page} item {i}: {exc}")
        return parsed

    def _on_list(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        items, page, pages = _envelope(body)
        updates: dict[str, list[_Row]] = {}
        digests: list[tuple[int, int]] = []
        seen = self._list_seen
        for i, item in enumerate(items):
            # A resync re-reads everyone: skip, cheaply, whoever did not change since.
            digest = _digest(item)
            if digest is not None and seen.get(digest[0]) == digest[1]:
                continue
            try:
                res = self._parse_result(item)
            except BadData as exc:
                self._reject(f"GET /results/list page {page} item {i}: {exc}")
                continue
            standings = pipeline.engine.races.get(res.race_id)
            if standings is None:
                self._need_eventdata(f"/results/list names race {res.race_id}, which is not loaded")
                continue
            self._register(res)
            times: dict[str, int] = {}
            if res.last_point_id is not None and res.gun is not None:
                if res.last_point_id in standings.point_index:
                    times[res.last_point_id] = res.gun
                else:
                    self._need_eventdata(f"/results/list names timing point {res.last_point_id}, not loaded")
                    digest = None
            updates.setdefault(res.race_id, []).append(
                (res.bib, res.participant, res.status, times, res.incidents, res.legs)
            )
            if digest is not None:
                digests.append(digest)
        for race_id, rows in updates.items():
            self._apply_merged(pipeline, race_id, rows)
        seen.update(digests)
        return RestInfo(True, page=page, pages=pages)

    def _on_toplistforpoint(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        point_id = params.get("point_id")
        if not point_id:
            raise BadData("the request names no point_id")
        items, page, pages = _envelope(body)
        passings: dict[str, list[Passing]] = {}
        newcomers: list[Participant] = []
        known = self._known
        holding: dict[str, tuple[Mapping[str, Any], int | None]] = {}
        for i, item in enumerate(items):
            # The hot path of a big start: only what a passing needs, unless the athlete is new.
            try:
                if not isinstance(item, dict):
                    raise BadData(f"expected a result object, got {_show(item)}")
                race_id = _id(item, "race_id")
                bib = _racenum(item)
                held = holding.get(race_id)
                if held is None:
                    standings = pipeline.engine.races.get(race_id)
                    index = standings.point_index.get(point_id) if standings is not None else None
                    held = holding[race_id] = (standings.entries if standings else {}, index)
                if (race_id, bib) not in known:
                    res = self._parse_result(item)
                    self._register(res)
                    newcomers.append(res.participant)
                    gun = res.gun
                else:
                    chip = _duration(item, "time")
                    gun = self._gun(
                        race_id, bib, None, chip, None if chip is not None else _duration(item, "race_time")
                    )
            except BadData as exc:
                self._reject(f"GET /results/toplistforpoint page {page} item {i}: {exc}")
                continue
            if gun is None:
                continue
            entries, index = held
            entry = entries.get(bib)
            if entry is not None and index is not None:
                chip = entry.times[index]
                if chip is not None and chip + entry.offset_ms == gun:
                    continue  # already held (a resync re-reads everything)
            passings.setdefault(race_id, []).append(
                Passing(race_id=race_id, bib=bib, point_id=point_id, time_ms=gun)
            )
        if newcomers:
            pipeline.add_participants(newcomers)
        for race_id, rows in passings.items():
            standings = pipeline.engine.races.get(race_id)
            if standings is None or point_id not in standings.point_index:
                self._need_eventdata(
                    f"/results/toplistforpoint: point {point_id} of race {race_id} not loaded"
                )
                continue
            pipeline.apply_passings(rows)
        return RestInfo(True, page=page, pages=pages)

    def _on_latest(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        key = f"p{params['point_id']}" if "point_id" in params else f"l{params.get('location_id', '')}"
        items, page, pages = _envelope(body)
        cycle = self._latest_cycle.get(key)
        if page <= 1 or cycle is None:
            cycle = (self._latest_max.get(key, -1), set())
            self._latest_cycle[key] = cycle
        floor, seen = cycle
        ids: list[int] = []
        passings: list[Passing] = []
        for i, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise BadData(f"expected a pass object, got {_show(item)}")
                pass_id = _int(item, "id")
                result_id = _int(item, "result_id")
                race_id = _id(item, "race_id")
                bib = _racenum(item)
                point_id = _id(item, "point_id")
                gun = self._gun(race_id, bib, None, _duration(item, "time"), _duration(item, "race_time"))
                if gun is None:
                    raise BadData("neither time nor race_time")
            except BadData as exc:
                self._reject(f"GET /results/latest page {page} item {i}: {exc}")
                continue
            ids.append(pass_id)
            if pass_id <= floor or (race_id, bib, point_id) in seen:
                continue  # already held, or an older pass of the same athlete at this point
            seen.add((race_id, bib, point_id))
            standings = pipeline.engine.races.get(race_id)
            if standings is None or point_id not in standings.point_index:
                self._need_eventdata(f"/results/latest: point {point_id} of race {race_id} not loaded")
                continue
            if (race_id, bib) not in self._known:
                self._want(result_id, f"race number {bib} of race {race_id} is not known")
            passings.append(Passing(race_id=race_id, bib=bib, point_id=point_id, time_ms=gun))
        if ids:
            self._latest_max[key] = max(self._latest_max.get(key, -1), *ids)
        if passings:
            passings.reverse()  # oldest first
            pipeline.apply_passings(passings)
        return RestInfo(True, page=page, pages=pages, ids=ids, floor=floor)

    def _on_participant(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        res = self._parse_result(body)
        standings = pipeline.engine.races.get(res.race_id)
        if standings is None:
            self._need_eventdata(f"/results/participant names race {res.race_id}, which is not loaded")
            return RestInfo(True)
        splits = body.get("splits") or []
        if not isinstance(splits, list):
            raise BadData(f"racenum {res.bib}: splits: expected a list, got {_show(splits)}")
        times: dict[str, int] = {}
        for i, split in enumerate(splits):
            try:
                if not isinstance(split, dict):
                    raise BadData(f"expected an object, got {_show(split)}")
                point_id = _id(split, "point_id")
                gun = self._gun(
                    res.race_id,
                    res.bib,
                    res.participant.wave_id,
                    _duration(split, "time"),
                    _duration(split, "race_time"),
                )
            except BadData as exc:
                self._reject(f"GET /results/participant racenum {res.bib}: splits[{i}].{exc}")
                continue
            if point_id not in standings.point_index:
                self._need_eventdata(
                    f"/results/participant: point {point_id} of race {res.race_id} not loaded"
                )
            elif gun is not None:
                times[point_id] = gun
        self._register(res)
        self._apply_merged(
            pipeline, res.race_id, [(res.bib, res.participant, res.status, times, res.incidents, res.legs)]
        )
        return RestInfo(True)

    _routes: dict[str, Callable[[BBTSource, Pipeline, dict[str, str], Any], RestInfo]] = {
        "/event/races": _on_races,
        "/event/waves": _on_waves,
        "/timing/points": _on_points,
        "/timing/locations": _on_locations,
        "/timing/raceclock": _on_raceclock,
        "/results/list": _on_list,
        "/results/toplistforpoint": _on_toplistforpoint,
        "/results/latest": _on_latest,
        "/results/participant": _on_participant,
    }

    def _apply_merged(
        self,
        pipeline: Pipeline,
        race_id: str,
        rows: list[_Row],
    ) -> None:
        """Whole results built from what the engine holds plus what arrived (never drops a time)."""
        standings = pipeline.engine.races.get(race_id)
        if standings is None:
            return
        points = standings.points
        results = []
        for bib, participant, status, times, incidents, legs in rows:
            entry = standings.entries.get(bib)
            splits: dict[str, int] = {}
            if entry is not None:
                splits = {
                    points[i].id: t + entry.offset_ms for i, t in enumerate(entry.times) if t is not None
                }
            splits.update(times)
            if status is None:
                status = entry.source_status if entry is not None else Status.OK
            results.append(
                Result(
                    race_id=race_id,
                    bib=bib,
                    participant=participant,
                    status=status,
                    splits=splits,
                    incidents=(
                        incidents if incidents is not None else list(entry.source_incidents if entry else ())
                    ),
                    legs=legs if legs is not None else list(entry.legs if entry is not None else ()),
                )
            )
        pipeline.apply_results(race_id, results)

    # ------------------------------------------------------------------- bookkeeping
    def _bad(self, message: str, route: str = "") -> RestInfo:
        self._reject(message)
        return RestInfo(False, route=route, error=message)

    def _reject(self, message: str) -> None:
        message = self._scrub(message)
        self.health.reject(message)
        self._rejects_logged += 1
        if self._rejects_logged <= 20 or self._rejects_logged % 100 == 0:
            log.warning("%s: rejected: %s", self.name, message)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _need_resync(self, why: str) -> None:
        if not self.needs_resync:
            log.info("%s: resync: %s", self.name, why)
        self.needs_resync = True
        self._notify()

    def _need_eventdata(self, why: str) -> None:
        if not self.needs_eventdata:
            log.info("%s: event data to re-read: %s", self.name, why)
        self.needs_eventdata = True
        self._notify()

    def _want(self, result_id: int, why: str) -> None:
        if self._live and not self._syncing and result_id not in self.wanted:
            self.wanted[result_id] = why
            self._notify()

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # ============================================================================ I/O
    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            headers=self._headers,
            limits=httpx.Limits(
                max_connections=self.concurrency + 2, max_keepalive_connections=self.concurrency + 2
            ),
            trust_env=False,  # a timing PC is on the local network: no proxies
            follow_redirects=False,
        )

    async def _get(
        self, client: httpx.AsyncClient, pipeline: Pipeline, route: str, params: dict[str, Any]
    ) -> RestInfo:
        assert self._sem is not None
        async with self._sem:
            try:
                response = await client.get(self.api_url + route, params=params)
            except httpx.TimeoutException:
                raise BBTError(f"GET {route}: no answer within {self.timeout:g} s") from None
            except httpx.ConnectError as exc:
                where = _host_port(self.api_url)
                raise BBTError(
                    self._scrub(f"can't reach {where}: GET {route}: ConnectError: {exc}")
                ) from None
            except httpx.HTTPError as exc:
                raise BBTError(self._scrub(f"GET {route}: {type(exc).__name__}: {exc}")) from None
        received = time.time()
        url = response.request.url.raw_path.decode("ascii", "replace")
        if response.status_code != 200:
            detail = ""
            with contextlib.suppress(Exception):
                detail = str(orjson.loads(response.content).get("message") or "")
            message = f"GET {route}: HTTP {response.status_code}" + (f": {detail[:200]}" if detail else "")
            raise BBTError(self._scrub(message), response.status_code, _retry_after(response.headers))
        payload = response.content
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self._record("rest", payload, received, url, None)
            info = self._bad(f"GET {route}: not JSON ({exc})", route)
        else:
            self._record("rest", payload, received, url, body)
            info = self.handle_rest_body(pipeline, url, body)
        if not info.ok:
            raise BBTError(info.error or f"GET {route}: rejected")
        return info

    def _record(self, kind: str, payload: bytes | str, received: float, url: str, body: Any) -> None:
        if self.journal is None:
            return
        if body is None:
            ok = self.journal.record(kind, payload, received, url, source=self.name)
        else:
            ok = self.journal.record(kind, payload, received, url, source=self.name, body=body)
        if not ok and self.journal.failed and not self._journal_reported:
            self._journal_reported = True  # said once; the feed goes on unrecorded
            self.health.last_error = self.journal.failed

    async def _get_pages(
        self, client: httpx.AsyncClient, pipeline: Pipeline, route: str, params: dict[str, Any]
    ) -> list[RestInfo]:
        first = await self._get(client, pipeline, route, {**params, "page": 1, "page_size": self.page_size})
        rest = await _gather(
            self._get(client, pipeline, route, {**params, "page": page, "page_size": self.page_size})
            for page in range(2, first.pages + 1)
        )
        return [first, *rest]

    async def _load_event_data(self, client: httpx.AsyncClient, pipeline: Pipeline) -> bool:
        """Re-read races, waves, points, locations and race clocks; True when races or
        timing points appeared that have no results loaded yet."""
        before = (set(self._races), set(self._points))
        await _gather(
            self._get_pages(client, pipeline, route, {})
            for route in ("/event/races", "/event/waves", "/timing/points", "/timing/locations")
        )
        await _gather(
            self._get(client, pipeline, "/timing/raceclock", {"race_id": race_id}) for race_id in self._races
        )
        return not (set(self._races) <= before[0] and set(self._points) <= before[1])

    async def _load_lists(self, client: httpx.AsyncClient, pipeline: Pipeline) -> None:
        """Everyone's details, status and latest time: ``/results/list`` per race."""
        await _gather(
            self._get_pages(client, pipeline, "/results/list", {"race_id": race_id})
            for race_id in list(self._races)
        )

    async def _sync(self, client: httpx.AsyncClient, pipeline: Pipeline) -> None:
        """Bring the engine up to the master's state over REST (the first load and every
        resync).

        A timing point never loaded gets its newest pass id read first (the watermark),
        then everyone's time there (``/results/toplistforpoint``, paged). A point loaded
        before is caught up from its watermark: ``/results/latest`` newest first, down to
        the first pass already held — every pass recorded since, usually one request.
        ``/results/list`` per race brings statuses, new entries and changed details.

        The first load runs as one pipeline batch: a big field is re-sorted once at the end
        instead of on every page.
        """
        self._syncing = True
        self.needs_eventdata = False  # cleared before the read: a change during it is re-read
        try:
            # Only the first load is one batch: resyncs are catch-ups of a few items, and
            # the screen must not sit on a stale order while one runs.
            with pipeline.batch() if self.syncs == 0 else contextlib.nullcontext():
                await self._sync_rest(client, pipeline)
        finally:
            self._syncing = False
        self.syncs += 1

    async def _sync_rest(self, client: httpx.AsyncClient, pipeline: Pipeline) -> None:
        started = time.monotonic()
        await self._load_event_data(client, pipeline)
        points = {pid: p for pid, p in self._points.items() if p.race_id in self._races}
        fresh = [pid for pid in points if pid not in self._loaded_points]
        held = [pid for pid in points if pid in self._loaded_points]
        await _gather(
            [
                *(
                    self._get(
                        client, pipeline, "/results/latest", {"point_id": pid, "page": 1, "page_size": 1}
                    )
                    for pid in fresh
                ),
                *(self._poll_point(client, pipeline, pid, self.page_size) for pid in held),
            ]
        )
        await self._load_lists(client, pipeline)
        await _gather(
            self._get_pages(
                client,
                pipeline,
                "/results/toplistforpoint",
                {"race_id": points[pid].race_id, "point_id": pid},
            )
            for pid in fresh
        )
        self._loaded_points.update(fresh)
        log.info(
            "%s: synced %d races, %d athletes (%d points loaded, %d caught up) in %.2f s",
            self.name,
            len(self._races),
            len(self._known),
            len(fresh),
            len(held),
            time.monotonic() - started,
        )

    async def _fetch_wanted(self, client: httpx.AsyncClient, pipeline: Pipeline) -> None:
        wanted, self.wanted = self.wanted, {}

        async def one(result_id: int) -> None:
            try:
                await self._get(client, pipeline, "/results/participant", {"result_id": result_id})
            except BBTError as exc:
                if exc.status not in (400, 404):
                    raise
                self._reject(str(exc))

        await _gather(one(result_id) for result_id in wanted)

    async def _poll_point(
        self, client: httpx.AsyncClient, pipeline: Pipeline, point_id: str, page_size: int | None = None
    ) -> None:
        """Every pass at the point newer than the newest one held (newest first, paged)."""
        page = 1
        while True:
            info = await self._get(
                client,
                pipeline,
                "/results/latest",
                {"point_id": point_id, "page": page, "page_size": page_size or self.latest_page_size},
            )
            if not info.ids or min(info.ids) <= info.floor or page >= info.pages:
                return
            page += 1

    async def _poll_once(self, client: httpx.AsyncClient, pipeline: Pipeline) -> None:
        await _gather(self._poll_point(client, pipeline, point_id) for point_id in list(self._points))
        if self.wanted:
            await self._fetch_wanted(client, pipeline)

    async def _refresh(self, client: httpx.AsyncClient, pipeline: Pipeline) -> None:
        """Polling's periodic look at what /results/latest does not show: event data,
        status changes, new entries (and new timing points, loaded whole)."""
        if await self._load_event_data(client, pipeline):
            await self._sync(client, pipeline)
        else:
            await self._load_lists(client, pipeline)

    # -------------------------------------------------------------------- sessions
    def _backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Capped exponential backoff with jitter; at least a server's ``Retry-After``
        (itself capped: a wrong hint must not stall the feed)."""
        ceiling: float = min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, attempt - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_cap))
        return delay

    async def _try_push(self) -> ClientConnection | None:
        try:
            ws = await connect(
                self.push_url,
                open_timeout=self.timeout,
                ping_interval=None,  # our own keepalive (see _keepalive) also feeds health
                ping_timeout=None,
                close_timeout=1.0,
                max_size=16 * 2**20,
                max_queue=1024,  # frames buffered while a big REST page is being applied
                additional_headers=self._headers or None,
                proxy=None,
            )
        except InvalidStatus as exc:
            reason = f"push refused: HTTP {exc.response.status_code}"
            retry_after = _retry_after(exc.response.headers)
        except (OSError, TimeoutError, WebSocketException) as exc:
            reason = f"push unavailable: {type(exc).__name__}: {exc}"
            retry_after = None
        else:
            log.info("%s: push connected", self.name)
            return ws
        self._push_failures += 1
        self._push_due = time.monotonic() + self._backoff(self._push_failures, retry_after)
        self.health.last_error = self._scrub(reason) + " (polling meanwhile)"
        log.info("%s: %s", self.name, self.health.last_error)
        return None

    async def _read_push(self, ws: ClientConnection, pipeline: Pipeline) -> str:
        try:
            async for message in ws:
                received = time.time()
                try:
                    body = orjson.loads(message)
                except orjson.JSONDecodeError:
                    self._record("push", message, received, self.push_path, None)
                    self.handle_push(pipeline, message)
                    continue
                self._record("push", message, received, self.push_path, body)
                self.handle_push_body(pipeline, body)
        except ConnectionClosed:
            pass
        code = ws.close_code
        reason = ws.close_reason or ""
        return f"push connection lost (close code {code}{': ' + reason if reason else ''})"

    async def _keepalive(self, ws: ClientConnection) -> None:
        """Ping the master: a quiet race on a live socket is not stale, and a master that
        vanished without closing the socket is noticed within ``timeout``."""
        assert self.ping_interval
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                pong = await ws.ping()
                await asyncio.wait_for(pong, self.timeout)
            except (TimeoutError, ConnectionClosed):
                log.info("%s: no answer to a push ping within %g s", self.name, self.timeout)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(1011, "keepalive ping timeout"), 1.0)
                return
            self.health.last_message = self.health.clock()
            if self.health.state is FeedState.CONNECTED or self.health.state is FeedState.CONNECTING:
                self.health.state = FeedState.CONNECTED

    async def _push_session(self, client: httpx.AsyncClient, pipeline: Pipeline, ws: ClientConnection) -> str:
        """Read pushes; resync over REST first and whenever a gap is seen. Returns why it ended."""
        self.health.mode = SourceMode.PUSH
        self._seq = 0  # a connection's first message is seq 1: a lost first message is a gap too
        self._sync_buffer = []
        self.needs_resync = True
        self._wake = self._wake or asyncio.Event()
        reader = asyncio.create_task(self._read_push(ws, pipeline), name=f"{self.name} push reader")
        keepalive = (
            asyncio.create_task(self._keepalive(ws), name=f"{self.name} keepalive")
            if self.ping_interval
            else None
        )
        try:
            while not reader.done():
                self._wake.clear()
                if self.needs_resync:
                    self.needs_resync = False
                    if self._sync_buffer is None:
                        self._sync_buffer = []
                    sync = asyncio.create_task(self._sync(client, pipeline))
                    try:
                        await asyncio.wait((reader, sync), return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        if not sync.done():  # the socket is gone: this resync is moot
                            sync.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await sync
                    if sync.cancelled():
                        break
                    sync.result()  # a failed resync raises here
                    buffered, self._sync_buffer = self._sync_buffer, None
                    for body in buffered:  # a page read before a push must not undo it
                        self._apply_push_result(pipeline, body)
                    self._failures = 0
                    self._push_failures = 0
                    continue
                if self.needs_eventdata:
                    self.needs_eventdata = False
                    if await self._load_event_data(client, pipeline):
                        self.needs_resync = True
                    continue
                if self.wanted:
                    await self._fetch_wanted(client, pipeline)
                    continue
                waiter = asyncio.create_task(self._wake.wait())
                try:
                    await asyncio.wait((reader, waiter), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
            return reader.result()
        finally:
            self._sync_buffer = None
            if keepalive is not None:
                keepalive.cancel()
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
            with contextlib.suppress(Exception):
                await ws.close()

    async def _polling_session(
        self, client: httpx.AsyncClient, pipeline: Pipeline
    ) -> ClientConnection | None:
        """Poll until push can be opened again (returned), or forever with ``poll=True``."""
        self.health.mode = SourceMode.POLLING
        await self._sync(client, pipeline)
        self._failures = 0
        now = time.monotonic()
        next_poll = now + self.poll_interval
        next_refresh = now + self.list_refresh
        while True:
            now = time.monotonic()
            if not self.poll and now >= self._push_due:
                ws = await self._try_push()
                if ws is not None:
                    return ws
                continue
            if now >= next_poll:
                await self._poll_once(client, pipeline)
                if time.monotonic() >= next_refresh:
                    await self._refresh(client, pipeline)
                    next_refresh = time.monotonic() + self.list_refresh
                next_poll = time.monotonic() + self.poll_interval
                continue
            target = next_poll if self.poll else min(next_poll, self._push_due)
            await asyncio.sleep(max(0.0, target - now))

    async def run(self, pipeline: Pipeline) -> None:
        """Feed ``pipeline`` until cancelled; never raises for bad input or a lost peer."""
        self._live = True
        self._wake = asyncio.Event()
        self._sem = asyncio.Semaphore(self.concurrency)
        self.health.state = FeedState.CONNECTING
        self._push_due = 0.0
        try:
            async with self._client() as client:
                ws: ClientConnection | None = None
                while True:
                    try:
                        if ws is None and not self.poll and time.monotonic() >= self._push_due:
                            ws = await self._try_push()
                        if ws is not None:
                            current, ws = ws, None
                            why = await self._push_session(client, pipeline, current)
                            self._lost(why)
                            # Try push again first; poll only if it stays refused.
                            self._push_failures = 1
                            await asyncio.sleep(self._backoff(1))
                            self._push_due = 0.0
                            continue
                        ws = await self._polling_session(client, pipeline)
                    except asyncio.CancelledError:
                        if ws is not None:
                            with contextlib.suppress(Exception):
                                await ws.close()
                        raise
                    except BBTError as exc:
                        self._lost(str(exc))
                        self._failures += 1
                        await self._wait_retry(self._backoff(self._failures, exc.retry_after))
                    except Exception as exc:  # a bug must not kill the feed: say it, retry
                        log.exception("%s: unexpected error", self.name)
                        self._lost(self._scrub(f"internal error: {type(exc).__name__}: {exc}"))
                        self._failures += 1
                        await self._wait_retry(self._backoff(self._failures))
        finally:
            self.health.state = FeedState.STOPPED
            self._live = False

    async def _wait_retry(self, delay: float) -> None:
        """Sleep until the next attempt; the health says when it comes ("retrying in 4 s")."""
        self.health.next_retry = self.health.clock() + delay
        try:
            await asyncio.sleep(delay)
        finally:
            self.health.next_retry = None

    def _lost(self, why: str) -> None:
        self.health.reconnects += 1
        self.health.error(self._scrub(why))
        log.warning("%s: %s; reconnecting", self.name, self.health.last_error)

    async def sync_once(self, pipeline: Pipeline) -> None:
        """Load everything once over REST (``racetui export --connect``).

        Raises :class:`BBTError` naming what failed; what was loaded before stays applied.
        """
        self._live = True
        self._sem = asyncio.Semaphore(self.concurrency)
        try:
            async with self._client() as client:
                await self._sync(client, pipeline)
                if self.wanted:
                    await self._fetch_wanted(client, pipeline)
        except BBTError as exc:
            self.health.error(str(exc))
            raise
        finally:
            self._live = False


def _host_port(url: str) -> str:
    """``host:port`` of a URL (the scheme's port when none is given), for "can't reach"."""
    import httpx

    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme in ('https', 'wss') else 80)}"
