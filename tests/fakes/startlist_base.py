"""What the two start-list stand-ins (RaceEntry, ChronoTrack) share: injected faults (a
status or a slow answer on a chosen request), a request log, and serving on a free port
through the one helper :class:`tests.fakes.asgi.ServerThread`."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.asgi import ServerThread

__all__ = ["Fault", "StandIn"]


@dataclass
class Fault:
    """Make the ``nth`` matching request (1-based; 0 = every one) to a path containing
    ``path`` (and, for ChronoTrack, asking for ``page``; ``method`` if given) fail with
    ``status`` or answer only after ``delay`` seconds (or, with ``hold``, only once
    :meth:`StandIn.release` is called)."""

    path: str
    status: int | None = None
    delay: float = 0.0
    page: int | None = None
    nth: int = 0
    method: str | None = None
    seen: int = 0


class StandIn:
    """Base of the stand-ins: faults, request log, ``serve()``."""

    PREFIX = ""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._released = threading.Event()
        self.app: Any = None
        # Set while a write was applied but its answer is held back (a test kills the
        # client meanwhile): the write is done on the server, the client never hears.
        self.holding = threading.Event()
        self.hold_answers = False

    def fault(self, path: str, **kwargs: Any) -> Fault:
        fault = Fault(path, **kwargs)
        self.faults.append(fault)
        return fault

    def release(self) -> None:
        """End every slow or held answer now (also on shutdown)."""
        self._released.set()

    async def _faulted(self, request: Request, page: int | None = None) -> Response | None:
        for fault in self.faults:
            if fault.path not in request.url.path or (fault.page is not None and fault.page != page):
                continue
            if fault.method is not None and fault.method != request.method:
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

    async def _after_write(self) -> None:
        """With ``hold_answers``: the write is applied; hold its answer until released."""
        if not self.hold_answers:
            return
        self.holding.set()
        while not self._released.is_set():
            await asyncio.sleep(0.02)

    def _log(self, request: Request, params: dict[str, str]) -> None:
        self.requests.append((request.method, request.url.path, params))

    def paths(self, contains: str = "", method: str | None = None) -> list[tuple[str, dict[str, str]]]:
        return [
            (path, params)
            for verb, path, params in self.requests
            if contains in path and (method is None or verb == method)
        ]

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on 127.0.0.1:<free port>; yields the API base URL."""
        # The stand-ins send their own Date (their clock); no access log (credentials in queries).
        server = ServerThread(self.app, date_header=False, server_header=False, access_log=False)
        with server:
            try:
                yield server.url + self.PREFIX
            finally:
                self.release()
