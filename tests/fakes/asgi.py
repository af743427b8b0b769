"""Run an ASGI app (starlette) with uvicorn on a free loopback port: the one helper every
stand-in server uses.

- :class:`ServerThread` runs it in a background thread (for code under test that has its own
  loop, or blocking code); a context manager.
- :class:`LoopServer` runs it as a task in the running asyncio loop (``async with``).
- :func:`free_port` gives a port nothing listens on (for refused connections).

Both wait for uvicorn's own ``started`` flag (a condition with a deadline), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["LoopServer", "ServerThread", "free_port"]

_START_DEADLINE = 30.0  # generous: a busy 2-core machine


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bound_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _config(app: Any, **options: Any) -> uvicorn.Config:
    settings: dict[str, Any] = {
        "log_level": "critical",
        "lifespan": "off",
        "ws": "websockets-sansio",
        "timeout_graceful_shutdown": 1,
    }
    settings.update(options)
    return uvicorn.Config(app, **settings)


class ServerThread:
    """uvicorn in a background thread; ``url`` and ``port`` once started."""

    def __init__(self, app: Any, port: int = 0, **options: Any) -> None:
        self._sock = _bound_socket(port)
        self.port: int = self._sock.getsockname()[1]
        self.server = uvicorn.Server(_config(app, **options))
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"asgi:{self.port}")

    def _run(self) -> None:
        self.server.run(sockets=[self._sock])

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + _START_DEADLINE
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"test server on port {self.port} did not start")
            time.sleep(0.005)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._sock.close()


class LoopServer:
    """uvicorn as a task in the running loop; ``async with LoopServer(app) as server``."""

    def __init__(self, app: Any, port: int = 0, **options: Any) -> None:
        self._app = app
        self._port = port
        self._options = options
        self.port = port
        self.server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LoopServer:
        sock = _bound_socket(self._port)
        self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(_config(self._app, **self._options))
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]))
        deadline = time.monotonic() + _START_DEADLINE
        while not self.server.started:
            if self._task.done() or time.monotonic() > deadline:
                raise RuntimeError(f"test server on port {self.port} did not start")
            await asyncio.sleep(0.005)
        return self

    async def stop(self) -> None:
        if self.server is not None and self._task is not None:
            self.server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        self.server = None
        self._task = None

    async def __aenter__(self) -> LoopServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
