"""racetui's one entry point.

Every subcommand lives in ``racetui/commands/<name>.py`` with two functions:
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import nothing heavy
at module level (in particular never Textual), so ``racetui --help`` and the headless
commands (``export``, ``publish``, ``sim``) never load the UI.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from racetui import __version__
from racetui.commands import (
    connect,
    demo,
    desk,
    export,
    feed,
    hub,
    publish,
    replay,
    serve,
    sim,
    startlist,
    view,
)
from racetui.util.secrets import install_log_filter

# name -> (module, help line)
COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "demo": (demo, "run the live dashboard on the embedded race simulator"),
    "sim": (sim, "run only the race simulator (BBT API, push, v1.1 feeds) and print its URLs"),
    "connect": (connect, "open the dashboard on a BBT master: racetui connect http://host[:port]"),
    "feed": (feed, "open the dashboard on a World Triathlon v1.1 feed (URL or file)"),
    "replay": (replay, "play a recorded journal through the dashboard"),
    "export": (export, "print the current standings as csv, json or a v1.1 message, and exit"),
    "publish": (publish, "publish results to World Triathlon or OpenTrack, headless"),
    "serve": (serve, "serve the dashboard to a web browser (textual-serve)"),
    "startlist": (startlist, "import a start list from RaceEntry or ChronoTrack Live"),
    "hub": (hub, "own the timing connection and stream it to many viewers through Redis"),
    "desk": (desk, "print the incident desk's penalty board, violation report or announcer's lines"),
    "view": (view, "open the dashboard as a read-only viewer of a hub: racetui view redis://host/0"),
}


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, so ``--help`` answers "what if I leave it out".

    Like :class:`argparse.ArgumentDefaultsHelpFormatter`, minus the noise: no
    ``(default: None)`` or ``(default: False)`` on flags and unset options, and nothing
    added where the help already says its default.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default == []
            or default == argparse.SUPPRESS
            or not action.option_strings
            or isinstance(action, argparse.BooleanOptionalAction)
        ):
            return action.help
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="racetui",
        formatter_class=DefaultsHelpFormatter,
        description="A terminal dashboard for live race monitoring: leaderboards, splits, race clocks, "
        "incidents; publishes results to World Triathlon and OpenTrack.",
    )
    parser.add_argument("--version", action="version", version=f"racetui {__version__}")
    parser.add_argument("--config", help="config file (default: $RACETUI_CONFIG or the platform config dir)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_line) in COMMANDS.items():
        child = sub.add_parser(
            name, help=help_line, description=help_line, formatter_class=DefaultsHelpFormatter
        )
        module.add_arguments(child)
        child.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_log_filter()  # after the handlers exist: no record reaches one with a secret
    if not args.command:
        parser.print_help()
        return 2
    try:
        result: int = args._module.run(args)
        return result
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
