"""The embedded hub: a child process on a local socket pair, ending with its parent.

``LocalHub.start(make_sources)`` forks a child that builds the sources, runs them into a
:class:`~racetui.hub.core.Hub` and writes the frames to its end of a ``socketpair``; the
parent (the dashboard) holds a replica fed through :class:`LocalChannel`. Every parse,
diff, journal write (and its compression) and the hub's engine run in the child: the
dashboard's loop only applies what changed.

The child never outlives the parent: it stops at end-of-file on its socket, which the
kernel delivers however the parent ends (quit, crash, ``kill -9``). Its stdin, stdout and
stderr are ``/dev/null`` (the terminal belongs to the dashboard); its warnings and errors
travel as :class:`~racetui.hub.records.Errors` records to the Health screen.

Frames on the socket are a 4-byte big-endian length and the msgpack frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import stat
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

from racetui.hub.core import Hub
from racetui.hub.delay import DelayedFollower, TvDelay, follow_delayed
from racetui.hub.records import (
    Clock,
    Frame,
    HealthRec,
    Hello,
    decode_frame,
    decode_request,
    encode_frame,
)
from racetui.hub.replica import Replica, ReplicaPipeline, follow
from racetui.sources.base import FeedState, SourceHealth, SourceMode
from racetui.util.secrets import scrub

__all__ = ["HUB_NICE", "HubError", "LocalChannel", "LocalHub", "RemoteSource", "fork_available"]

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
MAX_FRAME = 256 << 20
# How far the viewer reads ahead of what it has applied: its stream stops reading the
# socket past twice this (a longer frame is still read whole), so the hub's writes wait
# and the hub reads its next frames from the engine only as the viewer takes them.
READ_AHEAD = 1 << 20


class HubError(Exception):
    """The hub could not start (its sources refused their options, or it died)."""


HUB_NICE = 5  # the hub's scheduling priority below the dashboard's (see ``_child``)


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class LocalChannel:
    """The viewer's end of the socket pair (asyncio streams, length-prefixed frames)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> LocalChannel:
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=READ_AHEAD)
        return cls(reader, writer)

    async def receive(self) -> bytes | None:
        try:
            head = await self.reader.readexactly(_LENGTH.size)
            (size,) = _LENGTH.unpack(head)
            return await self.reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def send(self, data: bytes) -> None:
        with contextlib.suppress(ConnectionError):
            self.writer.write(_LENGTH.pack(len(data)) + data)
            await self.writer.drain()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


