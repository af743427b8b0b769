"""Start the dashboard for a command: config, sources, app, a clean exit.

Command modules (``racetui demo|connect|feed|replay``) call :func:`run_dashboard` from
their ``run()``; this module imports Textual only inside the function, so importing it
costs nothing.

By default the sources run in an embedded hub (:mod:`racetui.hub.local`): a child process
that owns the timing connection, the journal and the parsing, and streams what changed to
the dashboard's replica. The user sees one program; quitting it ends the hub.
``--in-process`` (or a platform without ``fork``) runs the sources in the dashboard's loop.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from racetui.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from racetui.publish.session import Publishing
    from racetui.sources.base import Source
    from racetui.sources.notes import NotesBook
    from racetui.sources.startlist.writeback import StartListWriter
    from racetui.tui.startlist_changes import StartListChanges

__all__ = [
    "SourcesFactory",
    "build_notes",
    "build_startlist_changes",
    "run_dashboard",
    "session_config",
    "startlist_sources",
]

SourcesFactory = Callable[[Config], Sequence["Source"]]


def startlist_sources(args: argparse.Namespace) -> list[Source]:
    """``--startlist``: names by bib from the local start-list cache, next to the timing source."""
    if not getattr(args, "startlist", False):
        return []
    from racetui.sources.startlist.cached import CachedStartList

    return [CachedStartList()]


def build_startlist_changes(
    args: argparse.Namespace, config: Config, publishing: Publishing | None = None
) -> StartListChanges | None:
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
    writers: dict[str, StartListWriter] = {}
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
    if publishing is not None and publishing.owner:
        return StartListChanges(writers, outbox=publishing.outbox, cache=cache, service=publishing.service)
    try:
        outbox = Outbox(owner=True)
    except OutboxError as exc:
        raise ValueError(f"--startlist: {exc}") from None
    return StartListChanges(writers, outbox=outbox, cache=cache)


def build_notes(args: argparse.Namespace, config: Config) -> NotesBook:
    """Athlete cards from ``--notes`` or ``cards.notes``; notes added during the race go to
    that file when it is the user's to write, else (decided once the event is known) to the
    event's own file in the data dir."""
    from racetui.sources.notes import NotesBook, can_append

    given = getattr(args, "notes", None) or config.cards.notes
    if not given:
        return NotesBook()
    path = Path(given).expanduser()
    return NotesBook([path], writable=path if can_append(path) else None)


def session_config(args: argparse.Namespace, config: Config) -> Config:
    """The config with ``--role`` and ``--operator`` over it (they win over file and environment).

    ValueError (one line) for an empty operator name."""
    from racetui.config import Role

    update: dict[str, object] = {}
    role = getattr(args, "role", None)
    if role:
        update["role"] = Role(role)
    operator = getattr(args, "operator", None)
    if operator is not None:
        operator = operator.strip()
        if not operator:
            raise ValueError("--operator: expected the official's name, got an empty one")
        update["operator"] = operator
    return config.model_copy(update=update) if update else config


def publishing_refused(args: argparse.Namespace, config: Config) -> str | None:
    """Why the session's role may not publish as asked (None: it may)."""
    from racetui.config import Permission, role_allows

    asked = [
        f"--{name.replace('_', '-')}"
        for name in ("publish_triathlon", "publish_opentrack")
        if getattr(args, name, False)
    ]
    if not asked or role_allows(config.role, Permission.PUBLISH):
        return None
    role = config.role.value if config.role else ""
    why = "publishing is the timer's; --role timer, or no role"
    return f"{' and '.join(asked)}: not with the {role} role ({why})"


def _load(args: argparse.Namespace, command: str) -> Config | None:
    """The session's config, or None after printing why it cannot be had."""
    try:
        return session_config(args, load_config(getattr(args, "config", None)))
    except (ConfigError, ValueError) as exc:
        print(f"racetui {command}: {exc}", file=sys.stderr)
        return None


