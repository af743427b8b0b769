"""``racetui export``: print the current standings as csv, json or a v1.1 message, and exit.

    racetui export (redis://HOST:PORT/DB | --connect URL | --feed URL|PATH | --replay PATH)
                   [--race ID] [--point ID] [--format csv|json|triathlon]

* ``redis://…`` reads what a hub (``racetui hub … --redis``) holds: its snapshot, then its
  stream to where it was when the snapshot was read (no timing connection of its own; the
  hub's desk entries included); ``--feed`` reads a World Triathlon v1.1 message once (URL
  or file); ``--connect`` loads a BBT master once over REST; ``--replay`` plays a journal
  to its end at full speed.
* ``csv`` (spreadsheets): position, bib, name, country, club, gender, category, status,
  time, gap, results (``provisional`` while the race is live, ``official`` once the source
  or a timer says so), then the time at every timing point (``HH:MM:SS.fff``). Several
  races and no ``--race``: every race, with a ``race`` column first.
* ``json`` (scripts): ``{"races": [{"id", "name", "kind", "results", "point", "points",
  "rows"}]}``, times as whole milliseconds (and text).
* ``triathlon``: the complete v1.1 message of one race (a BBT race becomes a program, its
  timing points segments): ``event_id`` from config ``triathlon.event_id`` (else the feed's
  own, else the event id), ``prog_id`` from ``triathlon.programs[race id]`` (else the
  feed's ``prog_id``, else the race id). Needs ``--race`` unless there is only one race.
* ``--point`` gives the standings at that timing point (csv/json).

Errors go to stderr as one line (``racetui export: ...``) with a non-zero exit; warnings
about single athletes of a feed go to stderr too, the standings still print.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from racetui.util.secrets import scrub

if TYPE_CHECKING:
    from racetui.config import Config
    from racetui.engine import RaceStandings
    from racetui.sources.base import Pipeline
    from racetui.sources.v11 import V11Header

FORMATS = ("csv", "json", "triathlon")
_MAX_WARNINGS = 20


class ExportError(Exception):
    """A problem to report on one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "address", nargs="?", metavar="redis://…", help="a hub's Redis (racetui hub … --redis URL)"
    )
    source.add_argument("--connect", metavar="URL", help="a BBT master: http://host[:port]")
    source.add_argument("--feed", metavar="URL|PATH", help="a World Triathlon v1.1 message (URL or file)")
    source.add_argument("--replay", metavar="PATH", help="a recorded journal, played to its end")
    parser.add_argument("--race", metavar="ID", help="only this race (id, or v1.1 prog_id)")
    parser.add_argument("--point", metavar="ID", help="standings at this timing point (csv/json)")
    parser.add_argument("--format", choices=FORMATS, default="csv", help="output format (default: csv)")
    parser.add_argument("--prefix", default="racetui", help="with redis://: the hub's key prefix")
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="with redis://: wait this long for the hub",
    )


def run(args: argparse.Namespace) -> int:
    try:
        from racetui.config import load_config

        config = load_config(getattr(args, "config", None))
        for warning in config.warnings:
            print(f"racetui export: warning: {warning}", file=sys.stderr)
        with _quiet_sources(getattr(args, "verbose", 0)):
            _write(_export(args, config))
    except ExportError as exc:
        print(f"racetui export: {_one_line(str(exc))}", file=sys.stderr)
        return exc.code
    except Exception as exc:  # the command boundary: one line, never a traceback
        reason = _one_line(str(exc)) or type(exc).__name__
        print(f"racetui export: {reason}", file=sys.stderr)
        return 1
    return 0


def _write(text: str | bytes | Iterable[bytes]) -> None:
    """The export on stdout, ending with a line break; pieces as they come (a v1.1
    message is encoded while it is written: a failure then ends it short, said on stderr)."""
    out = sys.stdout
    out.flush()
    parts = [text.encode()] if isinstance(text, str) else [text] if isinstance(text, bytes) else text
    last = b""
    for part in parts:
        out.buffer.write(part)
        last = part[-1:] or last
    if last != b"\n":
        out.buffer.write(b"\n")
    out.buffer.flush()


