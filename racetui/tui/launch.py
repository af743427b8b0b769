"""Start the dashboard for a command: config, sources, app, a clean exit.

Command modules (``racetui demo|connect|feed|replay``) call :func:`run_dashboard` from
their ``run()``; this module imports Textual only inside the function, so importing it
costs nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from racetui.config import Config, ConfigError, load_config

__all__ = ["SourcesFactory", "run_dashboard"]

SourcesFactory = Callable[[Config], Sequence[Any]]


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
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"racetui {command}: {exc}", file=sys.stderr)
        return 2
    from racetui.commands.dashboard_options import build_publishing, extra_sources
    from racetui.sources.base import Pipeline

    pipeline = Pipeline()
    try:  # before the sources: a refused publishing option leaves no journal behind
        publishing = build_publishing(args, config, pipeline.engine)
    except ValueError as exc:
        print(f"racetui {command}: {exc}", file=sys.stderr)
        return 2
    try:
        sources = list(make_sources(config)) + extra_sources(args, config)
    except (ValueError, OSError) as exc:
        print(f"racetui {command}: {exc}", file=sys.stderr)
        if publishing is not None:
            publishing.close()
        return 2
    from racetui.tui.app import RaceApp
    from racetui.tui.clock import system_clock

    app = RaceApp(
        pipeline,
        sources,
        config=config,
        theme=getattr(args, "theme", None),
        clock=clock or system_clock,
        master_offset=master_offset,
        publishing=publishing,
    )
    app.notices += config.warnings
    try:
        app.run()
    finally:
        if publishing is not None:
            publishing.close()
        for source in sources:
            journal = getattr(source, "journal", None)
            close = getattr(journal, "close", None)
            if callable(close):
                close()
    return app.return_code or 0
