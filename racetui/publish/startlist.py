"""Start-list changes (race-day fixes) delivered through the durable outbox, with the same
guarantees as uploads: committed before sending, re-sent after a crash, refusals kept with
the service's own reason.

The publish layer does not know the start-list services: :class:`StartListSender` is given
a *writer* (``racetui.sources.startlist.writeback.StartListWriter``, wired by the command or
the dashboard) that sends one change and answers ``done`` / ``retry`` / ``refused`` /
``hold``. Targets are ``startlist.raceentry`` and ``startlist.chronotrack``; each item's body
is the change as JSON (no secrets), its idempotency key the change's own key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from racetui.publish.outbox import Outbox, OutboxItem, Outcome, PublishService, SendResult

__all__ = ["TARGETS", "StartListSender", "StartListWriterLike", "queue_change", "target_for"]

TARGETS = {"raceentry": "startlist.raceentry", "chronotrack": "startlist.chronotrack"}


def target_for(source: str) -> str:
    """The outbox target of a start-list service (``raceentry`` / ``chronotrack``)."""
    return TARGETS[source]


class _Answer(Protocol):
    @property
    def outcome(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def retry_after(self) -> float | None: ...
    @property
    def service_id(self) -> str | None: ...


class StartListWriterLike(Protocol):
    """What the sender needs from a start-list writer."""

    def destination(self) -> str: ...

    async def write(self, raw: bytes | str, *, attempt: int = 1) -> Any: ...

    async def aclose(self) -> None: ...


class StartListSender:
    """A :class:`~racetui.publish.outbox.Sender` for one start-list service."""

    def __init__(self, source: str, writer: StartListWriterLike, *, min_interval: float = 0.0) -> None:
        self.name = target_for(source)
        self.writer = writer
        self.min_interval = min_interval

    def destination(self) -> str:
        return self.writer.destination()

    async def send(self, item: OutboxItem) -> SendResult:
        body = await asyncio.to_thread(item.read_body)  # from the outbox, off the loop
        answer: _Answer = await self.writer.write(body, attempt=item.attempts)
        response = f"service id {answer.service_id}" if answer.service_id else None
        if answer.outcome == "done":
            return SendResult(Outcome.SENT, answer.status_code, answer.message, response)
        if answer.outcome == "retry":
            return SendResult(
                Outcome.RETRY, answer.status_code, answer.message, retry_after=answer.retry_after
            )
        return SendResult(Outcome.FAILED, answer.status_code, answer.message, hold=answer.outcome == "hold")

    async def aclose(self) -> None:
        await self.writer.aclose()


def queue_change(
    into: Outbox | PublishService,
    *,
    source: str,
    key: str,
    body: bytes,
    summary: str,
    url: str,
    method: str = "POST",
    meta: Mapping[str, Any] | None = None,
) -> OutboxItem:
    """Queue one change (committed before this returns); a :class:`PublishService` also
    wakes its worker. The group keeps changes of one service in order."""
    item: dict[str, Any] = {
        "target": target_for(source),
        "group": target_for(source),
        "method": method,
        "url": url,
        "body": body,
        "summary": summary,
        "meta": dict(meta or {}),
        "idempotency_key": key,
    }
    if isinstance(into, PublishService):
        return into.submit(**item)
    return into.enqueue(**item)