def _one_line(text: str) -> str:
    """An error fit for stderr: one line, no secret (the config's secrets are registered)."""
    return " ".join(scrub(text).split())


@contextlib.contextmanager
def _quiet_sources(verbose: int) -> Iterator[None]:
    """The sources log their failures; export reports them itself, on one line."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("racetui.sources", "httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# ------------------------------------------------------------------------ loading
def _export(args: argparse.Namespace, config: Config) -> str | bytes | Iterable[bytes]:
    import asyncio

    from racetui.hub.replica import ReplicaPipeline
    from racetui.sources.base import Pipeline

    pipeline = ReplicaPipeline() if getattr(args, "address", None) else Pipeline()
    headers = asyncio.run(_load(args, config, pipeline))
    races = _select(pipeline, args.race)
    if args.format == "triathlon":
        if args.point:
            raise ExportError(
                "--point does not apply to --format triathlon (a v1.1 message holds every point)"
            )
        if len(races) > 1:
            names = ", ".join(s.race.id for s in races)
            raise ExportError(f"several races ({names}): choose one with --race")
        return _triathlon(races[0], config, headers.get(races[0].race.id), pipeline)
    if args.point:
        races = [s for s in races if args.point in s.point_index]
        if not races:
            where = f"race {args.race!r}" if args.race else "any race"
            raise ExportError(f"--point: no timing point {args.point!r} in {where}")
    marks = _marks(pipeline)
    if args.format == "json":
        return _json(races, args.point, marks)
    return _csv(races, args.point, marks)


async def _load(args: argparse.Namespace, config: Config, pipeline: Pipeline) -> dict[str, V11Header]:
    """Load the source once into ``pipeline``; returns the v1.1 message headers by race id."""
    from racetui.sources.build import SourceKind, build_source

    if getattr(args, "address", None):
        await _load_hub(args, pipeline)
        return {}
    if args.feed:
        source = build_source(SourceKind.FEED, args.feed, config)
        try:
            applied = await source.poll_once(pipeline)
        finally:
            await source.aclose()
        if not applied:
            raise ExportError(source.health.last_error or f"{source.display}: no message")
        _print_warnings(source.warnings)
        return _headers([source.reader])
    if args.connect:
        bbt = build_source(SourceKind.BBT, args.connect, config, poll=True)
        try:
            await bbt.sync_once(pipeline)
        finally:
            if bbt.health.rejected:
                reasons = "; ".join(bbt.rejections[:3])
                print(f"racetui export: {bbt.health.rejected} rows rejected: {reasons}", file=sys.stderr)
        _print_warnings(pipeline.errors)
        if not any(standings.entries for standings in pipeline.engine.races.values()):
            raise ExportError(f"{bbt.name}: nothing usable arrived ({bbt.health.rejected} rows rejected)")
        return {}
    try:
        replay = build_source(SourceKind.REPLAY, args.replay, config, speed=0)
    except ValueError as exc:
        raise ExportError(f"--replay: {exc}", 2) from None
    await replay.run(pipeline)
    if not pipeline.engine.races and replay.health.last_error:
        raise ExportError(str(replay.health.last_error))
    for problem in replay.problems[:_MAX_WARNINGS]:
        # A cut journal still exports what it holds, but never silently: the standings
        # below may be older than the race.
        print(
            f"racetui export: warning: read {replay.played} records, then stopped: {_one_line(problem)};"
            " the standings are as of the last record read",
            file=sys.stderr,
        )
    _print_warnings(pipeline.errors)
    return _headers(replay.feed_readers.values())


async def _load_hub(args: argparse.Namespace, pipeline: Pipeline) -> None:
    from racetui.hub.redis import load_replica
    from racetui.hub.replica import ReplicaPipeline
    from racetui.util.secrets import safe_url

    address = str(args.address)
    if not address.startswith(("redis://", "rediss://", "unix://")):
        raise ExportError(
            f"expected redis://host:port/db, --connect, --feed or --replay, got {safe_url(address)!r}", 2
        )
    assert isinstance(pipeline, ReplicaPipeline)
    try:
        replica = await load_replica(address, pipeline, prefix=args.prefix, timeout=args.wait)
    except (OSError, TimeoutError) as exc:
        raise ExportError(str(exc)) from None
    if replica.rejected:
        print(f"racetui export: warning: {replica.rejected} hub records rejected", file=sys.stderr)
    if not any(standings.entries for standings in pipeline.engine.races.values()):
        raise ExportError(f"the hub at {safe_url(address)} holds no athletes yet")


def _headers(readers: Any) -> dict[str, V11Header]:
    out: dict[str, V11Header] = {}
    for reader in readers:
        race = getattr(reader, "race", None)
        header = getattr(reader, "header", None)
        if race is not None and header is not None:
            out[race.id] = header
    return out


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings[:_MAX_WARNINGS]:
        print(f"racetui export: warning: {warning}", file=sys.stderr)
    if len(warnings) > _MAX_WARNINGS:
        print(f"racetui export: warning: ... and {len(warnings) - _MAX_WARNINGS} more", file=sys.stderr)


def _select(pipeline: Pipeline, wanted: str | None) -> list[RaceStandings]:
    races = list(pipeline.engine.races.values())
    if not races:
        raise ExportError("the source holds no race")
    if wanted is None:
        return races
    for standings in races:
        if standings.race.id == wanted:
            return [standings]
    for standings in races:
        if standings.race.external_id == wanted:
            return [standings]
    names = ", ".join(s.race.id for s in races)
    raise ExportError(f"--race: no race {wanted!r} (races: {names})")


# ------------------------------------------------------------------------ formats
_COLUMNS = [
    "position",
    "bib",
    "name",
    "country",
    "club",
    "gender",
    "category",
    "status",
    "time",
    "gap",
    "results",  # provisional / official: the race's places (engine/official.py)
]


def _results(standings: RaceStandings, marks: dict[str, Any] | None) -> str:
    """``provisional`` / ``official`` (``prerace`` before anything was timed): the source's
    word, or a timer's mark remembered in the data dir for this event."""
    from racetui.engine.official import results_state

    return results_state(standings, confirmed=standings.race.id in (marks or {})).official.value


