"""The desk's actions and how they fold into entries and their lifecycle states.

Pure: no SQLite, no clock. :func:`fold` replays an athlete's actions (oldest first) into
:class:`DeskEntry` records; :func:`check` says whether one more action is allowed on them
(a :class:`DeskError` naming what was wrong otherwise). See the package docstring for the
states and the actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from racetui.config import Permission
from racetui.model import Incident, IncidentKind, Status
from racetui.model.times import format_time_of_day

__all__ = [
    "CREATING",
    "ActionKind",
    "DeskAction",
    "DeskEntry",
    "DeskError",
    "EntryState",
    "check",
    "fold",
    "permission_for",
]


class DeskError(ValueError):
    """An action the desk refuses; the message says what was wrong."""


class ActionKind(StrEnum):
    # entries recorded as decided (the technical delegate's word, confirmed as recorded)
    PENALTY = "penalty"
    DSQ = "dsq"
    DNF = "dnf"
    DNS = "dns"
    LAP = "lap"
    REINSTATE = "reinstate"
    # the lifecycle
    REPORT = "report"  # an official reports a penalty or a DSQ (subject): pending
    CONFIRM = "confirm"  # a report, or a proposed DSQ, is confirmed: it leaves the desk
    DECLINE = "decline"  # ... or declined (with the reason)
    ASSIGN = "assign"  # a confirmed penalty is to be served at a box
    ENTER = "enter"  # the athlete entered the box: the penalty's time starts
    LEAVE = "leave"  # ... and left it: served
    SERVE = "serve"  # served (where and when the box official says; any earlier lap counts)
    UNSERVED = "unserved"  # not served at the finish: proposes a DSQ (an entry of its own)
    HOLD = "hold"  # a confirmed entry held back on the desk until released (confirm again)
    # corrections
    EDIT = "edit"
    WITHDRAW = "withdraw"
    UNDO = "undo"  # takes back the latest step of an entry


class EntryState(StrEnum):
    REPORTED = "reported"  # pending: the technical delegates' alone
    DECLINED = "declined"
    CONFIRMED = "confirmed"
    ASSIGNED = "assigned"  # a confirmed penalty with its box
    IN_BOX = "in box"
    SERVED = "served"
    UNSERVED = "unserved"  # a penalty not served at the finish (a DSQ is proposed)
    WITHDRAWN = "withdrawn"
    OVERTURNED = "overturned"  # a DSQ reinstated on protest


# What creates an entry (the others act on one, named by ``target``).
CREATING = frozenset(
    {
        ActionKind.PENALTY,
        ActionKind.DSQ,
        ActionKind.DNF,
        ActionKind.DNS,
        ActionKind.LAP,
        ActionKind.REINSTATE,
        ActionKind.REPORT,
        ActionKind.UNSERVED,
    }
)
_STATUS_OF = {
    ActionKind.DSQ: Status.DSQ,
    ActionKind.DNF: Status.DNF,
    ActionKind.DNS: Status.DNS,
    ActionKind.LAP: Status.LAP,
    ActionKind.REINSTATE: Status.OK,
}
# States in which an entry leaves the desk (engine, uploads, exports, commentators).
_PUBLISHED = {
    EntryState.CONFIRMED,
    EntryState.ASSIGNED,
    EntryState.IN_BOX,
    EntryState.SERVED,
    EntryState.UNSERVED,
}
# States of an entry that no longer stands (kept for the reports and the audit).
_CLOSED = {EntryState.DECLINED, EntryState.WITHDRAWN, EntryState.OVERTURNED}
# A confirmed penalty still to serve.
_DUE = {EntryState.CONFIRMED, EntryState.ASSIGNED, EntryState.IN_BOX}


@dataclass(frozen=True, slots=True)
class DeskAction:
    """One row of the append-only audit trail."""

    id: int
    at: datetime
    operator: str
    race_id: str
    bib: str
    action: ActionKind
    seconds: int | None = None
    infringement: str | None = None
    reason: str | None = None
    target: int | None = None
    event: str = ""  # EventKey.text() of the event it was recorded for
    location: str | None = None  # where it was seen (a timing point, a course location)
    box: str | None = None  # the penalty box (assign, enter, serve)
    seen_at: datetime | None = None  # when it happened, as the official says (default: at)
    subject: ActionKind | None = None  # what a report is of: penalty or dsq
    name: str | None = None  # the athlete's name as shown when recorded (for the reports)

    @property
    def when(self) -> datetime:
        """When it happened: the official's time if given, else when it was recorded."""
        return self.seen_at or self.at

    def describe(self) -> str:
        """One line for the audit trail."""
        on = f"#{self.target}"
        what = {
            ActionKind.PENALTY: f"{self.seconds} second penalty for {self.infringement}",
            ActionKind.SERVE: f"penalty {on} served",
            ActionKind.DSQ: f"DSQ for {self.infringement}",
            ActionKind.DNF: f"DNF{': ' + self.reason if self.reason else ''}",
            ActionKind.DNS: "DNS",
            ActionKind.LAP: "lapped (LAP)",
            ActionKind.EDIT: f"{on} edited",
            ActionKind.WITHDRAW: f"{on} withdrawn",
            ActionKind.REINSTATE: "reinstated (DSQ overturned)",
            ActionKind.REPORT: "reported: "
            + (
                f"{self.seconds} second penalty for {self.infringement}"
                if self.subject is not ActionKind.DSQ
                else f"DSQ for {self.infringement}"
            ),
            ActionKind.CONFIRM: f"{on} confirmed (or released)",
            ActionKind.HOLD: f"{on} held back: on the desk only until released",
            ActionKind.DECLINE: f"{on} declined",
            ActionKind.ASSIGN: f"{on} to serve at the {self.box}",
            ActionKind.ENTER: f"{on} entered the {self.box or 'box'}",
            ActionKind.LEAVE: f"{on} left the {self.box or 'box'}: served",
            ActionKind.UNSERVED: f"{on} not served at the finish: DSQ proposed",
            ActionKind.UNDO: f"{on} undone",
        }[self.action]
        if self.action is ActionKind.EDIT:
            changes = [x for x in (f"{self.seconds} s" if self.seconds else None, self.infringement) if x]
            what += f" ({', '.join(changes)})" if changes else ""
        if self.action is ActionKind.SERVE and self.box:
            what += f" at the {self.box}"
        if self.location:
            what += f" at {self.location}"
        if self.seen_at is not None:
            what += f" (seen {format_time_of_day(self.seen_at)})"
        if self.reason and self.action is not ActionKind.DNF:
            what += f" — {self.reason}"
        return f"#{self.id} {format_time_of_day(self.at)} {self.operator}: bib {self.bib}: {what}"