def run_dashboard(
    args: argparse.Namespace,
    make_sources: SourcesFactory,
    *,
    command: str,
    clock: Callable[[], datetime] | None = None,
    master_offset: bool = True,
) -> int:
    """Load the config, build the sources, run the app until the user quits.

    A bad config or a bad argument prints one line naming it and returns 2: no traceback.
    """
    config = _load(args, command)
    if config is None:
        return 2
    refused = publishing_refused(args, config)
    if refused:
        print(f"racetui {command}: {refused}", file=sys.stderr)
        return 2
    from racetui.engine import Pipeline
    from racetui.hub.local import HubError, LocalHub, fork_available
    from racetui.hub.replica import ReplicaPipeline
    from racetui.publish.session import PublishingOptions, build_publishing

    embedded = fork_available() and not getattr(args, "in_process", False)
    pipeline = ReplicaPipeline() if embedded else Pipeline()
    # Publishing reads live data whatever the TV delay: with a hub it gets its own replica,
    # fed every frame at once while the screens' replica holds them for the delay.
    live: Pipeline = ReplicaPipeline() if embedded else pipeline
    try:  # before the sources: a refused publishing option leaves no journal behind
        publishing = build_publishing(PublishingOptions.from_args(args), config, live.engine)
    except ValueError as exc:
        print(f"racetui {command}: {exc}", file=sys.stderr)
        return 2
    try:
        startlists = build_startlist_changes(args, config, publishing)
    except ValueError as exc:
        print(f"racetui {command}: {exc}", file=sys.stderr)
        if publishing is not None:
            publishing.close()
        return 2
    if publishing is None:
        live = pipeline
    from racetui.hub.delay import TvDelay
    from racetui.tui.clock import system_clock

    tv = TvDelay(clock or system_clock, available=embedded)
    hub: LocalHub | None = None
    try:
        if embedded:
            hub = LocalHub.start(lambda: list(make_sources(config)) + startlist_sources(args))
            hub.delay = tv
            hub.live = live if isinstance(live, ReplicaPipeline) and live is not pipeline else None
            sources: list[Source] = list(hub.sources)
            owner = getattr(clock, "__self__", None)
            follow_clock = getattr(owner, "follow_clock", None)
            if callable(follow_clock):  # the demo's simulator clock lives in the hub
                hub.on_clock = follow_clock
        else:
            sources = list(make_sources(config)) + startlist_sources(args)
    except (ValueError, OSError, HubError) as exc:
        print(f"racetui {command}: {exc}", file=sys.stderr)
        if publishing is not None:
            publishing.close()
        if startlists is not None:
            startlists.close()
        return 2
    from racetui.tui.app import RaceApp

    notes = build_notes(args, config)
    app = RaceApp(
        pipeline,
        sources,
        config=config,
        theme=getattr(args, "theme", None),
        clock=clock or system_clock,
        master_offset=master_offset,
        publishing=publishing,
        startlists=startlists,
        tv_delay=tv,
        live_pipeline=live,
        notes=notes,
    )
    app.notices += config.warnings
    from racetui.config import data_dir
    from racetui.util.logs import dashboard_logging

    try:
        log_dir = data_dir() / "logs"
    except OSError:
        log_dir = Path(tempfile.gettempdir()) / "racetui-logs"
    try:
        # Textual owns the terminal: log records go to a file and the Health screen.
        with dashboard_logging(log_dir) as logs:
            app.logs = logs
            # Everything built so far (the imported modules, the app) lives as long as the
            # process: out of the collector's way, or its first full pass walks it all
            # (184 ms in the second after start, measured under load 5). Constant time.
            gc.freeze()
            app.run()
    finally:
        if hub is not None:
            hub.close()
        if publishing is not None:
            publishing.close()
        if startlists is not None:
            startlists.close()
        for source in sources:
            journal = getattr(source, "journal", None)
            close = getattr(journal, "close", None)
            if callable(close):
                close()
    return app.return_code or 0


def run_viewer(args: argparse.Namespace, url: str, *, prefix: str = "racetui", command: str = "view") -> int:
    """The dashboard on a hub's Redis stream: a replica, no source, no publishing. The desk
    is the hub's: with ``--role td|timer`` (or the config's role) entries go to the hub,
    which records them; otherwise the desk screens show what it says and refuse entries here."""
    config = _load(args, command)
    if config is None:
        return 2
    from racetui.hub.redis import RedisViewer
    from racetui.hub.redis_desk import RemoteDesk
    from racetui.util.secrets import safe_url

    role = config.role.value if config.role else None  # none: read-only
    desk = RemoteDesk(url, prefix=prefix, operator=config.operator, role=role, settings=config.desk)
    try:
        link = RedisViewer.open(url, prefix=prefix, desk=desk)
    except OSError as exc:
        print(f"racetui {command}: {exc}", file=sys.stderr)
        return 2
    from racetui.hub.delay import TvDelay
    from racetui.tui.app import RaceApp
    from racetui.tui.clock import system_clock

    # The TV delay holds the hub's frames here as on an embedded hub (desk entries a viewer
    # sends come back through the held frames: a TD works with no delay).
    tv = TvDelay(system_clock)
    link.delay = tv
    app = RaceApp(
        link.pipeline(),
        list(link.sources),
        config=config,
        theme=getattr(args, "theme", None),
        desk=desk,  # type: ignore[arg-type]  # the hub's desk, read like a local one
        tv_delay=tv,
    )
    app.notices += config.warnings
    if desk.allowed:
        app.notices.append(f"viewer of the hub at {safe_url(url)}: desk entries go to the hub ({desk.role})")
    else:
        app.notices.append(
            f"viewer of the hub at {safe_url(url)}: read-only (desk and publishing are the hub's)"
        )
    from racetui.config import data_dir
    from racetui.util.logs import dashboard_logging

    try:
        log_dir = data_dir() / "logs"
    except OSError:
        log_dir = Path(tempfile.gettempdir()) / "racetui-logs"
    with dashboard_logging(log_dir) as logs:
        app.logs = logs
        app.run()
    return app.return_code or 0