def _marks(pipeline: Pipeline) -> dict[str, Any]:
    """The races a timer marked official for the event exported (the dashboard's ``O``)."""
    import datetime as dt

    from racetui.sources.official import OfficialStore, event_key

    store = OfficialStore()
    marks = store.marks(event_key(pipeline.engine, dt.date.today()))
    if store.problem:
        print(f"racetui export: warning: {_one_line(store.problem)}", file=sys.stderr)
    return marks


def _fmt(ms: int | None) -> str:
    from racetui.model.times import format_duration

    return "" if ms is None or ms < 0 else format_duration(ms)


def _rows(standings: RaceStandings, point: str | None) -> list[Any]:
    view = standings.view(point_id=point)
    return view.rows(0, len(view))


def _point_labels(standings: RaceStandings) -> list[str]:
    labels: list[str] = []
    for p in standings.points:
        label = p.name or p.id
        labels.append(f"{label} ({p.id})" if label in labels else label)
    return labels


def _csv(races: list[RaceStandings], point: str | None, marks: dict[str, Any] | None = None) -> str:
    import csv
    import io

    several = len(races) > 1
    split_columns: list[str] = []
    for standings in races:
        for label in _point_labels(standings):
            if label not in split_columns:
                split_columns.append(label)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((["race"] if several else []) + _COLUMNS + split_columns)
    for standings in races:
        labels = _point_labels(standings)
        results = _results(standings, marks)
        for row in _rows(standings, point):
            entry = standings.entries[row.bib]
            splits = dict.fromkeys(split_columns, "")
            for label, chip in zip(labels, entry.times, strict=False):
                splits[label] = _fmt(chip)
            values = [
                "" if row.rank is None else row.rank,
                row.bib,
                row.name,
                row.country or "",
                row.club or "",
                row.gender or "",
                row.category or "",
                row.status.value,
                _fmt(row.time_ms),
                _fmt(row.gap_leader_ms),
                results,
            ]
            writer.writerow(([standings.race.id] if several else []) + values + list(splits.values()))
    return buffer.getvalue()


