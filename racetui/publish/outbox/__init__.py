"""The persistent outbox and the service that delivers it (a package: ``store``,
``delivery``, ``answers`` and ``preview``; every public name is re-exported here).

Every upload (a World Triathlon v1.1 message, an OpenTrack road/XC payload, a hosted file)
is first written to an SQLite outbox (``data_dir()/outbox.sqlite3``, WAL, every state
change committed), then delivered by :class:`PublishService`. Nothing is lost:

* an item is ``queued`` until a worker claims it (``sending``, committed *before* the
  request leaves), then ``sent``, ``failed`` (a 4xx: needs a user action), or back to
  ``queued`` with a backoff (5xx, timeouts, refused connections);
* a crash or ``kill -9`` mid-upload leaves the item ``sending``: opening the outbox puts
  it back to ``queued`` and it is re-sent with the same ``Idempotency-Key`` header;
* items of a *supersedable* group (a race's v1.1 message, an OpenTrack ``replace`` of
  one event) keep only the newest: enqueuing a newer one marks older queued or failed
  ones ``superseded`` (never sent). Other items (OpenTrack ``append``/``update``) are
  all kept and sent in order.

Stored headers never hold a secret: senders add ``apikey`` / ``Authorization`` at send
time, and every text that comes back from a server is scrubbed of secret values before
it is stored, logged or shown.

The preview helpers (:func:`diff_rows`, :func:`render_diff`) compare what would be sent
against the last successful upload (the *baseline*, kept per group in the outbox).
"""

from racetui.publish.outbox.answers import (
    Outcome,
    SendResult,
    classify_response,
    server_message,
    transport_failure,
)
from racetui.publish.outbox.delivery import PublishService, Sender, TargetStatus
from racetui.publish.outbox.preview import (
    FieldChange,
    PublishDiff,
    RowChange,
    apply_rows,
    diff_rows,
    render_diff,
)
from racetui.publish.outbox.store import (
    BODY_PIECE,
    OUTBOX_FILE,
    SETTLED,
    ItemState,
    Outbox,
    OutboxError,
    OutboxItem,
    PublishError,
    StoredBody,
)
from racetui.util.retry import Backoff

__all__ = [
    "BODY_PIECE",
    "OUTBOX_FILE",
    "SETTLED",
    "Backoff",
    "FieldChange",
    "ItemState",
    "Outbox",
    "OutboxError",
    "OutboxItem",
    "Outcome",
    "PublishDiff",
    "PublishError",
    "PublishService",
    "RowChange",
    "SendResult",
    "Sender",
    "StoredBody",
    "TargetStatus",
    "apply_rows",
    "classify_response",
    "diff_rows",
    "render_diff",
    "server_message",
    "transport_failure",
]
