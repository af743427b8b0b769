"""One way to build a timing source from what the user asked for.

Every command that reads race data (``connect``, ``feed``, ``replay``, ``demo``,
``export``, ``publish``) builds its source here, so a BBT master, a v1.1 feed and a
journal are set up alike everywhere: the same poll interval, stale threshold, extra
headers and World Triathlon key rule from the config, the same journal.

``build_source`` raises ``ValueError`` (one line naming what was wrong) for a target it
cannot use; commands print it and exit 2.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from racetui.sources.bbt import BBTSource
from racetui.sources.feed import FeedSource, apikey_for
from racetui.sources.journal import Journal, not_a_journal
from racetui.sources.replay import ReplaySource

if TYPE_CHECKING:
    from racetui.config import Config
    from racetui.sources.base import Source

__all__ = ["SourceKind", "build_source"]


class SourceKind(StrEnum):
    """Where race data comes from."""

    BBT = "bbt"  # a Black Box Timing master: WebSocket push, or REST polling
    FEED = "feed"  # a World Triathlon v1.1 message: URL or file, polled
    REPLAY = "replay"  # a journal recorded by a live source


@overload
def build_source(
    kind: Literal[SourceKind.BBT],
    target: str,
    config: Config | None = ...,
    *,
    poll: bool = ...,
    interval: float | None = ...,
    journal: bool = ...,
    speed: float = ...,
    name: str | None = ...,
) -> BBTSource: ...
@overload
def build_source(
    kind: Literal[SourceKind.FEED],
    target: str,
    config: Config | None = ...,
    *,
    poll: bool = ...,
    interval: float | None = ...,
    journal: bool = ...,
    speed: float = ...,
    name: str | None = ...,
) -> FeedSource: ...
@overload
def build_source(
    kind: Literal[SourceKind.REPLAY],
    target: str,
    config: Config | None = ...,
    *,
    poll: bool = ...,
    interval: float | None = ...,
    journal: bool = ...,
    speed: float = ...,
    name: str | None = ...,
) -> ReplaySource: ...
@overload
def build_source(
    kind: SourceKind,
    target: str,
    config: Config | None = ...,
    *,
    poll: bool = ...,
    interval: float | None = ...,
    journal: bool = ...,
    speed: float = ...,
    name: str | None = ...,
) -> Source: ...


def build_source(
    kind: SourceKind,
    target: str,
    config: Config | None = None,
    *,
    poll: bool = False,
    interval: float | None = None,
    journal: bool = False,
    speed: float = 1.0,
    name: str | None = None,
) -> BBTSource | FeedSource | ReplaySource:
    """The source of ``kind`` reading ``target`` (a URL, a file or a journal).

    * ``poll``: a BBT master over REST polling instead of WebSocket push;
    * ``interval``: seconds between polls (default: ``sources.poll_interval``);
    * ``journal``: record every received message in a new journal under the data dir
      (its path shows on the Health screen); the caller closes ``source.journal``;
    * ``speed``: replay speed (1 = real time, 0 = at once).
    """
    from racetui.config import Config

    config = config or Config()
    settings = config.sources
    every = settings.poll_interval if interval is None else interval
    if not every > 0:
        raise ValueError(f"interval: expected more than 0 seconds, got {every}")
    if kind is SourceKind.REPLAY:
        if not speed >= 0:
            raise ValueError(f"speed: expected a number >= 0, got {speed}")
        if not Path(target).is_file():
            raise ValueError(f"{target}: no such journal file")
        reason = not_a_journal(target)
        if reason:
            raise ValueError(reason)
        return ReplaySource(target, speed=speed, name=name)
    headers = dict(settings.headers)
    recorder = Journal.open_default(kind.value) if journal else None
    source: BBTSource | FeedSource
    if kind is SourceKind.BBT:
        source = BBTSource(
            target,
            poll=poll,
            poll_interval=every,
            journal=recorder,
            stale_after=settings.stale_after,
            headers=headers,
            name=name,
        )
    else:
        try:
            source = FeedSource(
                target,
                interval=every,
                headers=headers,
                apikey=apikey_for(target, config),
                journal=recorder,
                stale_after=settings.stale_after,
                name=name,
            )
        except ValueError:
            if recorder is not None:
                recorder.close()
                recorder.path.unlink(missing_ok=True)
            raise
    if recorder is not None:
        source.health.journal_path = str(recorder.path)
    return source
