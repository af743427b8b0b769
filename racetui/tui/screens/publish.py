"""6 · Publish: the publish outbox's screen.

The publish engineer replaces :class:`PublishPanel` (one widget, swapped whole); the screen
around it (header, footer, mode key 6) stays as it is.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from racetui.tui.screens.base import RaceScreen

__all__ = ["PublishPanel", "PublishScreen"]


class PublishPanel(Static):
    """Placeholder until the publish outbox screen is built."""

    DEFAULT_CSS = """
    PublishPanel {
        height: 1fr;
        padding: 1 2;
        color: $foreground 80%;
    }
    """

    def __init__(self) -> None:
        super().__init__(
            "Publish\n\n"
            "The publish outbox (World Triathlon, OpenTrack) is not built yet.\n"
            "Results are not being published from this dashboard.\n\n"
            "Headless publishing: racetui publish --help",
            id="publish-panel",
        )


class PublishScreen(RaceScreen):
    TITLE = "Publish"

    def compose_body(self) -> ComposeResult:
        yield PublishPanel()
