"""A World Triathlon Live Timing v1.1 message hosted as a file on a web server (the
spec's "hosted file" delivery, read by racetui as a feed URL).

The contract, as a static web server keeps it: ``GET <path>`` answers the current
``body`` with ``status`` (200 by default) and, when set, ``ETag`` / ``Last-Modified``; a
request whose ``If-None-Match`` equals the ETag (or whose ``If-Modified-Since`` equals
Last-Modified) gets ``304`` with no body; any other path is a 404. Every request's headers
are kept (lower-cased names) for the assertions; ``delay`` holds each answer back that long
(a slow server). :meth:`HostedFeed.host` replaces the file the way an upload does: new
bytes and a new ETag (a hash of the content). Run it with :mod:`tests.fakes.asgi`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["HostedFeed"]


class HostedFeed:
    """What the server answers (changed by the test) and what it was asked."""

    def __init__(self, body: bytes = b"", *, path: str = "/feed") -> None:
        self.path = path
        self.body = body
        self.status = 200
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.delay = 0.0
        self.requests: list[dict[str, str]] = []

    def host(self, message: Mapping[str, Any]) -> None:
        """Replace the hosted file with ``message`` (new bytes, new ETag)."""
        body = orjson.dumps(message)
        self.etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        self.body = body

    async def _get(self, request: Request) -> Response:
        self.requests.append({k.lower(): v for k, v in request.headers.items()})
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow server, as scripted
        body, etag, last_modified = self.body, self.etag, self.last_modified
        not_modified = (etag and request.headers.get("if-none-match") == etag) or (
            last_modified and request.headers.get("if-modified-since") == last_modified
        )
        if not_modified and self.status == 200:
            return Response(status_code=304)
        headers = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified
        return Response(body, status_code=self.status, media_type="application/json", headers=headers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route(self.path, self._get)])
