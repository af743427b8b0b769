"""``racetui publish``: results upstream, headless.

    racetui publish triathlon (redis://… | --connect URL | --feed URL|PATH | --replay PATH) [--race ID]
        [--api-url URL | --file PATH] [--sandbox/--no-sandbox] [--official] [--once] [--yes] [--dry-run]
    racetui publish opentrack (…same sources…) --competition URL --event EVENTID [--round N]
        [--heat N] [--mode replace|append|update] [--ignore-unknowns] [--once] [--yes] [--dry-run]
    racetui publish outbox [--retry ID | --cancel ID | --flush] [--json]

Every upload goes through the persistent outbox (``racetui.publish.outbox``): a crash or a
``kill -9`` loses nothing, the next run re-sends what was pending. Without ``--once`` the
command keeps publishing on every change until stopped (Ctrl-C / SIGTERM) or until the
results are published official. Without ``--yes`` it shows what changes against the last
successful upload and asks; it refuses when stdin is not a terminal.

``redis://HOST:PORT/DB`` publishes what a hub (``racetui hub … --redis``) holds, as one of
its viewers: its snapshot, then its stream (no timing connection of its own).

Exit codes: 0 done, 1 a publish failed (the server's reason on one line), 2 a usage,
configuration or source problem, 130 interrupted. Never a traceback (``-vv`` logs one).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from racetui.config import Config
    from racetui.sources.base import Source


class _Exit(Exception):
    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ================================================================ arguments


def _source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "address", nargs="?", metavar="redis://…", help="follow a hub's Redis (racetui hub … --redis URL)"
    )
    group.add_argument("--connect", metavar="URL", help="read a BBT master (http://host[:port])")
    group.add_argument("--feed", metavar="URL|PATH", help="read a World Triathlon v1.1 feed (URL or file)")
    group.add_argument(
        "--replay",
        metavar="PATH",
        help="read a recorded journal (with --once its final state; else played in real time)",
    )
    parser.add_argument("--prefix", default="racetui", help="with redis://: the hub's key prefix")


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--race",
        action="append",
        metavar="ID",
        help="a racetui race id to publish (repeatable; default: every race)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="publish the current state once and exit (default: keep publishing)",
    )
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent, send nothing")
    parser.add_argument(
        "--give-up-after",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="with --once: stop waiting for a failing server after this long; the upload stays queued "
        "in the outbox for the next run (default 120)",
    )
    parser.add_argument("--settle", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--wait", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--http-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--backoff", type=float, nargs=2, default=(1.0, 60.0), metavar=("BASE", "CAP"), help=argparse.SUPPRESS
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="publish_target", metavar="TARGET")
    sub.required = True

    tri = sub.add_parser(
        "triathlon",
        help="World Triathlon Live Timing v1.1 (POST or hosted file)",
        description="Publish World Triathlon Live Timing v1.1 messages: POSTed to the Triathlon API "
        "(header apikey from RACETUI_TRIATHLON_APIKEY or the config) or written as a hosted file.",
    )
    _source_arguments(tri)
    _common_arguments(tri)
    where = tri.add_mutually_exclusive_group()
    where.add_argument(
        "--api-url", metavar="URL", help="POST endpoint (default: triathlon.api_url in the config)"
    )
    where.add_argument(
        "--file",
        metavar="PATH",
        help="hosted-file delivery: write each message atomically to PATH ({prog_id} or {race_id} per race)",
    )
    tri.add_argument(
        "--event-id", help="World Triathlon event_id (default: triathlon.event_id, else the source's)"
    )
    tri.add_argument(
        "--prog-id", help="World Triathlon prog_id of the one race published (default: triathlon.programs)"
    )
    tri.add_argument(
        "--sandbox",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the v1.1 sandbox flag (default: on, or triathlon.sandbox in the config)",
    )
    tri.add_argument(
        "--official",
        action="store_true",
        help="publish the results as OFFICIAL (confirmed by the race referee) and exit; asks first",
    )

    ot = sub.add_parser(
        "opentrack",
        help="OpenTrack road/XC results upload",
        description="Upload finish times to an OpenTrack competition (PUT roadxc_upload/). Credentials: "
        "RACETUI_OPENTRACK_TOKEN, or RACETUI_OPENTRACK_USERNAME and RACETUI_OPENTRACK_PASSWORD.",
    )
    _source_arguments(ot)
    _common_arguments(ot)
    ot.add_argument(
        "--competition", metavar="URL", help="the competition URL (default: opentrack.competition)"
    )
    ot.add_argument(
        "--event",
        metavar="EVENTID",
        help="OpenTrack event id of the one race uploaded (default: opentrack.events)",
    )
    ot.add_argument("--round", type=int, default=1, help="round (default 1)")
    ot.add_argument("--heat", type=int, default=1, help="heat (default 1)")
    ot.add_argument(
        "--mode",
        choices=("replace", "append", "update"),
        default="replace",
        help="replace: the full results; append: new finishers only; update: new and changed bibs",
    )
    ot.add_argument(
        "--ignore-unknowns", action="store_true", help="OpenTrack drops bibs not in its start list"
    )
    ot.add_argument(
        "--decimals", type=int, choices=(0, 1, 2, 3), default=2, help="digits after the seconds (default 2)"
    )
    ot.add_argument("--server", metavar="URL", help=argparse.SUPPRESS)  # auth server base (tests)

    box = sub.add_parser(
        "outbox",
        help="list the upload outbox; retry, cancel or flush uploads",
        description="The persistent upload outbox: every upload with its state and the server's answer.",
    )
    action = box.add_mutually_exclusive_group()
    action.add_argument("--retry", type=int, metavar="ID", help="queue a failed upload again")
    action.add_argument("--cancel", type=int, metavar="ID", help="drop a queued or failed upload")
    action.add_argument("--flush", action="store_true", help="send every pending upload now, then exit")
    box.add_argument("--limit", type=int, default=50, help="how many uploads to list (default 50)")
    box.add_argument("--json", action="store_true", help="list as JSON")
    box.add_argument("--give-up-after", type=float, default=120.0, metavar="SECONDS", help=argparse.SUPPRESS)
    box.add_argument("--http-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    box.add_argument(
        "--backoff", type=float, nargs=2, default=(1.0, 60.0), metavar=("BASE", "CAP"), help=argparse.SUPPRESS
    )


# ===================================================================== run


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    try:
        return asyncio.run(_dispatch(args))
    except _Exit as exc:
        if exc.message:
            print(f"racetui publish: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback for the user; -vv logs it
        logging.getLogger("racetui.publish").debug("publish failed", exc_info=True)
        print(f"racetui publish: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _dispatch(args: argparse.Namespace) -> int:
    from racetui.config import ConfigError, load_config

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise _Exit(2, str(exc)) from None
    for warning in config.warnings:
        print(f"racetui publish: warning: {warning}", file=sys.stderr)
    if args.publish_target == "outbox":
        return await _outbox_command(args, config)
    session = _Session(args, config)
    return await session.run()


def _open_outbox(*, owner: bool) -> Any:
    from racetui.publish.outbox import Outbox, OutboxError

    try:
        return Outbox(owner=owner)
    except OutboxError as exc:
        raise _Exit(2, str(exc)) from None


def _when(stamp: float | None) -> str:
    from datetime import datetime

    from racetui.model.times import format_time_of_day

    if stamp is None:
        return "-"
    return format_time_of_day(datetime.fromtimestamp(stamp).astimezone())


# ================================================================ sources


def _make_source(args: argparse.Namespace, config: Config) -> Source:
    from racetui.sources.build import SourceKind, build_source

    address = getattr(args, "address", None)
    if address:
        from racetui.hub.records import HealthRec
        from racetui.hub.redis import RedisViewer
        from racetui.util.secrets import safe_url

        if not str(address).startswith(("redis://", "rediss://", "unix://")):
            raise _Exit(
                2, f"expected redis://host:port/db, --connect, --feed or --replay, got {safe_url(address)!r}"
            )
        # a viewer of the hub: its replica is what is published
        return RedisViewer(address, [HealthRec("hub", "push", "connecting", None)], prefix=args.prefix)
    kind, flag, target = next(
        (kind, flag, getattr(args, flag))
        for flag, kind in (
            ("connect", SourceKind.BBT),
            ("feed", SourceKind.FEED),
            ("replay", SourceKind.REPLAY),
        )
        if getattr(args, flag, None)
    )
    # --once publishes a journal's final state; live mode replays in real time (a rehearsal)
    at_once = args.once or args.dry_run or getattr(args, "official", False)
    try:
        return build_source(kind, target, config, speed=0.0 if at_once else 1.0)
    except (ValueError, OSError) as exc:
        raise _Exit(2, f"--{flag}: {exc}") from None


# ================================================================ session


class _Session:
    """One ``racetui publish triathlon|opentrack`` run."""

    def __init__(self, args: argparse.Namespace, config: Any) -> None:
        import asyncio

        self.args = args
        self.config = config
        self.kind = args.publish_target
        self.stop = asyncio.Event()
        self.stop_reason = ""
        self.failures: list[str] = []
        self.changed = asyncio.Event()
        self.outbox: Any = None
        self.service: Any = None
        self.publisher: Any = None
        self.source: Any = None
        self.source_task: Any = None
        self.pipeline: Any = None
        self._asked_official: set[str] = set()

    # ------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        import asyncio
        import contextlib
        import signal

        self._check_credentials()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._signalled, sig)
        from racetui.sources.base import Pipeline

        self.source = _make_source(self.args, self.config)
        make_pipeline = getattr(self.source, "pipeline", None)  # a hub's viewer holds a replica
        self.pipeline = make_pipeline() if callable(make_pipeline) else Pipeline()
        self.source_task = asyncio.create_task(self.source.run(self.pipeline))
        service_task = None
        try:
            await self._wait_for_data()
            one_state = self.args.once or self.args.dry_run or getattr(self.args, "official", False)
            if one_state:
                # One state is published: the source reads no more (a v1.1 feed would go on
                # parsing a message a second beside the one being built).
                await self._stop_source()
            self.outbox = _open_outbox(owner=not self.args.dry_run)
            self._build()
            if one_state:
                # Stopped: what the source still holds (a v1.1 feed's last message, parsed:
                # 50,000 results) goes before the message is built beside the engine.
                self.source = self.source_task = None
            if self.args.dry_run:
                return self._dry_run()
            service_task = asyncio.create_task(self.service.run())
            return await self._publish()
        finally:
            for task in (self.source_task, service_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            if self.service is not None:
                await self.service.aclose()
            if self.outbox is not None:
                pending = [i for i in self.outbox.pending() if i.target in self._targets()]
                if pending and not self.args.dry_run:
                    print(
                        f"racetui publish: {len(pending)} upload(s) still queued in the outbox; "
                        "they are sent on the next run (or: racetui publish outbox --flush)",
                        file=sys.stderr,
                    )
                self.outbox.close()

    async def _stop_source(self) -> None:
        import contextlib

        if not self.source_task.done():
            self.source_task.cancel()
            with contextlib.suppress(BaseException):
                await self.source_task

    def _signalled(self, sig: int) -> None:
        import signal

        self.stop_reason = "interrupted" if sig == signal.SIGINT else "stopped"
        self.stop.set()
        self.changed.set()

    def _targets(self) -> set[str]:
        return set() if self.service is None else {t.name for t in self.service.targets()}

    def _check_credentials(self) -> None:
        if self.args.dry_run:
            return
        if self.kind == "triathlon":
            from racetui.publish.triathlon import NO_APIKEY

            if self.args.file is None and self.config.triathlon.apikey is None:
                raise _Exit(2, NO_APIKEY)
        else:
            from racetui.publish.opentrack import NO_CREDENTIALS

            ot = self.config.opentrack
            if ot.token is None and not (ot.username and ot.password is not None):
                raise _Exit(2, NO_CREDENTIALS)

    async def _wait_for_data(self) -> None:
        """Until the source holds races and has been quiet for ``--settle`` seconds."""
        import asyncio

        loop = asyncio.get_running_loop()
        start = quiet_since = loop.time()
        loaded_at: float | None = None
        version = -1
        engine = self.pipeline.engine
        while True:
            now = loop.time()
            if self.stop.is_set():
                raise _Exit(130 if self.stop_reason == "interrupted" else 0)
            if self.source_task.done():
                error = None if self.source_task.cancelled() else self.source_task.exception()
                if error is not None:
                    raise _Exit(1, f"the source stopped: {type(error).__name__}: {error}")
                break
            ready = getattr(self.source, "ready", None)
            if callable(ready) and ready() and engine.races:
                break  # a hub's replica: its snapshot is the whole state
            health = getattr(self.source, "health", None)
            # A first load runs as one batch (no change shows until its end) and says how far
            # it has come: quiet then is not settled (a BBT race was published with no athletes).
            loading = getattr(health, "progress", None) is not None or getattr(self.source, "syncs", 1) == 0
            if engine.version != version or loading:
                version, quiet_since = engine.version, now
            elif engine.races and now - quiet_since >= self.args.settle:
                break
            # A source that says when its first load is complete (BBT) holds the whole state
            # then: a live race is never quiet, so it is published --settle seconds after
            # the load, not after --wait (the engine only grows meanwhile).
            if loading:
                loaded_at = None
            elif hasattr(self.source, "syncs") and engine.races:
                loaded_at = now if loaded_at is None else loaded_at
                if now - loaded_at >= self.args.settle:
                    break
            if now - start > self.args.wait:
                if engine.races:
                    break
                health = getattr(self.source, "health", None)
                detail = getattr(health, "last_error", None)
                raise _Exit(
                    1,
                    f"no race data from {getattr(self.source, 'name', 'the source')} within "
                    f"{self.args.wait:g}s" + (f": {detail}" if detail else ""),
                )
            await asyncio.sleep(0.05)
        if not engine.races:
            detail = getattr(getattr(self.source, "health", None), "last_error", None)
            raise _Exit(1, "the source holds no race data" + (f": {detail}" if detail else ""))

    def _race_ids(self) -> list[str]:
        races = self.pipeline.engine.races
        if not self.args.race:
            return list(races)
        unknown = [race_id for race_id in self.args.race if race_id not in races]
        if unknown:
            raise _Exit(2, f"race {unknown[0]!r} is not in the data (races: {', '.join(races) or 'none'})")
        return list(dict.fromkeys(self.args.race))

    # ---------------------------------------------------------------- build
    def _build(self) -> None:
        from racetui.publish.outbox import PublishError, PublishService
        from racetui.util.retry import Backoff

        base, cap = self.args.backoff
        backoff = Backoff(base=base, cap=cap)
        race_ids = self._race_ids()
        try:
            if self.kind == "triathlon":
                self._build_triathlon(race_ids, backoff)
            else:
                self._build_opentrack(race_ids, backoff)
        except PublishError as exc:
            raise _Exit(2, str(exc)) from None
        assert isinstance(self.service, PublishService)
        self.service.listeners.append(self._on_item)

    def _build_triathlon(self, race_ids: list[str], backoff: Any) -> None:
        from racetui.publish.outbox import PublishService
        from racetui.publish.triathlon import TriathlonPublisher

        tri = self.config.triathlon
        hosted = self.args.file is not None
        api_url = self.args.api_url or tri.api_url
        try:
            from racetui.publish.session import triathlon_sender

            sender = triathlon_sender(
                self.config, api_url=api_url, file=self.args.file, timeout=self.args.http_timeout
            )
        except ValueError as exc:
            raise _Exit(2, str(exc)) from None
        self.service = PublishService(self.outbox, [sender], backoff=backoff)
        programs = dict(tri.programs)
        if self.args.prog_id:
            if len(race_ids) != 1:
                raise _Exit(2, f"--prog-id names one race: pass --race ID (races: {', '.join(race_ids)})")
            programs[race_ids[0]] = self.args.prog_id
        # A v1.1 feed carries the event's ids in its message header, not in the engine.
        header = getattr(getattr(self.source, "last_update", None), "header", None)
        header_event = (getattr(header, "event_id", None), getattr(header, "event_name", None))
        self.publisher = TriathlonPublisher(
            self.pipeline.engine,
            self.service,
            destination=self.args.file if hosted else api_url,
            hosted_file=hosted,
            event_id=self.args.event_id or tri.event_id or header_event[0],
            event_name=header_event[1],
            programs=programs,
            sandbox=tri.sandbox if self.args.sandbox is None else self.args.sandbox,
            races=race_ids,
        )

    def _build_opentrack(self, race_ids: list[str], backoff: Any) -> None:
        from racetui.publish.opentrack import OpenTrackEvent, OpenTrackPublisher, events_from_mapping
        from racetui.publish.outbox import PublishService

        ot = self.config.opentrack
        competition = self.args.competition or ot.competition
        if not competition:
            raise _Exit(2, "no OpenTrack competition: pass --competition URL or set opentrack.competition")
        if self.args.event:
            if len(race_ids) != 1:
                raise _Exit(2, f"--event names one race: pass --race ID (races: {', '.join(race_ids)})")
            events = [OpenTrackEvent(race_ids[0], self.args.event, self.args.round, self.args.heat)]
        else:
            events = events_from_mapping(ot.events, race_ids, round=self.args.round, heat=self.args.heat)
            if not events:
                raise _Exit(
                    2,
                    "no OpenTrack event for "
                    + ", ".join(repr(r) for r in race_ids)
                    + ": pass --event EVENTID or set opentrack.events in the config",
                )
        server = self.args.server or ot.server
        try:
            from racetui.publish.session import opentrack_sender

            sender = opentrack_sender(self.config, server=server, timeout=self.args.http_timeout)
        except ValueError as exc:
            raise _Exit(2, str(exc)) from None
        self.service = PublishService(self.outbox, [sender], backoff=backoff)
        self.publisher = OpenTrackPublisher(
            self.pipeline.engine,
            self.service,
            competition=competition,
            events=events,
            mode=self.args.mode,
            ignore_unknowns=self.args.ignore_unknowns,
            decimals=self.args.decimals,
            auth_server=server,
        )

    # -------------------------------------------------------------- preview
    def _preview(self) -> tuple[list[Any], str, bool]:
        """(the v1.1 messages previewed, the preview text, whether anything would be sent).

        What is previewed is what is queued: a 50,000-athlete message is built once."""
        from racetui.publish.outbox import PublishError

        # Running the command is the user's action: a failed last upload is sent again.
        try:
            if self.kind == "triathlon":
                previews = self.publisher.preview(resend_failed=True)
                text = "\n".join(p.render() for p in previews)
                return previews, text, any(p.changed for p in previews)
            text = "\n".join(p.render() for p in self.publisher.preview())
            return [], text, self.publisher.would_send(self.publisher.build(), resend_failed=True)
        except PublishError as exc:
            raise _Exit(2, str(exc)) from None

    def _dry_run(self) -> int:
        import orjson

        _, text, _ = self._preview()
        print(text)
        if self.kind == "triathlon":
            for race_id in self.publisher.race_ids():
                built = self.publisher.build(race_id, status="official" if self.args.official else None)
                url = self.publisher.url_for(built.program)
                if self.publisher.hosted_file:
                    print(f"\nwould write {url}")
                else:
                    print(f"\nwould POST {url}\nContent-Type: application/json\napikey: ***")
                print(orjson.dumps(built.message, option=orjson.OPT_INDENT_2).decode())
        else:
            built = self.publisher.build()
            if built is None:
                print("\nnothing to upload (no finish times yet, or nothing new for this mode)")
            else:
                encoding = " (zlib-compressed on the wire)" if built.compressed else ""
                print(f"\nwould PUT {built.url}{encoding}\nAuthorization: Token ***")
                print(orjson.dumps(built.payload, option=orjson.OPT_INDENT_2).decode())
        return 0

    async def _confirm(self, question: str) -> None:
        import asyncio

        if self.args.yes:
            return
        if not sys.stdin.isatty():
            raise _Exit(2, "not confirmed: stdin is not a terminal (pass --yes to publish without asking)")
        try:
            answer = await asyncio.to_thread(input, f"{question} [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise _Exit(1, "not confirmed: nothing was sent")

    # -------------------------------------------------------------- publish
    def _on_item(self, item: Any) -> None:
        from racetui.publish.outbox import ItemState

        if item.state is ItemState.SENT:
            answer = f": {item.status_code}" if item.status_code is not None else ""
            print(f"sent #{item.id} {item.summary}{answer}", flush=True)
        elif item.state is ItemState.FAILED:
            self.failures.append(f"upload #{item.id} ({item.summary}) failed: {item.error}")
        elif item.state is ItemState.QUEUED and item.attempts and item.error:
            print(f"retrying #{item.id} later: {item.error}", file=sys.stderr, flush=True)
        self.changed.set()

    async def _enqueue(self, previews: list[Any]) -> list[Any]:
        from racetui.publish.outbox import PublishError

        try:
            if self.kind == "opentrack":
                item = self.publisher.publish(resend_failed=True)
                return [] if item is None else [item]
            if self.args.official:
                previews.clear()  # another message (status official): not held beside it
                items: list[Any] = []
                for race_id in self.publisher.race_ids():
                    items += self.publisher.mark_official(race_id, confirmed=True)
                return items
            return list(await self.publisher.queue_previewed(previews))
        except PublishError as exc:
            raise _Exit(2, str(exc)) from None

    async def _publish(self) -> int:
        previews, text, changed = self._preview()
        print(text, flush=True)
        official = self.kind == "triathlon" and self.args.official
        once = self.args.once or official
        if not changed and not official:
            print("nothing new to send since the last upload", flush=True)
        else:
            await self._confirm(f"Publish to {self._destination()}?")
            if official:
                names = ", ".join(self.publisher.program(r).prog_name for r in self.publisher.race_ids())
                await self._confirm(f"Mark {names} OFFICIAL (results confirmed by the race referee)?")
            await self._enqueue(previews)
        # Queued: the outbox holds the message now. Its bytes go before it is read back to be
        # sent (at 50,000 athletes two copies of 47 MB took the peak over 250 MB).
        previews.clear()
        if once:
            return await self._finish_once()
        return await self._live()

    def _destination(self) -> str:
        if self.kind == "opentrack":
            return f"OpenTrack {self.publisher.upload_url}"
        if self.publisher.hosted_file:
            return f"the hosted file {self.args.file}"
        sandbox = " (sandbox)" if self.publisher.sandbox else " (LIVE, sandbox off)"
        return f"World Triathlon {self.publisher.destination}{sandbox}"

    def _failed(self) -> int:
        print(f"racetui publish: {self.failures[0]}", file=sys.stderr)
        return 1

    async def _finish_once(self) -> int:
        settled = await self.service.wait_settled(timeout=self.args.give_up_after)
        if self.failures:
            return self._failed()
        if not settled:
            last = next((t.last_error for t in self.service.targets() if t.last_error), None)
            raise _Exit(
                1,
                f"not delivered within {self.args.give_up_after:g}s" + (f": {last}" if last else ""),
            )
        return 0

    async def _live(self) -> int:
        import asyncio

        self.publisher.attach(self.pipeline)
        live = asyncio.create_task(self.publisher.run())
        try:
            while True:
                if self.failures:
                    return self._failed()
                if self.stop.is_set():
                    return 130 if self.stop_reason == "interrupted" else 0
                if self.source_task.done():
                    # a finished replay: deliver what is queued, then stop
                    await self.service.wait_settled(timeout=self.args.give_up_after)
                    return self._failed() if self.failures else 0
                if await self._official_from_source():
                    return await self._finish_once()
                self.changed.clear()
                try:
                    await asyncio.wait_for(self.changed.wait(), timeout=0.5)
                except TimeoutError:
                    pass
        finally:
            live.cancel()
            self.publisher.detach()

    async def _official_from_source(self) -> bool:
        """The source says a race is official: ask (on a terminal) whether to publish it so."""
        from racetui.model import ClockState

        if self.kind != "triathlon":
            return False
        engine = self.pipeline.engine
        for race_id in self.publisher.race_ids():
            clock = engine.race(race_id).race.clock
            if clock is None or clock.state is not ClockState.OFFICIAL or race_id in self._asked_official:
                continue
            self._asked_official.add(race_id)
            name = engine.race(race_id).race.name
            if not sys.stdin.isatty():
                print(
                    f"the source marks {name} official: publish it as official with --official",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            try:
                self.args.yes = False
                await self._confirm(f"The source marks {name} official. Publish it as OFFICIAL now?")
            except _Exit:
                continue
            self.publisher.mark_official(race_id, confirmed=True)
            return True
        return False


# ================================================================= outbox


async def _outbox_command(args: argparse.Namespace, config: Any) -> int:
    from racetui.publish.outbox import OutboxError

    if args.flush:
        return await _flush(args, config)
    outbox = _open_outbox(owner=False)
    try:
        if args.retry is not None or args.cancel is not None:
            try:
                item = outbox.retry(args.retry) if args.retry is not None else outbox.cancel(args.cancel)
            except OutboxError as exc:
                raise _Exit(1, str(exc)) from None
            print(item.describe())
            return 0
        items = outbox.items(limit=args.limit)
        if args.json:
            import orjson

            rows = [
                {
                    "id": i.id,
                    "target": i.target,
                    "state": i.state.value,
                    "summary": i.summary,
                    "url": i.url,
                    "method": i.method,
                    "headers": i.headers,
                    "size": i.size,
                    "attempts": i.attempts,
                    "created_at": i.created_at,
                    "updated_at": i.updated_at,
                    "sent_at": i.sent_at,
                    "next_attempt_at": i.next_attempt_at,
                    "status_code": i.status_code,
                    "error": i.error,
                    "response": i.response,
                    "superseded_by": i.superseded_by,
                    "idempotency_key": i.idempotency_key,
                }
                for i in items
            ]
            print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
            return 0
        if not items:
            print("the outbox is empty")
            return 0
        counts = outbox.counts()
        print(", ".join(f"{n} {state.value}" for state, n in counts.items() if n))
        for item in items:
            print(f"{_when(item.updated_at)} {item.describe()}")
        return 0
    finally:
        outbox.close()


async def _flush(args: argparse.Namespace, config: Any) -> int:
    import asyncio
    import contextlib

    from racetui.publish.outbox import ItemState, PublishService
    from racetui.publish.triathlon import FileSender
    from racetui.util.retry import Backoff

    outbox = _open_outbox(owner=True)
    senders: list[Any] = [FileSender()]
    from racetui.publish.session import opentrack_sender, triathlon_sender

    for make in (triathlon_sender, opentrack_sender):
        with contextlib.suppress(ValueError):  # no credentials: its uploads wait (said below)
            senders.append(make(config, timeout=args.http_timeout))
    base, cap = args.backoff
    service = PublishService(outbox, senders, backoff=Backoff(base=base, cap=cap))
    failures: list[str] = []

    def on_item(item: Any) -> None:
        if item.state is ItemState.SENT:
            answer = item.status_code if item.status_code is not None else "ok"
            print(f"sent #{item.id} {item.summary}: {answer}")
        elif item.state is ItemState.FAILED:
            failures.append(f"upload #{item.id} ({item.summary}) failed: {item.error}")

    service.listeners.append(on_item)
    names = {sender.name for sender in senders}
    waiting = [i for i in outbox.pending() if i.target not in names]
    task = asyncio.create_task(service.run())
    try:
        settled = await service.wait_settled(timeout=args.give_up_after)
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await service.aclose()
        outbox.close()
    for item in waiting:
        print(
            f"racetui publish: #{item.id} ({item.target}) waits: no credentials configured for it",
            file=sys.stderr,
        )
    if failures:
        print(f"racetui publish: {failures[0]}", file=sys.stderr)
        return 1
    if not settled:
        raise _Exit(1, f"not everything was delivered within {args.give_up_after:g}s; it stays queued")
    return 0
