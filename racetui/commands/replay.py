"""``racetui replay PATH``: play a recorded journal through the dashboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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
    try:
        from racetui.sources.replay import ReplaySource
    except (ImportError, AttributeError) as exc:
        print(f"racetui replay: not available yet (the replay source is missing: {exc})", file=sys.stderr)
        return 2
    from racetui.tui.launch import run_dashboard

    if not args.speed >= 0:
        print(f"racetui replay: --speed: expected a number >= 0, got {args.speed}", file=sys.stderr)
        return 2
    if not Path(args.path).is_file():
        print(f"racetui replay: {args.path}: no such journal file", file=sys.stderr)
        return 2

    def sources(_config: Any) -> list[Any]:
        return [ReplaySource(args.path, speed=args.speed)]

    return run_dashboard(args, sources, command="replay")
