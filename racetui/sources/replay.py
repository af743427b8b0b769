"""Replay: a recorded journal played through the same code as the live source.

Every record goes where the live message went: BBT REST answers and push frames through
:class:`racetui.sources.bbt.BBTDecoder` (the BBT message handling, no I/O) (one handler per recorded
source, so its state — known athletes, pass ids, event data — builds up exactly as it
did live), World Triathlon v1.1 messages through :class:`racetui.sources.v11.V11Reader`
(imported on first use). What the live source fetched because of a message (a resync,
a participant) was journaled too and comes as the next records: nothing is fetched here.

``speed`` scales the recorded gaps between messages: ``1.0`` is real time, ``10`` ten times
faster, ``0`` as fast as possible (``run`` then returns at the end of the journal). With a
speed above zero ``run`` keeps the source alive after the last record (``hold``) until it
is cancelled, like a live source whose race is over.

A corrupt or cut tail is reported (``problems``, ``health.last_error``) and play stops
there cleanly; a record that cannot be played is rejected with its reason and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from pathlib import Path
from typing import Any

import orjson

from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode
from racetui.sources.bbt import BBTDecoder
from racetui.sources.journal import iter_journal
from racetui.sources.v11 import V11Error, V11Reader

__all__ = ["ReplaySource"]

log = logging.getLogger(__name__)

_YIELD_EVERY = 200  # records between event-loop yields at speed 0


class ReplaySource:
    """Plays a journal into a :class:`Pipeline` (the ``Source`` protocol)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        speed: float = 1.0,
        *,
        hold: bool | None = None,
        name: str | None = None,
    ) -> None:
        if (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not math.isfinite(speed)
            or speed < 0
        ):
            raise ValueError(f"speed: expected a number >= 0 (0 = as fast as possible), got {speed!r}")
        self.path = Path(path)
        self.speed = float(speed)
        self.hold = self.speed > 0 if hold is None else hold
        self.name = name or f"replay {self.path.name}"
        self.health = SourceHealth(self.name, mode=SourceMode.REPLAY)
        self.health.journal_path = str(self.path)
        self.played = 0  # records played
        self.skipped = 0  # records that could not be played (no parser, unknown kind)
        self.problems: list[str] = []  # journal-level problems (corrupt tail, bad lines)
        self.position: float | None = None  # receive time (unix) of the last played record
        self.first: float | None = None  # receive time of the first record
        self.finished = False
        self._bbt: dict[str, BBTDecoder] = {}
        self._feeds: dict[str, V11Reader] = {}

    @property
    def feed_readers(self) -> dict[str, V11Reader]:
        """The v1.1 readers by recorded source name (their ``race`` and ``header``)."""
        return dict(self._feeds)

    @property
    def bbt_handlers(self) -> dict[str, BBTDecoder]:
        """The BBT message handlers by recorded source name."""
        return dict(self._bbt)

    # ---------------------------------------------------------------------- run
    async def run(self, pipeline: Pipeline) -> None:
        """Play the journal; returns at its end (speed 0) or holds until cancelled."""
        loop = asyncio.get_running_loop()
        self.health.state = FeedState.CONNECTING
        started: float | None = None
        try:
            for record in iter_journal(self.path, on_error=self._problem):
                t = float(record["t"])
                if self.first is None:
                    self.first = t
                if self.speed > 0:
                    if started is None:
                        started = loop.time()
                    delay = started + (t - self.first) / self.speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif self.played % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the screen draw
                self.play(pipeline, record)
            self.finished = True
            if self.skipped:
                log.warning("%s: %d records could not be played", self.name, self.skipped)
            log.info("%s: end of journal after %d records", self.name, self.played)
            if self.hold:
                self.health.state = FeedState.STOPPED
                await asyncio.Event().wait()
        except OSError as exc:
            self.health.error(f"{self.path}: cannot read the journal: {exc.strerror or exc}")
            log.warning("%s", self.health.last_error)
            if self.hold:
                await asyncio.Event().wait()
        finally:
            if self.health.state is not FeedState.ERROR:
                self.health.state = FeedState.STOPPED

    # --------------------------------------------------------------------- play
    def play(self, pipeline: Pipeline, record: dict[str, Any]) -> bool:
        """Apply one journal record; False when it was skipped or rejected."""
        self.played += 1
        self.position = float(record["t"])
        kind = record.get("kind")
        source = str(record.get("source") or "")
        body = record.get("body")
        try:
            if kind == "rest":
                url = str(record.get("url") or "")
                handler = self._bbt_handler(source)
                if isinstance(body, str):  # recorded as text: it was not JSON
                    return handler.handle_rest(pipeline, url, body).ok
                return handler.handle_rest_body(pipeline, url, body).ok
            if kind == "push":
                handler = self._bbt_handler(source)
                if isinstance(body, str):
                    return handler.handle_push(pipeline, body)
                return handler.handle_push_body(pipeline, body)
            if kind == "feed":
                return self._play_feed(pipeline, source, body)
        except Exception as exc:  # one bad record must not end the replay
            self.health.reject(f"{self.name}: record {self.played} ({kind}): {type(exc).__name__}: {exc}")
            log.warning("%s", self.health.last_error)
            return False
        self.skipped += 1
        self.health.reject(f"{self.name}: record {self.played}: unknown kind {kind!r}")
        return False

    def _bbt_handler(self, source: str) -> BBTDecoder:
        handler = self._bbt.get(source)
        if handler is None:
            handler = BBTDecoder(source or "BBT", mode=SourceMode.REPLAY)
            handler.health = self.health  # rejects and message counts show on the replay
            self._bbt[source] = handler
        return handler

    def _play_feed(self, pipeline: Pipeline, source: str, body: Any) -> bool:
        reader = self._feeds.get(source)
        if reader is None:
            reader = self._feeds[source] = V11Reader()
        data = body if isinstance(body, str) else orjson.dumps(body)
        try:
            update = reader.apply(data, pipeline)
        except V11Error as exc:
            self.health.reject(f"{source or 'v1.1 feed'}: rejected message: {exc}")
            return False
        self.health.received()
        warnings = getattr(update, "warnings", None)
        if warnings:
            pipeline.errors.extend(warnings)
            del pipeline.errors[:-200]
        return True

    def _problem(self, message: str) -> None:
        self.problems.append(message)
        self.health.last_error = message
        log.warning("%s", message)
