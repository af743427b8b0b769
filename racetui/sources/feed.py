"""The World Triathlon v1.1 feed poller: a hosted message (URL) or a local file.

``FeedSource(target)`` polls ``target`` every ``interval`` seconds (2 s by default) and
applies what changed through :class:`racetui.sources.v11.V11Reader`: the first message as
a snapshot, later ones as the athletes whose data changed, a few thousand athletes at a
time with the loop's turn between (:meth:`~racetui.sources.v11.V11Reader.feed`; the
health's ``progress`` says "loading 10,000 of 50,000 athletes" while a first one loads).

* **URL** (``http://``/``https://``): conditional GET with ``httpx.AsyncClient`` (the
  ``ETag`` and ``Last-Modified`` of the last good message go back as ``If-None-Match`` /
  ``If-Modified-Since``); a ``304`` changes nothing. World Triathlon's own live endpoint
  (``https://api.triathlon.org/v1/live/timing/{prog_id}``, header ``apikey``) wraps the
  message as ``{"code":200,"status":"success","data":{...}}``: the envelope is detected and
  unwrapped; ``fail``/``error`` envelopes are errors with the API's message. ``401``/``403``
  is "credentials rejected: check RACETUI_TRIATHLON_APIKEY".
* **File** (a path or ``file://``): re-read when its modification time or size changes
  (a timer's hosted file written locally, a shared folder, a test).

A failed fetch or a bad message never stops the loop and never loses the last good state:
the engine keeps what it had, :attr:`FeedSource.health` shows the error
(``state`` error, ``last_error``, ``reconnects`` = consecutive failures), and the next poll
tries again. Per-athlete warnings of a message that was otherwise read go to
``pipeline.errors`` (and the log), not to the health state.

Secrets (``apikey``, header values, user info or a query string in the URL) never appear
in logs, errors or the source's name.

``journal`` (optional) is anything with ``record(kind, payload, received)``: every
received body is recorded as kind ``"feed"`` (raw bytes, envelope included; ``received``
is unix time) by a worker thread while it is read, and the poll ends when it is recorded,
so a replay sees exactly what arrived, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode
from racetui.sources.v11 import V11ApiError, V11Error, V11Reader, V11Update
from racetui.util.secrets import install_log_filter, register, reveal, scrub

__all__ = ["CREDENTIALS_REJECTED", "FeedSource", "display_target"]

log = logging.getLogger(__name__)

CREDENTIALS_REJECTED = "credentials rejected: check RACETUI_TRIATHLON_APIKEY"
_MAX_BODY = 256 * 1024 * 1024  # a v1.1 message of 50,000 athletes is ~100 MB


class _Journal(Protocol):
    def record(self, kind: str, payload: bytes, received: float) -> Any: ...


def display_target(target: str) -> str:
    """``target`` safe to show: a URL without user info, query or fragment; a path as is."""
    if "://" not in target:
        return target
    parts = urlsplit(target)
    if parts.scheme == "file":
        return unquote(parts.path)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class _Failure(Exception):
    """One failed poll; the text is safe to show (no secrets)."""


class FeedSource:
    """Polls a v1.1 message (URL or file) into a :class:`Pipeline` (the ``Source`` protocol)."""

    def __init__(
        self,
        target: str,
        *,
        interval: float = 2.0,
        headers: Mapping[str, Any] | None = None,
        apikey: Any = None,
        journal: _Journal | None = None,
        clock: Callable[[], float] = time.monotonic,
        race_id: str | None = None,
        timeout: float = 10.0,
        stale_after: float = 10.0,
        name: str | None = None,
    ) -> None:
        text = target.strip()
        if not text:
            raise ValueError("target: expected an http(s) URL or a file path, got ''")
        scheme = urlsplit(text).scheme.lower() if "://" in text else ""
        if scheme and scheme not in ("http", "https", "file"):
            raise ValueError(f"target: expected an http(s) URL or a file path, got {display_target(text)!r}")
        self.target = text
        self.is_url = scheme in ("http", "https")
        self.path: Path | None = (
            None if self.is_url else Path(unquote(urlsplit(text).path) if scheme else text)
        )
        self.display = display_target(text)
        self.name = name or f"v1.1 {self.display}"
        self.interval = interval
        self.timeout = timeout
        self.journal = journal
        self.reader = V11Reader(race_id)
        self.health = SourceHealth(
            self.name, mode=SourceMode.POLLING if self.is_url else SourceMode.FILE, clock=clock
        )
        self.health.stale_after = stale_after
        journal_path = getattr(journal, "path", None)
        if journal_path is not None:
            self.health.journal_path = str(journal_path)
        self.last_update: V11Update | None = None
        self.warnings: list[str] = []  # recent per-athlete warnings, newest last (bounded)

        self._headers: dict[str, str] = {"Accept": "application/json"}
        for key, value in (headers or {}).items():
            self._headers[str(key)] = reveal(value)
        if apikey is not None and reveal(apikey):
            self._headers["apikey"] = reveal(apikey)
        parts = urlsplit(text) if self.is_url else None
        self._secrets = sorted(
            {
                s
                for s in (
                    *(v for k, v in self._headers.items() if k != "Accept"),
                    parts.password if parts else None,
                    parts.username if parts else None,
                    parts.query if parts else None,
                )
                if s and len(s) >= 3
            },
            key=len,
            reverse=True,
        )
        if self.is_url:  # httpx logs every request URL at INFO: a query may hold a token
            register(*self._secrets)
            install_log_filter()
        # What the last read message was (good or rejected): validators, file signature, and
        # a digest of its body (not the body: at 50,000 athletes that is 45 MB held for nothing).
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._file_sig: tuple[int, int] | None = None
        self._last_digest: bytes | None = None
        self._bad = False  # the last read message was rejected
        self._fetched: tuple[str | None, str | None, tuple[int, int] | None] = (None, None, None)
        self._client: Any = None  # httpx.AsyncClient, created on the first poll

    # ------------------------------------------------------------------ polling
    async def run(self, pipeline: Pipeline) -> None:
        """Poll until cancelled; never raises for a failed fetch or a bad message."""
        try:
            while True:
                await self.poll_once(pipeline)
                await asyncio.sleep(self.interval)
        finally:
            self.health.state = FeedState.STOPPED
            await self.aclose()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def poll_once(self, pipeline: Pipeline) -> bool:
        """One fetch and apply. True when a new message was applied; False when nothing
        changed (``304``, same file) or the poll failed (see :attr:`health`)."""
        recording: asyncio.Future[None] | None = None
        try:
            body = await (self._fetch_url() if self.is_url else self._fetch_file())
            if body is None:
                self._unchanged()
                return False
            if self.journal is not None:
                # Compressed and written by a thread while the message is read (zlib lets
                # the loop run meanwhile: 0.8 s of CPU for a 50,000-athlete message); only
                # this source writes its journal, and this poll ends when the record is done.
                recording = asyncio.ensure_future(asyncio.to_thread(self._record, body))
            digest = _digest(body)
            if digest == self._last_digest:  # a server without validators sent the same message
                self._remember(digest, bad=self._bad)
                self._unchanged()
                return False
            try:
                update = await self.reader.feed(body, pipeline, progress=self._loading)
            except V11ApiError as exc:
                if exc.code in (401, 403):
                    raise _Failure(CREDENTIALS_REJECTED) from None
                raise _Failure(self._scrub(str(exc))) from None
            except V11Error as exc:
                self._remember(digest, bad=True)
                self._reject(f"{self.display}: rejected message: {self._scrub(str(exc))}")
                return False
            finally:
                self.health.progress = None
        except asyncio.CancelledError:
            raise
        except _Failure as exc:
            self._fail(str(exc))
            return False
        except Exception as exc:  # a poll must never stop the loop
            self._fail(f"{self.display}: {type(exc).__name__}: {self._scrub(str(exc))}")
            return False
        finally:
            if recording is not None:
                await recording  # _record never raises
        self._accepted(digest, update, pipeline)
        return True

    # ----------------------------------------------------------------- fetching
    async def _fetch_url(self) -> bytes | None:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=True)
        headers = dict(self._headers)
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        try:
            response = await self._client.get(self.target, headers=headers)
        except httpx.TimeoutException:
            raise _Failure(f"{self.display}: no answer within {self.timeout:g} s") from None
        except httpx.ConnectError as exc:
            where = _host_port(self.target)
            reason = self._scrub(str(exc)) or type(exc).__name__
            raise _Failure(f"{self.display}: can't reach {where} ({reason})") from None
        except httpx.HTTPError as exc:
            reason = self._scrub(str(exc)) or type(exc).__name__
            raise _Failure(f"{self.display}: cannot fetch: {reason}") from None
        if response.status_code == 304:
            return None
        if response.status_code in (401, 403):
            raise _Failure(CREDENTIALS_REJECTED)
        if response.status_code >= 400:
            detail = _api_detail(response.content)
            text = f"{self.display}: HTTP {response.status_code}" + (f": {detail}" if detail else "")
            raise _Failure(self._scrub(text))
        body = response.content
        if len(body) > _MAX_BODY:
            raise _Failure(f"{self.display}: message of {len(body)} bytes is too large")
        self._fetched = (response.headers.get("etag"), response.headers.get("last-modified"), None)
        return bytes(body)

    async def _fetch_file(self) -> bytes | None:
        path = self.path
        assert path is not None
        try:
            stat = path.stat()
        except OSError as exc:
            raise _Failure(f"{path}: cannot read: {exc.strerror or exc}") from None
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self._file_sig:
            return None
        if stat.st_size > _MAX_BODY:
            raise _Failure(f"{path}: message of {stat.st_size} bytes is too large")
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise _Failure(f"{path}: cannot read: {exc.strerror or exc}") from None
        self._fetched = (None, None, signature)
        return body

    # ------------------------------------------------------------------- health
    def _record(self, body: bytes) -> None:
        try:
            self.journal.record("feed", body, time.time())  # type: ignore[union-attr]
        except Exception as exc:  # a journal problem never stops the feed
            log.error("%s: journal: %s", self.name, exc)

    def _remember(self, digest: bytes, *, bad: bool) -> None:
        """The message just read (good or rejected): not read again until it changes."""
        self._etag, self._last_modified, self._file_sig = self._fetched
        self._last_digest = digest
        self._bad = bad

    def _unchanged(self) -> None:
        """The source answered with the message already read: nothing new."""
        if self._bad:
            self.health.next_retry = self.health.clock() + self.interval
            return  # still the rejected message: the error stands
        self.health.reconnects = 0
        if (
            self.health.state in (FeedState.ERROR, FeedState.CONNECTING)
            and self.health.last_message is not None
        ):
            self.health.state = FeedState.CONNECTED

    def _loading(self, done: int, total: int, what: str) -> None:
        """A first message's progress on the header while it is handed over in slices."""
        self.health.progress = f"loading {done:,} of {total:,} {what}"

    def _accepted(self, digest: bytes, update: V11Update, pipeline: Pipeline) -> None:
        self.last_update = update
        self._remember(digest, bad=False)
        self.health.reconnects = 0
        self.health.received()
        if update.warnings:
            for warning in update.warnings:
                log.info("%s: %s", self.name, warning)
            pipeline.errors.extend(update.warnings)
            del pipeline.errors[:-200]
            self.warnings.extend(update.warnings)
            del self.warnings[:-200]

    def _reject(self, message: str) -> None:
        self.health.reject(message)
        self.health.state = FeedState.ERROR
        self.health.reconnects += 1
        self.health.next_retry = self.health.clock() + self.interval
        log.warning("%s", message)

    def _fail(self, message: str) -> None:
        self.health.error(message)
        self.health.reconnects += 1
        self.health.next_retry = self.health.clock() + self.interval
        log.warning("%s", message)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


def _api_detail(body: bytes) -> str:
    """The ``message`` of a World Triathlon error envelope, if the body is one."""
    if not body or len(body) > 65536:
        return ""
    try:
        import orjson

        payload = orjson.loads(body)
    except Exception:
        return ""
    if not isinstance(payload, dict):
        return ""
    detail = payload.get("message")
    data = payload.get("data")
    if detail is None and isinstance(data, dict):
        detail = data.get("message") or data.get("error")
    return str(detail)[:200] if detail is not None else ""


def apikey_for(target: str, config: Any) -> Any:
    """The World Triathlon key for ``target``, or None: it goes only to World Triathlon's
    own hosts (the configured live and POST endpoints), never to any other feed URL."""
    apikey = config.triathlon.apikey
    if apikey is None or "://" not in target:
        return None
    host = (urlsplit(target).hostname or "").lower()
    allowed = {
        (urlsplit(config.triathlon.live_url).hostname or "").lower(),
        (urlsplit(config.triathlon.api_url).hostname or "").lower(),
    }
    return apikey if host and host in allowed else None


def _host_port(url: str) -> str:
    """``host:port`` of a URL (the scheme's port when none is given), for "can't reach"."""
    import httpx

    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme in ('https', 'wss') else 80)}"
