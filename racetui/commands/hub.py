"""``racetui hub SOURCE… --redis redis://host:port/db``: one timing connection, many viewers.

The hub owns the timing connections (and their journals), applies them to its engine and
writes what changed to a Redis stream plus a snapshot (:mod:`racetui.hub.redis`); the
commentary booth, TV graphics, the technical delegates and the results desk each run
``racetui view redis://…`` (or browser tabs through ``racetui serve -- view redis://…``).

A SOURCE is ``bbt:URL`` (WebSocket push), ``poll:URL`` (BBT REST polling), ``feed:URL|FILE``
(a v1.1 message) or ``replay:JOURNAL``; a bare ``http(s)://`` URL is a BBT master.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_arguments", "parse_source", "run"]

_KINDS = ("bbt", "poll", "feed", "replay")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="bbt:URL, poll:URL, feed:URL|FILE or replay:JOURNAL"
    )
    parser.add_argument(
        "--redis", required=True, metavar="URL", help="where viewers read: redis://host:port/db"
    )
    parser.add_argument("--prefix", default="racetui", help="key prefix in Redis (one per hub)")
    parser.add_argument("--no-journal", action="store_true", help="do not record received messages")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed (0: at once)")
    parser.add_argument(
        "--no-desk", action="store_true", help="do not take desk entries from viewers (--role td|timer)"
    )


def parse_source(text: str) -> tuple[str, str]:
    """(kind, target) of a SOURCE argument; ValueError naming it otherwise."""
    kind, sep, target = text.partition(":")
    if sep and kind in _KINDS and target:
        return kind, target
    if text.startswith(("http://", "https://")):
        return "bbt", text
    raise ValueError(f"SOURCE {text!r}: expected bbt:URL, poll:URL, feed:URL|FILE or replay:JOURNAL")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from racetui.config import ConfigError, load_config
    from racetui.sources.build import SourceKind, build_source
    from racetui.util.secrets import safe_url

    if not args.redis.startswith(("redis://", "rediss://", "unix://")):
        print(
            f"racetui hub: --redis: expected redis://host:port/db, got {safe_url(args.redis)!r}",
            file=sys.stderr,
        )
        return 2
    try:
        config = load_config(getattr(args, "config", None))
        sources: list[Any] = []
        for index, text in enumerate(args.sources):
            kind, target = parse_source(text)
            name = kind if len(args.sources) == 1 else f"{kind}{index + 1}"
            sources.append(
                build_source(
                    SourceKind.BBT if kind == "poll" else SourceKind(kind),
                    target,
                    config,
                    poll=kind == "poll",
                    journal=not args.no_journal and kind != "replay",
                    speed=args.speed,
                    name=name,
                )
            )
    except (ConfigError, ValueError, OSError) as exc:
        print(f"racetui hub: {exc}", file=sys.stderr)
        return 2
    from racetui.hub.redis import run_hub

    desk = None
    if not args.no_desk:
        import sqlite3

        from racetui.sources.desk import IncidentDesk

        try:  # the hub owns the desk database: viewers with a role that may record ask it
            desk = IncidentDesk(operator=config.operator, settings=config.desk)
        except (OSError, sqlite3.Error) as exc:
            print(f"racetui hub: incident desk unavailable ({exc}): viewers cannot record", file=sys.stderr)

    print(
        f"racetui hub: {len(sources)} source(s) → {safe_url(args.redis)} (prefix {args.prefix}); "
        f"viewers: racetui view {safe_url(args.redis)}; Ctrl+C to stop",
        file=sys.stderr,
        flush=True,
    )
    try:
        asyncio.run(run_hub(sources, args.redis, prefix=args.prefix, desk=desk))
    except KeyboardInterrupt:
        pass
    finally:
        for source in sources:
            close = getattr(getattr(source, "journal", None), "close", None)
            if callable(close):
                close()
    return 0
