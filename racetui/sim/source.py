"""The simulator as a timing source: ``racetui demo`` and rehearsals.

:class:`SimulatedBBT` starts the simulator on a free loopback port, then reads it through
the same BBT client as ``racetui connect`` (built by :func:`racetui.sources.build.build_source`):
what the demo shows is exactly what a real connection shows.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from racetui.engine import Pipeline
from racetui.sim.config import SimConfig
from racetui.sim.server import Sim, running_sim
from racetui.sources.base import SourceHealth, SourceMode
from racetui.sources.bbt import BBTSource
from racetui.sources.build import SourceKind, build_source

if TYPE_CHECKING:
    from racetui.hub.records import Clock

__all__ = ["SimulatedBBT"]


class SimulatedBBT:
    """A source that starts the simulator, then feeds the pipeline through ``BBTSource``."""

    def __init__(self, sim_config: SimConfig, skip_s: float = 0.0) -> None:
        self.sim_config = sim_config
        self.skip_s = skip_s  # event seconds applied at once before the client connects
        self.name = "demo"
        self.url: str | None = None
        self.sim: Sim | None = None
        self.bbt: BBTSource | None = None
        self._health = SourceHealth("demo", mode=SourceMode.PUSH)
        self._anchor: tuple[float, float] | None = None  # (wall, event) seconds, from the hub

    @property
    def health(self) -> SourceHealth:
        return self.bbt.health if self.bbt is not None else self._health

    def clock(self) -> datetime:
        """The simulator's event time (it runs ``--speed`` times faster than the wall clock)."""
        sim = self.sim
        if sim is None:
            if self._anchor is None:
                return datetime.now().astimezone()
            wall, event = self._anchor
            return datetime.fromtimestamp(event + (time.time() - wall) * self.sim_config.speed).astimezone()
        moment: datetime = sim.event.epoch + timedelta(milliseconds=sim.now_ms)
        return moment.astimezone()

    def clock_anchor(self) -> float | None:
        """In the hub: the simulator's event time now (unix seconds), for the dashboard."""
        return None if self.sim is None else self.clock().timestamp()

    def follow_clock(self, clock: Clock) -> None:
        """In the dashboard: the hub's word on the simulator's time (``records.Clock``)."""
        self._anchor = (clock.wall, clock.event)

    async def run(self, pipeline: Pipeline) -> None:
        async with running_sim(self.sim_config, host="127.0.0.1", port=0) as sim:
            if self.skip_s > 0:
                await sim.advance(self.skip_s)
            self.sim = sim
            self.url = sim.base_url
            self.bbt = build_source(SourceKind.BBT, sim.base_url, name="demo")
            await self.bbt.run(pipeline)
