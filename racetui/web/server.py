"""textual-serve's server with the doors a shared dashboard needs.

textual-serve runs one process per browser tab and streams its screen over a WebSocket.
As shipped it accepts a WebSocket from any page (another site could open a session on
``localhost`` and type desk keys into it), asks for nothing, points the page at the bind
address (``0.0.0.0``), fetches a web font from the internet before the page draws, and
takes many seconds to stop with a tab open. :class:`DashboardServer` keeps its app
service, static files and message loop and changes the edges:

- a per-server **token**: the page is ``/?token=…`` and its WebSocket ``/ws/<token>``
  (the URL printed at start); anything else is refused with 403;
- the WebSocket's ``Origin`` must be this server's own origin (as the browser reached it,
  or ``--public-url``'s): a page from another origin is refused even with the token;
- the page's URLs come from the request (or ``--public-url``), never the bind address;
- the font is served from here (``@font-face``), a favicon too;
- stopping sends every tab's process ``quit``, gives it ``quit_timeout`` seconds, then
  ends it: Ctrl+C returns within about two seconds whatever is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import secrets
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

__all__ = ["DashboardServer", "is_loopback", "new_token", "origin_of"]

log = logging.getLogger("racetui.web")

_HERE = Path(__file__).parent
TOKEN_BYTES = 24
MIN_TOKEN = 16


def new_token() -> str:
    """A per-server token: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine reaches."""
    name = host.strip("[]").lower()
    if name in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-case, default ports dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class DashboardServer(Server):
    """Serve ``command`` (one process per tab) behind a token and an Origin check."""

    def __init__(
        self,
        command: str,
        *,
        host: str = "localhost",
        port: int = 8000,
        token: str | None = None,
        public_url: str | None = None,
        title: str = "racetui",
        quit_timeout: float = 1.0,
    ) -> None:
        base = public_url.rstrip("/") if public_url else None
        super().__init__(command, host=host, port=port, title=title, public_url=base)
        self.configured_url = base
        self.token = token or new_token()
        self.quit_timeout = quit_timeout
        self.services: set[AppService] = set()
        self.refused = 0  # WebSockets and pages refused (bad token or foreign origin)
        self._stop: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    # ----------------------------------------------------------------- URLs
    def local_url(self) -> str:
        """The URL to open, token included (printed at start)."""
        if self.configured_url:
            return f"{self.configured_url}/?token={self.token}"
        host = "localhost" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.bound_port or self.port}/?token={self.token}"

    def _base(self, request: web.Request) -> str:
        """The page's own base URL: ``--public-url``, else as the browser reached us."""
        if self.configured_url:
            return self.configured_url
        return f"{request.scheme}://{request.host}"

    def _allowed_origins(self, request: web.Request) -> set[str]:
        origins = {origin_of(f"{request.scheme}://{request.host}")}
        if self.configured_url:
            origins.add(origin_of(self.configured_url))
        return origins

    def _token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    # --------------------------------------------------------------- routes
    async def _make_app(self) -> web.Application:
        app = web.Application()
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(_HERE / "templates"))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws/{token}", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.get("/favicon.ico", self.handle_favicon, name="favicon"),
                web.static("/static", self.statics_path, show_index=False, name="static"),
            ]
        )
        return app

    async def handle_favicon(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            _HERE / "static" / "favicon.svg",
            headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"},
        )

    def _refuse(self, what: str, request: web.Request) -> web.Response:
        self.refused += 1
        log.warning("refused %s from %s: %s", request.path.split("/")[1] or "page", request.remote, what)
        return web.Response(status=403, text=f"racetui serve: {what}\n")

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if not self._token_ok(request.query.get("token")):
            return self._refuse("this page needs its token: open the URL racetui serve printed", request)
        base = self._base(request)
        try:
            font_size = max(6, min(64, int(request.query.get("fontsize", "16"))))
        except ValueError:
            font_size = 16
        ws_base = ("wss:" if base.startswith("https:") else "ws:") + base.split(":", 1)[1]
        context = {
            "font_size": font_size,
            "app_websocket_url": f"{ws_base}/ws/{self.token}",
            "favicon_url": f"{base}/favicon.ico",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
        }
        response = aiohttp_jinja2.render_template("index.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"  # the token stays on this page
        return response

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        if not self._token_ok(request.match_info.get("token")):
            return self._refuse("wrong or missing token", request)
        origin = request.headers.get("Origin")
        if origin is None or origin_of(origin) not in self._allowed_origins(request):
            return self._refuse(f"a page from origin {origin!r} may not open this dashboard", request)
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _clamp(request.query.get("width"), 80)
        height = _clamp(request.query.get("height"), 24)
        service: AppService | None = None
        try:
            await websocket.prepare(request)
            service = AppService(
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,  # type: ignore[arg-type]  # returns bool, awaited alike
                download_manager=self.download_manager,
                debug=self.debug,
            )
            self.services.add(service)
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # a tab's failure is one line, never a traceback
            log.warning("browser session ended: %s: %s", type(exc).__name__, exc)
        finally:
            if service is not None:
                await self._end(service)
                self.services.discard(service)
            with contextlib.suppress(Exception):
                await websocket.close()
        return websocket

    async def _process_messages(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
        """textual-serve's loop, but a message that is not what it expects is skipped."""
        from aiohttp import WSMsgType

        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = message.json()
                kind = envelope[0]
                if kind == "stdin":
                    await app_service.send_bytes(str(envelope[1]).encode("utf-8"))
                elif kind == "resize":
                    size = envelope[1]
                    await app_service.set_terminal_size(int(size["width"]), int(size["height"]))
                elif kind == "ping":
                    await websocket.send_json(["pong", envelope[1]])
                elif kind == "blur":
                    await app_service.blur()
                elif kind == "focus":
                    await app_service.focus()
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                log.warning("browser message skipped: %s: %s", type(exc).__name__, exc)

    async def _end(self, service: AppService) -> None:
        """Ask the tab's process to quit; after ``quit_timeout`` end it."""
        process = getattr(service, "_process", None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(service.send_meta({"type": "quit"}), self.quit_timeout)
        if process is not None:
            try:
                await asyncio.wait_for(process.wait(), self.quit_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), self.quit_timeout / 2)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
        task = getattr(service, "_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            service._task = None

    # -------------------------------------------------------------- running
    async def start(self) -> None:
        """Listen (``port`` 0 picks a free one: :attr:`bound_port`)."""
        self._stop = asyncio.Event()
        self._runner = web.AppRunner(
            await self._make_app(), handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=0.5)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port

    def request_exit(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def stop(self) -> None:
        """End every tab's process, then the web server."""
        await asyncio.gather(*(self._end(s) for s in list(self.services)), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def run(self, *, ready: Any = None) -> None:
        """Serve until :meth:`request_exit` (SIGINT/SIGTERM when run by :meth:`serve`)."""
        await self.start()
        if callable(ready):
            ready(self)
        assert self._stop is not None
        try:
            await self._stop.wait()
        finally:
            await self.stop()

    def serve(self, debug: bool = False, *, ready: Any = None) -> None:
        """Run until Ctrl+C or SIGTERM."""
        self.debug = debug

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, self.request_exit)
            await self.run(ready=ready)

        asyncio.run(main())


def _clamp(value: str | None, default: int) -> int:
    try:
        return max(10, min(1000, int(value or default)))
    except ValueError:
        return default
