"""``racetui view redis://host:port/db``: the dashboard as a viewer of a hub.

No timing connection of its own: the viewer loads the hub's snapshot, then follows its
stream (:mod:`racetui.hub.redis`). A viewer is read-only by default; ``--role td`` (the
whole desk) or ``--role timer`` (DNS, DNF, LAP) lets it send desk entries to the hub, which
records them in its desk database (:mod:`racetui.hub.redis_desk`); ``--role commentator``
(or none) refuses them on this screen. Publishing stays the hub's.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="URL", help="the hub's Redis: redis://host:port/db")
    parser.add_argument("--prefix", default="racetui", help="the hub's key prefix in Redis")
    parser.add_argument("--theme", metavar="NAME", help="racetui-dark, racetui-light, high-contrast, …")
    from racetui.commands.dashboard_options import add_session_arguments

    add_session_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from racetui.util.secrets import safe_url

    if not args.address.startswith(("redis://", "rediss://", "unix://")):
        print(f"racetui view: expected redis://host:port/db, got {safe_url(args.address)!r}", file=sys.stderr)
        return 2
    from racetui.tui.launch import run_viewer

    return run_viewer(args, args.address, prefix=args.prefix, command="view")
