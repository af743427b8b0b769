"""The racetui dashboard: one Textual app, seven screens (modes), one UI tick.

The app takes a :class:`~racetui.sources.base.Pipeline` and a list of sources (objects with
``name``, ``health`` and ``async run(pipeline)``) and runs each source as an asyncio
worker. Sources apply deltas to the pipeline as they arrive; the app never handles wire
messages. One timer (the UI tick, 100–200 ms) drains the pipeline's merged change set,
feeds the tracker (passes, incidents, watchlist events) and refreshes the visible
screen(s) only. Time of day and race clocks come from an injected ``clock``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.widget import AwaitMount
from textual.worker import Worker, WorkerState

from racetui.config import Config, Permission, Role, default_operator, role_allows
from racetui.engine import ChangeSet, Pipeline
from racetui.hub.delay import TvDelay
from racetui.sources.base import Source, source_kinds
from racetui.sources.desk import DeskError, EventKey, IncidentDesk, permission_for
from racetui.sources.notes import NotesBook, NotesError, event_notes_path
from racetui.sources.official import OfficialMark, OfficialStore
from racetui.sources.official import event_key as official_event_key
from racetui.sources.tvdelay import TvDelayStore
from racetui.tui.cards import CardQueue
from racetui.tui.clock import Clock, race_time, system_clock
from racetui.tui.lag import LoopLag
from racetui.util.heap import HeapFreezer

if TYPE_CHECKING:
    from racetui.publish.session import Publishing
from racetui.tui.layouts import Layout, LayoutStore
from racetui.tui.messages import (
    DeskEntryRecorded,
    DeskEntryRejected,
    OpenAthlete,
    RecordDeskEntry,
    ShowError,
    ShowGap,
    ToggleMark,
    ToggleWatch,
    WorkerFailed,
)
from racetui.tui.roles import refusal
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.base import RaceScreen
from racetui.tui.screens.box import BoxScreen
from racetui.tui.screens.clock import ClockScreen
from racetui.tui.screens.coming import ComingScreen
from racetui.tui.screens.desk import athlete_name, record_request
from racetui.tui.screens.health import HealthScreen
from racetui.tui.screens.help import HelpScreen
from racetui.tui.screens.incidents import IncidentsScreen
from racetui.tui.screens.leaderboard import LeaderboardScreen
from racetui.tui.screens.passes import PassesScreen
from racetui.tui.screens.publish import PublishScreen
from racetui.tui.screens.quit import QuitScreen
from racetui.tui.screens.search import SearchScreen
from racetui.tui.screens.splits import SplitsScreen
from racetui.tui.screens.startlist import StartListScreen
from racetui.tui.state import AthleteRef, UiState
from racetui.tui.themes import DEFAULT_THEME, PREFIX, THEME_VARIABLES, load_themes
from racetui.tui.tracker import AthleteEvent
from racetui.tui.widgets.header import RaceHeader
from racetui.tui.widgets.table import RowTable

__all__ = ["SCREENS", "RaceApp"]

log = logging.getLogger(__name__)

# The incident tracker's share of one UI tick while it has athletes to look at (a first
# look at 50,000 is spread over ticks): with the screen's own tick, the header and the
# frame, 30 ms made ticks of 50-85 ms of loop CPU while a field's times loaded.
TRACKER_BUDGET = 0.015

# mode name, key, title, what it is for (command palette help)
SCREENS: tuple[tuple[str, str, str, str], ...] = (
    ("leaderboard", "1", "Leaderboard", "positions, times and gaps at the latest or a chosen point"),
    ("splits", "2", "Splits", "athletes × timing points: splits, positions, places gained"),
    ("clock", "3", "Clock", "big race clocks: gun time, waves, countdown"),
    ("incidents", "4", "Incidents", "penalties, DSQ, DNF, DNS for the technical delegate"),
    ("passes", "5", "Passes", "latest passings per timing point or location"),
    ("publish", "6", "Publish", "the publish outbox"),
    ("health", "7", "Health", "feed sources: state, message age, errors"),
    ("coming", "8", "Coming", "who is expected at a point next; who is on course"),
    ("box", "9", "Box", "the penalty box: due, in the box with a countdown, served; the board"),
)
NARROW_NOTICE_WIDTH = 120  # below this, watched-athlete events show in the header, not as toasts
THEME_ORDER = ("racetui-dark", "racetui-light", "high-contrast", "colour-blind", "monochrome")
_SCREENS_GROUP = Binding.Group("Screens", compact=True)


class RaceApp(App[None]):
    TITLE = "racetui"
    ENABLE_COMMAND_PALETTE = True

    MODES: ClassVar[dict[str, Any]] = {
        "leaderboard": LeaderboardScreen,
        "splits": SplitsScreen,
        "clock": ClockScreen,
        "incidents": IncidentsScreen,
        "passes": PassesScreen,
        "publish": PublishScreen,
        "health": HealthScreen,
        "coming": ComingScreen,
        "box": BoxScreen,
    }
    DEFAULT_MODE = "leaderboard"

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"app.switch_mode('{mode}')", title, group=_SCREENS_GROUP, tooltip=about)
            for mode, key, title, about in SCREENS
        ),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("L", "startlist", "Start list", show=False),
        Binding("r", "race(1)", "Race"),
        Binding("R", "race(-1)", "Previous race", show=False),
        Binding("v", "wave", "Wave", show=False),
        Binding("t", "cycle_theme", "Theme", show=False),
        Binding("left_square_bracket", "tv_delay(-1000)", "TV delay −1 s", key_display="[", show=False),
        Binding("right_square_bracket", "tv_delay(1000)", "TV delay +1 s", key_display="]", show=False),
        Binding("left_curly_bracket", "tv_delay(-10000)", "TV delay −10 s", key_display="{", show=False),
        Binding("right_curly_bracket", "tv_delay(10000)", "TV delay +10 s", key_display="}", show=False),
        Binding("equals_sign", "tv_sync", "TV sync", key_display="=", show=False),
        Binding("f2", "layout", "Layout", key_display="F2", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        pipeline: Pipeline,
        sources: Sequence[Source] = (),
        *,
        config: Config | None = None,
        clock: Clock = system_clock,
        theme: str | None = None,
        tick: float = 0.15,
        theme_dirs: Iterable[Path | None] | None = None,
        tracker_budget: float | None = TRACKER_BUDGET,
        strict: bool = False,
        master_offset: bool = True,
        publishing: Publishing | None = None,
        desk: IncidentDesk | None = None,
        startlists: Any = None,
        tv_delay: TvDelay | None = None,
        live_pipeline: Pipeline | None = None,
        notes: NotesBook | None = None,
    ) -> None:
        super().__init__()
        self.strict = strict  # re-raise errors of the UI tick (tests)
        self.tick_errors = 0
        self._heap = HeapFreezer()
        self.pipeline = pipeline
        self.sources = list(sources)
        # publishing from the dashboard (racetui.publish.session.Publishing) or None
        self.publishing = publishing
        # race-day start-list fixes (racetui.tui.startlist_changes.StartListChanges) or None
        self.startlists = startlists
        self.config = config or Config()
        # One TV delay for everything shown: the hub's frames are held for it (hub/delay.py)
        # and every screen's clock is this one, shifted by the same delay.
        self.tv = tv_delay or TvDelay(clock, available=False)
        self.clock: Clock = self.tv.clock
        # Publishing and the desk work on live data: with a TV delay the hub feeds them a
        # second, undelayed replica.
        self.live_pipeline = live_pipeline or pipeline
        self._tv_saved: tuple[str, int] | None = None
        self.tv_store = TvDelayStore()
        self.official_store = OfficialStore()  # races a timer marked official, per event
        self._official_event: str | None = None
        # Athlete cards: the notes file(s) and the pop-up queue (tui/cards.py).
        self.notes = notes if notes is not None else NotesBook()
        self._notes_event: str | None = None
        cards = self.config.cards
        self.cards = CardQueue(show_for=cards.show_for, within=cards.within, top=cards.top)
        self._cards_scanned: datetime | None = None
        self.tick_seconds = tick
        self.tracker_budget = tracker_budget
        self.state = UiState(pipeline.engine, self.tv.clock)
        self.state.master_offset = master_offset
        self.state.groups = self.config.leaderboard.groups
        self.state.group_ms = round(self.config.leaderboard.group_seconds * 1000)
        self.notices: list[str] = []
        # racetui.util.logs.DashboardLog while run by a command: the log file, recent records
        self.logs: Any = None
        self.ticks = 0
        self.loop_lag = LoopLag()  # the UI loop's stalls, on the Health screen (tui/lag.py)
        self.watch_notice: tuple[str, datetime] | None = None  # narrow terminals: (text, until)
        self.last_changes = ChangeSet()
        # The incident desk (officials' decisions, SQLite in the data dir): its overrides
        # are applied whenever a race appears, and after every action (screens/desk.py).
        self.desk: IncidentDesk | None = desk
        # Whether the operator's name is the official's own (config, environment, the
        # command line) rather than the login name: the desk asks once per session if not.
        self.operator_named = self.config.operator.strip() not in {default_operator(), "operator", ""}
        # The saved layout of this role (footer screens, leaderboard columns, race).
        self.layouts = LayoutStore(self.config.role, tuple(self.MODES))
        if self.layouts.problem:
            self.notices.append(self.layouts.problem)
        self.state.hidden_columns = set(self.layouts.layout.hidden_columns)
        self._wanted_race = self.layouts.layout.race  # restored once that race is loaded
        self._desk_races: set[tuple[str, int]] = set()
        if desk is None:
            try:
                self.desk = IncidentDesk(operator=self.config.operator, settings=self.config.desk)
            except (OSError, sqlite3.Error) as exc:
                self.notices.append(f"incident desk unavailable: {exc}")
        themes, problems = load_themes(theme_dirs)
        self.notices += problems
        for item in themes.values():
            self.register_theme(item)
        self.racetui_themes = [name for name in THEME_ORDER if name in themes] + sorted(
            name for name in themes if name not in THEME_ORDER
        )
        wanted = theme or self.config.theme or DEFAULT_THEME
        if wanted not in themes:
            self.notices.append(f"theme {wanted!r} not found or invalid: using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME
        self.theme = wanted

    # ----------------------------------------------------------- lifecycle
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {f"{PREFIX}{key}": value for key, value in THEME_VARIABLES.items()}

    # ----------------------------------------------------------------- roles
    @property
    def role(self) -> Role | None:
        return self.config.role

    def allows(self, permission: Permission) -> bool:
        """Whether this session's role may do it (no role: everything)."""
        return role_allows(self.config.role, permission)

    def shows_binding(self, screen: Screen[Any], action: str) -> bool:
        """Whether the footer shows a key: not when the role may not use it, and a screen
        key only for the screens of the layout."""
        from racetui.tui.roles import action_permission

        if action.startswith("app.switch_mode("):
            mode = action.removeprefix("app.switch_mode(").strip("')\"")
            return mode in self.layouts.layout.screens
        permission = action_permission(screen, action)
        return permission is None or self.allows(permission)

    def on_mount(self) -> None:
        for notice in self.notices:
            self.notify(notice, title="Theme", severity="warning", timeout=8, markup=False)
        start = self.layouts.layout.start
        if start != self.current_mode and start in self.MODES:
            self.switch_mode(start)
        for source in self.sources:
            self.run_worker(
                self._run_source(source), name=f"source {source.name}", group="sources", exit_on_error=False
            )
        if self.publishing is not None:
            self.run_worker(
                self.publishing.run(self.live_pipeline), name="publish", group="publish", exit_on_error=False
            )
        if self.startlists is not None:
            self.startlists.service.listeners.append(self._startlist_answered)
            self.run_worker(
                self.startlists.run(self.pipeline),
                name="start-list changes",
                group="publish",
                exit_on_error=False,
            )
        self.run_worker(self.loop_lag.run(), name="UI loop probe", group="probe", exit_on_error=False)
        self.tick()
        self.set_interval(self.tick_seconds, self.tick, name="ui tick")

    def _startlist_answered(self, item: Any) -> None:
        """A start-list change answered: say so (a refusal with the service's reason)."""
        if not item.target.startswith("startlist.") or not item.settled:
            return
        if item.state == "sent":
            self.notify(f"{item.summary}: done", title="Start list", markup=False)
        else:
            self.notify(
                item.error or item.summary, title="Start list", severity="error", timeout=12, markup=False
            )
        for screen in self.screen_stack:
            if isinstance(screen, StartListScreen) and screen.is_mounted:
                screen.reload()

    async def _run_source(self, source: Any) -> None:
        try:
            await source.run(self.pipeline)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source must never take the dashboard down
            source.health.error(f"{type(exc).__name__}: {exc}")
            self.post_message(WorkerFailed(source.name, exc))

    # ------------------------------------------------- what workers report
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that died of an error (the publisher, say) is reported, never silent."""
        worker = event.worker
        if event.state is WorkerState.ERROR and worker.error is not None:
            self.post_message(WorkerFailed(worker.name, worker.error))

    @on(WorkerFailed)
    def _worker_failed(self, message: WorkerFailed) -> None:
        name = message.name.removeprefix("source ")
        title = "Publish" if name == "publish" else "Source"
        self._show_error(ShowError(title, f"{name} stopped: {message.error}"))

    @on(ShowError)
    def _show_error(self, message: ShowError) -> None:
        self.notify(message.text, title=message.title, severity="error", timeout=10, markup=False)

    def tick(self) -> None:
        """One UI tick: drain, track, notify, refresh what is visible."""
        self._apply_desk()
        if self.live_pipeline is not self.pipeline:
            self.live_pipeline.drain()  # keeps the live engine sorted for publishing
        self._keep_race()
        changes = self.pipeline.drain()
        self._recall_tv_delay()
        self._bind_notes_event()
        self.load_official()
        self.ticks += 1
        self.last_changes = changes
        try:
            state = self.state
            state.apply(changes)
            events = state.tracker.process(changes, state.watch, budget=self.tracker_budget)
            if events:
                self._announce(events)
            # Only the top screen is ticked. A screen under a modal is drawn dimmed, and
            # every refresh of it makes the terminal repaint the whole dimmed frame: 20-35x
            # the bytes of the board alone, paid by a timer over SSH. It catches up with one
            # reload when the modal closes (RaceScreen.on_screen_resume).
            stack = self.screen_stack
            top = stack[-1] if stack else None
            # Not while the app shuts down: its screens' widgets are being removed.
            if isinstance(top, RaceScreen | AthleteScreen) and self.is_running:
                top.tick(changes)
            self._tick_cards()
            self._freeze_big_field()
        except Exception as exc:
            # A display bug must not take the dashboard down in the middle of a race: the
            # engine keeps the truth, the next tick redraws. Tests run strict.
            if self.strict:
                raise
            self.tick_errors += 1
            log.exception("UI tick failed")
            if self.tick_errors in (1, 10, 100):
                self.notify(
                    f"display error ({type(exc).__name__}: {exc}); the data is safe, see the log",
                    title="racetui",
                    severity="error",
                    markup=False,
                )

    def desk_pipelines(self) -> list[Pipeline]:
        """Where the desk's decisions apply: the screens' replica and, with a TV delay, the
        live one publishing reads (officials' decisions are never held back)."""
        if self.live_pipeline is self.pipeline:
            return [self.pipeline]
        return [self.pipeline, self.live_pipeline]

    def name_operator(self, name: str) -> None:
        """The official's name for this session's desk entries (asked by the desk screens)."""
        self.config.operator = name
        if self.desk is not None:
            self.desk.operator = name
        self.operator_named = True

    def _keep_race(self) -> None:
        """The race of the saved layout once it is loaded; afterwards, a change of race is saved."""
        state = self.state
        wanted = self._wanted_race
        if wanted is not None:
            ids = state.race_ids()
            if wanted in ids:
                if state.race_id != wanted:
                    state.race_id = wanted
                    state.wave_id = state.point_id = None
                    self.reload_visible()
                self._wanted_race = None
            elif ids and self.pipeline.engine.event is not None:
                self._wanted_race = None  # another event: that race is not in it
            return
        if state.race_id is not None and state.race_id != self.layouts.layout.race:
            self.save_layout(race=state.race_id)

    def save_layout(
        self,
        *,
        screens: tuple[str, ...] | None = None,
        hidden_columns: frozenset[str] | None = None,
        race: str | None = None,
    ) -> None:
        """Keep what changed in this role's layout file (and redraw what it shows)."""
        from dataclasses import replace

        layout = self.layouts.layout
        changed: Layout = replace(
            layout,
            screens=layout.screens if screens is None else screens,
            hidden_columns=layout.hidden_columns if hidden_columns is None else hidden_columns,
            race=layout.race if race is None else race,
        )
        self.layouts.save(changed)
        if self.layouts.problem:
            self.notify(self.layouts.problem, title="Layout", severity="warning", markup=False)
            self.layouts.problem = None

    def _apply_desk(self) -> None:
        """Apply the desk's overrides to races the desk has not seen yet (cheap otherwise)."""
        pipelines = self.desk_pipelines()
        seen = {
            (race_id, standings.serial) for p in pipelines for race_id, standings in p.engine.races.items()
        }
        if self.desk is None:
            return
        # The desk records for the event on screen, and applies only that event's entries.
        event = self._event_key()
        if self.desk.bind(event):
            self._desk_races = set()
        if seen <= self._desk_races:
            return
        try:
            for pipeline in pipelines:
                self.desk.apply(pipeline)
        except sqlite3.Error as exc:
            log.error("incident desk: %s", exc)
            return
        self._desk_races = seen

    def local_sources(self) -> list[Any]:
        """This process's own inputs with a health (the notes file) for the Health screen."""
        return [self.notes]

    # --------------------------------------------------------------- cards
    def _bind_notes_event(self) -> None:
        """Once the event is known, its own notes file in the data dir is read too (and
        takes the notes added now when the user's file is not theirs to write)."""
        if self._notes_event is not None:
            return
        event = self._tv_event()
        if event is None:
            return
        self._notes_event = event
        try:
            own = event_notes_path(event)
        except OSError as exc:
            self.notes.health.error(f"notes: no data dir ({exc})")
            return
        if own not in self.notes.paths:
            self.notes.paths.append(own)
            self.notes.optional.add(own)  # it exists once a note is added
        if self.notes.writable is None:
            self.notes.writable = own
        self.notes.reload()

    def notes_target(self) -> Path | None:
        """Where a note added now is saved (None before the event is known)."""
        return self.notes.writable

    def add_note(self, ref: AthleteRef, text: str) -> None:
        try:
            path = self.notes.add_note(ref[1], text)
        except NotesError as exc:
            self.notify(str(exc), title="Notes", severity="error", markup=False)
            return
        self.notify(f"#{ref[1]}: note saved to {path}", title="Notes", markup=False)

    def _tick_cards(self) -> None:
        """Offer the cards now due (once a second) and show the one up on the top screen."""
        now = self.state.clock()
        if self.notes.by_bib or self.notes.by_id:
            last = self._cards_scanned
            if last is None or abs((now - last).total_seconds()) >= 1:
                self._cards_scanned = now
                self.cards.scan(self.state, self.notes, watched=list(self.state.watch))
        popup = self.cards.shown(now)
        stack = self.screen_stack
        screen = stack[-1] if stack else None
        if isinstance(screen, RaceScreen):
            for widget in screen.card_popups():
                widget.show(popup)

    def dismiss_card(self) -> bool:
        """Esc on a board: close the card up (the next one in the queue follows)."""
        if not self.cards.dismiss(self.state.clock()):
            return False
        self._tick_cards()
        return True

    def health_lines(self) -> list[str]:
        """The Health screen's lines about the TV delay and the notes file."""
        tv = self.tv
        if not tv.available:
            lines = ["TV delay: off (it needs the hub: not with --in-process)"]
        else:
            held = tv.follower.held() if tv.follower is not None else 0
            lines = [f"TV delay: {tv.ms // 1000} s, {held} frame(s) held  ([ ] ±1 s  {{ }} ±10 s  = sync)"]
        if tv.ms and self.live_pipeline is self.pipeline and self.publishing is not None:
            lines.append("  publishing reads the delayed data (no live replica)")
        if self.tv_store.problem:
            lines.append(f"  {self.tv_store.problem}")
        notes = self.notes
        read = [str(p) for p in notes.paths if p.exists()]
        if read:
            cards = len(notes.by_bib) + len(notes.by_id)
            rejected = notes.health.rejected
            lines.append(f"Notes: {', '.join(read)} ({cards} cards, {rejected} rows rejected)")
            if notes.writable is not None:
                lines.append(f"  notes added go to {notes.writable}")
        return lines

    # ---------------------------------------------------- provisional / official
    def load_official(self) -> None:
        """The races marked official for the event on screen (read when the event is known)."""
        key = official_event_key(self.live_pipeline.engine, self.tv.base_clock().date())
        text = None if key is None else key.text()
        if text == self._official_event:
            return
        self._official_event = text
        self.state.official = dict(self.official_store.marks(key))
        if self.official_store.problem:
            self.notify(self.official_store.problem, title="Official", severity="warning", markup=False)

    def set_official(self, race_id: str, official: bool) -> None:
        """A timer's word: the race's places official (or provisional again), remembered."""
        key = official_event_key(self.live_pipeline.engine, self.tv.base_clock().date())
        if key is None:
            self.notify("No event yet: nothing to mark.", title="Official", severity="error", markup=False)
            return
        mark = (
            OfficialMark(self.config.operator, self.clock().isoformat(timespec="seconds"))
            if official
            else None
        )
        saved = self.official_store.set(key, race_id, mark)
        if mark is None:
            self.state.official.pop(race_id, None)
        else:
            self.state.official[race_id] = mark
        standings = self.state.engine.races.get(race_id)
        name = standings.race.name if standings else race_id
        text = f"{name}: {'OFFICIAL' if official else 'provisional again'}"
        if not saved:
            text += f" (not saved: {self.official_store.problem})"
        self.notify(text, title="Official", severity="information" if saved else "warning", markup=False)
        self.reload_visible()

    # ------------------------------------------------------------ TV delay
    def _event_key(self) -> EventKey | None:
        """The event on screen as the desk keys it (live data: the delay does not move it)."""
        return EventKey.of(self.live_pipeline.engine, source_kinds(self.sources), self.tv.base_clock().date())

    def _tv_event(self) -> str | None:
        key = self._event_key()
        return None if key is None else key.text()

    def _recall_tv_delay(self) -> None:
        """The delay last set for this event comes back once the event is known."""
        if not self.tv.available or self._tv_saved is not None:
            return
        event = self._tv_event()
        if event is None:
            return
        saved = self.tv_store.get(event)
        self._tv_saved = (event, saved or 0)
        if saved:
            self.tv.set(saved)
            shown = self.tv.ms // 1000
            self.notify(f"TV delay {shown} s (as last set for this event)", title="TV", markup=False)

    def _tv_changed(self, what: str) -> None:
        event = self._tv_event()
        if event is not None:
            self.tv_store.put(event, self.tv.ms)
            self._tv_saved = (event, self.tv.ms)
        shown = f"{self.tv.ms // 1000} s" if self.tv.ms else "off"
        self.notify(f"TV delay {shown} ({what})", title="TV", timeout=3, markup=False)
        self.tick()
        self.reload_visible()
        for screen in self.visible_screens():
            for header in screen.query(RaceHeader):
                header.refresh_if_changed()

    def action_tv_delay(self, step_ms: int) -> None:
        """Hold everything shown back by one more (or one less) second or ten."""
        if not self.tv.available:
            self.notify(self.tv.unavailable, title="TV", severity="warning", markup=False)
            return
        before = self.tv.ms
        self.tv.set(before + step_ms)
        if self.tv.ms != before:
            self._tv_changed(f"{step_ms // 1000:+d} s" if step_ms > 0 else f"−{-step_ms // 1000} s")
        else:
            self.notify(f"TV delay stays {before // 1000} s (0–300 s)", title="TV", timeout=3, markup=False)

    def action_tv_sync(self) -> None:
        """'The leader crosses on TV now': the delay that shows the leader's latest passing now."""
        if not self.tv.available:
            self.notify(self.tv.unavailable, title="TV", severity="warning", markup=False)
            return
        standings = self.state.standings()
        rows = standings.view().rows(0, 1) if standings is not None else []
        if not rows or standings is None:
            self.notify("TV sync: no leader yet in this race", title="TV", markup=False)
            return
        live = race_time(standings.race, self.tv.base_clock(), master_offset=self.state.master_offset)
        bib = rows[0].bib
        ms = None if live.elapsed_ms is None else self.tv.sync_to(standings.race.id, bib, live.elapsed_ms)
        if ms is None:
            self.notify(f"TV sync: no passing of #{bib} yet", title="TV", markup=False)
            return
        self.tv.set(ms)
        self._tv_changed(f"synced to #{bib}")

    def _freeze_big_field(self) -> None:
        """Keep a big field out of the garbage collector's full passes
        (:class:`racetui.util.heap.HeapFreezer`): once it has loaded, when it grows, and after
        a slow full pass live, not while the tracker still has a first look to take."""
        if not self.state.tracker.backlog:
            self._heap(sum(len(standings) for standings in self.state.engine.races.values()))

    # ----------------------------------------------------- switching screens
    # Textual holds every update for 50 ms on a mode switch (delay_update) to hide a new
    # mode's screen being built: a floor of 50 ms on every key→frame. A screen built before
    # only has to catch up, so the updates are held until it has (RaceScreen calls
    # resumed() at the end of its ScreenResume), at most those 50 ms times four.
    _hold_next = False
    _holds: tuple[object, ...] = ()

    def switch_mode(self, mode: str) -> AwaitMount:
        self._hold_next = mode != self.current_mode and mode in self._screen_stacks
        try:
            return super().switch_mode(mode)
        finally:
            self._hold_next = False

    def delay_update(self, delay: float = 0.05) -> None:
        if not self._hold_next:
            super().delay_update(delay)
            return
        hold = object()
        self._holds = (*self._holds, hold)
        self._begin_batch()
        self.set_timer(delay * 4, partial(self._release, hold), name="switch hold")

    def resumed(self) -> None:
        """A screen switched to has caught up: its frame may be drawn now."""
        if self._holds:
            self._release(self._holds[0])

    def _release(self, hold: object) -> None:
        if hold not in self._holds:
            return  # released already
        self._holds = tuple(h for h in self._holds if h is not hold)
        self._end_batch()
        if not self._batch_count:
            self.screen.refresh()

    def visible_screens(self) -> list[Screen[Any]]:
        """The top screen, and the ones under it while modals are on top."""
        visible: list[Screen[Any]] = []
        for screen in reversed(self.screen_stack):
            visible.append(screen)
            if not isinstance(screen, ModalScreen):
                break
        return visible

    def _announce(self, events: list[AthleteEvent]) -> None:
        if self.size.width < NARROW_NOTICE_WIDTH:
            # Toasts are up to 60 cells wide and stack upwards: at 80x24 they covered the
            # header and the time and gap columns. Narrow terminals get the latest watched
            # event in the header line instead, for as long as a toast would have shown.
            event = events[-1]
            entry = self.state.entry((event.race_id, event.bib))
            name = entry.name() if entry else ""
            more = f" (+{len(events) - 1} more)" if len(events) > 1 else ""
            text = f"★ #{event.bib} {name}: {event.text}{more}"
            self.watch_notice = (text, self.state.clock() + timedelta(seconds=6))
            for screen in self.visible_screens():
                for header in screen.query(RaceHeader):
                    header.refresh_if_changed()
            if self.config.bell:
                self.bell()
            return
        for event in events[:5]:
            entry = self.state.entry((event.race_id, event.bib))
            name = entry.name() if entry else ""
            self.notify(f"#{event.bib} {name}: {event.text}", title="★ Watched", timeout=6, markup=False)
        if len(events) > 5:
            self.notify(
                f"and {len(events) - 5} more watched-athlete events",
                title="★ Watched",
                timeout=6,
                markup=False,
            )
        if self.config.bell:
            self.bell()

    def reload_visible(self) -> None:
        for screen in self.visible_screens():
            if isinstance(screen, RaceScreen | AthleteScreen) and screen.ready:
                screen.reload()

    # -------------------------------------------------- what screens ask
    @on(OpenAthlete)
    def _open_athlete(self, message: OpenAthlete) -> None:
        self.open_athlete(message.ref)

    @on(ToggleWatch)
    def _toggle_watch(self, message: ToggleWatch) -> None:
        self.toggle_watch(message.ref)

    @on(ToggleMark)
    def _toggle_mark(self, message: ToggleMark) -> None:
        self.toggle_mark(message.ref)

    @on(ShowGap)
    def _show_gap(self, message: ShowGap) -> None:
        self.show_gap(message.ref)

    @on(RecordDeskEntry)
    def _record_desk_entry(self, message: RecordDeskEntry) -> None:
        """Record what the official confirmed; the desk's refusal goes back to the form."""
        request = message.request
        withdrawn = None
        if request.target is not None and self.desk is not None:  # withdrawing a DNS is status work
            entry = self.desk.entry(request.race_id, request.bib, request.target)
            withdrawn = None if entry is None else entry.kind
        permission = permission_for(request.action, withdrawn)
        if not self.allows(permission):  # the keys are gated too; this is the last word
            text = refusal(self.config.role, permission)
            if message.reply_to is not None:
                message.reply_to.post_message(DeskEntryRejected(request, text))
            else:
                self.notify(text, title="Role", severity="warning", markup=False)
            return
        if getattr(self.desk, "remote", False):  # a viewer: the hub records (hub/redis_desk.py)
            self.run_worker(self._send_desk_entry(message), group="desk", exit_on_error=False)
            return
        try:
            actions = record_request(self, request)
        except DeskError as exc:
            if message.reply_to is not None:
                message.reply_to.post_message(DeskEntryRejected(request, str(exc)))
            else:
                self.notify(str(exc), title="⌂ Incident desk", severity="error", markup=False)
            return
        self.notify(
            f"#{request.bib}: {message.text} (desk #{actions[-1].id})", title="⌂ Recorded", markup=False
        )
        if message.reply_to is not None:
            message.reply_to.post_message(DeskEntryRecorded(request, actions))

    async def _send_desk_entry(self, message: RecordDeskEntry) -> None:
        """A viewer's entry: sent to the hub, pending until the hub's frame carries it."""
        request = message.request
        desk: Any = self.desk
        body = {
            "race_id": request.race_id,
            "bib": request.bib,
            "action": request.action.value,
            "seconds": request.seconds,
            "infringement": request.infringement,
            "reason": request.reason,
            "target": request.target,
            "adopt": request.adopt,
            "location": request.location,
            "box": request.box,
            "subject": None if request.subject is None else request.subject.value,
            "name": athlete_name(self, (request.race_id, request.bib)),
        }
        if desk.refusal(body) is None:
            self.notify(f"#{request.bib}: {message.text} — pending at the hub", title="⌂ Sent", markup=False)
        try:
            actions = await desk.submit(body)
        except DeskError as exc:
            if message.reply_to is not None:
                message.reply_to.post_message(DeskEntryRejected(request, str(exc)))
            else:
                self.notify(str(exc), title="⌂ Incident desk", severity="error", markup=False)
            return
        self.tick()
        self.notify(
            f"#{request.bib}: {message.text} (hub desk #{actions[-1].id if actions else '?'})",
            title="⌂ Recorded",
            markup=False,
        )
        if message.reply_to is not None:
            message.reply_to.post_message(DeskEntryRecorded(request, actions))

    # -------------------------------------------------------------- actions
    def open_athlete(self, ref: AthleteRef | None) -> None:
        if ref is None:
            return
        if ref[0] != self.state.race_id and ref[0] in self.state.engine.races:
            self.state.race_id = ref[0]
            self.state.wave_id = self.state.point_id = None
            self.reload_visible()
        for screen in self.visible_screens():
            for table in screen.query(RowTable):
                if table.model.race_id == ref[0] and table.current_key() != ref:
                    table.move_to_key(ref)
        self.push_screen(AthleteScreen(ref))

    def toggle_watch(self, ref: AthleteRef | None) -> None:
        if ref is None:
            return
        entry = self.state.entry(ref)
        name = entry.name() if entry else ""
        on = self.state.toggle_watch(ref)
        self.notify(
            f"#{ref[1]} {name} {'added to' if on else 'removed from'} the watchlist",
            title="★ Watchlist",
            markup=False,
        )
        self.reload_visible()

    def toggle_mark(self, ref: AthleteRef | None) -> None:
        if ref is None:
            return
        on = self.state.toggle_mark(ref)
        self.notify(
            f"#{ref[1]} marked: highlight another athlete to see the gap" if on else "mark cleared",
            title="◆ Mark",
            markup=False,
        )
        self.reload_visible()

    def show_gap(self, ref: AthleteRef | None) -> None:
        from racetui.tui.columns import format_signed_gap, format_trend

        mark = self.state.mark
        if mark is None or ref is None:
            self.notify(
                "Mark an athlete first (m), then highlight another and press g.", title="Gap", markup=False
            )
            return
        gap = self.state.gap(mark, ref, self.state.point_id)
        if gap is None:
            where = "no timing point in common yet"
            if self.state.point_id is not None:
                where = f"not both passed {self.state.point_name()}"
            self.notify(f"#{mark[1]} and #{ref[1]}: {where}.", title="Gap", markup=False)
            return
        trend = format_trend(gap.trend, gap.per_split_ms)
        apart = gap.points_behind
        lapped = f" ({apart} timing point{'s' if apart > 1 else ''} apart)" if apart else ""
        self.notify(
            f"#{mark[1]} → #{ref[1]}: {format_signed_gap(gap.ms)} at {gap.point_name}"
            + (f", {trend}" if trend else "")
            + lapped,
            title="Gap",
            markup=False,
        )

    def action_race(self, step: int) -> None:
        race_id = self.state.cycle_race(step)
        if race_id is not None:
            self.reload_visible()

    def action_wave(self) -> None:
        wave = self.state.cycle_wave()
        self.notify(f"wave: {wave.name}" if wave else "all waves", title="Wave", timeout=3, markup=False)
        self.reload_visible()

    def action_search(self) -> None:
        def found(ref: AthleteRef | None) -> None:
            if ref is not None:
                self.open_athlete(ref)

        self.push_screen(SearchScreen(), found)

    def action_startlist(self, bib: str | None = None) -> None:
        """The start list of the current race, with the race-day fixes."""
        self.push_screen(StartListScreen(bib))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_layout(self) -> None:
        """Choose the footer's screens and the leaderboard's columns (saved for this role)."""
        from racetui.tui.screens.layout import LayoutScreen

        self.push_screen(LayoutScreen(SCREENS))

    def quit_reasons(self) -> list[str]:
        """What quitting would stop now: live sources, live publishing, queued uploads."""
        from racetui.sources.base import FeedState, SourceMode

        reasons = []
        for source in self.sources:
            health = source.health
            live = health.mode in (SourceMode.PUSH, SourceMode.POLLING)
            if live and health.effective_state() in (FeedState.CONNECTED, FeedState.STALE):
                reasons.append(f"{source.name} is live ({health.mode})")
        publishing = self.publishing
        if publishing is not None:
            if publishing.live:
                reasons.append("live publishing is on: changes stop being sent")
            try:
                queued = len(publishing.outbox.pending())
            except sqlite3.Error:  # an outbox that cannot answer must not block quitting
                queued = 0
            if queued:
                reasons.append(f"{queued} upload(s) queued in the outbox (kept for the next start)")
        return reasons

    async def action_quit(self) -> None:
        """Quit at once when nothing is live; otherwise ask (a second q confirms)."""
        reasons = self.quit_reasons()
        if not reasons or isinstance(self.screen, QuitScreen):
            self.exit()
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        self.push_screen(QuitScreen(reasons), answered)

    def action_cycle_theme(self) -> None:
        names = self.racetui_themes
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme: {self.theme}", title="Theme", timeout=3, markup=False)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for mode, key, title, about in SCREENS:
            yield SystemCommand(f"{key} {title}", about.capitalize(), partial(self.switch_mode, mode))
        yield SystemCommand("Search athlete", "Find an athlete by bib or name (/)", self.action_search)
        yield SystemCommand("Start list", "Entries; add, fix, move or delete one (L)", self.action_startlist)
        yield SystemCommand("Next race", "Switch to the next race (r)", partial(self.action_race, 1))
        yield SystemCommand("Next wave", "Clock and leaderboard for the next wave (v)", self.action_wave)
        yield SystemCommand("Next theme", "Cycle racetui's themes (t)", self.action_cycle_theme)
        yield SystemCommand(
            "Layout", "Screens in the footer, leaderboard columns; saved per role (F2)", self.action_layout
        )
        yield SystemCommand("Help", "Every key on one page (?)", self.action_help)
        yield from super().get_system_commands(screen)
