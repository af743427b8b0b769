"""``racetui connect URL``: the dashboard on a BBT master (push, or polling with ``--poll``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from racetui.config import Config
    from racetui.sources.base import Source

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the BBT master's web server, e.g. http://192.168.1.20")
    parser.add_argument("--poll", action="store_true", help="poll the REST API instead of WebSocket push")
    parser.add_argument(
        "--interval", type=float, default=None, metavar="S", help="polling interval (seconds)"
    )
    parser.add_argument("--no-journal", action="store_true", help="do not record received messages")
    parser.add_argument("--theme", metavar="NAME", help="racetui-dark, racetui-light, high-contrast, …")
    from racetui.commands.dashboard_options import add_dashboard_arguments

    add_dashboard_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from racetui.sources.build import SourceKind, build_source
    from racetui.tui.launch import run_dashboard

    if args.interval is not None and args.interval <= 0:
        print(
            f"racetui connect: --interval: expected more than 0 seconds, got {args.interval}", file=sys.stderr
        )
        return 2

    def sources(config: Config) -> list[Source]:
        source = build_source(
            SourceKind.BBT,
            args.url,
            config,
            poll=args.poll,
            interval=args.interval,
            journal=not args.no_journal,
        )
        return [source]

    return run_dashboard(args, sources, command="connect")
