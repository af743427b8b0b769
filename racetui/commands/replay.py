"""``racetui replay PATH``: play a recorded journal through the dashboard."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a journal (.jsonl.gz) recorded by connect or feed")
    parser.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="playback speed (1 = real time, 0 = at once)"
    )
    parser.add_argument("--theme", metavar="NAME", help="racetui-dark, racetui-light, high-contrast, …")
    from racetui.commands.dashboard_options import add_dashboard_arguments

    add_dashboard_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from racetui.sources.build import SourceKind, build_source
    from racetui.tui.launch import run_dashboard

    if not args.speed >= 0:
        print(f"racetui replay: --speed: expected a number >= 0, got {args.speed}", file=sys.stderr)
        return 2
    try:
        source = build_source(SourceKind.REPLAY, args.path, speed=args.speed)
    except ValueError as exc:
        print(f"racetui replay: {exc}", file=sys.stderr)
        return 2
    return run_dashboard(args, lambda _config: [source], command="replay")
