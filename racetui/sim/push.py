"""WebSocket push: subscribers, their bounded queues and the fan-out.

A message is serialized once (orjson) and fanned out as text: only the ``seq`` prefix is
made per subscriber. Each subscriber has a bounded queue of unsent messages and its own
sending task; when its queue is full (it cannot keep up: the socket's send buffer is full
and messages pile up) it is closed with 1013 and dropped, so a slow subscriber never
slows the race or the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

from starlette.websockets import WebSocket, WebSocketDisconnect

__all__ = ["EVENTS", "PushHub", "Subscriber"]

log = logging.getLogger(__name__)

EVENTS = ("results", "eventdata")
CLOSE_OVERLOADED = 1013  # try again later: the subscriber could not keep up
CLOSE_RESTART = 1012  # service restart: drop_push()
CLOSE_POLICY = 1008  # unknown event names


class Subscriber:
    """One connected push socket."""

    def __init__(self, websocket: WebSocket, events: frozenset[str], limit: int) -> None:
        self.websocket = websocket
        self.events = events
        self.limit = limit
        self.queue: deque[str] = deque()
        self.wake = asyncio.Event()
        self.seq = 0
        self.sent = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self.pump: asyncio.Task[None] | None = None
        self.done = asyncio.Event()  # set once the socket is closed and forgotten

    def offer(self, head: str, tail: str) -> bool:
        """Queue ``head`` + seq + ``tail``; False (and a close 1013) when the queue is full."""
        if self.close_code is not None:
            return False
        if len(self.queue) >= self.limit:
            self.close(CLOSE_OVERLOADED, "subscriber too slow: queue full, resync over REST")
            return False
        self.seq += 1
        self.queue.append(f"{head}{self.seq}{tail}")
        if not self.wake.is_set():
            self.wake.set()
        return True

    def close(self, code: int, reason: str) -> None:
        """Ask for a close: the pending messages are dropped, a blocked send is cancelled."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        self.queue.clear()
        if self.pump is not None and not self.pump.done():
            self.pump.cancel()
        self.wake.set()

    async def _pump(self) -> None:
        send = self.websocket.send_text
        queue = self.queue
        while self.close_code is None:
            while queue:
                await send(queue.popleft())
                self.sent += 1
            self.wake.clear()
            await self.wake.wait()

    async def _watch(self) -> None:
        """Read (and ignore) what the client sends, until it goes."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break

    async def serve(self) -> None:
        """Send until the client goes or a close is asked for; then close."""
        self.pump = asyncio.create_task(self._pump())
        watch = asyncio.create_task(self._watch())
        try:
            await asyncio.wait({self.pump, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not self.pump.done():
                self.pump.cancel()
            if self.close_code is not None and not watch.done():
                with contextlib.suppress(Exception):
                    # The close frame goes out once the client has read what is ahead of it.
                    await asyncio.wait_for(self.websocket.close(self.close_code, self.close_reason), 30.0)
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch
            self.done.set()


class PushHub:
    """Every subscriber, the fan-out, and the refusal window of ``drop_push``."""

    def __init__(self, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        self.subscribers: list[Subscriber] = []
        self.refuse_until = 0.0  # time.monotonic()
        self.messages = 0
        self.dropped = 0  # subscribers closed for being too slow

    def refusing(self) -> float:
        """Seconds left in the refusal window (0 when accepting)."""
        return max(0.0, self.refuse_until - time.monotonic())

    def add(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        with contextlib.suppress(ValueError):
            self.subscribers.remove(subscriber)

    def publish(self, event: str, body: bytes) -> None:
        """Fan out one message; ``body`` is the orjson of the fields after ``event``/``seq``."""
        subscribers = self.subscribers
        if not subscribers:
            return
        self.messages += 1
        head = f'{{"event":"{event}","seq":'
        tail = "}" if body == b"{}" else "," + body[1:].decode()
        for subscriber in subscribers:
            if (
                event in subscriber.events
                and not subscriber.offer(head, tail)
                and subscriber.close_code == CLOSE_OVERLOADED
            ):
                self.dropped += 1
                log.info("push subscriber too slow: closed with 1013")
        if any(s.close_code is not None for s in subscribers):
            self.subscribers = [s for s in subscribers if s.close_code is None]

    def close_all(self, code: int, reason: str) -> list[Subscriber]:
        closing = list(self.subscribers)
        self.subscribers = []
        for subscriber in closing:
            subscriber.close(code, reason)
        return closing
