"""``racetui demo``: the live dashboard on the race simulator, in one process.

The simulator serves a BBT master's API (REST + WebSocket push) on a free loopback port and
the dashboard connects to it through the same BBT client as ``racetui connect``
(:class:`racetui.sim.source.SimulatedBBT`): what you see in the demo is exactly what a real
connection shows.

A new user judges racetui in its first minute, so by default the demo opens on an event
already under way (``--kind event``): a triathlon out on the bike with penalties being
given, a 10 km road race passing its splits, and a mixed relay that starts a few minutes
later, all at ``--speed 3``. ``--skip 0`` starts before the first gun instead.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from racetui.sim.config import SimConfig

__all__ = ["DEMO_SKIP_MINUTES", "add_arguments", "demo_config", "run"]

# Minutes after the first gun the demo opens at, per kind: where something is happening.
# event: the triathlon is on the bike (a penalty is given at 33.5 min), the 10 km has
# passed its first splits and the relay starts at 45 min; road (a marathon): the leaders
# are past 5 km; triathlon: on the bike; relay: the first leg is out.
DEMO_SKIP_MINUTES: dict[str, float] = {"event": 32.0, "road": 20.0, "triathlon": 32.0, "relay": 6.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind",
        choices=["event", "road", "triathlon", "relay"],
        default="event",
        help="event: a triathlon, a 10 km road race and a relay later; or one race of that kind",
    )
    parser.add_argument(
        "--athletes",
        type=int,
        default=None,
        metavar="N",
        help="entries of the first race (default: the kind's)",
    )
    parser.add_argument("--speed", type=float, default=3.0, metavar="X", help="race time per real second")
    parser.add_argument(
        "--skip",
        type=float,
        default=None,
        metavar="MIN",
        help="open this many minutes after the first gun; 0 = before the start "
        f"(default: event {DEMO_SKIP_MINUTES['event']:g}, road {DEMO_SKIP_MINUTES['road']:g}, "
        f"triathlon {DEMO_SKIP_MINUTES['triathlon']:g}, relay {DEMO_SKIP_MINUTES['relay']:g})",
    )
    parser.add_argument("--seed", type=int, default=1, metavar="N", help="same seed, same race")
    parser.add_argument(
        "--countdown", type=float, default=15.0, metavar="S", help="seconds to the first gun (with --skip 0)"
    )
    parser.add_argument("--theme", metavar="NAME", help="racetui-dark, racetui-light, high-contrast, …")
    from racetui.commands.dashboard_options import add_dashboard_arguments

    add_dashboard_arguments(parser)


def demo_config(args: argparse.Namespace) -> tuple[SimConfig, float]:
    """The simulator config and the event seconds to skip for the demo's options.

    Raises :class:`~racetui.sim.config.SimConfigError` naming a bad option.
    """
    from racetui.sim.config import RaceSpec, SimConfig, SimConfigError

    skip_min = DEMO_SKIP_MINUTES[args.kind] if args.skip is None else args.skip
    if not 0 <= skip_min <= 24 * 60:
        raise SimConfigError(f"skip: expected 0 to 1440 minutes, got {skip_min:g}")
    races: tuple[RaceSpec, ...] = ()
    kind = args.kind
    if kind == "event":
        races = (
            RaceSpec("triathlon", entries=args.athletes, start_after_s=0.0),
            RaceSpec("10k", entries=600, start_after_s=600.0),
            RaceSpec("relay", entries=16, start_after_s=45 * 60.0),
        )
        kind = "triathlon"
    config = SimConfig(
        kind=kind,
        athletes=args.athletes,
        races=races,
        seed=args.seed,
        speed=args.speed,
        countdown=args.countdown,
    ).validate()
    skip_s = args.countdown + skip_min * 60 if skip_min > 0 else 0.0
    return config, skip_s


def run(args: argparse.Namespace) -> int:
    from racetui.sim.config import SimConfigError
    from racetui.sim.source import SimulatedBBT
    from racetui.tui.launch import run_dashboard

    try:
        sim_config, skip_s = demo_config(args)
    except SimConfigError as exc:
        print(f"racetui demo: {exc}", file=sys.stderr)
        return 2

    source = SimulatedBBT(sim_config, skip_s)

    with contextlib.suppress(KeyboardInterrupt):
        # The dashboard's clock is the simulator's own: no master-clock correction on top.
        return run_dashboard(
            args, lambda _config: [source], command="demo", clock=source.clock, master_offset=False
        )
    return 130
