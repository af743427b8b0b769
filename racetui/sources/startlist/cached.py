"""Names for sources that only carry bibs: the local start-list cache as a source.

``racetui startlist`` fills the cache from RaceEntry or ChronoTrack; with ``--startlist`` a
dashboard runs :class:`CachedStartList` next to its timing source, and every race the
timing source loads gets its names, gender, age and category by bib from the cache.
"""

from __future__ import annotations

import asyncio

from racetui.engine import ChangeSet, Pipeline
from racetui.model import Participant
from racetui.sources.base import SourceHealth, SourceMode
from racetui.sources.startlist.cache import StartListCache

__all__ = ["CachedStartList"]


class CachedStartList:
    """A source that pushes names from the local start-list cache into the pipeline, for
    every race the timing source loads (names for sources that only carry bibs)."""

    def __init__(self, cache: StartListCache | None = None, *, interval: float = 0.5) -> None:
        self.cache = cache
        self.interval = interval
        self.name = "start list (cache)"
        self.health = SourceHealth(self.name, mode=SourceMode.FILE)
        self.pushed: set[str] = set()

    async def run(self, pipeline: Pipeline) -> None:
        cache = self.cache or StartListCache()
        pipeline.listeners.append(self._on_change)
        try:
            while True:
                await self._push(pipeline, cache)
                await asyncio.sleep(self.interval)
        finally:
            if self._on_change in pipeline.listeners:
                pipeline.listeners.remove(self._on_change)

    def _on_change(self, changes: ChangeSet) -> None:
        # a race set up again (its entries reloaded by the timing source): push its names again
        self.pushed -= set(changes.structure)

    async def _push(self, pipeline: Pipeline, cache: StartListCache) -> None:
        fresh = set(pipeline.engine.races) - self.pushed
        if not fresh:
            return
        participants: list[Participant] = []
        for race_id in sorted(fresh):
            participants += await asyncio.to_thread(cache.participants, race_id)
        if participants:
            pipeline.add_participants(participants)
        self.pushed |= fresh  # after our own change set: it must not ask for a re-push
        self.health.received()
