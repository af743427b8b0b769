"""racetui's one entry point.

Every subcommand lives in ``racetui/commands/<name>.py`` with two functions:
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import nothing heavy
at module level (in particular never Textual), so ``racetui --help`` and the headless
commands (``export``, ``publish``, ``sim``) never load the UI.

A subcommand whose module does not exist yet says so and exits 2: no stub pretends.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from racetui import __version__

# name -> (help line, the issue that builds it)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("run the live dashboard on the embedded race simulator", "the simulator issue"),
    "sim": (
        "run only the race simulator (BBT API, push, v1.1 feeds) and print its URLs",
        "the simulator issue",
    ),
    "connect": (
        "open the dashboard on a BBT master: racetui connect http://host[:port]",
        "the sources issue",
    ),
    "feed": ("open the dashboard on a World Triathlon v1.1 feed (URL or file)", "the sources issue"),
    "replay": ("play a recorded journal through the dashboard", "the sources issue"),
    "export": ("print the current standings as csv, json or a v1.1 message, and exit", "the sources issue"),
    "publish": ("publish results to World Triathlon or OpenTrack, headless", "the publish issue"),
    "serve": ("serve the dashboard to a web browser (textual-serve)", "the dashboard issue"),
    "startlist": ("import a start list from RaceEntry or ChronoTrack Live", "the start-list issue"),
}


class CommandNotBuilt(Exception):
    pass


def _load(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"racetui.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"racetui.commands.{name}":
            raise CommandNotBuilt(name) from None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="racetui",
        description="A terminal dashboard for live race monitoring: leaderboards, splits, race clocks, "
        "incidents; publishes results to World Triathlon and OpenTrack.",
    )
    parser.add_argument("--version", action="version", version=f"racetui {__version__}")
    parser.add_argument("--config", help="config file (default: $RACETUI_CONFIG or the platform config dir)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_line, _issue) in COMMANDS.items():
        child = sub.add_parser(name, help=help_line, description=help_line)
        try:
            module = _load(name)
        except CommandNotBuilt:
            child.set_defaults(_built=False)
            child.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            continue
        module.add_arguments(child)
        child.set_defaults(_built=True, _module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.command:
        parser.print_help()
        return 2
    if not args._built:
        print(
            f"racetui {args.command}: not built yet ({COMMANDS[args.command][1]} builds it)",
            file=sys.stderr,
        )
        return 2
    try:
        result: int = args._module.run(args)
        return result
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
