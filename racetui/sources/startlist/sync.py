"""Syncing a remote start list into the cache, once (the CLI) or in the background (a
:class:`~racetui.sources.base.Source` beside the timing feed).

:func:`sync_once` fetches everything first - every page, every endpoint - and only then
writes, in one transaction: a failure anywhere leaves the cache as the previous good sync
left it and the watermark where it was.

:class:`StartListSync` first gives the pipeline what the cache already holds (names show
up at once, even offline), then refreshes incrementally every ``interval`` seconds and
pushes only what changed. A participant removed upstream is removed from the cache; the
engine has no call that drops a name but keeps the results, so the bib is re-added with
an empty Participant (bib and race only): the row stays (with any times), the name goes.
When a race appears in the engine later (the timing source loads it after us), the cached
participants of that race are pushed then.
"""

from __future__ import annotations

import asyncio
import logging
import time

from racetui.engine import ChangeSet
from racetui.model import Participant
from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode
from racetui.sources.startlist.cache import StartListCache, SyncOutcome
from racetui.sources.startlist.common import CredentialsError, StartListError, StartListFetcher

__all__ = ["StartListSync", "full_due", "push_outcome", "sync_once"]

log = logging.getLogger(__name__)


def full_due(fetcher: StartListFetcher, cache: StartListCache, *, now: float | None = None) -> bool:
    """Whether the next sync of this list is a full one: never synced, never recorded
    complete, ``full_every`` incremental syncs since the last full one, or the last full
    one older than ``full_after`` seconds. Read from the cache, so the schedule survives
    restarts (each CLI run counts as one sync)."""
    info = cache.sync_info(fetcher.source, fetcher.key)
    if info is None or info.watermark is None or info.full_at is None:
        return True
    every = getattr(fetcher, "full_every", 0)
    after = getattr(fetcher, "full_after", 0.0)
    if every > 0 and info.since_full + 1 >= every:
        return True
    return bool(after > 0 and (time.time() if now is None else now) - info.full_at >= after)


async def sync_once(
    fetcher: StartListFetcher, cache: StartListCache | None = None, *, full: bool = False
) -> SyncOutcome:
    """Fetch (incrementally from the cached watermark; everything with ``full``, on the
    first sync, or when the schedule says a full pass is due - see :func:`full_due`) and
    commit in one transaction. Raises :class:`StartListError` (and then nothing was
    written)."""
    cache = cache or StartListCache()
    full = full or await asyncio.to_thread(full_due, fetcher, cache)
    watermark = None if full else await asyncio.to_thread(cache.watermark, fetcher.source, fetcher.key)
    fetched = await fetcher.fetch(watermark)
    for problem in fetched.problems:
        log.warning("%s: skipped %s", fetcher.label, problem)
    return await asyncio.to_thread(
        cache.apply,
        fetcher.source,
        fetcher.key,
        fetched,
        label=fetcher.label,
        container=getattr(fetcher, "container", ""),
        wanted=tuple(getattr(fetcher, "wanted", ())),
        target=getattr(fetcher, "race_id", None),
    )


def push_outcome(pipeline: Pipeline, outcome: SyncOutcome) -> tuple[ChangeSet, int]:
    """Tell the pipeline what one sync changed: names cleared first, then the current ones.

    Only races the engine holds are pushed (a race loaded later gets its names then, see
    :class:`StartListSync`); returns the change set and how many were held back.
    """
    known = set(pipeline.engine.races)
    changes = ChangeSet()
    cleared = [Participant(bib=bib, race_id=race) for race, bib in outcome.cleared if race in known]
    current = [p for p in outcome.participants if p.race_id in known]
    if cleared:
        changes.merge(pipeline.add_participants(cleared))
    if current:
        changes.merge(pipeline.add_participants(current))
    held = len(outcome.cleared) + len(outcome.participants) - len(cleared) - len(current)
    return changes, held


class StartListSync:
    """A background start-list refresh, implementing the ``Source`` protocol."""

    def __init__(
        self,
        fetcher: StartListFetcher,
        *,
        cache: StartListCache | None = None,
        interval: float = 60.0,
        name: str | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.cache = cache or StartListCache()
        self.interval = interval
        self.name = name or fetcher.label
        self.health = SourceHealth(
            name=self.name, mode=SourceMode.POLLING, stale_after=max(10.0, interval * 2.5)
        )
        self.last_outcome: SyncOutcome | None = None
        self.syncs = 0
        self._wake = asyncio.Event()
        self._new_races: set[str] = set()
        self._pipeline: Pipeline | None = None

    # ------------------------------------------------------------- the source
    async def run(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        pipeline.listeners.append(self._on_change)
        try:
            await self._push_cached(pipeline, None)
            while True:
                await self.refresh(pipeline)
                await self._sleep(pipeline)
        finally:
            if self._on_change in pipeline.listeners:
                pipeline.listeners.remove(self._on_change)
            self.health.state = FeedState.STOPPED
            try:
                await self.fetcher.aclose()
            except Exception:  # closing a client must not mask the cancellation
                log.debug("%s: close failed", self.name, exc_info=True)

    async def refresh(self, pipeline: Pipeline, *, full: bool = False) -> SyncOutcome | None:
        """One sync now; the error (never raised) lands in :attr:`health`."""
        try:
            outcome = await sync_once(self.fetcher, self.cache, full=full)
        except CredentialsError as exc:
            self.health.error(str(exc))
            log.error("%s", exc)
            return None
        except StartListError as exc:
            self.health.error(str(exc))
            self.health.reconnects += 1
            log.warning("%s", exc)
            return None
        self.syncs += 1
        self.last_outcome = outcome
        self.health.received()
        self.health.last_error = None
        changes, held = push_outcome(pipeline, outcome)
        if held:
            log.info("%s: %d participants wait for their race to be loaded", self.name, held)
        if changes.errors:
            self.health.reject(f"{len(changes.errors)} start-list entries not applied: {changes.errors[0]}")
        if outcome.skipped:
            self.health.rejected += outcome.skipped
        return outcome

    # -------------------------------------------------------------- internals
    def _on_change(self, changes: ChangeSet) -> None:
        """A race whose setup changed may be one we hold names for: push them (later, from
        the run loop, not from inside another source's apply)."""
        if changes.structure:
            self._new_races |= changes.structure
            self._wake.set()

    async def _push_cached(self, pipeline: Pipeline, races: set[str] | None) -> None:
        mine = await asyncio.to_thread(self.cache.entries, self.fetcher.source, self.fetcher.key)
        wanted = {e.race_id for e in mine} if races is None else {e.race_id for e in mine} & races
        wanted &= set(pipeline.engine.races)
        if not wanted:
            return
        bibs = {(e.race_id, e.bib) for e in mine}
        participants: list[Participant] = []
        for race in sorted(wanted):
            found = await asyncio.to_thread(self.cache.participants, race)
            participants.extend(p for p in found if (p.race_id, p.bib) in bibs)
        if participants:
            pipeline.add_participants(participants)

    async def _sleep(self, pipeline: Pipeline) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.interval
        while (remaining := deadline - loop.time()) > 0:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=remaining)
            except TimeoutError:
                return
            self._wake.clear()
            races, self._new_races = self._new_races, set()
            if races:
                await self._push_cached(pipeline, races)
