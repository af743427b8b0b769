"""``racetui sim``: run only the race simulator (BBT API, push, v1.1 feeds) and print its URLs."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from racetui.sim import SimConfig

DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument(
        "--kind",
        default="road",
        help="one race: road (marathon), half, 10k, triathlon (standard), sprint or relay (default road)",
    )
    parser.add_argument(
        "--athletes", type=int, default=None, help="athletes in the race (relay: teams of four)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="race time per real time (1 = real time; up to 100000)"
    )
    parser.add_argument(
        "--countdown", type=float, default=60.0, help="seconds before the first gun (default 60)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same event")
    parser.add_argument(
        "--races",
        default=None,
        metavar="SPEC",
        help="several races: KIND[:ATHLETES][@START_MINUTES],... "
        "e.g. marathon:20000,10k:5000@30,sprint:300@45,relay:16@90",
    )
    parser.add_argument(
        "--skip",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="start this many seconds into the event (everything before it is applied at once)",
    )


def _config(args: argparse.Namespace) -> SimConfig:
    from racetui.sim import SimConfig, parse_races

    races = parse_races(args.races) if args.races else ()
    return SimConfig(
        kind=args.kind,
        athletes=args.athletes,
        races=races,
        seed=args.seed,
        speed=args.speed,
        countdown=args.countdown,
        clock="real",
    ).validate()


async def _serve(args: argparse.Namespace) -> int:
    from racetui.sim import running_sim

    config = _config(args)
    async with running_sim(config, host=args.host, port=args.port) as sim:
        if args.skip > 0:
            await sim.advance(args.skip)
        print(f"racetui sim: {sim.event.event.name} (seed {config.seed}, speed {config.speed:g}x)")
        for race in sim.event.races:
            gun = sim.event.time_of_day(race.gun_at_ms).isoformat(timespec="seconds")
            count = sum(1 for p in sim.event.participants if p.race_id == race.id)
            print(f"  race {race.number}: {race.name} ({race.kind.value}, {count} entries, gun {gun})")
        print(f"API base:  {sim.api_url}")
        print(f"push:      {sim.push_url}")
        for race_id in sim.feed_race_ids():
            print(f"v1.1 feed: {sim.feed_url(race_id)}")
        print("Ctrl-C stops.", flush=True)
        await sim.run_until_finished()
        print("every race is official; still serving. Ctrl-C stops.", flush=True)
        await asyncio.Event().wait()
    return 0


def run(args: argparse.Namespace) -> int:
    from racetui.sim import SimConfigError

    try:
        return asyncio.run(_serve(args))
    except SimConfigError as exc:
        print(f"racetui sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"racetui sim: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