@dataclass(slots=True)
class DeskEntry:
    """One entry of an athlete's record on the desk (a penalty, a DSQ, a status), as its
    actions left it: its values as edited so far, its state, who reported and decided it."""

    action: DeskAction  # the action that created it
    seconds: int | None
    infringement: str | None
    reason: str | None
    state: EntryState
    kind: ActionKind  # PENALTY, DSQ, DNF, DNS, LAP or REINSTATE
    location: str | None = None
    box: str | None = None
    decided: DeskAction | None = None  # the confirmation or decline (the creation if direct)
    entered: datetime | None = None  # entered the box: the time starts
    left: datetime | None = None  # left the box / served
    penalty: int | None = None  # a DSQ proposed for an unserved penalty: that penalty's id
    closed: DeskAction | None = None  # the withdrawal or reinstatement that closed it
    held: bool = False  # confirmed but held back on the desk until released
    steps: list[DeskAction] = field(default_factory=list)  # every action on it, oldest first

    @property
    def id(self) -> int:
        return self.action.id

    @property
    def race_id(self) -> str:
        return self.action.race_id

    @property
    def bib(self) -> str:
        return self.action.bib

    @property
    def name(self) -> str | None:
        """The athlete's name as last recorded with one of its actions."""
        return next((a.name for a in reversed(self.steps) if a.name), None)

    @property
    def reported_by(self) -> str:
        return self.action.operator

    @property
    def served(self) -> bool:
        return self.state is EntryState.SERVED

    @property
    def published(self) -> bool:
        """True once confirmed and not held back: it leaves the desk (engine, uploads,
        exports, the commentators' screens)."""
        return self.state in _PUBLISHED and not self.held

    @property
    def pending(self) -> bool:
        """Reported, not yet decided: for the technical delegates alone."""
        return self.state is EntryState.REPORTED

    @property
    def standing(self) -> bool:
        """Not declined, withdrawn or overturned."""
        return self.state not in _CLOSED

    @property
    def due(self) -> bool:
        """A confirmed (released) penalty still to serve."""
        return self.kind is ActionKind.PENALTY and self.state in _DUE and not self.held

    @property
    def desk_only(self) -> bool:
        """Visible to the technical delegates alone: reported, or held back."""
        return self.standing and (self.pending or self.held)

    def incident(self) -> Incident | None:
        if not self.published:
            return None
        if self.kind is ActionKind.PENALTY and self.seconds is not None and self.infringement:
            return Incident.penalty(self.seconds, self.infringement, served=self.served)
        if self.kind is ActionKind.DSQ and self.infringement:
            return Incident.dsq(self.infringement)
        if self.kind is ActionKind.DNF and self.reason:
            return Incident.note(self.reason, IncidentKind.DNF)
        return None

    def wording(self) -> str:
        """The entry in the Standard Incident Guidelines wording (or its status)."""
        if self.kind is ActionKind.PENALTY:
            sentence = f"{self.seconds} second penalty for {self.infringement}"
            return f"Served {sentence}" if self.served else sentence
        if self.kind is ActionKind.DSQ:
            return f"DSQ for {self.infringement}"
        if self.kind is ActionKind.DNF:
            return f"DNF: {self.reason}" if self.reason else "DNF"
        if self.kind is ActionKind.DNS:
            return "DNS"
        if self.kind is ActionKind.LAP:
            return "LAP (lapped)"
        return "reinstated (DSQ overturned)"

    def label(self) -> str:
        """``#id wording`` and, unless plainly confirmed, the state (for pickers)."""
        state = "" if self.state in (EntryState.CONFIRMED, EntryState.SERVED) else f" [{self.state}]"
        box = f" · {self.box}" if self.box and self.state in _DUE else ""
        return f"#{self.id} {self.wording()}{state}{box}"


