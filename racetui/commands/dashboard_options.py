"""Options every dashboard command (``demo``, ``connect``, ``feed``, ``replay``) shares:
publishing from the dashboard and names from the local start-list cache.

    --publish-triathlon [--api-url URL | --file PATH] [--no-sandbox] [--event-id ID]
        [--prog RACE=PROGID ...]
    --publish-opentrack [--competition URL] [--event RACE=EVENTID ...]
    --startlist

Secrets (the Triathlon apikey, OpenTrack token or password) come from the environment or
the config (:func:`racetui.config.load_config`), never from the command line. Nothing here
imports Textual: :class:`Publishing` is what the Publish screen drives.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from racetui.config import Config

__all__ = [
    "ENABLE_HINT",
    "CachedStartList",
    "Publishing",
    "add_dashboard_arguments",
    "build_publishing",
    "build_startlist_changes",
    "extra_sources",
    "parse_mapping",
]

ENABLE_HINT = (
    "Publishing is off in this dashboard. Start it with publishing options:\n"
    "  --publish-triathlon [--api-url URL | --file PATH] [--no-sandbox] [--prog RACE=PROGID]\n"
    "  --publish-opentrack --competition URL --event RACE=EVENTID\n"
    "(apikey / OpenTrack credentials from the environment or the config). "
    "Headless: racetui publish --help"
)


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> None:
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
        "--in-process",
        action="store_true",
        help="run the timing connection inside the dashboard's own process instead of its hub "
        "(slower screens on big races; for debugging)",
    )


def parse_mapping(values: Sequence[str], option: str) -> dict[str, str]:
    """``["elite=307158", …]`` as a dict; ValueError names the bad value."""
    mapping: dict[str, str] = {}
    for value in values:
        race, sep, ident = value.partition("=")
        if not sep or not race.strip() or not ident.strip():
            raise ValueError(f"{option}: expected RACE=ID, got {value!r}")
        mapping[race.strip()] = ident.strip()
    return mapping


# ================================================================ publishing


class Publishing:
    """The dashboard's publishing: one outbox, its delivery service, the publishers.

    ``owner`` is False when another racetui process delivers from the same outbox
    (``problem`` says so): the screen then lists and retries/cancels, but sends nothing.
    Live publishing (every change queued) starts with the first confirmed "publish now".
    """

    def __init__(
        self,
        outbox: Any,
        service: Any,
        *,
        triathlon: Any = None,
        opentrack: Any = None,
        owner: bool = True,
        problem: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.service = service
        self.triathlon = triathlon
        self.opentrack = opentrack
        self.owner = owner
        self.problem = problem
        self.live = False
        self.name = "publish"
        self._pipeline: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def publishers(self) -> list[Any]:
        return [p for p in (self.triathlon, self.opentrack) if p is not None]

    async def run(self, pipeline: Any) -> None:
        """Deliver the outbox until cancelled (only when this process owns it)."""
        self._pipeline = pipeline
        if not self.owner:
            return
        try:
            await self.service.run()
        finally:
            self.stop_live()
            await self.service.aclose()

    def start_live(self) -> None:
        """Publish every change from now on (after the user's first confirmed publish)."""
        if self.live or not self.owner or self._pipeline is None:
            return
        self.live = True
        for publisher in self.publishers:
            publisher.attach(self._pipeline)
            self._tasks.append(asyncio.create_task(publisher.run()))

    def stop_live(self) -> None:
        self.live = False
        for publisher in self.publishers:
            publisher.detach()
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    def publish_now(self) -> list[Any]:
        """Queue what changed (a failed last upload is sent again: the user asked)."""
        items: list[Any] = []
        if self.triathlon is not None:
            items += self.triathlon.publish(resend_failed=True)
        if self.opentrack is not None:
            item = self.opentrack.publish(resend_failed=True)
            if item is not None:
                items.append(item)
        self.start_live()
        return items

    def close(self) -> None:
        self.stop_live()
        with contextlib.suppress(Exception):
            self.outbox.close()


def build_publishing(args: argparse.Namespace, config: Config, engine: Any) -> Publishing | None:
    """The dashboard's :class:`Publishing` from the options, or None when none is given.

    ValueError (one line) for a bad option or missing credentials."""
    want_tri = bool(getattr(args, "publish_triathlon", False))
    want_ot = bool(getattr(args, "publish_opentrack", False))
    if not (want_tri or want_ot):
        return None
    from racetui.publish.outbox import Backoff, Outbox, OutboxError, PublishError, PublishService

    base, cap = getattr(args, "backoff", (1.0, 60.0))
    timeout = float(getattr(args, "http_timeout", 10.0))
    programs = parse_mapping(getattr(args, "prog", []) or [], "--prog")
    events = parse_mapping(getattr(args, "event", []) or [], "--event")
    from racetui.commands.publish import opentrack_sender, triathlon_sender

    tri_sender = ot_sender = None
    if want_tri:
        tri_sender = triathlon_sender(config, api_url=args.api_url, file=args.file, timeout=timeout)
    if want_ot:
        ot = config.opentrack
        ot_sender = opentrack_sender(config, timeout=timeout)
        if not (args.competition or ot.competition):
            raise ValueError("--publish-opentrack: pass --competition URL or set opentrack.competition")
        if not (events or ot.events):
            raise ValueError("--publish-opentrack: pass --event RACE=EVENTID or set opentrack.events")
    problem = None
    try:
        outbox = Outbox(owner=True)
    except OutboxError as exc:
        problem = f"{exc}: this dashboard shows the outbox read-only"
        try:
            outbox = Outbox(owner=False)
        except OutboxError as again:
            raise ValueError(str(again)) from None
    senders = [s for s in (tri_sender, ot_sender) if s is not None]
    service = PublishService(outbox, senders, backoff=Backoff(base=base, cap=cap))
    triathlon = opentrack = None
    try:
        if tri_sender is not None:
            from racetui.publish.triathlon import TriathlonPublisher

            tri = config.triathlon
            mapping = {**tri.programs, **programs}
            hosted = args.file is not None
            triathlon = TriathlonPublisher(
                engine,
                service,
                destination=args.file if hosted else (args.api_url or tri.api_url),
                hosted_file=hosted,
                event_id=args.event_id or tri.event_id,
                programs=mapping,
                sandbox=tri.sandbox if args.sandbox is None else args.sandbox,
                races=list(mapping) if mapping and not hosted else None,
            )
        if ot_sender is not None:
            from racetui.publish.opentrack import OpenTrackEvent, OpenTrackPublisher

            ot = config.opentrack
            opentrack = OpenTrackPublisher(
                engine,
                service,
                competition=args.competition or ot.competition or "",
                events=[OpenTrackEvent(race, eventid) for race, eventid in {**ot.events, **events}.items()],
                auth_server=ot.server,
            )
    except PublishError as exc:
        outbox.close()
        raise ValueError(str(exc)) from None
    return Publishing(
        outbox, service, triathlon=triathlon, opentrack=opentrack, owner=outbox.owner, problem=problem
    )


# ================================================================ start lists


class CachedStartList:
    """A source that pushes names from the local start-list cache into the pipeline, for
    every race the timing source loads (names for sources that only carry bibs)."""

    def __init__(self, cache: Any = None, *, interval: float = 0.5) -> None:
        from racetui.sources.base import SourceHealth, SourceMode

        self.cache = cache
        self.interval = interval
        self.name = "start list (cache)"
        self.health = SourceHealth(self.name, mode=SourceMode.FILE)
        self.pushed: set[str] = set()

    async def run(self, pipeline: Any) -> None:
        from racetui.sources.startlist import StartListCache

        cache = self.cache or StartListCache()
        pipeline.listeners.append(self._on_change)
        try:
            while True:
                await self._push(pipeline, cache)
                await asyncio.sleep(self.interval)
        finally:
            if self._on_change in pipeline.listeners:
                pipeline.listeners.remove(self._on_change)

    def _on_change(self, changes: Any) -> None:
        # a race set up again (its entries reloaded by the timing source): push its names again
        self.pushed -= set(changes.structure)

    async def _push(self, pipeline: Any, cache: Any) -> None:
        fresh = set(pipeline.engine.races) - self.pushed
        if not fresh:
            return
        participants: list[Any] = []
        for race_id in sorted(fresh):
            participants += await asyncio.to_thread(cache.participants, race_id)
        if participants:
            pipeline.add_participants(participants)
        self.pushed |= fresh  # after our own change set: it must not ask for a re-push
        self.health.received()


def build_startlist_changes(args: argparse.Namespace, config: Config, publishing: Any = None) -> Any:
    """Race-day start-list fixes from the dashboard (the ``L`` screen) with ``--startlist``,
    for every service whose credentials are configured; None otherwise. Shares the
    publishing outbox when there is one (one delivering owner per process). ValueError
    (one line) when the outbox cannot be opened."""
    if not getattr(args, "startlist", False):
        return None
    from racetui.publish.outbox import Outbox, OutboxError
    from racetui.sources.startlist import ChronoTrackClient, CredentialsError, RaceEntryClient, StartListCache
    from racetui.sources.startlist.writeback import StartListWriter
    from racetui.tui.startlist_changes import StartListChanges

    settings = config.startlist
    cache = StartListCache()
    writers: dict[str, Any] = {}
    with contextlib.suppress(CredentialsError):  # no credentials: that service is read-only
        client = RaceEntryClient(
            settings.raceentry_url,
            settings.raceentry_key,
            settings.raceentry_secret,
            login_fields=settings.raceentry_login_fields,
        )
        writers["raceentry"] = StartListWriter(client, cache)
    with contextlib.suppress(CredentialsError):
        ct = ChronoTrackClient(
            settings.chronotrack_url,
            client_id=settings.chronotrack_client_id,
            client_secret=settings.chronotrack_client_secret,
            username=settings.chronotrack_username,
            password=settings.chronotrack_password,
        )
        writers["chronotrack"] = StartListWriter(ct, cache)
    if not writers:
        return None
    if publishing is not None and getattr(publishing, "owner", False):
        return StartListChanges(writers, outbox=publishing.outbox, cache=cache, service=publishing.service)
    try:
        outbox = Outbox(owner=True)
    except OutboxError as exc:
        raise ValueError(f"--startlist: {exc}") from None
    return StartListChanges(writers, outbox=outbox, cache=cache)


def extra_sources(args: argparse.Namespace, config: Config) -> list[Any]:
    """The start-list source for ``--startlist`` (none without it)."""
    if not getattr(args, "startlist", False):
        return []
    return [CachedStartList()]
