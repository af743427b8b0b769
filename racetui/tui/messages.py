"""What screens ask of the app, and what the app's workers report, as typed messages.

A screen never calls the app to change shared state: it posts one of these and the app's
``on_…`` handler does it (the app owns the UI state, the desk and the notifications). The
app posts the desk's answer back to the screen that asked (:class:`DeskEntryRecorded`,
:class:`DeskEntryRejected`), and every failure of a worker (a feed source, the publisher)
arrives as :class:`WorkerFailed`, which one handler turns into an error notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from racetui.tui.state import AthleteRef

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from racetui.sources.desk import DeskAction
    from racetui.tui.screens.desk import DeskRequest

__all__ = [
    "DeskEntryRecorded",
    "DeskEntryRejected",
    "OpenAthlete",
    "RecordDeskEntry",
    "ShowError",
    "ShowGap",
    "ToggleMark",
    "ToggleWatch",
    "WorkerFailed",
]


@dataclass
class OpenAthlete(Message):
    """Open the athlete detail (switching to the athlete's race if another is shown)."""

    ref: AthleteRef | None


@dataclass
class ToggleWatch(Message):
    """Add the athlete to the watchlist, or take them off it."""

    ref: AthleteRef | None


@dataclass
class ToggleMark(Message):
    """Mark the athlete as the gap reference, or clear the mark."""

    ref: AthleteRef | None


@dataclass
class ShowGap(Message):
    """Tell the gap between the marked athlete and this one."""

    ref: AthleteRef | None


@dataclass
class RecordDeskEntry(Message):
    """Record a confirmed desk request; the answer goes to ``reply_to`` (or a notice).

    ``text`` is the wording the official confirmed, repeated in the "recorded" notice."""

    request: DeskRequest
    text: str
    reply_to: DOMNode | None = None


@dataclass
class DeskEntryRecorded(Message):
    """The desk recorded the request (the last action is the one asked for)."""

    request: DeskRequest
    actions: list[DeskAction]


@dataclass
class DeskEntryRejected(Message):
    """The desk refused the request; ``error`` says why, in the desk's words."""

    request: DeskRequest
    error: str


@dataclass
class ShowError(Message):
    """Show an error to the user (a notification that stays until read)."""

    title: str
    text: str


@dataclass
class WorkerFailed(Message):
    """A worker (a feed source, the publisher) stopped with an error."""

    name: str
    error: BaseException
