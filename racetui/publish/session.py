"""The dashboard's publishing session: one outbox, its delivery service, the publishers.

The dashboard commands (``demo``, ``connect``, ``feed``, ``replay``) take the options
``--publish-triathlon`` / ``--publish-opentrack`` (see ``racetui.commands.dashboard_options``);
:func:`build_publishing` turns them into a :class:`Publishing` that the Publish screen
drives. The senders (:func:`triathlon_sender`, :func:`opentrack_sender`) are shared with the
headless ``racetui publish``.

Secrets (the Triathlon apikey, the OpenTrack token or password) come from the config
(:func:`racetui.config.load_config`: environment or a 0600 file), never from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from racetui.publish.opentrack import NO_CREDENTIALS, OpenTrackEvent, OpenTrackPublisher, OpenTrackSender
from racetui.publish.outbox import Outbox, OutboxError, OutboxItem, PublishError, PublishService
from racetui.publish.triathlon import (
    NO_APIKEY,
    FileSender,
    MessagePreview,
    TriathlonPublisher,
    TriathlonSender,
)
from racetui.util.retry import Backoff

if TYPE_CHECKING:
    from racetui.config import Config
    from racetui.engine import Engine, Pipeline

__all__ = [
    "ENABLE_HINT",
    "Publishing",
    "PublishingOptions",
    "build_publishing",
    "opentrack_sender",
    "parse_mapping",
    "triathlon_sender",
]

ENABLE_HINT = (
    "Publishing is off in this dashboard. Start it with publishing options:\n"
    "  --publish-triathlon [--api-url URL | --file PATH] [--no-sandbox] [--prog RACE=PROGID]\n"
    "  --publish-opentrack --competition URL --event RACE=EVENTID\n"
    "(apikey / OpenTrack credentials from the environment or the config). "
    "Headless: racetui publish --help"
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


@dataclass(frozen=True, slots=True)
class PublishingOptions:
    """What the user asked the dashboard to publish (the ``--publish-*`` options)."""

    triathlon: bool = False
    opentrack: bool = False
    api_url: str | None = None
    file: str | None = None  # hosted-file delivery instead of a POST
    sandbox: bool | None = None  # None: the config's
    event_id: str | None = None
    programs: Mapping[str, str] = field(default_factory=dict)  # race id -> World Triathlon prog_id
    competition: str | None = None
    events: Mapping[str, str] = field(default_factory=dict)  # race id -> OpenTrack event id
    http_timeout: float = 10.0
    backoff: tuple[float, float] = (1.0, 60.0)  # base, cap (seconds)

    @classmethod
    def from_args(cls, args: object) -> PublishingOptions:
        """From parsed command-line options (any object with the option attributes; absent
        ones keep their defaults). ValueError names a bad ``--prog``/``--event`` value."""

        base, cap = getattr(args, "backoff", None) or (1.0, 60.0)
        sandbox = getattr(args, "sandbox", None)
        return cls(
            triathlon=bool(getattr(args, "publish_triathlon", False)),
            opentrack=bool(getattr(args, "publish_opentrack", False)),
            api_url=_text(getattr(args, "api_url", None)),
            file=_text(getattr(args, "file", None)),
            sandbox=None if sandbox is None else bool(sandbox),
            event_id=_text(getattr(args, "event_id", None)),
            programs=parse_mapping([str(v) for v in getattr(args, "prog", None) or []], "--prog"),
            competition=_text(getattr(args, "competition", None)),
            events=parse_mapping([str(v) for v in getattr(args, "event", None) or []], "--event"),
            http_timeout=float(getattr(args, "http_timeout", 10.0)),
            backoff=(float(base), float(cap)),
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# ================================================================ senders


def triathlon_sender(
    config: Config, *, api_url: str | None = None, file: str | None = None, timeout: float = 10.0
) -> FileSender | TriathlonSender:
    """The World Triathlon sender: a :class:`FileSender` for hosted-file delivery, else a
    :class:`TriathlonSender` with the configured apikey. ValueError when POSTing without one."""
    if file is not None:
        return FileSender()
    tri = config.triathlon
    if tri.apikey is None:
        raise ValueError(NO_APIKEY)
    return TriathlonSender(tri.apikey, api_url=api_url or tri.api_url, timeout=timeout)


def opentrack_sender(config: Config, *, server: str | None = None, timeout: float = 10.0) -> OpenTrackSender:
    """The OpenTrack sender with the configured token or username/password. ValueError
    without credentials."""
    ot = config.opentrack
    if ot.token is None and not (ot.username and ot.password is not None):
        raise ValueError(NO_CREDENTIALS)
    return OpenTrackSender(
        username=ot.username,
        password=ot.password,
        token=ot.token,
        server=server or ot.server,
        timeout=timeout,
    )


# ================================================================ the session

Publisher = TriathlonPublisher | OpenTrackPublisher


class Publishing:
    """The dashboard's publishing: one outbox, its delivery service, the publishers.

    ``owner`` is False when another racetui process delivers from the same outbox
    (``problem`` says so): the screen then lists and retries/cancels, but sends nothing.
    Live publishing (every change queued) starts with the first confirmed "publish now".
    """

    def __init__(
        self,
        outbox: Outbox,
        service: PublishService,
        *,
        triathlon: TriathlonPublisher | None = None,
        opentrack: OpenTrackPublisher | None = None,
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
        self._pipeline: Pipeline | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def publishers(self) -> list[Publisher]:
        return [p for p in (self.triathlon, self.opentrack) if p is not None]

    async def run(self, pipeline: Pipeline) -> None:
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

    def publish_now(self) -> list[OutboxItem]:
        """Queue what changed (a failed last upload is sent again: the user asked)."""
        items: list[OutboxItem] = []
        if self.triathlon is not None:
            items += self.triathlon.publish(resend_failed=True)
        if self.opentrack is not None:
            item = self.opentrack.publish(resend_failed=True)
            if item is not None:
                items.append(item)
        self.start_live()
        return items

    async def publish_previewed(self, previews: Sequence[MessagePreview]) -> list[OutboxItem]:
        """:meth:`publish_now` of what the user was shown: the v1.1 messages previewed (their
        queueing off the loop), OpenTrack's changes as they are now."""
        items: list[OutboxItem] = []
        if self.triathlon is not None:
            items += await self.triathlon.queue_previewed(previews)
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