# ====================================================================== child
class _Forward(logging.Handler):
    """The child's warnings and errors, scrubbed, as records for the viewer."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(logging.WARNING)
        self.hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.hub.error(f"{record.name}: {record.getMessage()}")
        except Exception:  # logging must never raise into the source
            pass


def _inherited_fds() -> list[int]:
    """The file descriptors open in this process (empty where the OS does not list them)."""
    for listing in ("/proc/self/fd", "/dev/fd"):
        try:
            return sorted(int(name) for name in os.listdir(listing))
        except (OSError, ValueError):
            continue
    return []


def _child(make_sources: Callable[[], Sequence[Any]], sock: socket.socket, other: socket.socket) -> None:
    other.close()
    # The dashboard's loop answers keys; the hub's ingest can wait a few ms for a core.
    # On a laptop shared with a browser (or the simulator), the kernel then gives the
    # dashboard the CPU first when both want it, and the hub all that is left, which is
    # nearly all of it: the UI loop is idle most of the time.
    with contextlib.suppress(OSError):
        os.nice(HUB_NICE)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the dashboard's; we end at EOF
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    # The files the dashboard had open when it forked (the outbox and desk databases,
    # their owner locks, a start-list cache) are not the hub's: point those descriptors
    # at /dev/null, so the files and locks are released with the dashboard, and a stale
    # object here can never write into a file opened later under the same number. Pipes
    # and sockets stay (multiprocessing's sentinel pipe tells the parent we ended).
    for fd in _inherited_fds():
        if fd in (0, 1, 2, devnull, sock.fileno()):
            continue
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.dup2(devnull, fd)
    os.close(devnull)
    asyncio.run(_serve(make_sources, sock))


async def _serve(make_sources: Callable[[], Sequence[Any]], sock: socket.socket) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_FRAME)
    wake = asyncio.Event()

    try:
        sources = list(make_sources())
    except Exception as exc:
        message = scrub(str(exc) if isinstance(exc, ValueError | OSError) else f"{type(exc).__name__}: {exc}")
        writer.write(_frame_bytes(Frame(0, [Hello([], failed=message)])))
        with contextlib.suppress(Exception):
            await writer.drain()
        return
    # Frames are taken from the hub as the socket takes them (back-pressure): a bulk of
    # results or a snapshot is read from the engine one frame at a time, so what waits
    # encoded is the frame on its way and what the socket and the transport buffer hold.
    hub = Hub(sources, None, ready=wake.set)

    async def write() -> None:
        while True:
            await wake.wait()
            wake.clear()
            while (frame := hub.next_frame()) is not None:
                writer.write(_LENGTH.pack(len(frame)) + frame)
                await writer.drain()
                await asyncio.sleep(0)  # the sources' turn between two frames of a bulk

    forward = _Forward(hub)
    logging.getLogger().addHandler(forward)
    writer.write(_frame_bytes(Frame(0, [Hello(hub.health_records())])))
    writer_task = asyncio.create_task(write())
    hub_task = asyncio.create_task(hub.run())
    try:
        while True:
            try:
                head = await reader.readexactly(_LENGTH.size)
                request = decode_request(await reader.readexactly(_LENGTH.unpack(head)[0]))
            except (asyncio.IncompleteReadError, ConnectionError):
                break  # the parent is gone: so are we
            except Exception as exc:
                hub.error(f"hub: a request it cannot read ({exc})")
                continue
            if request.kind == "snapshot":
                hub.request_snapshot()
                hub.send_health(force=True)
            elif request.kind == "stop":
                break
    finally:
        logging.getLogger().removeHandler(forward)
        hub_task.cancel()
        with contextlib.suppress(BaseException):
            await hub_task
        for source in sources:
            close = getattr(getattr(source, "journal", None), "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        writer_task.cancel()
        with contextlib.suppress(BaseException):
            await writer_task
        with contextlib.suppress(Exception):
            writer.close()


def _frame_bytes(frame: Frame) -> bytes:
    data = encode_frame(frame)
    return _LENGTH.pack(len(data)) + data


# ===================================================================== parent
class RemoteSource:
    """A hub source as the dashboard sees it: its name and health, mirrored from the hub's
    health records (the message age is re-based on this process's clock)."""

    def __init__(self, link: LocalHub | None, rec: HealthRec) -> None:
        self.link = link
        self.name = rec.name
        self.kind = rec.kind  # the hub's source class ("" until the hub says)
        self.health = SourceHealth(rec.name)
        self.update(rec)

    def update(self, rec: HealthRec) -> None:
        health = self.health
        self.kind = rec.kind or self.kind
        with contextlib.suppress(ValueError):
            health.mode = SourceMode(rec.mode)
        with contextlib.suppress(ValueError):
            health.state = FeedState(rec.state)
        health.last_message = None if rec.age is None else health.clock() - rec.age
        health.messages = rec.messages
        health.rejected = rec.rejected
        health.reconnects = rec.reconnects
        health.last_error = rec.last_error
        health.journal_path = rec.journal_path
        health.stale_after = rec.stale_after
        health.progress = rec.progress

    def progress(self) -> str | None:
        """'loading 23,000 of 50,000 athletes' (the first source speaks for the hub)."""
        if self.link is None or not self.link.sources or self.link.sources[0] is not self:
            return None
        return self.link.progress()

    async def run(self, pipeline: Any) -> None:
        """The first source drives the link; the hub runs the real ones."""
        if self.link is not None and self.link.sources and self.link.sources[0] is self:
            await self.link.run(pipeline)


class LocalHub:
    """The parent's handle on the embedded hub (see the module docstring)."""

    def __init__(self, process: Any, sock: socket.socket, hello: Hello) -> None:
        self.process = process
        self.sock = sock
        self.sources = [RemoteSource(self, rec) for rec in hello.sources]
        if not self.sources:
            self.sources = [RemoteSource(self, HealthRec("hub", "push", "connecting", None))]
        self.replica: Replica | None = None
        self.channel: LocalChannel | None = None
        self.on_clock: Callable[[Clock], None] | None = None
        self.ended: str | None = None
        # The TV delay (racetui.hub.delay): frames are held for it before the replica
        # applies them; ``live`` (a second pipeline) gets them at once, for publishing.
        self.delay: TvDelay | None = None
        self.live: ReplicaPipeline | None = None
        self.follower: DelayedFollower | None = None

    @classmethod
    def start(cls, make_sources: Callable[[], Sequence[Any]], *, timeout: float = 60.0) -> LocalHub:
        """Fork the hub and wait for its sources to be built.

        HubError (one line, from the child) when the sources refuse their options."""
        context = multiprocessing.get_context("fork")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = context.Process(
            target=_child, args=(make_sources, theirs, mine), name="racetui hub", daemon=True
        )
        process.start()
        theirs.close()
        try:
            hello = _read_hello(mine, timeout)
        except HubError:
            mine.close()
            process.join(5)
            if process.is_alive():
                process.kill()
            raise
        if hello.failed is not None:
            mine.close()
            process.join(5)
            raise HubError(hello.failed)
        return cls(process, mine, hello)

    def pipeline(self) -> ReplicaPipeline:
        return ReplicaPipeline()

    async def run(self, pipeline: Any) -> None:
        """Follow the hub into ``pipeline`` until it ends (or this task is cancelled)."""
        names = {source.name: source for source in self.sources}

        def on_health(records: list[HealthRec]) -> None:
            for rec in records:
                source = names.get(rec.name)
                if source is not None:
                    source.update(rec)

        self.channel = await LocalChannel.open(self.sock)
        try:
            if self.delay is None:
                self.replica = Replica(pipeline, on_health=on_health, on_clock=self._clock)
                await follow(self.channel, self.replica, loading=self._loading)
            else:
                self.replica = Replica(pipeline)
                live = None if self.live is None else Replica(self.live)
                self.follower = DelayedFollower(
                    self.replica, self.delay, live=live, on_health=on_health, on_clock=self._clock
                )
                await follow_delayed(self.channel, self.follower, loading=self._loading)
        finally:
            self.channel.close()
        # EOF: the hub died (the dashboard is still here).
        self.ended = "the hub process ended"
        code = self.process.exitcode
        if code is None:
            await asyncio.sleep(0)
        for source in self.sources:
            source.health.error(f"{self.ended} (exit code {self.process.exitcode})")
        pipeline.add_errors([f"{self.ended}: no more updates"])
        if self.live is not None:
            self.live.add_errors([f"{self.ended}: no more updates"])

    def _loading(self) -> bool:
        """A snapshot is being applied, or a hub source says its first load is arriving."""
        if self.follower is not None:
            applying = self.follower.loading()
        else:
            applying = self.replica is not None and self.replica.loading is not None
        return applying or any(source.health.progress for source in self.sources)

    def _clock(self, clock: Clock) -> None:
        if self.on_clock is not None:
            self.on_clock(clock)

    def progress(self) -> str | None:
        return None if self.replica is None else self.replica.progress()

    def close(self, timeout: float = 5.0) -> None:
        """End the hub: its socket closes, it closes its journals and exits; :meth:`run`
        returns (closing the stream's transport ends its read: closing only the socket
        under it leaves the read waiting forever)."""
        if self.channel is not None:
            self.channel.close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)


def _read_hello(sock: socket.socket, timeout: float) -> Hello:
    """The child's first frame, read before any event loop runs (blocking, bounded)."""
    deadline = time.monotonic() + timeout
    buffer = b""

    def need(size: int) -> bytes:
        nonlocal buffer
        while len(buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HubError(f"the hub did not start within {timeout:.0f} s")
            sock.settimeout(left)
            try:
                chunk = sock.recv(size - len(buffer))  # never past this frame: the rest is the stream's
            except TimeoutError:
                continue
            if not chunk:
                raise HubError("the hub ended before it started")
            buffer += chunk
        data, buffer = buffer[:size], buffer[size:]
        return data

    (size,) = _LENGTH.unpack(need(_LENGTH.size))
    frame = decode_frame(need(size))
    sock.settimeout(None)
    sock.setblocking(True)
    if not frame.changes or not isinstance(frame.changes[0], Hello):
        raise HubError("the hub's first frame is not a hello")
    return frame.changes[0]
