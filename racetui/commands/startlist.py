"""``racetui startlist``: import a start list from RaceEntry or ChronoTrack Live into the
local cache (``<data dir>/startlists.sqlite3``), list what is there, or list the remote
races/events to pick from.

    racetui startlist raceentry --race 21 [--event 16] [--race-id 10k] [--full]
    racetui startlist raceentry --list [--start-date 2026-04-01] [--end-date 2026-04-30]
    racetui startlist chronotrack --event 9001 [--race 77] [--race-id half] [--full]
    racetui startlist chronotrack --list [--event 9001]
    racetui startlist show [--race-id 10k]

Race-day fixes, written back through the durable outbox (shown in the cache at once,
marked pending until the service answers):

    racetui startlist raceentry add --race 21 --event 16 --bib 512 --first Ann --last Lee
        [--gender F] [--dob 1990-04-06] [--team-id 9]
    racetui startlist raceentry move --race 21 (--entry 30 | --bib 50004) --to-event 67
    racetui startlist raceentry edit --race 21 (--entry 30 | --bib 50004) [--first ..] [--last ..]
        [--new-bib ..] [--gender ..] [--dob ..] [--team-id ..]
    racetui startlist raceentry delete --race 21 (--entry 30 | --bib 50004)
    racetui startlist raceentry send          # deliver what is still queued
    racetui startlist chronotrack add --event 9001 --race 77 --bib 512 --first Ann --last Lee [--team T]
    racetui startlist chronotrack move --event 9001 --bib 512 --to-race 78

Credentials come from the environment (``RACETUI_RACEENTRY_KEY``/``_SECRET``,
``RACETUI_CHRONOTRACK_CLIENT_ID``/``_CLIENT_SECRET``/``_USERNAME``/``_PASSWORD``) or the
config file; they are never printed. Exit status: 0 done, 1 the sync failed (nothing was
written), 2 bad arguments, config or missing credentials.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from racetui.config import Config
    from racetui.sources.startlist import StartListFetcher, SyncOutcome

__all__ = ["add_arguments", "run"]


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def _day(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="service", metavar="SERVICE")

    def common(child: argparse.ArgumentParser) -> None:
        child.add_argument(
            "--race-id",
            help="the racetui race these participants belong to (default: the remote event/race id)",
        )
        child.add_argument("--url", help="API base URL (default: from the config)")
        child.add_argument(
            "--full", action="store_true", help="fetch everything, ignoring the incremental watermark"
        )
        child.add_argument(
            "--timeout", type=_positive, default=30.0, help="seconds to wait for each answer (default 30)"
        )
        child.add_argument("--list", action="store_true", help="list what can be imported, import nothing")

    def writes(child: argparse.ArgumentParser) -> None:
        child.add_argument(
            "action",
            nargs="?",
            choices=("sync", "add", "move", "edit", "delete", "send"),
            default="sync",
            help="sync (default) imports; add/move/edit/delete write a race-day fix back; "
            "send delivers changes still queued",
        )
        child.add_argument("--entry", help="move/edit/delete: the entry's id (registration / entry id)")
        child.add_argument("--bib", help="add: the new entry's bib; move/edit/delete: pick the entry by bib")
        child.add_argument("--new-bib", help="edit: the corrected bib")
        child.add_argument("--first", help="add/edit: first name")
        child.add_argument("--last", help="add/edit: last name")
        child.add_argument("--gender", help="add/edit: M, F or X")
        child.add_argument("--dob", help="add/edit: date of birth, YYYY-MM-DD")
        child.add_argument(
            "--wait",
            type=_positive,
            default=30.0,
            help="seconds to wait for the service's answer (default 30; it stays queued after)",
        )

    raceentry = sub.add_parser(
        "raceentry",
        help="import participants of a RaceEntry race (Timer API)",
        description="Import participants of a RaceEntry race into the start-list cache.",
    )
    raceentry.add_argument("--race", help="RaceEntry race id (see --list)")
    raceentry.add_argument(
        "--event", action="append", default=[], help="only this RaceEntry event id (repeatable)"
    )
    raceentry.add_argument("--start-date", type=_day, help="with --list: races from this day (YYYY-MM-DD)")
    raceentry.add_argument("--end-date", type=_day, help="with --list: races up to this day (YYYY-MM-DD)")
    raceentry.add_argument("--to-event", help="move: the RaceEntry event to move the entry to")
    raceentry.add_argument("--team-id", help="add/edit: the RaceEntry team id")
    common(raceentry)
    writes(raceentry)

    chronotrack = sub.add_parser(
        "chronotrack",
        help="import entries of a ChronoTrack Live event",
        description="Import entries of a ChronoTrack Live event into the start-list cache.",
    )
    chronotrack.add_argument("--event", help="ChronoTrack event id (see --list)")
    chronotrack.add_argument(
        "--race", action="append", default=[], help="only this ChronoTrack race id (repeatable)"
    )
    chronotrack.add_argument("--to-race", help="move: the ChronoTrack race to move the entry to")
    chronotrack.add_argument("--team", help="add/edit: the team name")
    common(chronotrack)
    writes(chronotrack)

    show = sub.add_parser(
        "show", help="print the cached start list", description="Print the cached start list."
    )
    show.add_argument("--race-id", help="only this racetui race")
    show.add_argument("--limit", type=int, default=0, help="print at most this many participants")


def _err(message: str) -> None:
    print(f"racetui startlist: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    service = getattr(args, "service", None)
    if service is None:
        _err("say which: raceentry, chronotrack or show (racetui startlist --help)")
        return 2
    if service == "show":
        return _show(args)
    import asyncio

    from racetui.config import ConfigError, load_config
    from racetui.sources.startlist import CredentialsError, StartListError

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        _err(str(exc))
        return 2
    for warning in config.warnings:
        _err(f"warning: {warning}")
    try:
        if args.list:
            return asyncio.run(_list(service, args, config))
        if getattr(args, "action", "sync") != "sync":
            from racetui.commands.startlist_write import run_write

            return asyncio.run(run_write(service, args, config, _client(service, args, config)))
        return asyncio.run(_import(service, args, config))
    except CredentialsError as exc:
        _err(str(exc))
        return 2 if "no credentials" in str(exc) else 1
    except StartListError as exc:
        _err(f"{exc}; the cache is unchanged")
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback only with -v
        import logging

        from racetui.util.secrets import scrub

        logging.getLogger(__name__).debug("startlist failed", exc_info=True)
        _err(f"unexpected error ({type(exc).__name__}: {scrub(str(exc))}); the cache is unchanged")
        return 1


def _raceentry_client(args: argparse.Namespace, config: Config) -> Any:
    from racetui.sources.startlist import RaceEntryClient

    settings = config.startlist
    return RaceEntryClient(
        args.url or settings.raceentry_url,
        settings.raceentry_key,
        settings.raceentry_secret,
        timeout=args.timeout,
        login_fields=settings.raceentry_login_fields,
    )


def _chronotrack_client(args: argparse.Namespace, config: Config) -> Any:
    from racetui.sources.startlist import ChronoTrackClient

    settings = config.startlist
    return ChronoTrackClient(
        args.url or settings.chronotrack_url,
        client_id=settings.chronotrack_client_id,
        client_secret=settings.chronotrack_client_secret,
        username=settings.chronotrack_username,
        password=settings.chronotrack_password,
        timeout=args.timeout,
    )


def _client(service: str, args: argparse.Namespace, config: Config) -> Any:
    return _raceentry_client(args, config) if service == "raceentry" else _chronotrack_client(args, config)


async def _list(service: str, args: argparse.Namespace, config: Config) -> int:
    if service == "raceentry":
        async with _raceentry_client(args, config) as client:
            races = await client.races(args.start_date, args.end_date)
        if not races:
            print(
                "no races for this account" + (" in these dates" if args.start_date or args.end_date else "")
            )
        for race in races:
            print(f"{race.get('race_id')}\t{race.get('next_date') or ''}\t{race.get('name') or ''}")
        return 0
    async with _chronotrack_client(args, config) as client:
        if args.event:
            races = await client.races(args.event)
            for race in races:
                print(f"{race.get('race_id')}\t{race.get('race_name') or ''}")
            if not races:
                print(f"no races in event {args.event}")
        else:
            events = await client.events()
            for event in events:
                print(f"{event.get('event_id')}\t{event.get('event_name') or ''}")
            if not events:
                print("no events for this account")
    return 0


def _fetcher(service: str, args: argparse.Namespace, config: Config) -> StartListFetcher | None:
    from racetui.sources.startlist import ChronoTrackStartList, RaceEntryStartList

    if service == "raceentry":
        if not args.race:
            _err("raceentry: --race is required (racetui startlist raceentry --list shows them)")
            return None
        return RaceEntryStartList(
            _raceentry_client(args, config), args.race, events=args.event, race_id=args.race_id
        )
    if not args.event:
        _err("chronotrack: --event is required (racetui startlist chronotrack --list shows them)")
        return None
    return ChronoTrackStartList(
        _chronotrack_client(args, config), args.event, races=args.race, race_id=args.race_id
    )


async def _import(service: str, args: argparse.Namespace, config: Config) -> int:
    from racetui.sources.startlist import StartListCache, sync_once

    fetcher = _fetcher(service, args, config)
    if fetcher is None:
        return 2
    cache = StartListCache()
    incremental = not args.full and cache.watermark(fetcher.source, fetcher.key) is not None
    try:
        outcome = await sync_once(fetcher, cache, full=args.full)
    finally:
        await fetcher.aclose()
    _report(fetcher.label, outcome, incremental=incremental, path=str(cache.path))
    return 0


def _report(label: str, outcome: SyncOutcome, *, incremental: bool, path: str) -> None:
    kind = "incremental" if incremental else "full"
    print(
        f"{label}: {outcome.added} added, {outcome.updated} updated, {outcome.removed} removed "
        f"({kind} sync); {outcome.total} in the cache ({path})"
    )
    if outcome.skipped:
        print(f"  {outcome.skipped} skipped (no bib or unreadable); run with -v for details")


def _show(args: argparse.Namespace) -> int:
    from racetui.sources.startlist import StartListCache

    cache = StartListCache()
    participants = cache.participants(args.race_id)
    if not participants:
        print("the start-list cache is empty" + (f" for race {args.race_id}" if args.race_id else ""))
        return 0
    shown = participants[: args.limit] if args.limit > 0 else participants
    for p in shown:
        fields = [
            p.race_id,
            p.bib,
            p.display_name(),
            p.gender or "",
            p.category or "",
            p.club or "",
            p.country or "",
        ]
        print("\t".join(fields))
    if len(shown) < len(participants):
        print(f"... {len(participants) - len(shown)} more")
    for info in cache.syncs():
        print(
            f"# {info.label or info.source + ' ' + info.source_key}: {info.entries} entries", file=sys.stderr
        )
    return 0
