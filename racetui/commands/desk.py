"""``racetui desk``: the incident desk's outputs for the officials, headless.

    racetui desk report [--event TEXT] [--race ID] [--format text|csv]
                        [--what board|violations|announcer]
    racetui desk events

* ``board`` (the default): the finish-board list, bibs with penalties still to serve per
  penalty box, ×N when several are queued.
* ``violations``: the violation report (bib, name, rule, time, location, official,
  decision, who decided and why), declined and withdrawn ones included.
* ``announcer``: the announcer's lines, confirmed entries only, in the Standard Incident
  Guidelines wording.

Everything comes from the desk's database in the data dir (``incidents.sqlite3``) and,
for names, the start-list cache (``startlists.sqlite3``) if there is one: no live
connection is needed. ``--event`` picks the event by any part of its text (its id, name or
date; ``racetui desk events`` lists them); without it, the event recorded last. Text times
are the computer's local time of day; CSV times are ISO 8601 with their offset.
"""

from __future__ import annotations

import argparse
import csv
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from racetui.sources.desk import IncidentDesk

WHAT = ("board", "violations", "announcer")
TITLES = {"board": "Penalty board", "violations": "Violation report", "announcer": "Announcer's lines"}


class DeskCommandError(Exception):
    """One line for stderr; exit status 2 for a bad choice, 1 otherwise."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="desk_command", metavar="COMMAND", required=True)
    report = sub.add_parser(
        "report", help="print the penalty board, the violation report or the announcer's lines"
    )
    report.add_argument("--event", metavar="TEXT", help="the event (part of its id, name or date)")
    report.add_argument("--race", metavar="ID", help="only this race")
    report.add_argument("--format", choices=("text", "csv"), default="text", help="output format")
    report.add_argument("--what", choices=WHAT, default="board", help="which report")
    sub.add_parser("events", help="list the events the desk holds entries of")


def _open_desk() -> IncidentDesk:
    from racetui.config import data_dir, load_config
    from racetui.sources.desk import IncidentDesk

    path = data_dir() / "incidents.sqlite3"
    if not path.exists():
        raise DeskCommandError(f"no incident desk yet: {path} does not exist")
    config = load_config()
    return IncidentDesk(path, operator=config.operator, settings=config.desk)


def _pick_event(desk: IncidentDesk, wanted: str | None) -> str:
    events = [e for e in desk.events() if e]
    if not events:
        raise DeskCommandError("the incident desk holds no entries of any event")
    if wanted is None:
        return events[-1]
    found = [e for e in events if wanted.casefold() in e.casefold()]
    if len(found) == 1:
        return found[0]
    listing = "; ".join(events)
    if not found:
        raise DeskCommandError(f"--event {wanted!r}: no such event on the desk (events: {listing})", 2)
    raise DeskCommandError(f"--event {wanted!r}: matches {len(found)} events ({'; '.join(found)})", 2)


def _names(race_id: str | None) -> dict[tuple[str, str], str]:
    from racetui.sources.startlist.cache import StartListCache
    from racetui.sources.startlist.common import StartListError

    try:
        participants = StartListCache().participants(race_id)
    except StartListError as exc:
        print(f"racetui desk: names: {exc}; bibs only", file=sys.stderr)
        return {}
    return {(p.race_id, p.bib): p.name for p in participants if p.name}


def report(args: argparse.Namespace) -> list[str] | list[list[str]]:
    """The report's lines (text) or rows (csv)."""
    from racetui.sources.desk import EventKey
    from racetui.sources.desk.reports import announcer, board, csv_rows, text_lines, violations

    desk = _open_desk()
    event = _pick_event(desk, args.event)
    desk.bind(EventKey.parse(event))
    entries = desk.history(args.race)
    if args.race is not None and not entries:
        races = ", ".join(sorted({e.race_id for e in desk.history()})) or "none"
        print(
            f"racetui desk: --race {args.race!r}: no desk entries (races with entries: {races})",
            file=sys.stderr,
        )
    names = _names(args.race)
    what = args.what
    if what == "board":
        rows = board(entries, names, desk.boxes)
    elif what == "violations":
        rows = violations(entries, names)  # type: ignore[assignment]
    else:
        rows = announcer(entries, names)  # type: ignore[assignment]
    if args.format == "csv":
        return csv_rows(rows, what)
    return text_lines(rows, what, title=f"{TITLES[what]} · {event}")


def run(args: argparse.Namespace) -> int:
    try:
        if args.desk_command == "events":
            for event in _open_desk().events():
                print(event or "(entries from before events were recorded)")
            return 0
        out = report(args)
    except DeskCommandError as exc:
        print(f"racetui desk: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:  # the database itself: one line, never a traceback
        import sqlite3

        from racetui.config import ConfigError

        if not isinstance(exc, sqlite3.Error | OSError | ConfigError):
            raise
        print(f"racetui desk: {exc}", file=sys.stderr)
        return 1
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows(out)
    else:
        for line in out:
            print(line)
    return 0
