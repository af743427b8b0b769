"""The shared helpers: the secrets scrubber and its log filter, retry timing, bib order."""

from __future__ import annotations

import logging
import random
from email.utils import formatdate

import pytest
from pydantic import SecretStr

from racetui.model.bibs import NO_NUMBER, bib_key, start_number
from racetui.util import secrets
from racetui.util.retry import Backoff, parse_retry_after
from racetui.util.secrets import MASK, ScrubFilter, install_log_filter, register, reveal, safe_url, scrub

# ---------------------------------------------------------------- scrubbing


def test_user_and_password_in_a_url_are_hidden() -> None:
    text = "GET http://timer:hunter2@10.0.0.5:8080/api/1.1/races failed"
    cleaned = scrub(text)
    assert "hunter2" not in cleaned and "timer:" not in cleaned
    assert cleaned == f"GET http://{MASK}@10.0.0.5:8080/api/1.1/races failed"


@pytest.mark.parametrize(
    "header",
    [
        "Authorization: Bearer eyJhbGciOi.abc",
        "authorization: Token 9f8e7d6c5b",
        "Authorization: Basic dXNlcjpwYXNz",
        "apikey: k-123-secret",
        "{'apikey': 'k-123-secret'}",
        "x-api-key=k-123-secret",
    ],
)
def test_auth_headers_are_hidden(header: str) -> None:
    cleaned = scrub(f"request headers {header} sent")
    for secret in ("eyJhbGciOi.abc", "9f8e7d6c5b", "dXNlcjpwYXNz", "k-123-secret"):
        assert secret not in cleaned
    assert MASK in cleaned


def test_credential_like_query_values_are_hidden_and_others_kept() -> None:
    cleaned = scrub("https://feed.example/v1?apikey=zz-top-99&race_id=7&token=tt-55")
    assert "zz-top-99" not in cleaned and "tt-55" not in cleaned
    assert "race_id=7" in cleaned


def test_registered_values_are_hidden_anywhere() -> None:
    register(SecretStr("plain-old-secret-4711"), "other-secret-0815")
    text = "server echoed plain-old-secret-4711 and other-secret-0815 back"
    cleaned = scrub(text)
    assert "plain-old-secret-4711" not in cleaned and "other-secret-0815" not in cleaned
    assert cleaned.count(MASK) == 2


def test_extra_values_and_short_values() -> None:
    assert scrub("key abcdef in text", extra=[SecretStr("abcdef")]) == f"key {MASK} in text"
    register("ab")  # too short to mask: ordinary text would suffer
    assert scrub("a tab bar") == "a tab bar"
    assert scrub("") == ""


def test_reveal_and_safe_url() -> None:
    assert reveal(SecretStr("s3")) == "s3" and reveal("plain") == "plain" and reveal(None) == ""
    shown = safe_url("https://user:pw@api.example.org:8443/v1/live?apikey=zz-secret&prog=1")
    assert shown == f"https://api.example.org:8443/v1/live?apikey={MASK}&prog=1"
    assert safe_url("results.json") == "results.json"


# ------------------------------------------------------------ the log filter


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.parametrize("name", ["httpx", "httpcore.connection", "websockets.client", "uvicorn.error"])
def test_the_filter_cleans_library_loggers_at_debug(name: str) -> None:
    register("library-secret-31337")
    logger = logging.getLogger(name)
    capture = _Capture()
    # The handler sits on the logger itself: whether a record propagates to the root depends
    # on what ran before (a uvicorn server stops "uvicorn" propagating), not on the filter.
    logger.addHandler(capture)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        install_log_filter()
        install_log_filter()  # idempotent
        logger.debug(
            "HTTP Request: GET %s headers=%s",
            "http://u:pw-999@host/x?token=library-secret-31337",
            {"Authorization": "Bearer library-secret-31337"},
        )
        try:
            raise RuntimeError("failed with library-secret-31337")
        except RuntimeError:
            logger.debug("boom", exc_info=True)
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    text = "\n".join(capture.lines)
    assert len(capture.lines) == 2
    assert "library-secret-31337" not in text and "pw-999" not in text
    assert "RuntimeError" in text  # the traceback is kept, only the secret goes


def test_root_handlers_get_the_filter_once() -> None:
    root = logging.getLogger()
    capture = _Capture()
    root.addHandler(capture)
    try:
        install_log_filter()
        install_log_filter()
        assert sum(isinstance(f, ScrubFilter) for f in capture.filters) == 1
    finally:
        root.removeHandler(capture)


def test_every_library_logger_gets_the_filter() -> None:
    install_log_filter()
    for name in ("httpx", "httpcore", "websockets", "uvicorn", "racetui"):
        assert any(isinstance(f, ScrubFilter) for f in logging.getLogger(name).filters), name
    assert set(secrets.LIBRARY_LOGGERS) >= {"httpx", "httpcore", "websockets", "uvicorn"}


# ------------------------------------------------------------------ retry


def test_retry_after_delta_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


def test_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == pytest.approx(90.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0  # in the past


def test_backoff_grows_within_its_bounds() -> None:
    random.seed(7)
    backoff = Backoff(base=1.0, factor=2.0, cap=30.0, jitter=0.1)
    for failures, nominal in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0)]:
        for _ in range(50):
            assert nominal * 0.9 <= backoff.delay(failures) <= nominal * 1.1
    for failures in (6, 10, 1000):
        assert 27.0 <= backoff.delay(failures) <= 30.0
    assert Backoff(base=1.0, jitter=0.0).delay(0) == 1.0


def test_backoff_honours_retry_after_up_to_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=60.0, jitter=0.0)
    assert backoff.delay(1, retry_after=20.0) == 20.0
    assert backoff.delay(1, retry_after=600.0) == 60.0
    assert backoff.delay(3, retry_after=0.5) == 4.0


# --------------------------------------------------------------- bib order


def test_bib_ordering() -> None:
    assert start_number("A12B3") == 12
    assert start_number("123") == 123
    assert start_number("ELITE") == NO_NUMBER
    bibs = ["A12B3", "100", "9", "12", "B12", "ELITE", "2a"]
    assert sorted(bibs, key=bib_key) == ["2a", "9", "12", "A12B3", "B12", "100", "ELITE"]
