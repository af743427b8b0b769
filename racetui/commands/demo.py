"""``racetui demo``: the live dashboard on the race simulator, in one process.

The simulator serves a BBT master's API (REST + WebSocket push) on a free loopback port and
the dashboard connects to it through the same BBT client as ``racetui connect``: what you
see in the demo is exactly what a real connection shows.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import datetime, timedelta
from typing import Any

__all__ = ["SimulatedBBT", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind", choices=["road", "triathlon", "relay"], default="triathlon", help="race kind"
    )
    parser.add_argument(
        "--athletes", type=int, default=None, metavar="N", help="entries (default: the kind's)"
    )
    parser.add_argument("--speed", type=float, default=1.0, metavar="X", help="race time per real second")
    parser.add_argument("--seed", type=int, default=1, metavar="N", help="same seed, same race")
    parser.add_argument("--countdown", type=float, default=15.0, metavar="S", help="seconds to the first gun")
    parser.add_argument("--theme", metavar="NAME", help="racetui-dark, racetui-light, high-contrast, …")
    from racetui.commands.dashboard_options import add_dashboard_arguments

    add_dashboard_arguments(parser)


class SimulatedBBT:
    """A source that starts the simulator, then feeds the pipeline through ``BBTSource``."""

    def __init__(self, sim_config: Any) -> None:
        from racetui.sources.base import SourceHealth, SourceMode

        self.sim_config = sim_config
        self.name = "demo"
        self.url: str | None = None
        self.sim: Any = None
        self.bbt: Any = None
        self._health = SourceHealth("demo", mode=SourceMode.PUSH)
        self._anchor: tuple[float, float] | None = None  # (wall, event) seconds, from the hub

    @property
    def health(self) -> Any:
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

    def follow_clock(self, clock: Any) -> None:
        """In the dashboard: the hub's word on the simulator's time (``records.Clock``)."""
        self._anchor = (clock.wall, clock.event)

    async def run(self, pipeline: Any) -> None:
        from racetui.sim.server import running_sim
        from racetui.sources.bbt import BBTSource

        async with running_sim(self.sim_config, host="127.0.0.1", port=0) as sim:
            self.sim = sim
            self.url = sim.base_url
            self.bbt = BBTSource(sim.base_url, poll=False, name="demo")
            await self.bbt.run(pipeline)


def _missing() -> str | None:
    try:
        from racetui.sim.config import SimConfig  # noqa: F401
        from racetui.sim.server import running_sim  # noqa: F401
        from racetui.sources.bbt import BBTSource  # noqa: F401
    except (ImportError, AttributeError) as exc:
        return str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    missing = _missing()
    if missing is not None:
        print(
            f"racetui demo: not available yet (the simulator or the BBT client is missing: {missing})",
            file=sys.stderr,
        )
        return 2
    from racetui.sim.config import SimConfig, SimConfigError
    from racetui.tui.launch import run_dashboard

    try:
        sim_config = SimConfig(
            kind=args.kind, athletes=args.athletes, seed=args.seed, speed=args.speed, countdown=args.countdown
        ).validate()
    except SimConfigError as exc:
        print(f"racetui demo: {exc}", file=sys.stderr)
        return 2

    source = SimulatedBBT(sim_config)

    def sources(_config: Any) -> list[Any]:
        return [source]

    with contextlib.suppress(KeyboardInterrupt):
        # The dashboard's clock is the simulator's own: no master-clock correction on top.
        return run_dashboard(args, sources, command="demo", clock=source.clock, master_offset=False)
    return 130
