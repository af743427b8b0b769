"""The one typed way for a screen or widget to reach the dashboard app.

Screens and widgets only ever run inside :class:`~racetui.tui.app.RaceApp`, which imports
them; importing the app back at run time would be an import cycle. The app's type is
imported for the type checker only, and :func:`race_app` casts to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from racetui.tui.app import RaceApp

__all__ = ["race_app"]


def race_app(node: DOMNode) -> RaceApp:
    """The app ``node`` runs in, typed as the dashboard."""
    return cast("RaceApp", node.app)
