"""BBT message handling without sockets: one REST answer or push frame in, engine deltas out.

:class:`BBTDecoder` does no I/O and does not care whether the bytes came from a socket or a
journal: :class:`racetui.sources.replay.ReplaySource` feeds recorded messages through it,
and :class:`racetui.sources.bbt.client.BBTSource` (the I/O) is built on it. What a message
cannot settle by itself (an unknown race number, a ``seq`` gap, changed event data, a push
frame in the vendor's short form) is noted in ``wanted`` / ``needs_resync`` /
``needs_eventdata`` / ``catchup`` for the I/O layer to fetch.

Lenient where the vendor text is silent (``docs/bbt-api.md``, "What racetui accepts"):
ids as numbers or text, durations as text or numbers of seconds or milliseconds (decided
by magnitude against the race clock and shown on Health), list answers with or without
``total``/``pages`` or as bare arrays, endpoints an older master lacks derived from the
rest (waves from results, the clock from the gun time).

Gun times given to the engine are chip ``time`` plus the wave offset it holds (when the
athlete's wave is known), so its chip times — what rankings use — are exactly the
master's even while a late wave start is not re-read yet.

Times from list pages are merged (a page read a moment before a push cannot erase what the
push brought). What the master no longer holds disappears: an athlete's passes beyond the
``last_point_id`` of ``/results/list`` and every point missing from a
``/results/participant`` answer's splits are removed, and an athlete missing from two
complete ``/results/list`` reads in a row is removed.

A per-point watermark (the newest pass id held) moves only when the whole
``/results/latest`` read it covers has arrived: a read cut after page 1 is retried from the
old watermark, so a failed page loses nothing.

Bad input is rejected with a message naming the field path and the value
(``health.reject``: the Health screen's problems, and ``rejections`` for headless
reports); nothing but :class:`BadData` is raised inside, and nothing at all leaves the
``handle_*`` methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

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
    Result,
    Status,
    TimingPoint,
    Wave,
)
from racetui.model.times import (
    DurationUnit,
    TimeValueError,
    format_duration,
    number_unit,
    parse_number_duration,
    parse_optional_duration,
)
from racetui.sources.base import Pipeline, SourceHealth, SourceMode
from racetui.sources.bbt.wire import (
    BadData,
    Page,
    envelope,
    need_id,
    need_int,
    read_bool,
    read_datetime,
    read_enum,
    read_float,
    read_id,
    read_incidents,
    read_int,
    read_members,
    read_racenum,
    read_status,
    read_str,
    show,
)
from racetui.util.secrets import scrub

__all__ = ["API_PREFIX", "BBTDecoder", "HeldPushes", "RestInfo"]

log = logging.getLogger("racetui.sources.bbt")

API_PREFIX = "/api/1.1"
MAX_REJECTIONS_KEPT = 200
_ALL = "*"  # catch-up of every timing point


@dataclass(slots=True)
class RestInfo:
    """What handling one REST answer learnt, for the I/O layer's paging decisions."""

    ok: bool
    route: str = ""
    page: int = 1
    pages: int | None = 1  # None: the master did not say (paged until ``last``)
    last: bool = True  # the last page of this listing
    count: int = 0  # items on this page
    ids: list[int] = field(default_factory=list)  # pass ids, newest first (/results/latest)
    floor: int = -1  # /results/latest: the newest pass id already held before this read
    done: bool = True  # /results/latest: the read reached the watermark (or the end)
    error: str | None = None
    total: int | None = None  # items in the whole listing, when the master says


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
    result_id: str
    race_id: str
    bib: str
    participant: Participant
    status: Status | None  # None: unreadable (rejected by name), the held one is kept
    last_point_id: str | None
    gun: int | None  # gun time at last_point_id (or at the asked point)
    incidents: list[Incident] | None  # None: the answer does not carry them (keep)
    legs: list[RelayLeg] | None  # relay members; None: not carried (keep)
    has_last_point: bool = False  # the answer carries last_point_id (even as null)


# One athlete's update: bib, participant, status, gun times by point id, incidents, legs
# (None = keep what the engine holds; times are merged into what it holds), then what the
# master no longer holds: ``cut`` drops held times past that point index (-1: all), and
# ``keep`` (when not None) makes ``times`` the whole set but for the points named in it.
_Row = tuple[
    str,
    Participant | None,
    Status | None,
    dict[str, int],
    list[Incident] | None,
    list[RelayLeg] | None,
    int | None,
    set[str] | None,
]


def _digest(item: Any) -> tuple[str, int] | None:
    """(result id, hash of what racetui uses) of a result object; None if it has no usable id."""
    if not isinstance(item, dict):
        return None
    result_id = item.get("id")
    if type(result_id) is not int and type(result_id) is not str:
        return None
    try:
        return str(result_id), hash(orjson.dumps([item.get(key) for key in _DIGEST_KEYS]))
    except TypeError:  # a value JSON cannot hold (not from a JSON body), or nested too deep
        return None


