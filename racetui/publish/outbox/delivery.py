"""The delivery service: one worker per target sends what the outbox holds, spaced
by the target's minimum interval, backing off on retryable failures (with the server's
``Retry-After``), holding a target whose credentials were refused until a user resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from racetui.publish.outbox.answers import Outcome, SendResult
from racetui.publish.outbox.store import Outbox, OutboxItem
from racetui.util.retry import Backoff

log = logging.getLogger("racetui.publish")

# ================================================================= delivery


class Sender(Protocol):
    """Delivers outbox items of one target. ``send`` never raises for network trouble."""

    name: str  # the outbox target it delivers
    min_interval: float  # seconds from the end of one request to the start of the next

    def destination(self) -> str:
        """Where it sends, for screens (no secret)."""

    async def send(self, item: OutboxItem) -> SendResult: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class TargetStatus:
    """A delivery target as a screen shows it (times are ``time.time()``)."""

    name: str
    destination: str
    held: str | None = None  # why sending is stopped until a user resumes
    in_flight: int | None = None  # item id being sent
    last_attempt_at: float | None = None
    last_success_at: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    failures: int = 0  # consecutive retryable failures
    retry_at: float | None = None  # next attempt after a failure
    sent: int = 0
    _last_end: float = field(default=-1e18, repr=False)  # monotonic end of the last attempt
    _backoff_until: float = field(default=0.0, repr=False)  # monotonic


ItemListener = Callable[[OutboxItem], None]


class PublishService:
    """Delivers the outbox: one worker per target, rate-limited, with backoff and holds.

    Headless: the dashboard's publish screen reads :meth:`targets` and :meth:`items` and
    calls :meth:`retry`, :meth:`cancel`, :meth:`resume`; ``listeners`` are called with every
    item whose state changed (in the event loop's thread).
    """

    def __init__(
        self,
        outbox: Outbox,
        senders: Iterable[Sender] = (),
        *,
        backoff: Backoff | None = None,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.listeners: list[ItemListener] = []
        self._clock = clock
        self._senders: dict[str, Sender] = {}
        self._status: dict[str, TargetStatus] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        for sender in senders:
            self.add_sender(sender)

    # ------------------------------------------------------------- setup
    def add_sender(self, sender: Sender) -> None:
        self._senders[sender.name] = sender
        self._status.setdefault(sender.name, TargetStatus(name=sender.name, destination=sender.destination()))
        self._wake.setdefault(sender.name, asyncio.Event())
        if self._running and sender.name not in self._tasks:
            self._tasks[sender.name] = asyncio.create_task(self._worker(sender.name))

    def sender(self, name: str) -> Sender | None:
        return self._senders.get(name)

    # ------------------------------------------------------------ reading
    def targets(self) -> list[TargetStatus]:
        return list(self._status.values())

    def target(self, name: str) -> TargetStatus:
        return self._status[name]

    def items(self, **filters: Any) -> list[OutboxItem]:
        """The outbox, newest first (see :meth:`Outbox.items`)."""
        return self.outbox.items(**filters)

    # ------------------------------------------------------------ actions
    def submit(self, **item: Any) -> OutboxItem:
        """:meth:`Outbox.enqueue` and wake the target's worker."""
        queued = self.outbox.enqueue(**item)
        self._notify(queued)
        self.wake(queued.target)
        return queued

    async def submit_off_loop(self, **item: Any) -> OutboxItem:
        """:meth:`submit` with the outbox's write in a worker thread (the store is shared
        between threads under its lock); the target's worker is woken on the loop."""
        queued = await asyncio.to_thread(lambda: self.outbox.enqueue(**item))
        self._notify(queued)
        self.wake(queued.target)
        return queued

    def wake(self, target: str | None = None) -> None:
        for name, event in self._wake.items():
            if target is None or name == target:
                event.set()

    def retry(self, item_id: int) -> OutboxItem:
        """Re-queue a failed item (a user's action); also lifts its target's hold."""
        item = self.outbox.retry(item_id)
        status = self._status.get(item.target)
        if status is not None:
            status.held = None
            status.failures = 0
            status._backoff_until = 0.0
            status.retry_at = None
        self._notify(item)
        self.wake(item.target)
        return item

    def cancel(self, item_id: int) -> OutboxItem:
        item = self.outbox.cancel(item_id)
        self._notify(item)
        return item

    def resume(self, target: str) -> None:
        """Lift a hold (after the user fixed credentials) and try again now."""
        status = self._status[target]
        status.held = None
        status.failures = 0
        status._backoff_until = 0.0
        status.retry_at = None
        self.wake(target)

    def ready_in(self, target: str) -> float:
        """Seconds until the target may start its next request (0: now)."""
        status = self._status.get(target)
        sender = self._senders.get(target)
        if status is None or sender is None:
            return 0.0
        start = max(status._backoff_until, status._last_end + sender.min_interval)
        return max(0.0, start - self._clock())

    def _notify(self, item: OutboxItem) -> None:
        self._changed.set()
        for listener in list(self.listeners):
            try:
                listener(item)
            except Exception:  # a listener's bug must not stop deliveries
                log.exception("publish listener failed")

    # ------------------------------------------------------------ running
    async def run(self) -> None:
        """Deliver until cancelled (one worker task per target)."""
        self._running = True
        try:
            for name in self._senders:
                if name not in self._tasks:
                    self._tasks[name] = asyncio.create_task(self._worker(name))
            while True:
                await asyncio.sleep(3600)
        finally:
            self._running = False
            tasks = list(self._tasks.values())
            self._tasks.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        for sender in self._senders.values():
            with contextlib.suppress(Exception):
                await sender.aclose()

    async def wait_settled(
        self, item_ids: Iterable[int] | None = None, *, timeout: float | None = None
    ) -> bool:
        """Wait until the given items (default: every pending item of our targets) are
        sent, failed, superseded or cancelled. False on timeout."""
        ids = None if item_ids is None else list(item_ids)
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            self._changed.clear()
            if ids is None:
                pending = [i for i in self.outbox.pending() if i.target in self._senders]
                held = {name for name, s in self._status.items() if s.held}
                if all(i.target in held for i in pending):
                    return True
            else:
                if all(self.outbox.get(i, body=False).settled for i in ids):
                    return True
            remaining = None if deadline is None else deadline - self._clock()
            if remaining is not None and remaining <= 0:
                return False
            wait = self.poll_interval if remaining is None else min(self.poll_interval, remaining)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)

    async def _sleep(self, name: str, seconds: float) -> None:
        event = self._wake[name]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(0.0, seconds))
        event.clear()

    async def _worker(self, name: str) -> None:
        sender = self._senders[name]
        status = self._status[name]
        while True:
            try:
                if status.held:
                    await self._sleep(name, self.poll_interval)
                    continue
                wait = self.ready_in(name)
                if wait > 0:
                    await self._sleep(name, wait)
                    continue
                candidate = self.outbox.next_queued(name)
                if candidate is None:
                    await self._sleep(name, self.poll_interval)
                    continue
                item = self.outbox.claim(candidate.id)
                if item is None:
                    continue
                await self._attempt(sender, status, item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the outbox itself failed (disk full…): keep trying
                log.error("publish %s: %s", name, exc)
                status.last_error = f"outbox: {exc}"
                await asyncio.sleep(self.poll_interval)

    async def _attempt(self, sender: Sender, status: TargetStatus, item: OutboxItem) -> None:
        status._last_end = self._clock()  # also while in flight: nothing else starts
        status.last_attempt_at = time.time()
        status.in_flight = item.id
        self._notify(item)
        try:
            result = await sender.send(item)
        except asyncio.CancelledError:
            self.outbox.release(item.id)
            status.in_flight = None
            raise
        except Exception as exc:  # a sender bug: treat as retryable, never lose the item
            log.exception("publish %s: sending #%d failed", sender.name, item.id)
            result = SendResult(Outcome.RETRY, message=f"internal error: {type(exc).__name__}")
        # The interval counts from the end of an attempt: the server then sees two requests
        # at least ``min_interval`` apart, whatever the connection set-up or latency.
        status._last_end = self._clock()
        status.in_flight = None
        status.last_status = result.status_code
        if result.outcome is Outcome.SENT:
            updated = self.outbox.mark_sent(item.id, result.status_code, result.response)
            status.failures = 0
            status._backoff_until = 0.0
            status.retry_at = None
            status.last_success_at = time.time()
            status.last_error = None
            status.sent += 1
            log.info("publish %s: #%d sent (%s)", sender.name, item.id, result.message)
        elif result.outcome is Outcome.RETRY:
            status.failures += 1
            delay = self.backoff.delay(status.failures, result.retry_after)
            status._backoff_until = self._clock() + delay
            status.retry_at = time.time() + delay
            status.last_error = result.message
            updated = self.outbox.mark_retry(
                item.id,
                status_code=result.status_code,
                error=result.message,
                next_attempt_at=time.time() + delay,
                response=result.response,
            )
            log.warning(
                "publish %s: #%d will be retried in %.1fs: %s", sender.name, item.id, delay, result.message
            )
        else:
            updated = self.outbox.mark_failed(
                item.id, status_code=result.status_code, error=result.message, response=result.response
            )
            status.last_error = result.message
            if result.hold:
                status.held = result.message
            log.error("publish %s: #%d failed: %s", sender.name, item.id, result.message)
        self._notify(updated)
