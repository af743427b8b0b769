"""``racetui feed URL|PATH``: the dashboard on a World Triathlon v1.1 feed (polled)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a v1.1 message: an http(s) URL or a file path")
    parser.add_argument(
        "--interval", type=float, default=None, metavar="S", help="polling interval (seconds)"
    )
    parser.add_argument("--no-journal", action="store_true", help="do not record received messages")
    parser.add_argument("--theme", metavar="NAME", help="racetui-dark, racetui-light, high-contrast, …")
    from racetui.commands.dashboard_options import add_dashboard_arguments

    add_dashboard_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        from racetui.sources.feed import FeedSource, apikey_for
    except (ImportError, AttributeError) as exc:
        print(f"racetui feed: not available yet (the feed poller is missing: {exc})", file=sys.stderr)
        return 2
    from racetui.tui.launch import run_dashboard

    if args.interval is not None and args.interval <= 0:
        print(f"racetui feed: --interval: expected more than 0 seconds, got {args.interval}", file=sys.stderr)
        return 2

    def sources(config: Any) -> list[Any]:
        journal = None
        if not args.no_journal:
            from racetui.sources.journal import Journal

            journal = Journal.open_default("feed")
        interval = args.interval if args.interval is not None else config.sources.poll_interval
        return [
            FeedSource(
                args.target,
                interval=interval,
                headers=dict(config.sources.headers),
                apikey=apikey_for(args.target, config),
                journal=journal,
                stale_after=config.sources.stale_after,
            )
        ]

    return run_dashboard(args, sources, command="feed")
