"""The one place secrets are kept out of text: logs, errors, journals and screens.

- :func:`register` remembers a secret value (an API key, a password, a token) process-wide.
- :func:`scrub` replaces every registered value, ``user:password@`` in URLs, credential-like
  query values and ``Authorization``/``apikey`` header values in any text.
- :func:`install_log_filter` attaches one :class:`ScrubFilter` to every library logger
  racetui uses (httpx, httpcore, websockets, uvicorn) and racetui's own, so no record
  reaches a handler with a secret in it, at any verbosity.
- :func:`reveal` gives the plain value of a pydantic ``SecretStr`` (or a plain string).
- :func:`safe_url` gives a URL fit to show: no user info, credential-like query values hidden.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "LIBRARY_LOGGERS",
    "MASK",
    "ScrubFilter",
    "install_log_filter",
    "register",
    "reveal",
    "safe_url",
    "scrub",
]

MASK = "***"
#: Loggers of the libraries racetui uses that can print URLs or headers.
LIBRARY_LOGGERS = (
    "httpx",
    "httpcore",
    "websockets",
    "websockets.client",
    "websockets.server",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "racetui",
)
_MIN_LEN = 3  # shorter values would mask ordinary text
_SECRET_NAME = r"(?:[A-Za-z_]*(?:key|token|secret|pass(?:word)?|auth|sig|session|credential)[A-Za-z_]*)"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")
_QUERY_PAIR = re.compile(rf"(?P<name>\b{_SECRET_NAME})=(?P<value>[^&\s'\"]+)", re.IGNORECASE)
_HEADER = re.compile(
    r"(?P<name>\b(?:authorization|proxy-authorization|apikey|api-key|x-api-key|cookie|set-cookie)"
    r"['\"]?\s*[:=,]\s*['\"]?)(?P<value>(?:(?:basic|bearer|token)\s+)?[^\s'\",)\]&]+)",
    re.IGNORECASE,
)
_SECRET_QUERY_KEY = re.compile(_SECRET_NAME, re.IGNORECASE)

_lock = threading.Lock()
_values: set[str] = set()
_ordered: tuple[str, ...] = ()


def reveal(value: object) -> str:
    """The plain text of a ``SecretStr`` (anything with ``get_secret_value``) or of ``value``."""
    if value is None:
        return ""
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if callable(getter) else str(value)


def register(*values: object) -> None:
    """Remember secret values (``SecretStr`` or text) so :func:`scrub` hides them everywhere."""
    global _ordered
    with _lock:
        for value in values:
            text = reveal(value)
            if len(text) >= _MIN_LEN:
                _values.add(text)
        _ordered = tuple(sorted(_values, key=len, reverse=True))


def scrub(text: str, extra: Iterable[object] = ()) -> str:
    """``text`` with secrets replaced by ``***``: registered values, ``extra`` values,
    ``user:password@`` in URLs, credential-like ``name=value`` pairs and auth headers."""
    if not text:
        return text
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    for value in extra:
        secret = reveal(value)
        if len(secret) >= _MIN_LEN and secret in text:
            text = text.replace(secret, MASK)
    if "@" in text:
        text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    if "=" in text:
        text = _QUERY_PAIR.sub(lambda m: f"{m.group('name')}={MASK}", text)
    text = _HEADER.sub(lambda m: f"{m.group('name')}{MASK}", text)
    return text


def safe_url(url: str) -> str:
    """``url`` fit to show: user info dropped, credential-like query values hidden."""
    if not url or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return scrub(url)
    query = parts.query
    if query:
        pairs = [(k, MASK if _SECRET_QUERY_KEY.search(k) else v) for k, v in parse_qsl(query, True)]
        query = urlencode(pairs, safe="/,:*")
    return scrub(urlunsplit((parts.scheme, host, parts.path, query, "")))


class ScrubFilter(logging.Filter):
    """Rewrites a record's message (and exception text) through :func:`scrub`."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_record(record)
        return True


_FILTER = ScrubFilter()


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken record is not ours to fix
        return
    cleaned = scrub(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)


_base_factory: Callable[..., logging.LogRecord] | None = None


def _scrubbing_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    _scrub_record(record)
    return record


def install_log_filter(extra_loggers: Iterable[str] = ()) -> None:
    """Idempotent: no log record of any logger reaches any handler with a secret in it.

    Every record is scrubbed where it is made (the record factory: after the level check,
    so records nobody emits cost nothing), whichever logger made it and whichever handler
    is added later — a logger's own filters would miss its children (``httpcore.connection``)
    and handlers added after this call. The :class:`ScrubFilter` also goes on the library
    loggers and the root's handlers, for records made by a factory set after this one."""
    global _base_factory
    with _lock:
        if logging.getLogRecordFactory() is not _scrubbing_factory:
            _base_factory = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_scrubbing_factory)
    for name in (*LIBRARY_LOGGERS, *extra_loggers):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