_PART = 1_000  # rows encoded at a time: the whole export never exists as Python objects


def _indent(data: bytes, spaces: int) -> bytes:
    """Pretty JSON moved ``spaces`` to the right (JSON strings hold no raw line breaks)."""
    pad = b" " * spaces
    return pad + data.replace(b"\n", b"\n" + pad)


def _json(races: list[RaceStandings], point: str | None, marks: dict[str, Any] | None = None) -> list[bytes]:
    """``{"races": [...]}`` indented by two, in pieces of a thousand rows: written one
    after the other, the same bytes as encoding the whole at once (at 50,000 athletes the
    rows as dicts are several times their encoding; the pieces are never joined)."""
    import orjson

    indent = orjson.OPT_INDENT_2
    parts = [b'{\n  "races": [']
    for number, standings in enumerate(races):
        points = standings.points
        head = {
            "id": standings.race.id,
            "name": standings.race.name,
            "kind": standings.race.kind.value,
            "results": _results(standings, marks),
            "point": point,
            "points": [{"id": p.id, "name": p.name} for p in points],
            "rows": [],
        }
        race = _indent(orjson.dumps(head, option=indent), 4)
        parts.append(b",\n" if number else b"\n")
        rows = _rows(standings, point)
        if not rows:
            parts.append(race)
            continue
        empty = b"[]\n    }"
        assert race.endswith(empty)
        parts.append(race[: -len(empty)] + b"[")
        for start in range(0, len(rows), _PART):
            encoded = []
            for row in rows[start : start + _PART]:
                entry = standings.entries[row.bib]
                record = {
                    "position": row.rank,
                    "bib": row.bib,
                    "name": row.name,
                    "country": row.country,
                    "club": row.club,
                    "gender": row.gender,
                    "category": row.category,
                    "status": row.status.value,
                    "point": row.point_id,
                    "time_ms": row.time_ms,
                    "time": _fmt(row.time_ms) or None,
                    "gap_ms": row.gap_leader_ms,
                    "gap": _fmt(row.gap_leader_ms) or None,
                    "splits": {
                        p.id: chip for p, chip in zip(points, entry.times, strict=False) if chip is not None
                    },
                    "incidents": [incident.standard_text() for incident in entry.incidents],
                }
                encoded.append(_indent(orjson.dumps(record, option=indent), 8))
            parts.append((b",\n" if start else b"\n") + b",\n".join(encoded))
        parts.append(b"\n      ]\n    }")
    parts.append(b"\n  ]\n}")
    return parts


def _triathlon(
    standings: RaceStandings, config: Config, header: V11Header | None, pipeline: Pipeline
) -> Iterator[bytes]:
    """The v1.1 message in pieces, written as they are encoded (never whole in memory)."""
    from datetime import UTC, datetime

    from racetui.model import ClockState
    from racetui.publish.v11 import prepare_message

    race = standings.race
    event = pipeline.engine.event
    event_id = (
        config.triathlon.event_id or (header.event_id if header else None) or (event.id if event else "")
    )
    event_name = (header.event_name if header else None) or (event.name if event else "")
    prog_id = config.triathlon.programs.get(race.id) or race.external_id or race.id
    if race.clock is not None:
        status = race.clock.state.value
    else:
        status = ClockState.LIVE.value if any(e.last >= 0 for e in standings.entries.values()) else "prerace"
    sandbox = (
        header.sandbox if header is not None and header.sandbox is not None else config.triathlon.sandbox
    )
    prepared = prepare_message(
        standings,
        event_id=event_id or "",
        event_name=event_name or "",
        prog_id=prog_id,
        prog_name=race.name,
        status=status,
        sandbox=sandbox,
        date=datetime.now(UTC),
        start_time=race.clock.gun_time if race.clock else None,
        wetsuit=race.wetsuit,
        air_temp=race.air_temp,
        water_temp=race.water_temp,
    )
    return prepared.parts()
