"""The incident desk in the dashboard: the keys, the forms, the confirmation, the audit trail.

On the athlete detail and on a selected row of the Incidents screen:

====================  =============================================================
``+``                 time penalty (seconds, infringement)
``s``                 penalty served (a source's unserved penalty is taken onto the
                      desk and served there: two audit lines)
``x``                 DSQ (infringement)
``n``                 DNF (reason, e.g. "Withdrew from the race due to bike crash.")
``S``                 DNS
``L``                 lapped (LAP)
``e``                 edit a desk entry (seconds / infringement / DNF reason)
``delete``/``bksp``   withdraw a desk entry (reason)
``i``                 reinstate: a DSQ overturned on protest
====================  =============================================================

Every action goes form (when it needs input) → :class:`ConfirmDeskEntry`, which shows exactly
what will be recorded in the Standard Incident Guidelines wording and by whom (``enter``/``y``
confirms, ``esc``/``n`` cancels) → the app, asked by :class:`~racetui.tui.messages.RecordDeskEntry`,
records it with :meth:`IncidentDesk.record` (the config's operator, a UTC time stamp)
→ ``desk.apply(pipeline, race, bib)`` and an immediate UI tick. Bad input stays in the
form with the desk's message; nothing is recorded. :class:`AuditScreen` lists every
desk action, oldest first (``A`` on the Incidents screen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, Select, Static

from racetui.model import Incident, IncidentKind
from racetui.sources.desk import CREATING, ActionKind, DeskAction, DeskEntry, DeskError, EntryState
from racetui.sources.desk.lifecycle import check, fold
from racetui.tui.appref import race_app
from racetui.tui.messages import DeskEntryRecorded, DeskEntryRejected, RecordDeskEntry
from racetui.tui.roles import desk_permission, gated
from racetui.tui.state import AthleteRef
from racetui.tui.tracker import IncidentBadge, IncidentRecord
from racetui.tui.widgets.footer import RaceFooter

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from racetui.tui.app import RaceApp

__all__ = [
    "DESK_BINDINGS",
    "AuditScreen",
    "ConfirmDeskEntry",
    "DeskForm",
    "DeskKeys",
    "DeskRequest",
    "desk_state",
    "precheck",
    "source_penalties",
    "wording",
]

DESK_BINDINGS: list[BindingType] = [
    # in the footer's order of need (it is cut at 80 columns): the rest is in the help (?)
    Binding("plus", "desk('penalty')", "Penalty", key_display="+"),
    Binding("exclamation_mark", "desk('report')", "Report", key_display="!"),
    Binding("C", "desk('confirm')", "Confirm", key_display="C"),
    Binding("s", "desk('serve')", "Served"),
    Binding("b", "desk('assign')", "Box"),
    Binding("x", "desk('dsq')", "DSQ"),
    Binding("z", "desk('undo')", "Undo"),
    Binding("n", "desk('dnf')", "DNF"),
    Binding("S", "desk('dns')", "DNS", key_display="S"),
    Binding("L", "desk('lap')", "LAP", key_display="L", show=False),
    Binding("e", "desk('edit')", "Edit", show=False),
    Binding("delete,backspace", "desk('withdraw')", "Withdraw", key_display="del", show=False),
    Binding("i", "desk('reinstate')", "Reinstate", show=False),
    # the rest of the lifecycle: the decision, the box, the finish
    Binding("D", "desk('decline')", "Decline", key_display="D", show=False),
    Binding("B", "desk('enter')", "In box", key_display="B", show=False),
    Binding("O", "desk('leave')", "Out of box", key_display="O", show=False),
    Binding("U", "desk('unserved')", "Unserved", key_display="U", show=False),
    Binding("H", "desk('hold')", "Hold", key_display="H", show=False),
]


_TITLES = {
    ActionKind.PENALTY: "Time penalty",
    ActionKind.SERVE: "Penalty served",
    ActionKind.DSQ: "Disqualification (DSQ)",
    ActionKind.DNF: "Did not finish (DNF)",
    ActionKind.DNS: "Did not start (DNS)",
    ActionKind.LAP: "Lapped (LAP)",
    ActionKind.EDIT: "Edit a desk entry",
    ActionKind.WITHDRAW: "Withdraw a desk entry",
    ActionKind.REINSTATE: "Reinstate (DSQ overturned)",
    ActionKind.REPORT: "Report (pending until confirmed)",
    ActionKind.CONFIRM: "Confirm a report",
    ActionKind.DECLINE: "Decline a report",
    ActionKind.ASSIGN: "Assign to a penalty box",
    ActionKind.ENTER: "Entered the penalty box",
    ActionKind.LEAVE: "Left the penalty box (served)",
    ActionKind.UNSERVED: "Not served at the finish (propose DSQ)",
    ActionKind.UNDO: "Undo the latest step",
    ActionKind.HOLD: "Hold back (desk only until released)",
}


def desk_state(entry: DeskEntry) -> str:
    """What an entry's state means for the athlete, after its wording ('' when confirmed
    and nothing is due)."""
    if entry.pending:
        return " PENDING (desk only)"
    if entry.held:
        return " HELD (desk only, C releases)"
    if entry.kind is not ActionKind.PENALTY:
        return ""
    return {
        EntryState.CONFIRMED: " NOT SERVED",
        EntryState.ASSIGNED: f" NOT SERVED · {entry.box}",
        EntryState.IN_BOX: f" IN {(entry.box or 'box').upper()}",
        EntryState.UNSERVED: " NOT SERVED at the finish",
    }.get(entry.state, "")


@dataclass(frozen=True, slots=True)
class DeskRequest:
    """What the operator asked for, before it is recorded."""

    race_id: str
    bib: str
    action: ActionKind
    seconds: int | None = None
    infringement: str | None = None
    reason: str | None = None
    target: int | None = None
    # Serving a source's penalty: record it on the desk first (seconds/infringement), then serve.
    adopt: bool = False
    location: str | None = None  # where it was seen (report)
    box: str | None = None  # the penalty box (assign, enter)
    subject: ActionKind | None = None  # a report of a penalty or of a DSQ


def source_penalties(incidents: Iterable[Incident], entries: Iterable[DeskEntry]) -> list[Incident]:
    """The source's unserved penalties the desk has not adopted (no desk entry of the
    athlete says the same, served or not): what serving one adopts first, on the desk's
    serve key and at the box."""
    desk_texts = {e.wording() for e in entries}
    return [
        i
        for i in incidents
        if i.kind is IncidentKind.PENALTY
        and not i.served
        and i.seconds
        and i.infringement
        and i.standard_text() not in desk_texts
        and f"Served {i.standard_text()}" not in desk_texts
    ]


def precheck(request: DeskRequest, entries: dict[int, DeskEntry], boxes: list[str]) -> None:
    """The desk's own rules (:func:`racetui.sources.desk.lifecycle.check`) on the athlete's
    entries (closed ones too), so a form refuses bad input before the confirmation; the
    desk checks again when recording."""
    kind, target = request.action, request.target
    if kind is ActionKind.SERVE and request.adopt:  # a source's penalty: recorded first
        kind, target = ActionKind.PENALTY, None
    if (kind not in CREATING or kind is ActionKind.UNSERVED) and target is None:
        raise DeskError(f"target: bib {request.bib} has no desk entry to {kind}")
    if kind is ActionKind.REPORT and request.subject is not ActionKind.DSQ and request.seconds is None:
        raise DeskError("seconds: how long is the penalty? (no length is set for this rule)")
    check(
        entries,
        kind,
        bib=request.bib,
        race_id=request.race_id,
        seconds=request.seconds,
        infringement=(request.infringement or "").strip() or None,
        reason=(request.reason or "").strip() or None,
        target=target,
        box=request.box,
        subject=request.subject,
        boxes=boxes,
    )


def wording(request: DeskRequest, entries: list[DeskEntry]) -> str:
    """Exactly what the athlete's record will say once the request is recorded."""
    by_id = {s.id: s for s in entries}
    target = by_id.get(request.target) if request.target is not None else None
    kind = request.action
    if kind is ActionKind.PENALTY:
        return f"{request.seconds} second penalty for {request.infringement}"
    if kind is ActionKind.SERVE:
        if request.adopt or target is None:
            return f"Served {request.seconds} second penalty for {request.infringement}"
        return replace(target, state=EntryState.SERVED).wording()
    if kind is ActionKind.DSQ:
        return f"DSQ for {request.infringement}  (status DSQ: to the bottom of the results)"
    if kind is ActionKind.DNF:
        return "status DNF" + (f"; incidents: {request.reason}" if request.reason else "")
    if kind is ActionKind.DNS:
        return "status DNS"
    if kind is ActionKind.LAP:
        return "status LAP (lapped)"
    if kind is ActionKind.REINSTATE:
        return "status OK: reinstated, DSQ overturned (back in place)"
    if kind is ActionKind.REPORT:
        what = (
            f"DSQ for {request.infringement}"
            if request.subject is ActionKind.DSQ
            else f"{request.seconds} second penalty for {request.infringement}"
        )
        where = f" at {request.location}" if request.location else ""
        return f"reported: {what}{where}\n(pending: on the desk only, until confirmed)"
    if kind is ActionKind.UNDO:
        return f"undo #{request.target}" + (f": {target.wording()}" if target is not None else "")
    if target is None:
        return f"#{request.target}"
    if kind is ActionKind.HOLD:
        return f"held back: {target.wording()}\n(on the desk only until released with C)"
    if kind is ActionKind.CONFIRM and target.held:
        return f"released: {target.wording()}  (published from now on)"
    if kind is ActionKind.CONFIRM:
        if target.kind is ActionKind.DSQ:
            return f"{target.wording()}  (status DSQ: to the bottom of the results)"
        return f"{target.wording()}  (published from now on)"
    if kind is ActionKind.DECLINE:
        return f"declined: {target.wording()}  (never published)"
    if kind is ActionKind.ASSIGN:
        return f"{target.wording()}: to serve at the {request.box}"
    if kind is ActionKind.ENTER:
        return f"{target.wording()}: in the {request.box or target.box or 'box'} now, the time starts"
    if kind is ActionKind.LEAVE:
        return replace(target, state=EntryState.SERVED).wording()
    if kind is ActionKind.UNSERVED:
        return (
            f"{target.wording()}: not served at the finish\n"
            f"proposes: DSQ for failing to serve a {target.seconds} second penalty for {target.infringement}"
            " (applies once confirmed)"
        )
    if kind is ActionKind.WITHDRAW:
        return f"withdraw #{target.id} {target.wording()}"
    edited = replace(
        target,
        seconds=request.seconds if request.seconds is not None else target.seconds,
        infringement=request.infringement or target.infringement,
        reason=request.reason if target.kind is ActionKind.DNF and request.reason else target.reason,
    )
    return f"#{target.id} {target.wording()} → {edited.wording()}"


