"""What the upstream stand-ins share: a record of every arrival, idempotent application and
a script of answers.

Each stand-in records every request (monotonic time, idempotency key, headers, body) and
applies a request once per ``Idempotency-Key`` (a repeat gets a 200 and is marked
``duplicate``), so tests can tell "arrived" from "applied". ``script`` holds the answers for
the next requests: an ``int`` status, ``("slow", seconds)`` (applied, then answered late) or
``"close"`` (applied-or-not, never answered: the client's timeout must fire).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

__all__ = ["Action", "Arrival", "ScriptedUpstream"]

Action = int | str | tuple[str, float]


@dataclass
class Arrival:
    at: float  # time.monotonic()
    key: str | None
    headers: dict[str, str]
    body: Any
    raw: bytes
    status: int = 0
    duplicate: bool = False


@dataclass
class ScriptedUpstream:
    url: str = ""  # set by the test once the server runs
    script: list[Action] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    applied: dict[str, Any] = field(default_factory=dict)  # idempotency key -> body
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self) -> Action:
        with self.lock:
            return self.script.pop(0) if self.script else 200

    def applied_bodies(self) -> list[Any]:
        with self.lock:
            return list(self.applied.values())

    async def _finish(self, action: Action, arrival: Arrival, answer: Callable[[], Response]) -> Response:
        if action == "close":
            await asyncio.sleep(3600)  # never answers: the client times out
        if isinstance(action, tuple) and action[0] == "slow":
            await asyncio.sleep(action[1])
        return answer()
