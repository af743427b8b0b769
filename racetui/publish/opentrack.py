"""Upload road/XC results to OpenTrack.

The contract (``opentrack-roadxc-upload.txt``): ``POST {server}/api/get-auth-token/`` with
form fields ``username`` and ``password`` answers ``{"token": ...}``; uploads are
``PUT {competition}/roadxc_upload/`` with ``Authorization: Token <token>`` and a JSON body,
one race ``{"eventid", "round", "heat", "mode", "ignore_unknowns", "data": [[bib, time]]}``
or a list of them; a large body may be zlib-compressed (the server tries JSON, then zlib).

Finish times are ``M:SS.hh`` / ``H:MM:SS.hh`` (``decimals`` digits, rounded up: a timer
never gives time away); DNF, DNS and DQ are sent for those statuses (LAP and NC count as
DNF). Athletes still racing are not sent.

Modes: ``replace`` sends the whole result list and supersedes an older queued replace of
the same races; ``append`` sends only bibs the server does not hold yet and ``update``
only new or changed bibs (relative to the last successful upload plus everything still
queued); those items are all kept and sent in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from pydantic import SecretStr

from racetui.engine import ChangeSet, Engine, RaceStandings
from racetui.model import RankBy, Status
from racetui.model.bibs import bib_key
from racetui.model.times import format_duration_short
from racetui.publish.outbox import (
    ItemState,
    OutboxItem,
    Outcome,
    PublishDiff,
    PublishError,
    PublishService,
    SendResult,
    classify_response,
    diff_rows,
    render_diff,
    transport_failure,
)
from racetui.util.secrets import reveal, scrub

if TYPE_CHECKING:
    import httpx

    from racetui.engine import Pipeline

__all__ = [
    "COMPRESS_OVER",
    "MODES",
    "TARGET",
    "BuiltUpload",
    "OpenTrackEvent",
    "OpenTrackPublisher",
    "OpenTrackSender",
    "UploadPreview",
    "auth_server_for",
    "competition_api_url",
    "format_time",
    "race_rows",
]

log = logging.getLogger("racetui.publish.opentrack")

TARGET = "opentrack"
MODES = ("replace", "append", "update")
COMPRESS_OVER = 64 * 1024
NO_CREDENTIALS = (
    "no OpenTrack credentials: set RACETUI_OPENTRACK_TOKEN, or RACETUI_OPENTRACK_USERNAME and "
    "RACETUI_OPENTRACK_PASSWORD (or opentrack.* in the config)"
)
_STATUS_TEXT = {Status.DNF: "DNF", Status.DNS: "DNS", Status.DSQ: "DQ", Status.LAP: "DNF", Status.NC: "DNF"}


# ================================================================== times


def format_time(ms: int, decimals: int = 2) -> str:
    """OpenTrack finish time: ``14:25.10``, ``2:05:31.20`` (``decimals`` 0-3, rounded up)."""
    return format_duration_short(ms, decimals)


def race_rows(standings: RaceStandings, *, decimals: int = 2) -> list[tuple[str, str]]:
    """``[bib, time]`` rows: finishers in the engine's order at the finish (by the time the
    race ranks by: gun time in road running unless the race says chip), then DNF/DNS/DQ
    by start number."""
    points = standings.points
    if not points:
        return []
    finish = next((p for p in points if p.is_finish), points[-1])
    view = standings.view(point_id=finish.id)
    by_gun = view.rank_by is RankBy.GUN
    rows: list[tuple[str, str]] = []
    for row in view.rows(0, len(view)):
        time = row.gun_ms if by_gun else row.time_ms
        if row.status is Status.OK and time is not None:
            rows.append((row.bib, format_time(time, decimals)))
    statuses = sorted(
        (bib_key(athlete.bib), text)
        for athlete in standings.athletes()
        if (text := _STATUS_TEXT.get(athlete.status))
    )
    rows += [(key[1], text) for key, text in statuses]
    return rows


# ================================================================== urls

_HUMAN_PATH = re.compile(r"^/(?:[a-z]{2}(?:-[a-z]{2})?/)?x/(?P<rest>.+)$", re.IGNORECASE)


def competition_api_url(url: str) -> str:
    """The competition's API URL with a trailing slash; a human URL (``/en-gb/x/2026/...``)
    is turned into its ``/api/2026/...`` form."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PublishError(f"competition: expected an http(s) URL, got {url!r}")
    path = parts.path
    human = _HUMAN_PATH.match(path)
    if human:
        path = "/api/" + human["rest"]
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def auth_server_for(competition_url: str) -> str:
    """The server base for ``api/get-auth-token/``: the competition URL's scheme and host."""
    parts = urlsplit(competition_url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


# ================================================================= sender


class _AuthProblem(Exception):
    def __init__(self, result: SendResult) -> None:
        super().__init__(result.message)
        self.result = result


class OpenTrackSender:
    """PUTs uploads with ``Authorization: Token`` (fetched with username/password or given
    by RACETUI_OPENTRACK_TOKEN; one re-login on a 401). Tokens live in memory only."""

    name = TARGET

    def __init__(
        self,
        *,
        username: str | None = None,
        password: SecretStr | str | None = None,
        token: SecretStr | str | None = None,
        server: str | None = None,
        timeout: float = 30.0,
        min_interval: float = 1.0,
    ) -> None:
        self.username = username or None
        self._password = reveal(password) or None
        self._static = reveal(token) or None
        self.server = server
        self.timeout = timeout
        self.min_interval = min_interval
        self._tokens: dict[str, str] = {}
        self._client: httpx.AsyncClient | None = None

    def destination(self) -> str:
        return self.server or "OpenTrack"

    @property
    def can_login(self) -> bool:
        return bool(self.username and self._password)

    def secrets(self) -> list[str]:
        values = [self._password, self._static, *self._tokens.values()]
        return [v for v in values if v]

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def token(self, server: str, *, refresh: bool = False) -> str:
        """A token for ``server``: cached, else RACETUI_OPENTRACK_TOKEN, else a login."""
        import httpx

        if not refresh:
            if server in self._tokens:
                return self._tokens[server]
            if self._static:
                return self._static
        if not self.can_login:
            if refresh:
                raise _AuthProblem(
                    SendResult(
                        Outcome.FAILED,
                        401,
                        "401: OpenTrack refused the token and no username/password is set",
                        hold=True,
                    )
                )
            raise _AuthProblem(SendResult(Outcome.FAILED, None, NO_CREDENTIALS, hold=True))
        url = _join(server, "api/get-auth-token/")
        try:
            response = await self._http().post(
                url, data={"username": self.username or "", "password": self._password or ""}
            )
        except httpx.HTTPError as exc:
            failure = transport_failure(exc, "OpenTrack login")
            raise _AuthProblem(
                SendResult(failure.outcome, None, scrub(failure.message, self.secrets()))
            ) from None
        if not 200 <= response.status_code < 300:
            result = classify_response(
                response.status_code,
                response.text,
                reason=response.reason_phrase,
                secrets=self.secrets(),
                hold_on=range(400, 500),
            )
            raise _AuthProblem(
                SendResult(
                    result.outcome,
                    result.status_code,
                    f"OpenTrack login: {result.message}",
                    result.response,
                    hold=result.outcome is Outcome.FAILED,
                )
            )
        try:
            token = response.json()["token"]
            if not isinstance(token, str) or not token:
                raise ValueError("empty token")
        except (ValueError, KeyError, TypeError):
            raise _AuthProblem(
                SendResult(
                    Outcome.FAILED,
                    response.status_code,
                    "OpenTrack login: the answer holds no token",
                    hold=True,
                )
            ) from None
        self._tokens[server] = token
        return token

    async def send(self, item: OutboxItem) -> SendResult:
        import httpx

        server = str(item.meta.get("auth_server") or self.server or auth_server_for(item.url))
        try:
            body = await asyncio.to_thread(item.read_body)  # from the outbox, off the loop
            token = await self.token(server)
            refreshed = False
            while True:
                headers = {**item.headers, "Authorization": f"Token {token}"}
                try:
                    response = await self._http().request(
                        item.method, item.url, content=body, headers=headers
                    )
                except httpx.HTTPError as exc:
                    failure = transport_failure(exc)
                    return SendResult(failure.outcome, None, scrub(failure.message, self.secrets()))
                if response.status_code == 401 and not refreshed:
                    self._tokens.pop(server, None)
                    refreshed = True
                    token = await self.token(server, refresh=True)
                    continue
                return classify_response(
                    response.status_code,
                    response.text,
                    reason=response.reason_phrase,
                    retry_after=response.headers.get("retry-after"),
                    secrets=self.secrets(),
                )
        except _AuthProblem as problem:
            return problem.result

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


# ============================================================== publisher


@dataclass(frozen=True, slots=True)
class OpenTrackEvent:
    """A racetui race mapped to an OpenTrack event/round/heat."""

    race_id: str
    eventid: str
    round: int = 1
    heat: int = 1

    @property
    def label(self) -> str:
        return f"{self.eventid}/{self.round}/{self.heat}"


@dataclass(frozen=True, slots=True)
class UploadPreview:
    event: OpenTrackEvent
    race_name: str
    mode: str
    rows: tuple[tuple[str, str], ...]  # what would be sent for this event
    diff: PublishDiff

    def render(self, *, limit: int = 15) -> str:
        title = f"{self.race_name} -> OpenTrack {self.event.label} ({self.mode}, {len(self.rows)} rows)"
        return render_diff(self.diff, title=title, limit=limit)


@dataclass(frozen=True, slots=True)
class BuiltUpload:
    url: str
    payload: dict[str, Any] | list[dict[str, Any]]
    body: bytes  # what goes on the wire (zlib when large)
    compressed: bool
    group: str
    supersedable: bool
    content_hash: str
    summary: str
    baselines: list[dict[str, Any]] = field(default_factory=list)

    def json_bytes(self) -> bytes:
        return orjson.dumps(self.payload)


class OpenTrackPublisher:
    """Builds road/XC uploads for mapped races and queues them in the outbox."""

    def __init__(
        self,
        engine: Engine,
        service: PublishService,
        *,
        competition: str,
        events: Sequence[OpenTrackEvent],
        mode: str = "replace",
        ignore_unknowns: bool = False,
        decimals: int = 2,
        compress_over: int = COMPRESS_OVER,
        auth_server: str | None = None,
        debounce: float = 0.05,
    ) -> None:
        if mode not in MODES:
            raise PublishError(f"mode: expected replace, append or update, got {mode!r}")
        if not events:
            raise PublishError("no OpenTrack event: pass --event or set opentrack.events in the config")
        self.engine = engine
        self.service = service
        self.competition = competition_api_url(competition)
        self.upload_url = self.competition + "roadxc_upload/"
        self.auth_server = auth_server or auth_server_for(self.competition)
        self.events = list(events)
        self.mode = mode
        self.ignore_unknowns = ignore_unknowns
        self.decimals = decimals
        self.compress_over = compress_over
        self.debounce = debounce
        self.errors: list[str] = []
        self._last_hash: dict[str, str] = {}
        self._dirty = False
        self._event = asyncio.Event()
        self._pipeline: Pipeline | None = None

    def key(self, event: OpenTrackEvent) -> str:
        return f"{TARGET}:{self.upload_url}#{event.label}"

    @property
    def group(self) -> str:
        labels = ",".join(sorted(event.label for event in self.events))
        return f"{TARGET}:{self.upload_url}#{labels}#{self.mode}"

    def _standings(self, event: OpenTrackEvent) -> RaceStandings:
        try:
            return self.engine.race(event.race_id)
        except KeyError:
            raise PublishError(f"race {event.race_id!r}: no such race in the current data") from None

    def _to_send(self, event: OpenTrackEvent) -> tuple[list[tuple[str, str]], dict[str, str] | None]:
        """(rows for this upload, the last successfully uploaded rows or None)."""
        rows = race_rows(self._standings(event), decimals=self.decimals)
        baseline = self.service.outbox.baseline(self.key(event))
        if self.mode == "replace":
            return rows, baseline[0] if baseline else None
        projected = self.service.outbox.projected(self.key(event))
        if self.mode == "append":
            fresh = [(bib, value) for bib, value in rows if bib not in projected]
        else:
            fresh = [(bib, value) for bib, value in rows if projected.get(bib) != value]
        return fresh, baseline[0] if baseline else None

    def preview(self) -> list[UploadPreview]:
        """Per event: what would be sent and what it changes against the last successful upload."""
        previews = []
        for event in self.events:
            rows, before = self._to_send(event)
            diff = diff_rows(before, dict(rows), mode=self.mode)
            name = self._standings(event).race.name
            previews.append(UploadPreview(event, name, self.mode, tuple(rows), diff))
        return previews

    def build(self) -> BuiltUpload | None:
        """The upload for every mapped race, or None when there is nothing to send."""
        units: list[dict[str, Any]] = []
        baselines: list[dict[str, Any]] = []
        labels: list[str] = []
        for event in self.events:
            rows, before = self._to_send(event)
            if not rows and (self.mode != "replace" or not before):
                continue  # nothing finished yet and nothing to clear
            units.append(
                {
                    "eventid": event.eventid,
                    "round": event.round,
                    "heat": event.heat,
                    "mode": self.mode,
                    "ignore_unknowns": "True" if self.ignore_unknowns else "False",
                    "data": [[bib, value] for bib, value in rows],
                }
            )
            baselines.append({"key": self.key(event), "mode": self.mode, "rows": dict(rows)})
            labels.append(f"{event.label} {len(rows)} rows")
        if not units:
            return None
        payload: dict[str, Any] | list[dict[str, Any]] = units[0] if len(units) == 1 else units
        raw = orjson.dumps(payload)
        compressed = len(raw) > self.compress_over
        body = zlib.compress(raw, 6) if compressed else raw
        return BuiltUpload(
            url=self.upload_url,
            payload=payload,
            body=body,
            compressed=compressed,
            group=self.group,
            supersedable=self.mode == "replace",
            content_hash=hashlib.sha256(raw).hexdigest(),
            summary=f"{self.mode} " + "; ".join(labels) + (" (zlib)" if compressed else ""),
            baselines=baselines,
        )

    def _previous_hash(self, *, resend_failed: bool = False) -> str | None:
        states = (ItemState.QUEUED, ItemState.SENDING, ItemState.SENT, ItemState.FAILED)
        if resend_failed:
            last = self.service.outbox.latest_in_group(self.group, states=states)
            if last is None or last.state is ItemState.FAILED:
                return None
            return str(last.meta.get("content_hash") or "") or None
        if self.group not in self._last_hash:
            last = self.service.outbox.latest_in_group(self.group, states=states)
            if last is not None and last.meta.get("content_hash"):
                self._last_hash[self.group] = str(last.meta["content_hash"])
        return self._last_hash.get(self.group)

    def would_send(self, built: BuiltUpload | None, *, resend_failed: bool = False) -> bool:
        """Whether :meth:`publish` would queue ``built`` (replace: only when it changed)."""
        if built is None:
            return False
        if self.mode != "replace":
            return True
        return self._previous_hash(resend_failed=resend_failed) != built.content_hash

    def enqueue(self, built: BuiltUpload) -> OutboxItem:
        headers = {"Content-Type": "application/octet-stream" if built.compressed else "application/json"}
        item = self.service.submit(
            target=TARGET,
            group=built.group,
            method="PUT",
            url=built.url,
            body=built.body,
            headers=headers,
            supersedable=built.supersedable,
            summary=built.summary,
            meta={
                "kind": "opentrack",
                "mode": self.mode,
                "auth_server": self.auth_server,
                "encoding": "zlib" if built.compressed else "json",
                "content_hash": built.content_hash,
                "races": [event.race_id for event in self.events],
                "baselines": built.baselines,
            },
        )
        self._last_hash[built.group] = built.content_hash
        return item

    def publish(self, *, force: bool = False, resend_failed: bool = False) -> OutboxItem | None:
        """Queue the upload if there is something new (for replace: if it changed since the
        last upload queued; ``resend_failed``: a failed last upload does not count)."""
        built = self.build()
        if built is None:
            return None
        if not force and not self.would_send(built, resend_failed=resend_failed):
            return None
        return self.enqueue(built)

    # ---------------------------------------------------------- live mode
    def attach(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        pipeline.listeners.append(self.on_change)

    def detach(self) -> None:
        if self._pipeline is not None:
            with contextlib.suppress(ValueError):
                self._pipeline.listeners.remove(self.on_change)
            self._pipeline = None

    def on_change(self, changes: ChangeSet) -> None:
        if changes.races() & {event.race_id for event in self.events}:
            self._dirty = True
            self._event.set()

    async def run(self) -> None:
        """Coalesce changes into at most one upload per send slot."""
        while True:
            await self._event.wait()
            await asyncio.sleep(max(self.debounce, self.service.ready_in(TARGET)))
            self._event.clear()
            if not self._dirty:
                continue
            self._dirty = False
            try:
                self.publish()
            except PublishError as exc:
                if not self.errors or self.errors[-1] != str(exc):
                    log.error("publish: %s", exc)
                    self.errors.append(str(exc))
                    del self.errors[:-50]


def events_from_mapping(
    mapping: Mapping[str, str], race_ids: Sequence[str], *, round: int = 1, heat: int = 1
) -> list[OpenTrackEvent]:
    """``opentrack.events`` (race id -> event id) for the given races."""
    return [
        OpenTrackEvent(race_id, mapping[race_id], round, heat) for race_id in race_ids if race_id in mapping
    ]
