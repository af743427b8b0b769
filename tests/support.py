"""Helpers every test may import: where the fixtures live, and how to wait for something
without guessing how long it takes.

- :data:`DATA` is ``tests/data`` (the spec's examples, copied verbatim), found from this file
  so a fresh clone anywhere reads the same bytes.
- :func:`spin` lets the loop turn a number of times (not seconds): to show that a task that
  was woken did *not* act, give it its turns, then look.
- :func:`wait_until` / :func:`async_wait_until` poll a condition until it holds or a generous
  deadline passes (then fail naming what was awaited). A busy 2-core machine only makes them
  slower, never wrong: nothing waits a fixed time for something to happen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "DATA",
    "DEADLINE",
    "INDIVIDUAL",
    "RELAY",
    "async_wait_until",
    "published_v11",
    "spin",
    "wait_until",
]

DATA = Path(__file__).parent / "data"
INDIVIDUAL = DATA / "v1.1-individual.json"
RELAY = DATA / "v1.1-mixed-relay.json"

DEADLINE = 30.0  # seconds: generous, so load only slows a test down


def wait_until(
    condition: Callable[[], object], *, deadline: float = DEADLINE, what: str = "", poll: float = 0.01
) -> None:
    """Block until ``condition()`` is true; fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:g} s waiting for {what or condition}")
        time.sleep(poll)


async def async_wait_until(
    condition: Callable[[], object], *, deadline: float = DEADLINE, what: str = "", poll: float = 0.01
) -> None:
    """Yield to the loop until ``condition()`` is true; fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:g} s waiting for {what or condition}")
        await asyncio.sleep(poll)


async def spin(turns: int = 50) -> None:
    """Let every woken task run a few times: loop turns, not seconds, so load cannot make a
    "nothing happened" check pass early or fail late."""
    for _ in range(turns):
        await asyncio.sleep(0)


def published_v11(standings: Any, **header: Any) -> dict[str, Any]:
    """The v1.1 message racetui publishes for ``standings`` under a placeholder header (for
    tests that look at athletes, places and gaps; ``header`` overrides a field)."""
    from datetime import UTC, datetime

    from racetui.publish.v11 import build_message

    fields: dict[str, Any] = {
        "event_id": "1",
        "event_name": "Event",
        "prog_id": "2",
        "prog_name": "Race",
        "status": "live",
        "sandbox": True,
        "date": datetime(2026, 1, 1, tzinfo=UTC),
        "start_time": None,
        "wetsuit": None,
        "air_temp": None,
        "water_temp": None,
    }
    fields.update(header)
    return build_message(standings, **fields)
