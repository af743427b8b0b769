"""1 · Leaderboard: the race at its latest point (or a chosen one), filtered, live."""

from __future__ import annotations

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.visual import VisualType
from textual.widgets import Static

from racetui.engine import ChangeSet
from racetui.tui.columns import format_signed_gap, format_trend
from racetui.tui.messages import OpenAthlete, ShowGap, ToggleMark, ToggleWatch
from racetui.tui.rows import LeaderboardModel
from racetui.tui.screens.base import TableScreen
from racetui.tui.screens.publish import ConfirmPublish
from racetui.tui.widgets.table import RowTable

__all__ = ["InfoBar", "LeaderboardScreen"]


class InfoBar(Static):
    """One line of context under the header (filters, counts, the marked athlete's gap)."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._shown: object = ""

    DEFAULT_CSS = """
    InfoBar { height: 1; background: $surface; color: $foreground 80%; padding: 0 1; }
    """

    def update(self, content: VisualType = "", *, layout: bool = False) -> None:
        """Show ``content``: the same again costs nothing, and other text needs no layout
        (one line as wide as the screen, whatever it says). Every UI tick sets the line, and
        a ``Static``'s own update re-lays out the whole screen each time."""
        if content == self._shown:
            return
        self._shown = content
        super().update(content, layout=layout)


class LeaderboardScreen(TableScreen):
    TITLE = "Leaderboard"
    TABLE_ID = "board"

    BINDINGS = [
        Binding("p", "point(1)", "Point"),
        Binding("P", "point(-1)", "Prev point", show=False),
        Binding("l", "latest", "Latest", show=False),
        Binding("f", "gender", "Gender", show=False),
        Binding("c", "category", "Category", show=False),
        Binding("w", "watch", "Watch"),
        Binding("m", "mark", "Mark", show=False),
        Binding("g", "gap", "Gap", show=False),
        Binding("G", "groups", "Groups", show=False),
        Binding("T", "group_time", "Group time", show=False),
        Binding("O", "official", "Official", show=False),
    ]

    GROUP_TIMES = (1_000, 2_000, 5_000, 10_000)  # what T cycles through

    def compose_body(self) -> ComposeResult:
        yield InfoBar(id="info")
        yield RowTable(LeaderboardModel(self.state), empty="No athletes in this race yet.", id="board")

    def on_changes(self, changes: ChangeSet) -> None:
        self.table.update_rows(changes)
        self.update_info()

    def reload(self) -> None:
        super().reload()
        self.redraw_table()
        self.update_info()

    def update_info(self) -> None:
        state = self.state
        view = state.view()
        count = 0 if view is None else len(view)
        point = "latest point" if state.point_id is None else f"at {state.point_name()}"
        results = state.results()
        label = results.label if results is not None else ""
        if label:  # PROVISIONAL / OFFICIAL first: it must survive the narrowest line
            point = f"{label} · {point}"
        board = f"{point} · {state.filter_text()} · {count:,} athletes"
        if state.groups and state.point_id is not None:
            board += f" · groups {state.group_ms / 1000:g} s"
        if state.mark is None:
            self.query_one("#info", InfoBar).update(board)
            return
        # The gap at the point being viewed (at the latest point: the furthest both passed),
        # names and labels dropped until the line fits (80 columns cut it mid-gap).
        marked = state.entry(state.mark)
        long = f"◆ #{state.mark[1]} {marked.name() if marked else ''}".rstrip()
        short = f"◆ #{state.mark[1]}"
        trend = ""
        cursor = self.table.current_key()
        if cursor is not None and cursor != state.mark:
            gap = state.gap(state.mark, cursor, state.point_id)
            other = state.entry(cursor)
            if gap is not None and other is not None:
                signed = format_signed_gap(gap.ms)
                long += f" → #{cursor[1]} {other.name()}: {signed} at {gap.point_name}"
                short += f" → #{cursor[1]} {signed} at {gap.point_name}"
                trend = format_trend(gap.trend, gap.per_split_ms)
                trend = f", {trend}" if trend else ""
            elif state.point_id is not None:
                short += f" → #{cursor[1]}: not both at {state.point_name()}"
                long = short
        width = (self.query_one("#info", InfoBar).outer_size.width or self.app.size.width) - 2  # padding
        if label:
            short = f"{label} · {short}"
        candidates = [
            f"{board} │ {long}{trend}",
            f"{board} │ {short}{trend}",
            f"{point} │ {short}{trend}",
            f"{short}{trend}",
            f"{board} │ {long}",
            f"{board} │ {short}",
            f"{point} │ {short}",
            short,
        ]
        text = next((c for c in candidates if cell_len(c) <= width), candidates[-1])
        self.query_one("#info", InfoBar).update(text)

    @on(RowTable.Highlighted)
    def _highlighted(self, event: RowTable.Highlighted) -> None:
        if self.state.mark is not None:
            self.update_info()

    @on(RowTable.Selected)
    def _selected(self, event: RowTable.Selected) -> None:
        self.post_message(OpenAthlete(event.key))

    # --------------------------------------------------------------- actions
    def action_point(self, step: int) -> None:
        self.state.cycle_point(step)
        self.reload()

    def action_latest(self) -> None:
        self.state.point_id = None
        self.reload()

    def action_gender(self) -> None:
        self.state.cycle_gender()
        self.reload()

    def action_category(self) -> None:
        self.state.cycle_category()
        self.reload()

    def action_groups(self) -> None:
        state = self.state
        state.groups = not state.groups
        where = "" if state.point_id is not None else " (shown at a timing point: p)"
        text = f"groups on, within {state.group_ms / 1000:g} s{where}" if state.groups else "groups off"
        self.notify(text, title="Groups", timeout=3, markup=False)
        self.reload()

    def action_group_time(self) -> None:
        """1 s → 2 s → 5 s → 10 s → 1 s (from a configured time: the next one up)."""
        state = self.state
        state.group_ms = next((ms for ms in self.GROUP_TIMES if ms > state.group_ms), self.GROUP_TIMES[0])
        state.groups = True
        where = "" if state.point_id is not None else " (shown at a timing point: p)"
        self.notify(
            f"groups within {state.group_ms / 1000:g} s{where}", title="Groups", timeout=3, markup=False
        )
        self.reload()

    def action_official(self) -> None:
        """Mark the race's places official (asks first), or provisional again."""
        state = self.state
        race = state.race()
        results = state.results(counts=True)
        if race is None or results is None:
            return
        if results.by == "source":
            self.notify(f"{race.name}: the source says official.", title="Official", markup=False)
            return
        app = self.race_app
        if results.by == "timer":
            question = f"Mark {race.name} PROVISIONAL again?"
            body = "Places will show provisional until the source or a timer says official."

            def back(yes: bool | None) -> None:
                if yes:
                    app.set_official(race.id, False)

            self.app.push_screen(ConfirmPublish(question, body), back)
            return
        question = f"Mark {race.name} OFFICIAL?"
        waiting = results.reason()
        body = (
            f"Still provisional: {waiting}.\n" if results.on_course or results.not_started else ""
        ) + "Screens and exports will say OFFICIAL for this race (O again undoes it)."

        def confirmed(yes: bool | None) -> None:
            if yes:
                app.set_official(race.id, True)

        self.app.push_screen(ConfirmPublish(question, body), confirmed)

    def action_watch(self) -> None:
        self.post_message(ToggleWatch(self.table.current_key()))

    def action_mark(self) -> None:
        self.post_message(ToggleMark(self.table.current_key()))

    def action_gap(self) -> None:
        self.post_message(ShowGap(self.table.current_key()))