def _dsq_for_unserved(penalty: DeskEntry) -> str:
    return f"failing to serve a {penalty.seconds} second penalty for {penalty.infringement}"


def fold(actions: Iterable[DeskAction]) -> dict[int, DeskEntry]:
    """One athlete's actions (oldest first) as entries by id, closed ones included."""
    acts = list(actions)
    undone = {a.target for a in acts if a.action is ActionKind.UNDO}
    entries: dict[int, DeskEntry] = {}
    for act in acts:
        if act.id in undone or act.action is ActionKind.UNDO:
            continue
        kind = act.action
        if kind in CREATING:
            if kind is ActionKind.UNSERVED:
                penalty = entries.get(act.target or -1)
                if penalty is None:
                    continue
                penalty.state = EntryState.UNSERVED
                penalty.steps.append(act)
                entries[act.id] = DeskEntry(
                    act,
                    None,
                    _dsq_for_unserved(penalty),
                    act.reason,
                    EntryState.REPORTED,
                    ActionKind.DSQ,
                    location=act.location,
                    penalty=penalty.id,
                    steps=[act],
                )
                continue
            if kind is ActionKind.REINSTATE:
                for other in entries.values():
                    if other.kind is ActionKind.DSQ and other.published:
                        other.state, other.closed = EntryState.OVERTURNED, act
                        other.steps.append(act)
            reported = kind is ActionKind.REPORT
            entries[act.id] = DeskEntry(
                act,
                act.seconds,
                act.infringement,
                act.reason,
                EntryState.REPORTED if reported else EntryState.CONFIRMED,
                (act.subject or ActionKind.PENALTY) if reported else kind,
                location=act.location,
                decided=None if reported else act,
                steps=[act],
            )
            continue
        entry = entries.get(act.target or -1)
        if entry is None:
            continue
        entry.steps.append(act)
        if kind is ActionKind.CONFIRM and entry.held:
            entry.held = False  # released
        elif kind is ActionKind.CONFIRM:
            entry.state, entry.decided = EntryState.CONFIRMED, act
        elif kind is ActionKind.HOLD:
            entry.held = True
        elif kind is ActionKind.DECLINE:
            entry.state, entry.decided = EntryState.DECLINED, act
        elif kind is ActionKind.ASSIGN:
            entry.state, entry.box = EntryState.ASSIGNED, act.box
        elif kind is ActionKind.ENTER:
            entry.state, entry.entered = EntryState.IN_BOX, act.when
            entry.box = act.box or entry.box
        elif kind in (ActionKind.LEAVE, ActionKind.SERVE):
            entry.state, entry.left = EntryState.SERVED, act.when
            entry.box = act.box or entry.box
        elif kind is ActionKind.WITHDRAW:
            entry.state, entry.closed = EntryState.WITHDRAWN, act
        elif kind is ActionKind.EDIT:
            entry.seconds = act.seconds if act.seconds is not None else entry.seconds
            entry.infringement = act.infringement or entry.infringement
            if entry.kind is ActionKind.DNF and act.reason:
                entry.reason = act.reason
    return entries


def status_of(entries: Iterable[DeskEntry]) -> Status | None:
    """The status the published entries set (the latest status-setting one wins)."""
    status: Status | None = None
    for entry in entries:
        if entry.published:
            status = _STATUS_OF.get(entry.kind, status)
    return status


