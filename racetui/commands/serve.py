"""``racetui serve -- COMMAND …``: the dashboard in a web browser (textual-serve).

Every browser tab runs ``racetui COMMAND …`` behind a local web server. To share one timing
connection between many tabs, run a hub (``racetui hub SOURCE --redis URL``) and serve
viewers: ``racetui serve -- view redis://host:6379/0``; each tab is then a read-only viewer.
``-- demo``, ``-- connect`` … still work, each tab with its own connection (a rehearsal).

The page and its WebSocket need the per-server token of the printed URL, the WebSocket only
opens for a page of this server's own origin, and listening beyond loopback prints a
warning (:mod:`racetui.web.server`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

__all__ = ["DASHBOARD_COMMANDS", "MIN_TOKEN", "add_arguments", "build_command", "run"]

MIN_TOKEN = 16  # characters: a guessable token is no door

DASHBOARD_COMMANDS = ("view", "demo", "connect", "feed", "replay")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="localhost", help="address to listen on (default: localhost)")
    parser.add_argument("--port", type=int, default=8000, metavar="P", help="port (default: 8000)")
    parser.add_argument(
        "--public-url", default=None, metavar="URL", help="the URL browsers use, behind a proxy (https://…)"
    )
    parser.add_argument(
        "--token",
        default=None,
        help="the page's token (default: $RACETUI_SERVE_TOKEN, else a new random one each start)",
    )
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
    # exec: the shell becomes the dashboard, so ending a tab's process ends the dashboard.
    return "exec " + shlex.join(prefix + args)


def run(args: argparse.Namespace) -> int:
    try:
        command = build_command(args.target, getattr(args, "config", None))
    except ValueError as exc:
        print(f"racetui serve: {exc}", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"racetui serve: --port: expected 1 to 65535, got {args.port}", file=sys.stderr)
        return 2
    token = args.token or os.environ.get("RACETUI_SERVE_TOKEN") or None
    if token is not None and len(token) < MIN_TOKEN:
        print(f"racetui serve: --token: expected at least {MIN_TOKEN} characters", file=sys.stderr)
        return 2
    try:
        from racetui.web.server import DashboardServer, is_loopback
    except ImportError:
        print("racetui serve: textual-serve is not installed (pip install 'racetui[serve]')", file=sys.stderr)
        return 2
    from racetui.util.secrets import install_log_filter, register

    server = DashboardServer(
        command, host=args.host, port=args.port, token=token, public_url=args.public_url, title="racetui"
    )
    register(server.token)  # the printed URL is the one place it shows
    install_log_filter(["aiohttp", "aiohttp.access", "aiohttp.server", "aiohttp.web", "racetui.web"])
    beyond = not is_loopback(args.host)

    def ready(srv: DashboardServer) -> None:
        target = " ".join(args.target[1:] if args.target[:1] == ["--"] else args.target)
        print(f"racetui serve: serving `racetui {target}` on", flush=True)
        print(f"  {srv.local_url()}", flush=True)
        if beyond and not args.public_url:
            print(
                f"  (from other machines: this machine's name or address instead of localhost,"
                f" port {srv.bound_port})",
                flush=True,
            )
        if beyond:
            print(
                f"racetui serve: warning: listening on {args.host}, beyond this machine: anyone who can "
                "reach it and has the URL with its token can watch (and use the keys the served "
                "command allows); the connection is not encrypted unless a proxy adds https",
                file=sys.stderr,
                flush=True,
            )
        print("Press Ctrl+C to stop.", flush=True)

    try:
        server.serve(ready=ready)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"racetui serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
