"""``racetui demo``: the live dashboard on the race simulator, in one process.

The simulator serves a BBT master's API (REST + WebSocket push) on a free loopback port and
the dashboard connects to it through the same BBT client as ``racetui connect``
(:class:`racetui.sim.source.SimulatedBBT`): what you see in the demo is exactly what a real
connection shows.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

__all__ = ["add_arguments", "run"]


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


def run(args: argparse.Namespace) -> int:
    from racetui.sim.config import SimConfig, SimConfigError
    from racetui.sim.source import SimulatedBBT
    from racetui.tui.launch import run_dashboard

    try:
        sim_config = SimConfig(
            kind=args.kind, athletes=args.athletes, seed=args.seed, speed=args.speed, countdown=args.countdown
        ).validate()
    except SimConfigError as exc:
        print(f"racetui demo: {exc}", file=sys.stderr)
        return 2

    source = SimulatedBBT(sim_config)

    with contextlib.suppress(KeyboardInterrupt):
        # The dashboard's clock is the simulator's own: no master-clock correction on top.
        return run_dashboard(
            args, lambda _config: [source], command="demo", clock=source.clock, master_offset=False
        )
    return 130