def _athlete(app: RaceApp, ref: AthleteRef) -> str:
    entry = app.state.entry(ref)
    standings = app.state.engine.races.get(ref[0])
    race = standings.race.name if standings else ref[0]
    name = entry.name() if entry else ""
    return f"#{ref[1]} {name} · {race}".replace("  ", " ")


def athlete_name(app: RaceApp, ref: AthleteRef) -> str | None:
    """The athlete's name as the dashboard shows it (kept with the entry for the reports)."""
    entry = app.state.entry(ref)
    return (entry.name() or None) if entry is not None else None


def record_request(app: RaceApp, request: DeskRequest) -> list[DeskAction]:
    """Record (two actions when a source penalty is adopted), apply, redraw. Raises DeskError."""
    desk = app.desk
    if desk is None:
        raise DeskError("the incident desk is not available (see the start-up notice)")
    operator = app.config.operator or None
    done: list[DeskAction] = []
    if request.action is ActionKind.SERVE and request.adopt:
        pen = desk.record(
            request.race_id,
            request.bib,
            ActionKind.PENALTY,
            seconds=request.seconds,
            infringement=request.infringement,
            operator=operator,
            name=athlete_name(app, (request.race_id, request.bib)),
        )
        done.append(pen)
        request = replace(request, target=pen.id, adopt=False, seconds=None, infringement=None)
    seconds = request.seconds
    if request.action is ActionKind.REPORT and seconds is None and request.subject is not ActionKind.DSQ:
        seconds = desk.penalties(request.race_id).get((request.infringement or "").strip())
    done.append(
        desk.record(
            request.race_id,
            request.bib,
            request.action,
            seconds=seconds,
            infringement=request.infringement,
            reason=request.reason,
            target=request.target,
            operator=operator,
            location=request.location,
            box=request.box,
            subject=request.subject,
            name=athlete_name(app, (request.race_id, request.bib)),
        )
    )
    for pipeline in app.desk_pipelines():
        desk.apply(pipeline, request.race_id, request.bib)
    app.tick()
    return done