def build_publishing(options: PublishingOptions, config: Config, engine: Engine) -> Publishing | None:
    """The dashboard's :class:`Publishing`, or None when no publishing was asked for.

    ValueError (one line) for a bad option or missing credentials."""
    if not (options.triathlon or options.opentrack):
        return None
    base, cap = options.backoff
    timeout = options.http_timeout
    tri_sender = ot_sender = None
    if options.triathlon:
        tri_sender = triathlon_sender(config, api_url=options.api_url, file=options.file, timeout=timeout)
    if options.opentrack:
        ot = config.opentrack
        ot_sender = opentrack_sender(config, timeout=timeout)
        if not (options.competition or ot.competition):
            raise ValueError("--publish-opentrack: pass --competition URL or set opentrack.competition")
        if not (options.events or ot.events):
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
            tri = config.triathlon
            mapping = {**tri.programs, **options.programs}
            hosted = options.file is not None
            triathlon = TriathlonPublisher(
                engine,
                service,
                destination=options.file if options.file is not None else (options.api_url or tri.api_url),
                hosted_file=hosted,
                event_id=options.event_id or tri.event_id,
                event_name=tri.event_name,
                programs=mapping,
                sandbox=tri.sandbox if options.sandbox is None else options.sandbox,
                races=list(mapping) if mapping and not hosted else None,
            )
        if ot_sender is not None:
            ot = config.opentrack
            opentrack = OpenTrackPublisher(
                engine,
                service,
                competition=options.competition or ot.competition or "",
                events=[
                    OpenTrackEvent(race, eventid) for race, eventid in {**ot.events, **options.events}.items()
                ],
                auth_server=ot.server,
            )
    except PublishError as exc:
        outbox.close()
        raise ValueError(str(exc)) from None
    return Publishing(
        outbox, service, triathlon=triathlon, opentrack=opentrack, owner=outbox.owner, problem=problem
    )
