"""The HTTP answer rules: what one attempt gave (sent, retry with backoff, failed and
perhaps hold the target) and the server's own reason on one line, scrubbed of secrets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from racetui.util.retry import parse_retry_after
from racetui.util.secrets import scrub

log = logging.getLogger("racetui.publish")


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # 5xx, timeout, refused: back off and try again
    FAILED = "failed"  # 4xx: needs a user action


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt gave. ``message`` is one line, already scrubbed of secrets.

    ``hold`` stops the target (no further sends) until a user resumes it: credentials
    that a server refused will be refused again.
    """

    outcome: Outcome
    status_code: int | None = None
    message: str = ""
    response: str | None = None
    retry_after: float | None = None
    hold: bool = False


# ========================================================== HTTP answers

_RETRYABLE_4XX = frozenset({408, 425, 429})


def server_message(text: str, *, limit: int = 300) -> str:
    """The server's own reason, one line: ``message``/``detail``/``error`` of a JSON answer
    (World Triathlon wraps failures as ``{"status":"fail","data":{...}}``), else the text."""
    text = text.strip()
    found: str | None = None
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None

    def pick(value: Any) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            for name in ("message", "detail", "error", "errors", "reason", "data"):
                if name in value:
                    inner = pick(value[name])
                    if inner:
                        return inner
            if value:
                return "; ".join(
                    str(pick(v) or v) if k in ("non_field_errors", "__all__") else f"{k}: {pick(v) or v}"
                    for k, v in value.items()
                )
        if isinstance(value, list) and value:
            return "; ".join(str(pick(v) or v) for v in value)
        return None

    if isinstance(data, dict | list):
        found = pick(data)
    one_line = " ".join((found or text).split())
    return one_line[:limit] + ("…" if len(one_line) > limit else "")


def classify_response(
    status_code: int,
    text: str,
    *,
    reason: str = "",
    retry_after: str | None = None,
    secrets: Iterable[str] = (),
    hold_on: Iterable[int] = (401, 403),
) -> SendResult:
    """An HTTP answer as a :class:`SendResult`: 2xx sent; 408/425/429 and 5xx retried;
    any other status failed with the server's message (auth refusals also hold the target)."""
    secrets = list(secrets)
    body = scrub(text[:4000], secrets)
    detail = scrub(server_message(text), secrets)
    head = f"{status_code} {reason}".strip()
    message = f"{head}: {detail}" if detail else head
    if 200 <= status_code < 300:
        return SendResult(Outcome.SENT, status_code, head, body)
    after = parse_retry_after(retry_after)
    if status_code >= 500 or status_code in _RETRYABLE_4XX:
        return SendResult(Outcome.RETRY, status_code, message, body, retry_after=after)
    return SendResult(Outcome.FAILED, status_code, message, body, hold=status_code in set(hold_on))


def transport_failure(exc: BaseException, what: str = "") -> SendResult:
    """A request that got no answer (timeout, refused, reset): retried with backoff."""
    import httpx

    prefix = f"{what}: " if what else ""
    if isinstance(exc, httpx.TimeoutException):
        message = f"{prefix}no answer in time ({type(exc).__name__})"
    elif isinstance(exc, httpx.ConnectError):
        message = f"{prefix}cannot connect ({' '.join(str(exc).split()) or type(exc).__name__})"
    else:
        message = f"{prefix}{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return SendResult(Outcome.RETRY, None, message)