class ConfirmDeskEntry(ModalScreen[bool]):
    """What will be recorded, in the guidelines' wording: enter/y records, esc/n cancels."""

    BINDINGS = [
        Binding("enter,y", "confirm", "Record", key_display="enter/y"),
        Binding("escape,n", "cancel", "Cancel", key_display="esc/n"),
    ]

    DEFAULT_CSS = """
    ConfirmDeskEntry { align: center middle; }
    ConfirmDeskEntry > #confirm {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ConfirmDeskEntry #wording { text-style: bold; padding: 1 0; }
    """

    def __init__(self, title: str, athlete: str, text: str, operator: str) -> None:
        super().__init__()
        self.title_text = title
        self.athlete = athlete
        self.text = text
        self.operator = operator

    def compose(self) -> ComposeResult:
        desk = race_app(self).desk
        with Vertical(id="confirm"):
            yield Static(f"⌂ Record on the incident desk: {self.title_text}", markup=False)
            yield Static(f"for {desk.event_text if desk else 'no event'}", id="event", markup=False)
            yield Static(self.athlete, id="who", markup=False)
            yield Static(self.text, id="wording", markup=False)
            yield Static(
                f"by {self.operator}, time-stamped (UTC) when confirmed · enter/y record · esc/n cancel",
                id="by",
                markup=False,
            )
        yield RaceFooter()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class DeskForm(ModalScreen[None]):
    """The input an action needs; enter reviews it (confirmation), esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input"  # the first field, not a choice above it (enter on a field reviews)

    DEFAULT_CSS = """
    DeskForm { align: center middle; }
    DeskForm > #form {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    DeskForm Input, DeskForm Select { margin: 0 0 0 0; }
    DeskForm #error { color: $error; text-style: bold; }
    DeskForm .hint { color: $foreground 70%; }
    """

    def __init__(
        self,
        ref: AthleteRef,
        action: ActionKind,
        *,
        targets: list[tuple[str, str]] | None = None,
        default: str | None = None,
        prefill: dict[str, str] | None = None,
        boxes: list[str] | None = None,
        box: str | None = None,
    ) -> None:
        super().__init__()
        self.ref = ref
        self.action = action
        self.targets = targets or []  # (label, value): "123" desk entry, "src:<seconds>:<what>" adopt
        self.default = default
        self.prefill = prefill or {}
        self.boxes = boxes or []  # the race's penalty boxes (assign, enter)
        self.box = box  # the one to start from

    def fields(self) -> list[str]:
        kind = self.action
        if kind is ActionKind.PENALTY:
            return ["seconds", "infringement"]
        if kind is ActionKind.DSQ:
            return ["infringement"]
        if kind is ActionKind.DNF:
            return ["reason"]
        if kind is ActionKind.EDIT:
            return ["seconds", "infringement", "reason"]
        if kind in (ActionKind.WITHDRAW, ActionKind.REINSTATE, ActionKind.DECLINE, ActionKind.UNDO):
            return ["reason"]
        if kind is ActionKind.UNSERVED:
            return ["reason"]
        if kind is ActionKind.REPORT:
            return ["seconds", "infringement", "location"]
        # a choice only (which penalty, which box): a note field, so enter reviews it
        return ["reason"] if self.targets or self.boxes else []

    def compose(self) -> ComposeResult:
        app = race_app(self)
        placeholders = {
            "seconds": "seconds, e.g. 15",
            "infringement": "infringement, e.g. cutting the swim course",
            "location": "where it was seen, e.g. bike lap 2 (optional)",
            "reason": {
                ActionKind.DNF: "reason (optional), e.g. Withdrew from the race due to bike crash.",
                ActionKind.WITHDRAW: "why it is withdrawn (required)",
                ActionKind.REINSTATE: "why (optional), e.g. protest upheld",
                ActionKind.EDIT: "DNF reason / why edited (optional)",
                ActionKind.DECLINE: "why it is declined (required)",
                ActionKind.UNDO: "why (optional)",
                ActionKind.UNSERVED: "note (optional), e.g. passed the box on the last lap",
            }.get(self.action, "note (optional) · shift+tab: the choices above"),
        }
        with Vertical(id="form"):
            yield Label(f"⌂ {_TITLES[self.action]} · {_athlete(app, self.ref)}", markup=False)
            if self.targets:
                yield Select(
                    [(label, value) for label, value in self.targets],
                    value=self.default or self.targets[0][1],
                    allow_blank=False,
                    id="target",
                )
            if self.action is ActionKind.REPORT:
                yield Select(
                    [("time penalty", "penalty"), ("DSQ (disqualification)", "dsq")],
                    value="penalty",
                    allow_blank=False,
                    id="subject",
                )
            if self.boxes:
                yield Select(
                    [(box, box) for box in self.boxes],
                    value=self.box if self.box in self.boxes else self.boxes[0],
                    allow_blank=False,
                    id="box",
                )
            for name in self.fields():
                yield Input(
                    self.prefill.get(name, ""),
                    placeholder=placeholders[name],
                    id=name,
                    type="integer" if name == "seconds" else "text",
                )
            yield Static("", id="error", markup=False)
            if self.action is ActionKind.REPORT:
                lengths = race_app(self).desk
                rules = lengths.penalties(self.ref[0]) if lengths is not None else {}
                if rules:
                    text = ", ".join(f"{rule} {secs} s" for rule, secs in sorted(rules.items()))
                    yield Static(f"lengths (no seconds: the rule's): {text}", classes="hint", markup=False)
            yield Static("enter: review and confirm · esc: cancel", classes="hint", markup=False)
        yield RaceFooter()

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        if inputs:
            inputs[0].focus()

    def _value(self, name: str) -> str:
        found = self.query(f"#{name}")
        return found.first(Input).value.strip() if found else ""

    def request(self) -> DeskRequest:
        """The request the form holds; DeskError for input that is not even a number."""
        text = self._value("seconds")
        seconds: int | None = None
        if text:
            try:
                seconds = int(text)
            except ValueError:
                raise DeskError(f"seconds: not a whole number of seconds: {text!r}") from None
        target: int | None = None
        adopt = False
        infringement = self._value("infringement") or None
        if self.targets:
            value = str(self.query_one("#target", Select).value)
            if value.startswith("src:"):
                _, secs, what = value.split(":", 2)
                adopt, seconds, infringement = True, int(secs), what
            else:
                target = int(value)
        box = str(self.query_one("#box", Select).value) if self.boxes else None
        subject: ActionKind | None = None
        if self.action is ActionKind.REPORT:
            subject = ActionKind(str(self.query_one("#subject", Select).value))
            if subject is ActionKind.DSQ:
                seconds = None
            elif seconds is None and infringement:
                app = race_app(self)
                rules = app.desk.penalties(self.ref[0]) if app.desk is not None else {}
                seconds = rules.get(infringement)
        return DeskRequest(
            self.ref[0],
            self.ref[1],
            self.action,
            seconds=seconds,
            infringement=infringement,
            reason=self._value("reason") or None,
            target=target,
            adopt=adopt,
            location=self._value("location") or None,
            box=box,
            subject=subject,
        )

    def show_error(self, message: str) -> None:
        self.query_one("#error", Static).update(f"✕ {message}")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_review()

    def on_desk_entry_recorded(self, message: DeskEntryRecorded) -> None:
        message.stop()
        self.dismiss(None)

    def on_desk_entry_rejected(self, message: DeskEntryRejected) -> None:
        message.stop()
        self.show_error(message.error)

    def action_review(self) -> None:
        app = race_app(self)
        try:
            request = self.request()
            desk = app.desk
            entries = fold(desk.audit(*self.ref)) if desk is not None else {}
            precheck(request, entries, desk.boxes(self.ref[0]) if desk is not None else [])
        except DeskError as exc:
            self.show_error(str(exc))
            return
        self.query_one("#error", Static).update("")
        ask(self, request, reply_to=self)

    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        if self.action is not ActionKind.EDIT:
            return
        app = race_app(self)
        if app.desk is None:
            return
        for entry in app.desk.entries_of(*self.ref):
            if str(entry.id) == str(event.value):
                for name, value in (
                    ("seconds", entry.seconds),
                    ("infringement", entry.infringement),
                    ("reason", entry.reason if entry.kind is ActionKind.DNF else None),
                ):
                    self.query_one(f"#{name}", Input).value = "" if value is None else str(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def ask(screen: Any, request: DeskRequest, *, reply_to: DOMNode | None = None) -> None:
    """Push the confirmation; on confirm ask the app to record it (:class:`RecordDeskEntry`).

    The app's answer goes to ``reply_to`` (a form stays open on a refusal), or becomes a
    notice."""
    app = race_app(screen)
    entries = app.desk.entries_of(request.race_id, request.bib) if app.desk else []
    text = wording(request, entries)
    if request.reason and request.action not in (ActionKind.DNF,):
        text += f"\nreason: {request.reason}"

    def confirmed(ok: bool | None) -> None:
        if ok:
            screen.post_message(RecordDeskEntry(request, wording(request, entries), reply_to))

    app.push_screen(
        ConfirmDeskEntry(
            _TITLES[request.action], _athlete(app, (request.race_id, request.bib)), text, app.config.operator
        ),
        confirmed,
    )


def _matches(entry: DeskEntry, record: IncidentRecord | None) -> bool:
    if record is None:
        return False
    kind = entry.kind
    if record.badge is IncidentBadge.PENALTY:
        return kind is ActionKind.PENALTY and record.text == (
            f"{entry.seconds} s penalty for {entry.infringement}"
        )
    if record.badge is IncidentBadge.DSQ:
        return kind is ActionKind.DSQ
    return kind.value == str(record.badge).lower() or (
        kind is ActionKind.DNF and record.badge is IncidentBadge.NOTE
    )


class DeskKeys:
    """The desk's actions for a screen that knows its athlete (and maybe an incident row).

    Screens add :data:`DESK_BINDINGS` to their ``BINDINGS`` and implement
    :meth:`desk_target`."""

    def desk_target(self) -> tuple[AthleteRef | None, IncidentRecord | None]:
        raise NotImplementedError

    @gated(desk_permission)
    def action_desk(self, action: str) -> None:
        app = race_app(cast("Screen[Any]", self))  # mixed into screens only
        ref, record = self.desk_target()
        kind = ActionKind(action)
        if ref is None:
            app.notify("Select an athlete first.", title="⌂ Incident desk", markup=False)
            return
        if app.desk is None:
            app.notify("The incident desk is not available.", title="⌂ Incident desk", severity="error")
            return
        if not app.operator_named:  # once per session: who is recording
            app.push_screen(OperatorPrompt(), lambda named: self.action_desk(action) if named else None)
            return
        entries = app.desk.entries_of(*ref)
        request = DeskRequest(ref[0], ref[1], kind)
        targets: list[tuple[str, str]] = []
        default: str | None = None
        prefill: dict[str, str] = {}
        boxes: list[str] = []
        box: str | None = None

        def nothing(what: str) -> None:
            app.notify(f"#{ref[1]}: {what}", title="⌂ Incident desk", markup=False)

        if kind in _LIFECYCLE:
            choices = _lifecycle_targets(app, ref, kind, entries)
            if isinstance(choices, str):
                nothing(choices)
                return
            targets = choices
            if kind in (ActionKind.ASSIGN, ActionKind.ENTER):
                boxes = app.desk.boxes(ref[0])
                first = next((e for e in entries if str(e.id) == targets[0][1]), None)
                box = first.box if first is not None else None
                if not boxes:
                    nothing(f"race {ref[0]} has no penalty boxes (config [desk] boxes)")
                    return
            if len(targets) == 1 and kind in (ActionKind.CONFIRM, ActionKind.LEAVE):
                ask(self, replace(request, target=int(targets[0][1])))
                return
            if kind is ActionKind.UNDO:
                default = targets[-1][1]
        elif kind is ActionKind.SERVE:
            unserved = [s for s in entries if s.due]
            targets = [(s.label(), str(s.id)) for s in unserved]
            entry = app.state.entry(ref)
            for incident in source_penalties(entry.source_incidents if entry else (), entries):
                value = f"src:{incident.seconds}:{incident.infringement}"
                targets.append((f"(source) {incident.standard_text()}", value))
            if not targets:
                app.notify(f"#{ref[1]} has no unserved penalty.", title="⌂ Incident desk", markup=False)
                return
        elif kind in (ActionKind.EDIT, ActionKind.WITHDRAW):
            editable = entries
            if kind is ActionKind.EDIT:
                editable = [
                    s for s in entries if s.kind in (ActionKind.PENALTY, ActionKind.DSQ, ActionKind.DNF)
                ]
            targets = [(s.label(), str(s.id)) for s in editable]
            if not targets:
                app.notify(
                    f"#{ref[1]} has no desk entry to {kind} (the desk only changes its own entries).",
                    title="⌂ Incident desk",
                    markup=False,
                )
                return
            chosen = next((s for s in editable if _matches(s, record)), editable[-1])
            default = str(chosen.id)
            if kind is ActionKind.EDIT:
                prefill = {
                    "seconds": "" if chosen.seconds is None else str(chosen.seconds),
                    "infringement": chosen.infringement or "",
                    "reason": (chosen.reason or "") if chosen.kind is ActionKind.DNF else "",
                }
        elif kind is ActionKind.REINSTATE and not any(s.kind is ActionKind.DSQ for s in entries):
            app.notify(f"#{ref[1]}: no DSQ on the desk to overturn.", title="⌂ Incident desk", markup=False)
            return
        if kind is ActionKind.SERVE and len(targets) == 1:
            value = targets[0][1]
            if value.startswith("src:"):
                _, secs, what = value.split(":", 2)
                request = replace(request, adopt=True, seconds=int(secs), infringement=what)
            else:
                request = replace(request, target=int(value))
            ask(self, request)
            return
        if kind in (ActionKind.DNS, ActionKind.LAP):
            ask(self, request)
            return
        app.push_screen(
            DeskForm(ref, kind, targets=targets, default=default, prefill=prefill, boxes=boxes, box=box)
        )


_LIFECYCLE = {
    ActionKind.HOLD,
    ActionKind.CONFIRM,
    ActionKind.DECLINE,
    ActionKind.ASSIGN,
    ActionKind.ENTER,
    ActionKind.LEAVE,
    ActionKind.UNSERVED,
    ActionKind.UNDO,
}


def _lifecycle_targets(
    app: RaceApp, ref: AthleteRef, kind: ActionKind, entries: list[DeskEntry]
) -> list[tuple[str, str]] | str:
    """The entries (or, for undo, the steps) a lifecycle action may act on, as the form's
    choices; or why there is none."""
    assert app.desk is not None
    if kind in (ActionKind.CONFIRM, ActionKind.DECLINE):
        found = [e for e in entries if e.pending or (kind is ActionKind.CONFIRM and e.held)]
        if not found:
            others = sorted({e.bib for e in app.desk.pending(ref[0])} - {ref[1]})
            where = f" (reported: {', '.join('#' + b for b in others[:8])})" if others else ""
            return f"nothing reported awaiting a decision{where}"
    elif kind is ActionKind.HOLD:
        found = [e for e in entries if e.published]
        if not found:
            return "nothing published to hold back"
    elif kind in (ActionKind.ASSIGN, ActionKind.ENTER, ActionKind.UNSERVED):
        found = [e for e in entries if e.due and e.state is not EntryState.IN_BOX]
        if kind is ActionKind.UNSERVED:
            found = [e for e in entries if e.due]
        if not found:
            return "no confirmed penalty to serve"
    elif kind is ActionKind.LEAVE:
        found = [e for e in entries if e.state is EntryState.IN_BOX]
        if not found:
            return "not in a penalty box"
    else:  # undo: the latest step of each entry, withdrawn or declined ones too
        history = app.desk.history(*ref)
        steps = {e.steps[-1].id: e.steps[-1] for e in history if e.steps}
        if not steps:
            return "nothing on the desk to undo"
        return [
            (f"{a.describe().split(': ', 1)[1]} (#{a.id})"[:76], str(a.id))
            for a in sorted(steps.values(), key=lambda a: a.id)
        ]
    return [(e.label(), str(e.id)) for e in found]


class OperatorPrompt(ModalScreen[bool]):
    """Who records: asked once per session while the operator is the default (the login
    name); the name goes with every desk action, into the audit and the reports."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    OperatorPrompt { align: center middle; }
    OperatorPrompt > #operator-form {
        width: 70; max-width: 100%; height: auto;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    OperatorPrompt #error { color: $error; text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        app = race_app(self)
        with Vertical(id="operator-form"):
            yield Label("⌂ Who is recording? Your name goes with every desk entry.", markup=False)
            yield Input(app.config.operator, placeholder="your name, e.g. Jane Doe (TD)", id="operator")
            yield Static("", id="error", markup=False)
            yield Static("enter: use this name for the session · esc: cancel", classes="hint", markup=False)
        yield RaceFooter()

    def on_mount(self) -> None:
        self.query_one("#operator", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if not name:
            self.query_one("#error", Static).update("✕ operator: a name is needed")
            return
        race_app(self).name_operator(name)
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class AuditScreen(ModalScreen[None]):
    """Every desk action in the order recorded (newest last): A / esc closes."""

    BINDINGS = [Binding("escape,q,A", "dismiss", "Close")]

    DEFAULT_CSS = """
    AuditScreen { align: center middle; }
    AuditScreen > #audit {
        width: 110; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    AuditScreen #lines { height: auto; max-height: 30; }
    """

    def compose(self) -> ComposeResult:
        app = race_app(self)
        actions = app.desk.audit() if app.desk else []
        names = {r: s.race.name for r, s in app.state.engine.races.items()}
        with Vertical(id="audit"):
            event = app.desk.event_text if app.desk else "no desk"
            yield Static(
                f"⌂ Incident desk audit trail · {event} · {len(actions)} change(s), oldest first",
                markup=False,
            )
            with VerticalScroll(id="lines"):
                text = "\n".join(f"{names.get(a.race_id, a.race_id)} · {a.describe()}" for a in actions)
                yield Static(text or "Nothing recorded on the desk yet.", id="trail", markup=False)
        yield RaceFooter()

    def on_mount(self) -> None:
        self.query_one("#lines", VerticalScroll).scroll_end(animate=False)