def _numeric(text: str) -> tuple[int, str]:
    return (int(text), text) if text.isdigit() and len(text) < 19 else (1 << 62, text)


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The route below ``/api/1.1`` and the query parameters of a request URL."""
    parts = urlsplit(url)
    path = parts.path
    where = path.find(API_PREFIX)
    route = path[where + len(API_PREFIX) :] if where >= 0 else path
    return route or "/", dict(parse_qsl(parts.query))


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


class HeldPushes:
    """The push frames received while a REST sync runs, to apply again after it (a page
    read before a push must not undo it), in the order they came.

    Held as JSON, one line each, in one growing buffer: a decoded frame is about 1.1 KB of
    small objects, its JSON about 200 bytes. At speed 60 a 50,000-athlete marathon pushes
    over 100,000 frames while its first load runs in a busy hub (the embedded one shares
    two cores with the dashboard): held decoded they took over 100 MB, and their pages
    stayed with the process after the sync (freed small objects among the engine's). The
    one buffer is a single block, returned whole when it is dropped. A frame JSON cannot
    write again (nested past the encoder's depth) is held as it is, in its place.
    """

    __slots__ = ("_count", "_data", "_odd")

    def __init__(self) -> None:
        self._data = bytearray()
        self._odd: list[Any] = []  # frames held as objects: an empty line in the buffer
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, body: Any) -> None:
        try:
            self._data += orjson.dumps(body)  # JSON text never holds a raw line break
        except orjson.JSONEncodeError:
            self._odd.append(body)
        self._data += b"\n"
        self._count += 1

    def __iter__(self) -> Iterator[Any]:
        data, odd = self._data, iter(self._odd)
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            yield orjson.loads(data[start:end]) if end > start else next(odd)
            start = end + 1


class BBTDecoder:
    """A BBT master's messages turned into engine deltas (no I/O).

    One decoder per master: its state (event data, athletes known, pass watermarks, what
    the master was found to support) builds up message by message, live or in a replay.
    """

    def __init__(self, name: str = "BBT", *, mode: SourceMode = SourceMode.PUSH) -> None:
        self.name = name
        self.health = SourceHealth(self.name, mode=mode)
        # Event data as last read (committed when the last page of a listing arrived).
        self._races: dict[str, _RaceData] = {}
        self._waves: dict[str, Wave] = {}
        self._points: dict[str, TimingPoint] = {}
        self._locations: dict[str, Location] = {}
        self._clocks: dict[str, _Clock] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._offsets: dict[tuple[str, str], int] = {}  # (race id, wave id) -> offset ms
        # Waves of a master without /event/waves, derived from results: (race, wave) -> offset.
        self._derived_waves: dict[tuple[str, str], int] = {}
        # Athletes whose details we hold: (race id, bib) -> wave id.
        self._known: dict[tuple[str, str], str | None] = {}
        self._by_result: dict[str, tuple[str, str]] = {}  # result id -> (race id, bib)
        self._list_seen: dict[str, int] = {}  # result id -> digest of its last applied list item
        # /results/list reads per race: pages seen in the current read, bibs in them.
        self._list_cycle: dict[str, tuple[set[int], int | None, set[str]]] = {}
        self._list_suspects: dict[str, set[str]] = {}  # race id -> bibs missing from one read
        # /results/latest: newest pass id held per point (the watermark), and the current
        # read's floor (the watermark when it began), newest id so far, and what it saw.
        self._latest_max: dict[str, int] = {}
        self._latest_cycle: dict[str, tuple[int, int, set[tuple[str, str, str]]]] = {}
        self._page_sigs: dict[str, int] = {}  # unpaged listings: first item of the last page
        self._loaded_points: set[str] = set()  # points whose every pass was loaded once
        # What the master was found to support (route -> False once it answered 404).
        self.supports: dict[str, bool] = {}
        self.duration_unit: DurationUnit | None = None  # bare numbers: seconds or ms, once known
        self._clock_hint_ms: int | None = None  # the furthest race clock known (ms)
        # What messages could not settle by themselves (the I/O layer acts on these).
        self.needs_resync = False
        self.needs_eventdata = False
        self.catchup: set[str] = set()  # points to read /results/latest for ("*": all)
        self.wanted: dict[str, str] = {}  # result id -> why
        self.protect: dict[str, set[str]] = {}  # result id -> points pushed while fetching it
        self._seq: int | None = None
        self._live = False  # the I/O layer fetches what is wanted; a replay does not
        self._syncing = False
        self._sync_buffer: HeldPushes | None = None
        self._pipeline: Pipeline | None = None
        self._secrets: list[str] = []
        self._rejects_logged = 0
        self.rejections: list[str] = []  # the first reasons (bounded), for headless reports
        self.seqless_frames = 0

    @property
    def syncing(self) -> bool:
        """A full REST sync is under way (the screen may say "resyncing")."""
        return self._syncing

    def note(self, key: str, text: str) -> None:
        """What was found about the master (its forms, what it lacks): shown on Health."""
        if self.health.details.get(key) != text:
            self.health.details[key] = text
            log.info("%s: %s", self.name, text)

    # ---------------------------------------------------------------- durations
    def _duration(self, obj: dict[str, Any], key: str) -> int | None:
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
            if isinstance(value, int | float) and not isinstance(value, bool):
                return parse_number_duration(value, key, self._unit_for(value, key))
            return parse_optional_duration(value, key)
        except (TimeValueError, ValueError, OverflowError):
            raise BadData(f"{key}: not a time: {show(value)}") from None

    def _unit_for(self, value: float, key: str) -> DurationUnit:
        """Seconds or milliseconds for this master's bare numbers; milliseconds, once seen,
        stick (a later small number is a short time, not seconds)."""
        if self.duration_unit == "ms":
            return "ms"
        unit = number_unit(value, self._clock_hint_ms)
        if unit == "ms":
            self.duration_unit = "ms"
            clock = "" if not self._clock_hint_ms else f" (race clock {format_duration(self._clock_hint_ms)})"
            self.note("durations", f"durations sent as numbers: milliseconds ({key} {show(value)}{clock})")
        elif self.duration_unit is None:
            self.duration_unit = "s"
            self.note("durations", "durations sent as numbers: seconds")
        return unit

    def _clock_hint(self, race_ms: int | None) -> None:
        if race_ms is not None and race_ms > (self._clock_hint_ms or 0):
            self._clock_hint_ms = race_ms

    # ---------------------------------------------------------------- support
    def unsupported(self, pipeline: Pipeline, route: str) -> None:
        """The master answered 404 to an optional endpoint: never ask again, derive it."""
        if self.supports.get(route) is False:
            return
        self.supports[route] = False
        derived = {
            "/event/waves": "waves derived from results",
            "/timing/raceclock": "race clocks from the gun time",
            "/timing/locations": "no timing locations",
        }.get(route, "not used")
        self.note(f"lacks {route}", f"master has no {route} (404): {derived}")
        self._publish_event(pipeline)

    def wants(self, route: str) -> bool:
        return self.supports.get(route, True)

    # ---------------------------------------------------------------- the form
    def _page(self, body: Any, route: str, params: dict[str, str]) -> Page:
        page = envelope(body, params)
        if page.form != "envelope":
            self.note("paging", f"list answers as {page.form}: paged until a short page")
            if not page.last and page.items:
                # A master that ignores ``page`` and answers the same full page again.
                key = route + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "page")
                try:
                    sig = hash(orjson.dumps(page.items[0]))
                except TypeError:
                    sig = 0
                if page.page > 1 and self._page_sigs.get(key) == sig:
                    page.last = True
                    page.items = []
                self._page_sigs[key] = sig
        return page

    # ================================================================ message handling
    def handle_rest(self, pipeline: Pipeline, url: str, payload: bytes | str) -> RestInfo:
        """One REST answer (``url``: path and query as requested, ``payload``: the body)."""
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            route, _ = split_url(url)
            return self._bad(pipeline, f"GET {route}: not JSON ({exc})", route)
        return self.handle_rest_body(pipeline, url, body)

    def handle_rest_body(self, pipeline: Pipeline, url: str, body: Any) -> RestInfo:
        """Like :meth:`handle_rest` with the body already decoded. Never raises."""
        self._pipeline = pipeline
        route, params = split_url(url)
        handler = self._routes.get(route)
        if handler is None:
            return self._bad(pipeline, f"GET {route}: no handler for this endpoint", route)
        try:
            info = handler(self, pipeline, params, body)
        except BadData as exc:
            page = f" page {params['page']}" if "page" in params else ""
            return self._bad(pipeline, f"GET {route}{page}: {exc}", route)
        except RecursionError:
            return self._bad(pipeline, f"GET {route}: nested too deep to read", route)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            # A value our models refuse (pydantic names the field): rejected like the rest.
            first = str(exc).splitlines()[0] if str(exc) else ""
            return self._bad(pipeline, f"GET {route}: {type(exc).__name__}: {show(first)}", route)
        info.route = route
        self.health.received()
        return info

    def handle_push(self, pipeline: Pipeline, payload: bytes | str) -> bool:
        """One push frame. Returns False when it was rejected."""
        self._pipeline = pipeline
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self._reject(f"push: not JSON ({exc})")
            self._need_resync("a push message could not be read")
            return False
        return self.handle_push_body(pipeline, body)

    def handle_push_body(self, pipeline: Pipeline, body: Any) -> bool:
        """One decoded push frame. Never raises.

        A frame with ``seq`` (our documented form) is checked for gaps; a frame without one
        (the vendor's form: ``{"event": ...}`` and some basics) cannot show a gap, so what
        it names is read back over REST, targeted and coalesced: the athlete's result when
        it names one, the latest passes at its timing point, or at every point."""
        self._pipeline = pipeline
        if not isinstance(body, dict):
            self._reject(f"push: expected a JSON object, got {type(body).__name__}")
            self._need_resync("a push message could not be read")
            return False
        seq = body.get("seq")
        seqless = seq is None
        if seqless:
            self.seqless_frames += 1
            if self.seqless_frames == 1:
                self.note("push", "push frames without seq (vendor form): each is read back over REST")
        elif isinstance(seq, bool) or not isinstance(seq, int):
            self._reject(
                f"push {show(body.get('event', '?'))}: seq: expected a whole number, got {show(seq)}"
            )
            self._need_resync("a push message without a valid seq")
        else:
            if self._seq is not None and seq != self._seq + 1:
                self._need_resync(f"push seq gap: {self._seq} then {seq}")
            self._seq = seq
        event = body.get("event")
        if event == "results":
            if self._sync_buffer is not None:
                self._sync_buffer.append(body)
            try:
                ok = self._apply_push_result(pipeline, body, seqless)
            except RecursionError:
                self._reject("push results: nested too deep to read")
                ok = False
        elif event == "eventdata":
            self.needs_eventdata = True
            self._notify()
            ok = True
        else:
            self._reject(f"push: event: unknown event {show(event)}")
            return False
        if ok:
            self.health.received()
        return ok

    # ---------------------------------------------------------------- push results
    def _catch_up(self, point_id: str | None) -> None:
        self.catchup.add(point_id if point_id is not None and point_id in self._points else _ALL)
        self._notify()

    def _apply_push_result(self, pipeline: Pipeline, body: dict[str, Any], seqless: bool) -> bool:
        where = f"push results (seq {show(body.get('seq'))})"
        # The vendor's basics may be only some of these; what is there must be readable.
        try:
            result_id = read_id(body, "id", optional=True)
            race_id = read_id(body, "race_id", optional=True)
            bib = read_racenum(body) if body.get("racenum") is not None else None
            point_id = read_id(body, "point_id", optional=True)
            chip = self._duration(body, "time")
            gun = self._duration(body, "race_time")
            status = read_status(body) if body.get("status") is not None else None
        except BadData as exc:
            self._reject(f"{where}: {exc}")
            # What it was about is unknown: read back the latest passes everywhere.
            self._catch_up(None)
            return False
        if result_id is None or race_id is None or bib is None:
            # A short frame: nothing to apply by itself; read back what it names.
            if result_id is not None:
                self._want(result_id, "a push frame named this result")
            else:
                self._catch_up(point_id)
            return True
        if seqless:
            if point_id is not None:
                self._catch_up(point_id)
            else:
                self._want(result_id, "a push frame named this result")
        if result_id in self.protect and point_id is not None:
            self.protect[result_id].add(point_id)
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
                if seqless:
                    return True  # the basics only: the read-back brings the time
                self._reject(f"{where}: point_id {point_id} without time or race_time")
                return False
            pipeline.apply_passings((Passing(race_id=race_id, bib=bib, point_id=point_id, time_ms=gun),))
        if status is not None:
            entry = standings.entries.get(bib)
            if entry is None or entry.source_status != status:
                self._apply_merged(pipeline, race_id, [(bib, None, status, {}, None, None, None, None)])
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
        params: dict[str, str],
        route: str,
        parse: Callable[[dict[str, Any]], tuple[str, Any]],
    ) -> RestInfo:
        name = route.rsplit("/", 1)[-1]
        page = self._page(body, route, params)
        collected = self._collect(name, page.page)
        for i, item in enumerate(page.items):
            try:
                if not isinstance(item, dict):
                    raise BadData(f"expected an object, got {show(item)}")
                key, value = parse(item)
            except BadData as exc:
                self._reject(f"GET {route} page {page.page} data[{i}].{exc}")
                continue
            except ValueError as exc:  # the model's own validation
                self._reject(f"GET {route} page {page.page} data[{i}]: {show(str(exc).splitlines()[0])}")
                continue
            collected[key] = value
        if page.last:
            del self._pending[name]
            setattr(self, f"_{name}", collected)
            self._publish_event(pipeline)
        return RestInfo(True, page=page.page, pages=page.pages, last=page.last, count=len(page.items))

    def _on_races(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        def parse(item: dict[str, Any]) -> tuple[str, _RaceData]:
            race = _RaceData(
                id=need_id(item, "id"),
                name=(read_str(item, "name") or ""),
                kind=read_enum(item, "kind", RaceKind, RaceKind.ROAD),
                distance_m=read_float(item, "distance"),
                state=read_enum(item, "state", ClockState, ClockState.PRERACE),
                gun_time=read_datetime(item, "gun_time"),
                wetsuit=read_bool(item, "wetsuit"),
                air_temp=read_float(item, "air_temp"),
                water_temp=read_float(item, "water_temp"),
            )
            return race.id, race

        return self._listing(pipeline, body, params, "/event/races", parse)

    def _on_waves(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        def parse(item: dict[str, Any]) -> tuple[str, Wave]:
            wave = Wave(
                id=need_id(item, "id"),
                race_id=need_id(item, "race_id"),
                name=read_str(item, "name", optional=True) or "",
                offset_ms=self._duration(item, "offset") or 0,
            )
            return wave.id, wave

        return self._listing(pipeline, body, params, "/event/waves", parse)

    def _on_points(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        def parse(item: dict[str, Any]) -> tuple[str, TimingPoint]:
            point = TimingPoint(
                id=need_id(item, "id"),
                race_id=need_id(item, "race_id"),
                name=read_str(item, "name", optional=True) or "",
                order=need_int(item, "order"),
                distance_m=read_float(item, "distance"),
                location_id=read_id(item, "location_id", optional=True),
                is_finish=bool(read_bool(item, "is_finish")),
                leg=read_int(item, "leg", optional=True),
            )
            return point.id, point

        return self._listing(pipeline, body, params, "/timing/points", parse)

    def _on_locations(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        def parse(item: dict[str, Any]) -> tuple[str, Location]:
            location = Location(id=need_id(item, "id"), name=read_str(item, "name", optional=True) or "")
            return location.id, location

        return self._listing(pipeline, body, params, "/timing/locations", parse)

    def _on_raceclock(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        if not isinstance(body, dict):
            raise BadData(f"expected a JSON object, got {type(body).__name__}")
        race_id = need_id(body, "race_id")
        waves = body.get("waves") or []
        if not isinstance(waves, list):
            raise BadData(f"waves: expected a list, got {show(waves)}")
        offsets: dict[str, int] = {}
        for i, wave in enumerate(waves):
            if not isinstance(wave, dict):
                raise BadData(f"waves[{i}]: expected an object, got {show(wave)}")
            try:
                offsets[need_id(wave, "id")] = self._duration(wave, "offset") or 0
            except BadData as exc:
                raise BadData(f"waves[{i}].{exc}") from None
        server_time = read_datetime(body, "server_time")
        gun_time = read_datetime(body, "gun_time")
        skew = 0
        if server_time is not None:  # whole seconds: a re-read must not count as a change
            skew = round((server_time - datetime.now(UTC)).total_seconds()) * 1000
            if gun_time is not None:
                self._clock_hint(int((server_time - gun_time).total_seconds() * 1000))
        self._clocks[race_id] = _Clock(
            state=read_enum(body, "state", ClockState, ClockState.PRERACE),
            gun_time=gun_time,
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
            race_waves = [w for w in self._waves.values() if w.race_id == race_id]
            if not self.wants("/event/waves"):
                race_waves = [
                    Wave(id=wave_id, race_id=race_id, name=f"Wave {wave_id}", offset_ms=offset)
                    for (rid, wave_id), offset in self._derived_waves.items()
                    if rid == race_id
                ]
            for wave in sorted(race_waves, key=lambda w: _numeric(w.id)):
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
    def _field(self, where: str, read: Callable[[], Any], default: Any = None) -> Any:
        """One field of a row: a bad value is rejected by name and the row kept without it."""
        try:
            return read()
        except BadData as exc:
            self._reject(f"{where}.{exc} (field ignored, row kept)")
            return default

    def _parse_result(self, item: Any, where: str = "result") -> _Res:
        """A result object. Read straight first (the hot path of a 50,000-athlete load);
        only a row with a bad field is read again field by field, keeping what is good."""
        try:
            return self._read_result_fast(item)
        except BadData:
            pass
        except ValueError:  # the model's own validation: named by the careful read below
            pass
        return self._read_result(item, where, self._field)

    def _read_result_fast(self, item: Any) -> _Res:
        """Every field read directly: any bad value raises (then :meth:`_read_result`)."""
        if not isinstance(item, dict):
            raise BadData(f"expected a result object, got {show(item)}")
        race_id = need_id(item, "race_id")
        bib = read_racenum(item)
        result_id = need_id(item, "id")
        wave_id = read_id(item, "wave_id", optional=True)
        get = item.get
        participant = Participant(
            bib=bib,
            race_id=race_id,
            id=result_id,
            first_name=read_str(item, "first_name", optional=True) or "",
            last_name=read_str(item, "last_name", optional=True) or "",
            name=read_str(item, "name", optional=True) or "",
            gender=read_str(item, "gender", optional=True),
            category=read_str(item, "category", optional=True),
            age=None if get("age") is None else read_int(item, "age"),
            country=read_str(item, "country", optional=True),
            club=read_str(item, "club", optional=True),
            wave_id=wave_id,
        )
        status = read_status(item)
        incidents = read_incidents(item) if "incidents" in item else None
        legs = read_members(item) if "members" in item else None
        last_point = read_id(item, "last_point_id", optional=True)
        chip = self._duration(item, "time")
        race_time = self._duration(item, "race_time")
        return self._result(
            item, result_id, participant, status, last_point, chip, race_time, incidents, legs
        )

    def _read_result(self, item: Any, where: str, field: Callable[..., Any]) -> _Res:
        if not isinstance(item, dict):
            raise BadData(f"expected a result object, got {show(item)}")
        race_id = need_id(item, "race_id")
        bib = read_racenum(item)
        result_id = need_id(item, "id")
        at = f"{where} (racenum {bib})"
        try:
            wave_id = read_id(item, "wave_id", optional=True)
            participant = Participant(
                bib=bib,
                race_id=race_id,
                id=result_id,
                first_name=field(at, lambda: read_str(item, "first_name", optional=True), "") or "",
                last_name=field(at, lambda: read_str(item, "last_name", optional=True), "") or "",
                name=field(at, lambda: read_str(item, "name", optional=True), "") or "",
                gender=field(at, lambda: read_str(item, "gender", optional=True)),
                category=field(at, lambda: read_str(item, "category", optional=True)),
                age=field(at, lambda: read_int(item, "age", optional=True)),
                country=field(at, lambda: read_str(item, "country", optional=True)),
                club=field(at, lambda: read_str(item, "club", optional=True)),
                wave_id=wave_id,
            )
            status = field(at, lambda: read_status(item))
            incidents = field(at, lambda: read_incidents(item)) if "incidents" in item else None
            legs = field(at, lambda: read_members(item)) if "members" in item else None
            last_point = read_id(item, "last_point_id", optional=True)
            chip = field(at, lambda: self._duration(item, "time"))
            race_time = field(at, lambda: self._duration(item, "race_time"))
        except BadData as exc:
            raise BadData(f"racenum {bib}: {exc}") from None
        except ValueError as exc:  # the model's own validation
            raise BadData(f"racenum {bib}: {show(str(exc).splitlines()[0])}") from None
        return self._result(
            item, result_id, participant, status, last_point, chip, race_time, incidents, legs
        )

    def _result(
        self,
        item: dict[str, Any],
        result_id: str,
        participant: Participant,
        status: Status | None,
        last_point: str | None,
        chip: int | None,
        race_time: int | None,
        incidents: list[Incident] | None,
        legs: list[RelayLeg] | None,
    ) -> _Res:
        """The row as read (by either path), with its gun time at ``last_point``."""
        race_id, bib = participant.race_id, participant.bib
        gun = self._gun(race_id, bib, participant.wave_id, chip, race_time)
        return _Res(
            result_id,
            race_id,
            bib,
            participant,
            status,
            last_point,
            gun,
            incidents,
            legs,
            "last_point_id" in item,
        )

    def _derive_wave(self, race_id: str, wave_id: str, offset: int) -> None:
        """A master without /event/waves: a wave's offset is race time minus chip time."""
        if self.wants("/event/waves") or offset < 0:
            return
        key = (race_id, wave_id)
        if self._derived_waves.get(key) != offset:
            self._derived_waves[key] = offset
            if self._pipeline is not None:
                self._publish_event(self._pipeline)

    def _register(self, res: _Res) -> None:
        self._known[(res.race_id, res.bib)] = res.participant.wave_id
        self._by_result[res.result_id] = (res.race_id, res.bib)
        self.wanted.pop(res.result_id, None)

    def result_gone(self, pipeline: Pipeline, result_id: str) -> None:
        """The master answered 404 for a result it had: deleted there, so here too."""
        key = self._by_result.pop(result_id, None)
        if key is None:
            self._reject(f"GET /results/participant: result_id {result_id}: not found on the master")
            return
        race_id, bib = key
        self._known.pop(key, None)
        self._list_seen.pop(result_id, None)
        log.info(
            "%s: result %s (race %s, racenum %s) deleted on the master: removed",
            self.name,
            result_id,
            race_id,
            bib,
        )
        pipeline.remove_athletes(race_id, [bib])

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
        if gun is not None and wave_id is not None and (race_id, wave_id) not in self._offsets:
            self._derive_wave(race_id, wave_id, gun - chip)
        return chip + (self._offsets.get((race_id, wave_id), 0) if wave_id is not None else 0)

    def _on_list(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        page = self._page(body, "/results/list", params)
        updates: dict[str, list[_Row]] = {}
        digests: list[tuple[str, int]] = []
        seen = self._list_seen
        # Only a read of the whole race (or event) can tell who is gone; a filtered one cannot.
        scope = "" if "racenum" in params or "search" in params else params.get("race_id") or _ALL
        pages_seen, _, bibs = self._list_cycle.get(scope, (set(), None, set()))
        if page.page in pages_seen:  # a new read of the list
            pages_seen, bibs = set(), set()
        pages_seen.add(page.page)
        clean = True
        for i, item in enumerate(page.items):
            # A resync re-reads everyone: skip, cheaply, whoever did not change since.
            digest = _digest(item)
            if digest is not None and seen.get(digest[0]) == digest[1]:
                bibs.add(digest[0])
                continue
            try:
                res = self._parse_result(item, f"GET /results/list page {page.page} data[{i}]")
            except BadData as exc:
                self._reject(f"GET /results/list page {page.page} data[{i}].{exc}")
                clean = False
                continue
            bibs.add(res.result_id)
            standings = pipeline.engine.races.get(res.race_id)
            if standings is None:
                self._need_eventdata(f"/results/list names race {res.race_id}, which is not loaded")
                clean = False
                continue
            self._register(res)
            times: dict[str, int] = {}
            cut: int | None = None
            if res.last_point_id is not None:
                index = standings.point_index.get(res.last_point_id)
                if index is None:
                    self._need_eventdata(f"/results/list names timing point {res.last_point_id}, not loaded")
                    digest = None
                else:
                    cut = index
                    if res.gun is not None:
                        times[res.last_point_id] = res.gun
            elif res.has_last_point and res.gun is None:
                cut = -1  # the master holds no pass for this athlete
            updates.setdefault(res.race_id, []).append(
                (res.bib, res.participant, res.status, times, res.incidents, res.legs, cut, None)
            )
            if digest is not None:
                digests.append(digest)
        for race_id, rows in updates.items():
            self._apply_merged(pipeline, race_id, rows)
        seen.update(digests)
        last_seen = max(pages_seen) if page.last else None
        cycle_last = (
            last_seen if last_seen is not None else self._list_cycle.get(scope, (set(), None, set()))[1]
        )
        if not clean:
            pages_seen.add(-1)  # this read cannot tell who is gone
        self._list_cycle[scope] = (pages_seen, cycle_last, bibs)
        if (
            scope
            and cycle_last is not None
            and -1 not in pages_seen
            and pages_seen >= set(range(1, cycle_last + 1))
        ):
            self._list_complete(pipeline, scope, bibs)
            self._list_cycle.pop(scope, None)
        return RestInfo(
            True, page=page.page, pages=page.pages, last=page.last, count=len(page.items), total=page.total
        )

    def _list_complete(self, pipeline: Pipeline, scope: str, result_ids: set[str]) -> None:
        """A whole /results/list read arrived: whoever this source brought and the master
        no longer lists twice in a row is removed (once could be a page that shifted while
        it was read)."""
        races = {scope} if scope != _ALL else set(self._races)
        missing: dict[str, set[str]] = {race_id: set() for race_id in races}
        for result_id, (race_id, _) in self._by_result.items():
            if race_id in missing and result_id not in result_ids:
                missing[race_id].add(result_id)
        for race_id, absent in missing.items():
            suspects = self._list_suspects.get(race_id, set())
            gone = absent & suspects
            self._list_suspects[race_id] = absent - gone
            if gone:
                bibs = []
                for result_id in gone:
                    key = self._by_result.pop(result_id)
                    self._known.pop(key, None)
                    self._list_seen.pop(result_id, None)
                    bibs.append(key[1])
                log.info(
                    "%s: %d athletes of race %s no longer on the master: removed",
                    self.name,
                    len(gone),
                    race_id,
                )
                pipeline.remove_athletes(race_id, sorted(bibs))

    def _on_toplistforpoint(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        point_id = params.get("point_id")
        if not point_id:
            raise BadData("the request names no point_id")
        page = self._page(body, "/results/toplistforpoint", params)
        passings: dict[str, list[Passing]] = {}
        newcomers: list[Participant] = []
        known = self._known
        holding: dict[str, tuple[Mapping[str, Any], int | None]] = {}
        for i, item in enumerate(page.items):
            where = f"GET /results/toplistforpoint page {page.page} data[{i}]"
            # The hot path of a big start: only what a passing needs, unless the athlete is new.
            try:
                if not isinstance(item, dict):
                    raise BadData(f"expected a result object, got {show(item)}")
                race_id = need_id(item, "race_id")
                bib = read_racenum(item)
                held = holding.get(race_id)
                if held is None:
                    standings = pipeline.engine.races.get(race_id)
                    index = standings.point_index.get(point_id) if standings is not None else None
                    held = holding[race_id] = (standings.entries if standings else {}, index)
                if (race_id, bib) not in known:
                    res = self._parse_result(item, where)
                    self._register(res)
                    newcomers.append(res.participant)
                    gun = res.gun
                else:
                    chip = self._duration(item, "time")
                    gun = self._gun(
                        race_id,
                        bib,
                        None,
                        chip,
                        None if chip is not None else self._duration(item, "race_time"),
                    )
            except BadData as exc:
                self._reject(f"{where}.{exc}")
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
        return RestInfo(True, page=page.page, pages=page.pages, last=page.last, count=len(page.items))

    def _on_latest(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        key = f"p{params['point_id']}" if "point_id" in params else f"l{params.get('location_id', '')}"
        page = self._page(body, "/results/latest", params)
        cycle = self._latest_cycle.get(key)
        if page.page <= 1 or cycle is None:
            held = self._latest_max.get(key, -1)
            cycle = (held, held, set())
        floor, newest, seen = cycle
        ids: list[int] = []
        passings: list[Passing] = []
        for i, item in enumerate(page.items):
            try:
                if not isinstance(item, dict):
                    raise BadData(f"expected a pass object, got {show(item)}")
                pass_id = need_int(item, "id")
                result_id = need_id(item, "result_id")
                race_id = need_id(item, "race_id")
                bib = read_racenum(item)
                point_id = need_id(item, "point_id")
                gun = self._gun(
                    race_id, bib, None, self._duration(item, "time"), self._duration(item, "race_time")
                )
                if gun is None:
                    raise BadData("time: neither time nor race_time")
            except BadData as exc:
                self._reject(f"GET /results/latest page {page.page} data[{i}].{exc}")
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
            newest = max(newest, *ids)
        # The watermark moves only once the whole read has arrived: down to a pass already
        # held, or to the last page. A one-item first page is the probe of a point about to
        # be loaded whole (everything older comes with /results/toplistforpoint).
        probe = page.page == 1 and params.get("page_size") == "1"
        done = page.last or not page.items or (bool(ids) and min(ids) <= floor) or probe
        if done:
            self._latest_max[key] = max(self._latest_max.get(key, -1), newest)
            self._latest_cycle.pop(key, None)
        else:
            self._latest_cycle[key] = (floor, newest, seen)
        if passings:
            passings.reverse()  # oldest first
            pipeline.apply_passings(passings)
        return RestInfo(
            True,
            page=page.page,
            pages=page.pages,
            last=page.last,
            count=len(page.items),
            ids=ids,
            floor=floor,
            done=done,
        )

    def _on_participant(self, pipeline: Pipeline, params: dict[str, str], body: Any) -> RestInfo:
        res = self._parse_result(body, "GET /results/participant")
        standings = pipeline.engine.races.get(res.race_id)
        if standings is None:
            self._need_eventdata(f"/results/participant names race {res.race_id}, which is not loaded")
            return RestInfo(True)
        splits = body.get("splits")
        if splits is not None and not isinstance(splits, list):
            raise BadData(f"racenum {res.bib}: splits: expected a list, got {show(splits)}")
        times: dict[str, int] = {}
        complete = splits is not None
        for i, split in enumerate(splits or ()):
            try:
                if not isinstance(split, dict):
                    raise BadData(f"expected an object, got {show(split)}")
                point_id = need_id(split, "point_id")
                gun = self._gun(
                    res.race_id,
                    res.bib,
                    res.participant.wave_id,
                    self._duration(split, "time"),
                    self._duration(split, "race_time"),
                )
            except BadData as exc:
                self._reject(f"GET /results/participant racenum {res.bib}: splits[{i}].{exc}")
                complete = False  # cannot tell a removed split from an unreadable one
                continue
            if point_id not in standings.point_index:
                self._need_eventdata(
                    f"/results/participant: point {point_id} of race {res.race_id} not loaded"
                )
                complete = False
            elif gun is not None:
                times[point_id] = gun
        self._register(res)
        # The answer is the master's whole word on this athlete: a split it no longer has was
        # deleted there (points pushed while the answer was on its way are kept).
        keep = self.protect.get(res.result_id, set()) if complete else None
        self._apply_merged(
            pipeline,
            res.race_id,
            [(res.bib, res.participant, res.status, times, res.incidents, res.legs, None, keep)],
        )
        return RestInfo(True)

    _routes: dict[str, Callable[[BBTDecoder, Pipeline, dict[str, str], Any], RestInfo]] = {
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
        """Whole results built from what the engine holds plus what arrived; a held time is
        dropped only where the row says the master no longer has it (``cut``/``keep``)."""
        standings = pipeline.engine.races.get(race_id)
        if standings is None:
            return
        points = standings.points
        results = []
        for bib, participant, status, times, incidents, legs, cut, keep in rows:
            entry = standings.entries.get(bib)
            splits: dict[str, int] = {}
            if entry is not None:
                splits = {
                    points[i].id: t + entry.offset_ms
                    for i, t in enumerate(entry.times)
                    if t is not None and (cut is None or i <= cut) and (keep is None or points[i].id in keep)
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
    def _bad(self, pipeline: Pipeline | None, message: str, route: str = "") -> RestInfo:
        self._reject(message)
        return RestInfo(False, route=route, error=self._scrub(message))

    def _reject(self, message: str) -> None:
        """Counted, named and kept: on Health (the source's problems, in full), in
        ``rejections`` for headless reports, and in the log (bounded)."""
        message = self._scrub(message)
        self.health.reject(message)
        if len(self.rejections) < MAX_REJECTIONS_KEPT:
            self.rejections.append(message)
        self._rejects_logged += 1
        if self._rejects_logged <= 20 or self._rejects_logged % 100 == 0:
            log.warning("%s: rejected: %s", self.name, message)

    def _notify(self) -> None:
        """Wake the I/O layer (a no-op without one)."""

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

    def _want(self, result_id: str, why: str) -> None:
        if self._live and not self._syncing and result_id not in self.wanted:
            self.wanted[result_id] = why
            self._notify()

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)
