"""Options every dashboard command (``demo``, ``connect``, ``feed``, ``replay``) shares:
publishing from the dashboard and names from the local start-list cache.

Only the arguments live here: the dashboard turns them into a
:class:`racetui.publish.session.Publishing` (``PublishingOptions.from_args``) and a
:class:`racetui.sources.startlist.cached.CachedStartList`.

    --publish-triathlon [--api-url URL | --file PATH] [--no-sandbox] [--event-id ID]
        [--prog RACE=PROGID ...]
    --publish-opentrack [--competition URL] [--event RACE=EVENTID ...]
    --startlist
    --role timer|commentator|td  --operator NAME

Secrets (the Triathlon apikey, OpenTrack token or password) come from the environment or
the config (:func:`racetui.config.load_config`), never from the command line.
"""

from __future__ import annotations

import argparse

__all__ = ["add_dashboard_arguments", "add_session_arguments"]

ROLES = ("timer", "commentator", "td")  # racetui.config.Role's values (not imported: no cost)


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """Who is at the keyboard: ``--role`` and ``--operator`` (the dashboard and ``view``)."""
    who = parser.add_argument_group("who is at the keyboard")
    who.add_argument(
        "--role",
        choices=ROLES,
        default=None,
        help="timer: publishing, DNS/DNF/LAP; commentator: read-only; td: the incident desk "
        "(default: RACETUI_ROLE or config role; none: everything allowed)",
    )
    who.add_argument(
        "--operator",
        metavar="NAME",
        default=None,
        help="the official's name the desk records with every entry (default: config operator, "
        "else the login name)",
    )


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    add_session_arguments(parser)
    pub = parser.add_argument_group("publishing (the Publish screen, key 6)")
    pub.add_argument(
        "--publish-triathlon",
        action="store_true",
        help="publish World Triathlon Live Timing v1.1 (apikey: RACETUI_TRIATHLON_APIKEY or the config)",
    )
    where = pub.add_mutually_exclusive_group()
    where.add_argument("--api-url", metavar="URL", help="POST endpoint (default: triathlon.api_url)")
    where.add_argument(
        "--file",
        metavar="PATH",
        help="hosted-file delivery: write each message to PATH ({prog_id}/{race_id})",
    )
    pub.add_argument(
        "--sandbox",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the v1.1 sandbox flag (default: on, or triathlon.sandbox); toggled on the Publish screen",
    )
    pub.add_argument("--event-id", help="World Triathlon event_id (default: triathlon.event_id)")
    pub.add_argument(
        "--prog",
        action="append",
        default=[],
        metavar="RACE=PROGID",
        help="a race's World Triathlon prog_id (repeatable; default: triathlon.programs)",
    )
    pub.add_argument(
        "--publish-opentrack",
        action="store_true",
        help="upload to OpenTrack (RACETUI_OPENTRACK_TOKEN, or _USERNAME and _PASSWORD)",
    )
    pub.add_argument("--competition", metavar="URL", help="OpenTrack competition URL")
    pub.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="RACE=EVENTID",
        help="a race's OpenTrack event id (repeatable; default: opentrack.events)",
    )
    pub.add_argument("--http-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    pub.add_argument(
        "--backoff", type=float, nargs=2, default=(1.0, 60.0), metavar=("BASE", "CAP"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--startlist",
        action="store_true",
        help="names, gender, age and category by bib from the local start-list cache (racetui startlist)",
    )
    parser.add_argument(
        "--notes",
        metavar="PATH",
        help="athlete cards: a CSV or TOML notes file by bib or athlete id (default: cards.notes)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the timing connection inside the dashboard's own process instead of its hub "
        "(slower screens on big races; for debugging)",
    )
