"""Component styles that layer: what a component sets, with its colours resolved.

``get_component_rich_style(name, partial=True)`` keeps only what the component sets (so it
can be layered over a row or cursor style) but drops the alpha of ``$foreground 65%``;
the full style resolves the alpha against the widget's background but also sets every
attribute. This takes the attributes from the partial style and the colours from the full.
"""

from __future__ import annotations

from rich.style import Style
from textual.widget import Widget

__all__ = ["layer_style"]


def layer_style(widget: Widget, name: str) -> Style:
    partial = widget.get_component_rich_style(name, partial=True)
    full = widget.get_component_rich_style(name)
    return partial + Style(
        color=full.color if partial.color is not None else None,
        bgcolor=full.bgcolor if partial.bgcolor is not None else None,
    )
