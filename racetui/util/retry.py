"""Retry timing shared by every client: capped exponential backoff with jitter and
the ``Retry-After`` header (delta seconds or an HTTP date)."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["Backoff", "parse_retry_after"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """``base * factor**(failures-1)`` capped at ``cap``, with ± ``jitter`` (a fraction)."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.1

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 = the first).

        A server's ``retry_after`` is honoured, but never beyond ``cap``."""
        exponent = min(max(0, failures - 1), 64)
        raw = min(self.cap, self.base * self.factor**exponent)
        if self.jitter:
            raw *= 1 + random.uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            raw = max(raw, min(retry_after, self.cap))
        return max(0.0, min(raw, self.cap))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value: delta seconds or an HTTP date; None if absent
    or unreadable. Never negative."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
