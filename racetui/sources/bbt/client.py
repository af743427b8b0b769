"""The BBT local API 1.1 client: WebSocket push with REST catch-up, polling as fallback.

The message handling is :class:`racetui.sources.bbt.decoder.BBTDecoder` (no I/O; replay
uses it alone). This module is the I/O: one reused ``httpx.AsyncClient`` with an overall
deadline per request (not per read) and a cap on the body size, a WebSocket on
``/api/1.1/push`` (with its own keepalive ping), reconnects with capped exponential backoff
and jitter (:class:`racetui.util.retry.Backoff`), polling while push is refused or
unavailable.

Loading 50,000 athletes costs no per-athlete request: ``/results/list`` per race gives
everyone's details, status and latest time; ``/results/toplistforpoint`` per timing point
gives everyone's time there; both paged (1,000 at a time, or until a short page when the
master does not say how many pages). The newest pass id of each point is read first (its
watermark); a catch-up then only reads ``/results/latest`` newest first down to the
watermark. The watermark moves only when that whole read succeeded: a page that fails
(503, timeout, refused connection) means the read is retried from the old watermark.

Push frames with ``seq`` are checked for gaps; a gap asks for a full resync, and full
resyncs are rate-limited with backoff whatever the master sends (a catch-up of the latest
passes runs meanwhile). Frames without ``seq`` (the vendor's short form) lead to a
targeted, coalesced read: the named athlete's result, or the latest passes at the named
point (every point when none is named).

Endpoints an older master lacks (``/event/waves``, ``/timing/raceclock``,
``/timing/locations`` answering 404) are detected once and not asked again; the decoder
derives what they would give. The master's password and auth headers are registered
with :mod:`racetui.util.secrets` and reach no log, error or journal. Nothing but
``CancelledError`` leaves :meth:`BBTSource.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from racetui.sources.base import FeedState, Pipeline, SourceMode
from racetui.sources.bbt.decoder import _ALL, API_PREFIX, BBTDecoder, HeldPushes, RestInfo
from racetui.sources.bbt.wire import MAX_PAGES
from racetui.sources.journal import Journal
from racetui.util import secrets
from racetui.util.retry import Backoff, parse_retry_after

__all__ = ["API_PREFIX", "BBTError", "BBTSource"]

log = logging.getLogger("racetui.sources.bbt")

PUSH_EVENTS = "results,eventdata"
#: Endpoints an older master may lack; a 404 there is a fact about the master, not an error.
OPTIONAL_ROUTES = ("/event/waves", "/timing/raceclock", "/timing/locations")
MAX_BODY_BYTES = 64 * 2**20
T = TypeVar("T")


class BBTError(Exception):
    """A request that failed (unreachable, timeout, HTTP error, rejected body); names what."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, from a 503's Retry-After


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
class BBTSource(BBTDecoder):
    """A BBT master's local API 1.1: push first, polling when push is not available.

    ``base_url`` is the master's web server (``http://host[:port]``, with or without the
    ``/api/1.1`` suffix). ``poll=True`` never tries the WebSocket (a BBT Extender
    connection). ``journal`` records every received message. ``headers`` are sent with
    every request (values may be secret; never logged or journaled). ``resync_base`` and
    ``resync_cap`` bound how often a full resync may run (seconds, doubling while the
    master keeps asking for one); ``catchup_interval`` how often a push-triggered read may.
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
        resync_base: float = 1.0,
        resync_cap: float = 30.0,
        catchup_interval: float = 0.2,
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
        self._headers = {k: secrets.reveal(v) for k, v in (headers or {}).items()}
        super().__init__(self.name, mode=SourceMode.POLLING if poll else SourceMode.PUSH)
        # The master's password and header values: hidden in every log, error and journal
        # (httpx logs URLs at -v, websockets logs headers at -vv).
        self._secrets = sorted(
            {s for s in (parts.password, parts.username, *self._headers.values()) if s and len(s) >= 3},
            key=len,
            reverse=True,
        )
        secrets.register(*self._secrets)
        secrets.install_log_filter()

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
        self.health.stale_after = stale_after
        if journal is not None:
            self.health.journal_path = str(journal.path)

        self.resync_backoff = Backoff(resync_base, 2.0, resync_cap, jitter=0.1)
        self.catchup_interval = catchup_interval
        self.resyncs_requested = 0  # full resyncs asked for by gaps (for Health and tests)
        self.requests = 0  # HTTP requests made
        self._resync_streak = 0
        self._resync_due = 0.0
        self._last_resync = 0.0
        self._catchup_due = 0.0
        self._wake: asyncio.Event | None = None
        self._sem: asyncio.Semaphore | None = None
        self._failures = 0
        self._push_failures = 0
        self._push_due = 0.0
        self._journal_reported = False
        self.syncs = 0  # completed REST syncs (the first load and every resync)
        # race id -> (athletes its /results/list holds, whether the master said exactly)
        self._expected: dict[str, tuple[int, bool]] = {}

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

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
        """One request under one overall deadline (``timeout``: connect, headers and the
        whole body, however slowly it trickles), its body capped at ``MAX_BODY_BYTES``."""
        assert self._sem is not None
        async with self._sem:
            self.requests += 1
            try:
                async with asyncio.timeout(self.timeout):
                    async with client.stream("GET", self.api_url + route, params=params) as response:
                        url = response.request.url.raw_path.decode("ascii", "replace")
                        length = response.headers.get("content-length", "")
                        if length.isdigit() and int(length) > MAX_BODY_BYTES:
                            raise BBTError(
                                f"GET {route}: answer of {length} bytes refused (at most {MAX_BODY_BYTES})"
                            )
                        chunks: list[bytes] = []
                        size = 0
                        async for chunk in response.aiter_bytes():
                            size += len(chunk)
                            if size > MAX_BODY_BYTES:
                                raise BBTError(f"GET {route}: answer beyond {MAX_BODY_BYTES} bytes refused")
                            chunks.append(chunk)
                        payload = b"".join(chunks)
            except TimeoutError:
                raise BBTError(f"GET {route}: no complete answer within {self.timeout:g} s") from None
            except httpx.ConnectError as exc:
                where = _host_port(self.api_url)
                raise BBTError(
                    self._scrub(f"can't reach {where}: GET {route}: ConnectError: {exc}")
                ) from None
            except httpx.HTTPError as exc:
                raise BBTError(self._scrub(f"GET {route}: {type(exc).__name__}: {exc}")) from None
        received = time.time()
        if response.status_code != 200:
            detail = ""
            with contextlib.suppress(Exception):
                detail = str(orjson.loads(payload).get("message") or "")
            message = f"GET {route}: HTTP {response.status_code}" + (f": {detail[:200]}" if detail else "")
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise BBTError(self._scrub(message), response.status_code, retry_after)
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self._record("rest", payload, received, url, None)
            info = self._bad(pipeline, f"GET {route}: not JSON ({exc})", route)
        else:
            self._record("rest", payload, received, url, body)
            info = self.handle_rest_body(pipeline, url, body)
        if not info.ok:
            raise BBTError(info.error or f"GET {route}: rejected")
        if route == "/results/list" and self.syncs == 0:
            self._loading(str(params.get("race_id", "")), info)
        return info

    def _loading(self, race_id: str, info: RestInfo) -> None:
        """The first load's progress on the header: "loading 14,000 of 50,000 athletes" (the
        lists' totals as the master gives them; "of about" from its page count; without
        either, only how many are known so far)."""
        if info.page == 1:
            if info.total is not None:
                self._expected[race_id] = (max(info.total, info.count), True)
            elif info.pages is not None:
                self._expected[race_id] = (max(info.pages * self.page_size, info.count), False)
            else:
                self._expected[race_id] = (0, False)
        known = len(self._known)
        totals = self._expected.values()
        if any(total == 0 for total, _ in totals):
            self.health.progress = f"loading {known:,} athletes"
            return
        total = sum(total for total, _ in totals)
        about = "" if all(exact for _, exact in totals) else "about "
        self.health.progress = f"loading {min(known, total):,} of {about}{total:,} athletes"

    async def _get_optional(
        self, client: httpx.AsyncClient, pipeline: Pipeline, route: str, params: dict[str, Any]
    ) -> list[RestInfo]:
        """An endpoint an older master may lack: a 404 is remembered and not asked again."""
        if not self.wants(route):
            return []
        try:
            if route == "/timing/raceclock":
                infos = [await self._get(client, pipeline, route, params)]
            else:
                infos = await self._get_pages(client, pipeline, route, params)
            self.supports[route] = True
            return infos
        except BBTError as exc:
            if exc.status != 404 or route not in OPTIONAL_ROUTES:
                raise
            if self.supports.get(route):  # it answered before: this 404 is about the id
                self._reject(str(exc))
                return []
            self.unsupported(pipeline, route)
            return []

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
        """Every page of a listing: the rest at once when the master says how many there
        are, else one after another until a short or empty page (at most ``MAX_PAGES``)."""
        size = self.page_size
        first = await self._get(client, pipeline, route, {**params, "page": 1, "page_size": size})
        if first.last:
            return [first]
        if first.pages is not None:
            rest = await _gather(
                self._get(client, pipeline, route, {**params, "page": page, "page_size": size})
                for page in range(2, first.pages + 1)
            )
            return [first, *rest]
        infos = [first]
        for page in range(2, MAX_PAGES + 1):
            info = await self._get(client, pipeline, route, {**params, "page": page, "page_size": size})
            infos.append(info)
            if info.last:
                return infos
        raise BBTError(f"GET {route}: still no last page after {MAX_PAGES} pages; refused")

    async def _load_event_data(self, client: httpx.AsyncClient, pipeline: Pipeline) -> bool:
        """Re-read races, waves, points, locations and race clocks; True when races or
        timing points appeared that have no results loaded yet."""
        before = (set(self._races), set(self._points))
        await _gather(
            [
                *(
                    self._get_pages(client, pipeline, route, {})
                    for route in ("/event/races", "/timing/points")
                ),
                *(
                    self._get_optional(client, pipeline, route, {})
                    for route in ("/event/waves", "/timing/locations")
                ),
            ]
        )
        await _gather(
            self._get_optional(client, pipeline, "/timing/raceclock", {"race_id": race_id})
            for race_id in list(self._races)
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
            self.health.progress = None
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
        done = 0

        async def toplist(pid: str) -> None:
            nonlocal done
            await self._get_pages(
                client,
                pipeline,
                "/results/toplistforpoint",
                {"race_id": points[pid].race_id, "point_id": pid},
            )
            done += 1
            if self.syncs == 0:
                self.health.progress = f"loading the times at {done} of {len(fresh)} timing points"

        if self.syncs == 0 and fresh:
            self.health.progress = f"loading the times at 0 of {len(fresh)} timing points"
        await _gather(toplist(pid) for pid in fresh)
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

        async def one(result_id: str) -> None:
            self.protect[result_id] = set()  # points pushed while the answer is on its way
            try:
                await self._get(client, pipeline, "/results/participant", {"result_id": result_id})
            except BBTError as exc:
                if exc.status == 404:
                    self.result_gone(pipeline, result_id)
                elif exc.status == 400:
                    self._reject(str(exc))
                else:
                    raise
            finally:
                self.protect.pop(result_id, None)

        await _gather(one(result_id) for result_id in wanted)

    async def _poll_point(
        self, client: httpx.AsyncClient, pipeline: Pipeline, point_id: str, page_size: int | None = None
    ) -> None:
        """Every pass at the point newer than the watermark (newest first, paged). A failed
        page raises; the watermark then stays where it was and the next read starts over."""
        for page in range(1, MAX_PAGES + 1):
            info = await self._get(
                client,
                pipeline,
                "/results/latest",
                {"point_id": point_id, "page": page, "page_size": page_size or self.latest_page_size},
            )
            if info.done:
                return
        raise BBTError(f"GET /results/latest: point {point_id}: no end after {MAX_PAGES} pages; refused")

    async def _poll_once(
        self, client: httpx.AsyncClient, pipeline: Pipeline, points: Iterable[str] | None = None
    ) -> None:
        """The latest passes since the watermark at ``points`` (every point by default)."""
        chosen = list(self._points) if points is None else [p for p in points if p in self._points]
        await _gather(self._poll_point(client, pipeline, point_id) for point_id in chosen)
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
        return Backoff(self.backoff_base, 2.0, self.backoff_cap, jitter=0.25).delay(attempt, retry_after)

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
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
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
                try:
                    self.handle_push_body(pipeline, body)
                except Exception as exc:  # one frame must never end the session
                    log.debug("%s: push frame failed", self.name, exc_info=True)
                    self._reject(f"push: internal error on a frame: {type(exc).__name__}")
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

    def _resynced(self) -> None:
        """A full resync finished: the next may not run before the backoff allows, which
        grows while the master keeps asking for one (a seq that always skips, a push cut
        every second) and resets after a quiet minute."""
        now = time.monotonic()
        if now - self._last_resync > 60.0:
            self._resync_streak = 0
        self._resync_streak += 1
        self._last_resync = now
        self._resync_due = now + self.resync_backoff.delay(self._resync_streak)

    async def _push_session(self, client: httpx.AsyncClient, pipeline: Pipeline, ws: ClientConnection) -> str:
        """Read pushes; resync over REST first and whenever a gap is seen (rate-limited),
        catch up what frames name. Returns why it ended."""
        self.health.mode = SourceMode.PUSH
        self._seq = 0  # a connection's first message is seq 1: a lost first message is a gap too
        self._sync_buffer = HeldPushes()
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
                now = time.monotonic()
                if self.needs_resync and now >= self._resync_due:
                    self.needs_resync = False
                    self.resyncs_requested += 1
                    if self._sync_buffer is None:
                        self._sync_buffer = HeldPushes()
                    self.catchup.clear()  # the resync reads it all
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
                    self._resynced()
                    buffered, self._sync_buffer = self._sync_buffer, None
                    for body in buffered:  # a page read before a push must not undo it
                        self._apply_push_result(pipeline, body, False)
                    self._failures = 0
                    self._push_failures = 0
                    continue
                if self.needs_resync and not self.catchup:
                    self.catchup.add(_ALL)  # while a resync must wait, catch up the passes
                if self.needs_eventdata:
                    self.needs_eventdata = False
                    if await self._load_event_data(client, pipeline):
                        self.needs_resync = True
                    continue
                if self.catchup and now >= self._catchup_due:
                    points, self.catchup = self.catchup, set()
                    self._catchup_due = now + self.catchup_interval
                    await self._poll_once(client, pipeline, None if _ALL in points else points)
                    continue
                if self.wanted:
                    await self._fetch_wanted(client, pipeline)
                    continue
                due = [self._resync_due] if self.needs_resync else []
                if self.catchup:
                    due.append(self._catchup_due)
                timeout = max(0.0, min(due) - now) if due else None
                waiter = asyncio.create_task(self._wake.wait())
                try:
                    await asyncio.wait((reader, waiter), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
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
        # One HTTP client per session: a session ends by cancelling what it had in flight
        # (a resync when the push socket goes), and httpcore can keep a cancelled request's
        # pool slot forever (encode/httpcore#1093): after a few push cuts every request
        # waited for a slot until its deadline and the source never synced again.
        client = self._client()
        try:
            ws: ClientConnection | None = None
            while True:
                try:
                    if ws is None and not self.poll and time.monotonic() >= self._push_due:
                        ws = await self._try_push()
                    if ws is not None:
                        current, ws = ws, None
                        why = await self._push_session(client, pipeline, current)
                        client = await self._fresh(client)
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
                    client = await self._fresh(client)
                    self._lost(str(exc))
                    self._failures += 1
                    await self._wait_retry(self._backoff(self._failures, exc.retry_after))
                except Exception as exc:  # a bug must not kill the feed: say it, retry
                    log.exception("%s: unexpected error", self.name)
                    client = await self._fresh(client)
                    self._lost(self._scrub(f"internal error: {type(exc).__name__}: {exc}"))
                    self._failures += 1
                    await self._wait_retry(self._backoff(self._failures))
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()
            self.health.state = FeedState.STOPPED
            self._live = False

    async def _fresh(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        """A new HTTP client (and connection pool) in place of ``client``, closed."""
        with contextlib.suppress(Exception):
            await client.aclose()
        return self._client()

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
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme in ('https', 'wss') else 80)}"