def check(
    entries: dict[int, DeskEntry],
    kind: ActionKind,
    *,
    bib: str,
    race_id: str,
    seconds: int | None,
    infringement: str | None,
    reason: str | None,
    target: int | None,
    box: str | None,
    subject: ActionKind | None,
    boxes: list[str],
) -> None:
    """Refuse (DeskError) an action the athlete's entries do not allow."""
    if not bib:
        raise DeskError("bib: required")
    penalty_like = kind is ActionKind.PENALTY or (kind is ActionKind.REPORT and subject is not ActionKind.DSQ)
    if kind is ActionKind.REPORT and subject not in (None, ActionKind.PENALTY, ActionKind.DSQ):
        raise DeskError(f"subject: a report is of a penalty or a DSQ, got {subject!r}")
    if penalty_like:
        if seconds is None or seconds <= 0:
            raise DeskError(f"seconds: a penalty needs a positive number of seconds, got {seconds!r}")
        if not infringement:
            raise DeskError("infringement: a penalty needs the infringement")
    if kind in (ActionKind.DSQ, ActionKind.REPORT) and not penalty_like and not infringement:
        raise DeskError("infringement: a DSQ needs the infringement")
    if kind is ActionKind.EDIT and seconds is not None and seconds <= 0:
        raise DeskError(f"seconds: must be positive, got {seconds!r}")
    if kind is ActionKind.WITHDRAW and not reason:
        raise DeskError("reason: say why the entry is withdrawn")
    if kind is ActionKind.DECLINE and not reason:
        raise DeskError("reason: say why it is declined")
    if kind is ActionKind.ASSIGN and not box:
        raise DeskError("box: which penalty box?")
    at_box = kind in (ActionKind.ASSIGN, ActionKind.ENTER, ActionKind.SERVE, ActionKind.LEAVE)
    if at_box and box and boxes and box not in boxes:
        raise DeskError(f"box: {box!r} is not a penalty box of race {race_id} ({', '.join(boxes)})")
    if kind is ActionKind.REINSTATE:
        if not any(e.kind is ActionKind.DSQ and e.published for e in entries.values()):
            raise DeskError(f"bib {bib}: no DSQ on the desk to overturn")
        return
    if kind in CREATING and kind is not ActionKind.UNSERVED:
        return
    if kind is ActionKind.UNDO:  # target: an action (a step of one or two entries)
        holders = [e for e in entries.values() if any(s.id == target for s in e.steps)]
        if not holders:
            raise DeskError(f"target: #{target} is not a standing entry of bib {bib} in race {race_id}")
        for holder in holders:
            if holder.steps[-1].id != target:
                raise DeskError(f"target: #{target} is not the latest step of #{holder.id}; undo that first")
        return
    entry = entries.get(target) if target is not None else None
    if entry is None or not entry.standing:
        raise DeskError(f"target: #{target} is not a standing entry of bib {bib} in race {race_id}")
    name = f"#{entry.id}"
    if kind is ActionKind.HOLD:
        if entry.held or not entry.published:
            raise DeskError(f"target: {name} is not published: nothing to hold back")
        return
    if kind is ActionKind.CONFIRM and entry.held:
        return  # a release
    if kind in (ActionKind.CONFIRM, ActionKind.DECLINE):
        if entry.state is not EntryState.REPORTED:
            raise DeskError(f"target: {name} is {entry.state}, not awaiting a decision")
        return
    if kind in (ActionKind.EDIT, ActionKind.WITHDRAW):
        return
    if entry.kind is not ActionKind.PENALTY:
        raise DeskError(f"target: {name} is not a penalty")
    if entry.state is EntryState.REPORTED:
        raise DeskError(f"target: penalty {name} is not confirmed yet")
    if entry.state is EntryState.SERVED:
        raise DeskError(f"target: penalty {name} is already served")
    if entry.state is EntryState.UNSERVED:
        raise DeskError(f"target: penalty {name} was not served at the finish (a DSQ is proposed)")
    if kind is ActionKind.LEAVE and entry.state is not EntryState.IN_BOX:
        raise DeskError(f"target: penalty {name} has not entered a box")
    if kind in (ActionKind.ENTER, ActionKind.ASSIGN):
        if entry.state is EntryState.IN_BOX:
            raise DeskError(f"target: penalty {name} is already in the {entry.box or 'box'}")
        if kind is ActionKind.ENTER and not (box or entry.box):
            raise DeskError(f"box: penalty {name} is not assigned to a box; which one?")


_STATUS_KINDS = frozenset({"dns", "dnf", "lap"})


def permission_for(action: ActionKind | str, target: ActionKind | str | None = None) -> Permission:
    """What recording ``action`` needs, for every place that records (the dashboard's keys
    and its last check, a viewer sending through the hub, the hub receiving): race status
    (DNS, DNF, LAP, and withdrawing one of them: ``target`` is the withdrawn entry's kind)
    is a timer's as well as a TD's; penalties, DSQ, boxes and edits are the TD's desk."""
    kind = str(action)
    if kind in _STATUS_KINDS or (
        kind == ActionKind.WITHDRAW and target is not None and str(target) in _STATUS_KINDS
    ):
        return Permission.STATUS
    return Permission.DESK
