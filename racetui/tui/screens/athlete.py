"""The athlete detail: splits, positions and gaps at every point, and incidents.

The incident desk's keys act on this athlete (``+ s x n S L e del i``, see
:mod:`racetui.tui.screens.desk`); what the desk says is marked ``⌂`` and listed with its
entry numbers, operator and time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from racetui.config import Permission
from racetui.engine import ChangeSet
from racetui.engine.gaps import (
    DEFAULT_PENALTY_S,
    PenaltyCheck,
    Verdict,
    neighbours,
    penalty_check,
    true_gap,
)
from racetui.model import IncidentKind, Status
from racetui.tui.appref import race_app
from racetui.tui.cards import race_day
from racetui.tui.clock import format_time_of_day
from racetui.tui.columns import badge_for, format_signed_gap, format_trend
from racetui.tui.messages import ToggleMark, ToggleWatch
from racetui.tui.rows import AthleteModel
from racetui.tui.screens.desk import DESK_BINDINGS, DeskKeys, desk_state
from racetui.tui.state import AthleteRef
from racetui.tui.tracker import IncidentRecord
from racetui.tui.widgets.card import AthleteCard, NoteScreen
from racetui.tui.widgets.footer import RaceFooter
from racetui.tui.widgets.table import InfoTable, RowTable

if TYPE_CHECKING:
    from racetui.tui.app import RaceApp

__all__ = ["AthleteScreen"]


class AthleteScreen(DeskKeys, ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("w", "watch", "Watch"),
        Binding("m", "mark", "Mark", show=False),
        Binding("E", "startlist", "Fix entry", show=False),
        Binding("N", "note", "Note", key_display="N"),
        *DESK_BINDINGS,
    ]

    DEFAULT_CSS = """
    AthleteScreen { align: center middle; }
    AthleteScreen > #athlete {
        width: 100;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    AthleteScreen #who { text-style: bold; }
    AthleteScreen #facts { color: $foreground 85%; }
    AthleteScreen #gaps { color: $foreground 85%; }
    AthleteScreen #points { height: auto; max-height: 14; }
    AthleteScreen #incidents { color: $foreground 90%; padding-top: 1; }
    """

    def __init__(self, ref: AthleteRef) -> None:
        super().__init__()
        self.ref = ref

    @property
    def race_app(self) -> RaceApp:
        return race_app(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="athlete"):
            yield Static("", id="who", markup=False)
            yield Static("", id="facts", markup=False)
            yield Static("", id="gaps", markup=False)
            yield AthleteCard("", id="card", markup=False)
            yield InfoTable(
                AthleteModel(self.race_app.state, self.ref), empty="Unknown athlete.", id="points"
            )
            yield Static("", id="incidents", markup=False)
        yield RaceFooter()

    def on_mount(self) -> None:
        self.reload()
        table = self.query_one("#points", RowTable)
        table.focus()
        # Open at the latest split: at 80x24 the start of the race is above the fold and
        # what the commentator wants (the point just passed) would be below it.
        self.call_after_refresh(self.show_latest)

    def show_latest(self) -> None:
        """Put the cursor on the athlete's latest timing point (the first row before the start)."""
        entry = self.race_app.state.entry(self.ref)
        if entry is not None and entry.last >= 0 and self.ready:
            self.query_one("#points", RowTable).move_cursor(entry.last)

    def on_screen_resume(self) -> None:
        # The app ticks only the top screen: catch up after a desk form or confirmation.
        if self.ready:
            self.reload()

    @property
    def ready(self) -> bool:
        return self.is_mounted and bool(self.query("#points"))

    def tick(self, changes: ChangeSet) -> None:
        if not self.ready:
            return
        bibs = changes.athletes.get(self.ref[0], set())
        if self.ref[1] in bibs or self.ref[0] in changes.moved or self.ref[0] in changes.structure:
            self.reload()

    def reload(self) -> None:
        state = self.race_app.state
        entry = state.entry(self.ref)
        standings = state.engine.races.get(self.ref[0])
        table = self.query_one("#points", RowTable)
        table.model.reload()
        table.reset()
        table.update_rows(None)
        if entry is None or standings is None:
            self.query_one("#who", Static).update(f"#{self.ref[1]} — not in race {self.ref[0]}")
            return
        marks = ("★ " if self.ref in state.watch else "") + ("◆ " if self.ref == state.mark else "")
        self.query_one("#who", Static).update(f"{marks}#{entry.bib}  {entry.name() or '(no name)'}")
        participant = entry.participant
        facts = [standings.race.name]
        if participant is not None:
            facts += [x for x in (participant.country, participant.club, participant.category) if x]
            if participant.gender:
                facts.append(
                    {"M": "men", "F": "women", "X": "mixed"}.get(participant.gender, participant.gender)
                )
            wave = next((w for w in standings.race.waves if w.id == participant.wave_id), None)
            if wave is not None and len(standings.race.waves) > 1:
                facts.append(f"{wave.name} (+{wave.offset_ms // 60000} min)")
        at = standings.points[entry.last] if entry.last >= 0 else None
        badge, _ = badge_for(entry.status, entry.incidents, at is not None and at.is_finish)
        row = standings.row(entry.bib)
        where = f"at {at.name}" if at else "not started"
        rank = f"#{row.rank} overall" if row is not None and row.rank else str(entry.status)
        local = " ⌂ desk" if entry.override is not None else ""  # the desk overrides the source
        facts.append(f"{rank} {where}" + (f" · {badge}" if badge else "") + local)
        if state.mark is not None and state.mark != self.ref:
            gap = state.gap(state.mark, self.ref)
            if gap is not None:
                facts.append(f"to ◆ #{state.mark[1]}: {format_signed_gap(gap.ms)} at {gap.point_name}")
        if entry.legs:  # a relay team: who races which leg
            facts.append("team: " + ", ".join(f"{leg.order} {leg.member.name}" for leg in entry.legs))
        self.query_one("#facts", Static).update(" · ".join(facts))
        self.query_one("#gaps", Static).update("\n".join(self.gap_lines()))
        records = state.tracker.athlete_incidents(*self.ref)
        if records:
            lines = ["Incidents:"]
            for record in records:
                what = "NOT SERVED" if record.unserved else "served" if record.served else ""
                gone = " (withdrawn)" if not record.active else ""
                seen = format_time_of_day(record.seen)
                lines.append(f"  {record.badge} {record.text} {what}{gone} · seen {seen}".rstrip())
            text = "\n".join(lines)
        else:
            text = "No incidents."
        desk = self.race_app.desk
        entries = desk.entries_of(*self.ref) if desk is not None else []
        if not self.race_app.allows(Permission.REVIEW):  # reported or held: the TDs' alone
            entries = [e for e in entries if not (e.pending or e.held)]
        if entries:
            lines = ["⌂ Incident desk (local, wins over the source):"]
            for item in entries:
                act = item.action
                lines.append(
                    f"  #{item.id} {item.wording()}{desk_state(item)} · {act.operator}"
                    f" {format_time_of_day(act.at.astimezone(state.clock().tzinfo))}"
                )
            text += "\n" + "\n".join(lines)
        self.query_one("#incidents", Static).update(text)
        self.reload_card()

    # ------------------------------------------------------------ the card
    def reload_card(self) -> None:
        """The notes' card for this athlete, with where notes added now are saved."""
        app = self.race_app
        entry = app.state.entry(self.ref)
        participant = entry.participant if entry is not None else None
        card = app.notes.card(self.ref[1], participant.id if participant is not None else None)
        lines = card.lines(race_day(app.state, self.ref[0])) if card is not None else []
        if lines:
            lines = ["Card:", *(f"  {line}" for line in lines)]
        self.query_one("#card", AthleteCard).show(lines)

    def action_note(self) -> None:
        """N: one line of notes on this athlete, saved at once (the form says where)."""
        app = self.race_app
        where = app.notes_target()
        if where is None:
            app.notify("notes: nowhere to save them yet (no event)", title="Notes", severity="warning")
            return

        def saved(text: str | None) -> None:
            if text:
                app.add_note(self.ref, text)
                if self.ready:
                    self.reload_card()

        self.app.push_screen(NoteScreen(f"#{self.ref[1]}", str(where)), saved)

    # ------------------------------------------------------------------ gaps
    def gap_lines(self) -> list[str]:
        """The athletes racing just ahead and behind (true gaps on the road, their trend) and
        whether a penalty of the race's S seconds would cost a place (engine/gaps.py)."""
        state = self.race_app.state
        standings = state.engine.races.get(self.ref[0])
        entry = state.entry(self.ref)
        if standings is None or entry is None or entry.status is not Status.OK or entry.last < 0:
            return []
        ahead, behind = neighbours(standings, entry.bib)
        lines = []
        for label, other in (("Ahead ", ahead), ("Behind", behind)):
            if other is None:
                continue
            lines.append(
                f"{label} #{other.bib} {other.name()}".rstrip() + ": " + self._gap_text(other.bib, label)
            )
        seconds, whose = self.penalty_seconds()
        check = penalty_check(standings, entry.bib, seconds)
        if check is not None:
            lines.append(f"Can serve {seconds} s{whose} without losing a place: {self._penalty_text(check)}")
        return lines

    def penalty_seconds(self) -> tuple[int, str]:
        """S for the penalty question, and whose it is: the athlete's own unserved penalties
        when they have any, else the race's penalty time from the desk's settings (the
        most common one when rules differ), else 30 s."""
        entry = self.race_app.state.entry(self.ref)
        own = [
            i.seconds
            for i in (entry.incidents if entry else ())
            if i.kind is IncidentKind.PENALTY and not i.served and i.seconds
        ]
        if own:
            return sum(own), " (unserved)"
        lengths = list(self.race_app.config.desk.penalties_for(self.ref[0]).values())
        if lengths:
            return max(lengths, key=lambda s: (lengths.count(s), s)), ""
        return DEFAULT_PENALTY_S, ""

    def _gap_text(self, other: str, label: str) -> str:
        """The true gap to ``other``, signed as seen from the line's side (+: as labelled)."""
        standings = self.race_app.state.engine.races[self.ref[0]]
        gap = true_gap(standings, self.ref[1], other)
        if gap is None:
            return "no timing point in common yet"
        expected_ahead = other if label.strip() == "Ahead" else self.ref[1]
        sign = 1 if gap.ahead == expected_ahead else -1
        text = f"{format_signed_gap(sign * gap.gap_ms)} at {standings.points[gap.point_index].name}"
        if gap.ranking_gap_ms != gap.gap_ms:
            text += f" (chip {format_signed_gap(sign * gap.ranking_gap_ms)})"
        trend = format_trend(gap.trend, gap.per_split_ms)
        return f"{text} · {trend}" if trend else text

    def _penalty_text(self, check: PenaltyCheck) -> str:
        if check.verdict is Verdict.NOBODY_BEHIND:
            return "yes, nobody racing behind"
        if check.verdict is Verdict.UNKNOWN or check.gap is None or check.margin_ms is None:
            return f"not known yet (#{check.behind} has no split in common)"
        standings = self.race_app.state.engine.races[self.ref[0]]
        where = standings.points[check.gap.point_index].name
        if check.verdict is Verdict.YES:
            text = f"yes, {check.margin_ms / 1000:.1f} s to spare"
        elif check.gap.ranking_gap_ms > 0:
            text = f"no, #{check.behind} is {check.gap.ranking_gap_ms / 1000:.1f} s behind"
        else:
            text = f"no, #{check.behind} is level or faster"
        return text if check.final else f"{text} (as of #{check.behind} at {where})"

    def desk_target(self) -> tuple[AthleteRef | None, IncidentRecord | None]:
        return self.ref, None

    # the app redraws the visible screens, this one included, once it has toggled
    def action_watch(self) -> None:
        self.post_message(ToggleWatch(self.ref))

    def action_mark(self) -> None:
        self.post_message(ToggleMark(self.ref))

    def action_startlist(self) -> None:
        """This athlete's start-list entry: fix it, move it, delete it."""
        self.race_app.action_startlist(self.ref[1])
