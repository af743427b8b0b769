"""The dashboard's race-day start-list fixes, without the UI: queue a change in the durable
outbox, show it at once (the cache marks it pending and the names go to the pipeline), and
deliver it with the services' writers; a refusal puts the names back as they were.

Built by the command that starts the dashboard (it holds the credentials and the clients)
and handed to :class:`~racetui.tui.app.RaceApp` as ``startlists``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from racetui.model import Participant
from racetui.publish.outbox import ItemState, Outbox, OutboxItem, PublishService
from racetui.publish.startlist import TARGETS, StartListSender, queue_change
from racetui.sources.base import Pipeline
from racetui.sources.startlist.cache import PendingWrites, StartListCache, SyncInfo
from racetui.sources.startlist.common import StartEntry
from racetui.sources.startlist.sync import push_outcome
from racetui.sources.startlist.writeback import Change, StartListWriter, prepare
from racetui.util.secrets import safe_url

__all__ = ["StartListChanges"]

log = logging.getLogger(__name__)


class StartListChanges:
    """Race-day changes from the dashboard, for the services that have a writer."""

    def __init__(
        self,
        writers: Mapping[str, StartListWriter],
        *,
        outbox: Outbox,
        cache: StartListCache | None = None,
        service: PublishService | None = None,
    ) -> None:
        self.writers = dict(writers)
        self.cache = cache or StartListCache()
        self.outbox = outbox
        # Given the publishing's service, that one delivers (it runs once, in the app).
        self._own_service = service is None
        self.service = service or PublishService(outbox, poll_interval=0.25)
        for source, writer in self.writers.items():
            self.service.add_sender(StartListSender(source, writer))
        self.service.listeners.append(self._settled)
        self.name = "start-list changes"
        self._pipeline: Pipeline | None = None

    # ------------------------------------------------------------ reading
    def lists(self) -> list[SyncInfo]:
        """The cached lists of the services we can write to."""
        return [s for s in self.cache.syncs() if s.source in self.writers]

    def entries_by_list(self, race_id: str | None) -> list[tuple[SyncInfo, StartEntry]]:
        out: list[tuple[SyncInfo, StartEntry]] = []
        for info in self.lists():
            for entry in self.cache.entries(info.source, info.source_key):
                if race_id is None or entry.race_id == race_id:
                    out.append((info, entry))
        return out

    # ------------------------------------------------------------ writing
    async def submit(self, pipeline: Pipeline, **what: Any) -> tuple[Change, OutboxItem]:
        """Queue one change (``writeback.prepare``'s arguments), show it at once, wake the
        delivery. ``ValueError`` names what is wrong (nothing queued)."""
        self._pipeline = pipeline
        source = what.get("source")
        if source not in self.writers:
            raise ValueError(f"no credentials for {source}: this dashboard cannot write to it")
        change, entry = await asyncio.to_thread(prepare, self.cache, **what)
        writer = self.writers[change.source]
        item = queue_change(
            self.service,
            source=change.source,
            key=change.key,
            body=change.to_json(),
            summary=change.describe(),
            url=safe_url(writer.destination()),
            meta={
                "action": change.action,
                "list_key": change.list_key,
                "entry_id": change.entry_id,
                "race_id": entry.race_id,
                "bib": entry.bib,
            },
        )
        outcome = await asyncio.to_thread(
            PendingWrites(self.cache).stage, change.source, change.list_key, entry
        )
        push_outcome(pipeline, outcome)
        return change, item

    async def run(self, pipeline: Pipeline) -> None:
        """Deliver until cancelled (unless the publishing's service does)."""
        self._pipeline = pipeline
        if self._own_service:
            await self.service.run()
            return
        await asyncio.Event().wait()

    def close(self) -> None:
        """Close the outbox if it is ours (the publishing closes its own)."""
        if self._own_service:
            self.outbox.close()

    def _settled(self, item: OutboxItem) -> None:
        """A change answered: the cache changed (ids, or a refusal undone); push the names
        of the races it touched again."""
        if item.target not in TARGETS.values() or not item.settled or self._pipeline is None:
            return
        pipeline = self._pipeline
        races = {e.race_id for e in self.cache.entries()} & set(pipeline.engine.races)

        async def push() -> None:
            participants: list[Any] = []
            if item.state is ItemState.FAILED and item.meta.get("action") == "add":
                # a refused walk-up entry: its name goes again (the bib keeps any times)
                race, bib = item.meta.get("race_id"), item.meta.get("bib")
                if race in pipeline.engine.races and bib:
                    participants.append(Participant(bib=str(bib), race_id=str(race)))
            for race in sorted(races):
                participants += await asyncio.to_thread(self.cache.participants, race)
            if participants:
                pipeline.add_participants(participants)

        try:
            asyncio.get_running_loop().create_task(push())
        except RuntimeError:  # no loop (a test outside the dashboard)
            log.debug("start-list change settled outside a loop")
