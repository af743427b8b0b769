"""racetui.publish: results upstream, through a persistent outbox.

* :mod:`racetui.publish.outbox` — :class:`Outbox` (SQLite, WAL, crash-safe),
  :class:`PublishService` (delivery workers: rate limit, backoff, holds), the preview diff
  (:func:`diff_rows`, :func:`render_diff`) and the HTTP answer rules.
* :mod:`racetui.publish.triathlon` — World Triathlon Live Timing v1.1 by POST or hosted file.
* :mod:`racetui.publish.opentrack` — OpenTrack road/XC bulk upload.
* :mod:`racetui.publish.v11` — the v1.1 message builder.

Names are re-exported lazily so that importing :mod:`racetui.publish.v11` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from racetui.publish.opentrack import OpenTrackEvent, OpenTrackPublisher, OpenTrackSender
    from racetui.publish.outbox import (
        Backoff,
        ItemState,
        Outbox,
        OutboxError,
        OutboxItem,
        PublishDiff,
        PublishError,
        PublishService,
        TargetStatus,
        diff_rows,
        render_diff,
    )
    from racetui.publish.triathlon import FileSender, TriathlonPublisher, TriathlonSender

_EXPORTS = {
    "Backoff": "outbox",
    "ItemState": "outbox",
    "Outbox": "outbox",
    "OutboxError": "outbox",
    "OutboxItem": "outbox",
    "PublishDiff": "outbox",
    "PublishError": "outbox",
    "PublishService": "outbox",
    "TargetStatus": "outbox",
    "diff_rows": "outbox",
    "render_diff": "outbox",
    "FileSender": "triathlon",
    "TriathlonPublisher": "triathlon",
    "TriathlonSender": "triathlon",
    "OpenTrackEvent": "opentrack",
    "OpenTrackPublisher": "opentrack",
    "OpenTrackSender": "opentrack",
}

__all__ = [
    "Backoff",
    "FileSender",
    "ItemState",
    "OpenTrackEvent",
    "OpenTrackPublisher",
    "OpenTrackSender",
    "Outbox",
    "OutboxError",
    "OutboxItem",
    "PublishDiff",
    "PublishError",
    "PublishService",
    "TargetStatus",
    "TriathlonPublisher",
    "TriathlonSender",
    "diff_rows",
    "render_diff",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'racetui.publish' has no attribute {name!r}")
    return getattr(importlib.import_module(f"racetui.publish.{module}"), name)
