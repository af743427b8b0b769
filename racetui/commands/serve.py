"""``racetui serve -- COMMAND …``: the dashboard in a web browser (textual-serve).

Every browser tab runs its own ``racetui COMMAND …`` (``demo``, ``connect``, ``feed`` or
``replay``) behind a local web server: ``racetui serve --port 8000 -- demo --athletes 2000``.
"""

from __future__ import annotations

import argparse
import shlex
import sys

__all__ = ["DASHBOARD_COMMANDS", "add_arguments", "build_command", "run"]

DASHBOARD_COMMANDS = ("demo", "connect", "feed", "replay")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="localhost", help="address to listen on (default: localhost)")
    parser.add_argument("--port", type=int, default=8000, metavar="P", help="port (default: 8000)")
    parser.add_argument("--public-url", default=None, help="the URL browsers use, behind a proxy")
    parser.add_argument(
        "target",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND …",
        help="the dashboard command to serve, e.g. -- demo --athletes 2000",
    )


def build_command(target: list[str], config: str | None = None) -> str:
    """The shell command textual-serve runs for each browser session."""
    args = list(target)
    if args and args[0] == "--":
        args = args[1:]
    if not args or args[0] not in DASHBOARD_COMMANDS:
        raise ValueError(
            f"expected one of {', '.join(DASHBOARD_COMMANDS)} after --, got {' '.join(args) or 'nothing'!r}"
        )
    prefix = [sys.executable, "-m", "racetui"]
    if config:
        prefix += ["--config", config]
    return shlex.join(prefix + args)


def run(args: argparse.Namespace) -> int:
    try:
        command = build_command(args.target, getattr(args, "config", None))
    except ValueError as exc:
        print(f"racetui serve: {exc}", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"racetui serve: --port: expected 1 to 65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        from textual_serve.server import Server
    except ImportError:
        print("racetui serve: textual-serve is not installed (pip install 'racetui[serve]')", file=sys.stderr)
        return 2
    server = Server(command, host=args.host, port=args.port, title="racetui", public_url=args.public_url)
    try:
        server.serve()
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"racetui serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
