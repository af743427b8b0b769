"""A table that draws only the rows on screen: the widget for 50,000-athlete fields.

Like toolong's ``LogLines``: a :class:`~textual.scroll_view.ScrollView` using the Line API.
``render_line`` asks the model for the rows in view only (``model.fetch(start, stop)``,
which reads ``LeaderboardView.rows``), and keeps an LRU of drawn :class:`Strip`\\ s keyed by
the row's content, so an unchanged row is never drawn twice. On each UI tick the screen
calls :meth:`RowTable.update_rows` with the tick's merged change set: the table re-reads
the rows in view only when the change set touches them (moved ranges and named athletes)
and refreshes exactly the lines whose content changed. Nothing scales with the field.
"""

from __future__ import annotations

import textwrap
from collections.abc import Hashable, Sequence
from typing import TypeGuard, cast

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from racetui.engine import ChangeSet
from racetui.tui.columns import Cell, Column, fit, fit_columns
from racetui.tui.rows import CellValue, DisplayRow, TableModel
from racetui.tui.state import AthleteRef
from racetui.tui.widgets.styles import layer_style

__all__ = ["InfoTable", "RowTable"]


class RowTable(ScrollView, can_focus=True):
    """Rows from a :class:`TableModel`, a header line, a cursor that follows its athlete."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "Top", show=False),
        Binding("end", "jump(-1)", "Bottom", show=False),
        Binding("enter", "select", "Open", show=True),
    ]

    DEFAULT_CSS = """
    RowTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        overflow-y: auto;
        background: $surface;
        color: $foreground;
    }
    RowTable > .rt--header { background: $panel; color: $foreground; text-style: bold; }
    RowTable > .rt--cursor { background: $primary 40%; text-style: $racetui-cursor-style; }
    RowTable > .rt--dim { color: $foreground 65%; }
    RowTable > .rt--gain { color: $racetui-gain; text-style: bold; }
    RowTable > .rt--loss { color: $racetui-loss; text-style: bold; }
    RowTable > .rt--alert { color: $racetui-alert; text-style: $racetui-alert-style; }
    RowTable > .rt--alert-row { background: $racetui-alert 12%; }
    RowTable > .rt--bad { color: $error; text-style: bold; }
    RowTable > .rt--watched { color: $racetui-watched; text-style: bold; }
    RowTable > .rt--watched-row { }
    RowTable > .rt--marked { color: $racetui-marked; text-style: bold; }
    RowTable > .rt--new { color: $racetui-new; text-style: bold reverse; }
    RowTable > .rt--empty { color: $foreground 60%; text-style: italic; }
    RowTable > .rt--group { color: $foreground 75%; background: $panel 50%; text-style: italic; }
    """

    COMPONENT_CLASSES = {
        "rt--header",
        "rt--cursor",
        "rt--dim",
        "rt--gain",
        "rt--loss",
        "rt--alert",
        "rt--alert-row",
        "rt--bad",
        "rt--watched",
        "rt--watched-row",
        "rt--marked",
        "rt--new",
        "rt--empty",
        "rt--group",
    }

    class Selected(Message):
        """Enter or a double click on a row showing an athlete."""

        def __init__(self, table: RowTable, key: AthleteRef) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class Highlighted(Message):
        """The cursor moved to another athlete (or to a row without one)."""

        def __init__(self, table: RowTable, key: AthleteRef | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

    def __init__(
        self,
        model: TableModel,
        *,
        empty: str = "Nothing to show yet.",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.model = model
        self.empty_text = empty
        self._pass: tuple[int, Style] | None = None  # (width, line style) while rendering
        self.cursor = 0
        self.cursor_key: AthleteRef | None = None
        self.cursor_ident: Hashable | None = None  # what the cursor's row shows (it follows it)
        self._count = 0
        self._columns: Sequence[Column] = ()
        self._layout: list[tuple[int, Column, int]] = []
        self._layout_key: tuple[object, ...] = ()
        self._rows: dict[int, DisplayRow] = {}
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(maxsize=2048)
        self._styles: dict[str, Style] = {}
        self.rows_fetched = 0  # for tests and benchmarks: rows read from the model
        self.lines_drawn = 0  # strips drawn (cache misses)

    # ------------------------------------------------------------- geometry
    @property
    def visible_rows(self) -> int:
        return max(0, self.scrollable_content_region.height - 1)

    @property
    def first_row(self) -> int:
        return int(self.scroll_offset.y)

    def _set_count(self, count: int) -> None:
        self._count = count
        width = self.scrollable_content_region.width or self.size.width
        self.virtual_size = Size(width, count + 1)

    def on_mount(self) -> None:
        self.reset()

    def on_resize(self, event: events.Resize) -> None:
        self._set_count(self._count)
        self._layout_key = ()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()

    # ----------------------------------------------------------------- data
    def reset(self) -> None:
        """Forget every row and column (another race, filter or point): redraw all."""
        self._columns = self.model.columns()
        self._layout_key = ()
        self._rows.clear()
        self._set_count(len(self.model))
        index = self._cursor_index()
        if index is not None:
            self.cursor = index
        self.cursor = max(0, min(self.cursor, self._count - 1))
        if self._count:
            self.cursor = self._athlete_row(self.cursor, 1)
        self.refresh()

    def reread(self) -> None:
        """Re-read the view of a screen shown again: as :meth:`reset` when its columns
        changed, else redrawing only the lines whose rows differ from what it last showed
        (a screen switched back to on an idle board draws nothing again)."""
        if tuple(self.model.columns()) != tuple(self._columns):
            self.reset()
        elif not self._count:
            self.refresh()  # the empty text may have changed
        self.update_rows(None)

    def update_rows(self, changes: ChangeSet | None = None) -> int:
        """Take a tick's change set: re-read the rows in view if it touches them, and redraw
        only the lines whose content changed. ``None`` re-reads the view unconditionally.

        Returns how many lines were refreshed.
        """
        model = self.model
        race_id = model.race_id
        if changes is not None and race_id is not None and race_id in changes.structure:
            self.reset()
            return self.visible_rows
        count = len(model)
        count_changed = count != self._count
        if count_changed:
            self._set_count(count)
        start = self.first_row
        stop = min(count, start + self.visible_rows)
        # Rows kept from an earlier window were not checked against this change set.
        self._rows = {i: r for i, r in self._rows.items() if start <= i < stop}
        if changes is not None and not count_changed and race_id is not None and model.precise():
            if race_id not in changes.athletes and race_id not in changes.moved:
                return 0
            span = changes.moved.get(race_id)
            named = changes.athletes.get(race_id, set())
            touched = span is not None and span[0] < stop and span[1] >= start
            if not touched:
                touched = any(
                    row.key is not None and row.key[1] in named
                    for index, row in self._rows.items()
                    if start <= index < stop
                )
            if not touched:
                return 0
        fresh = model.fetch(start, stop) if stop > start else []
        self.rows_fetched += len(fresh)
        refreshed = 0
        old = self._rows
        self._rows = {}
        for offset, row in enumerate(fresh):
            index = start + offset
            self._rows[index] = row
            if old.get(index) != row:
                self._refresh_index(index)
                refreshed += 1
        for index in old:
            if index >= start + len(fresh) and start <= index < start + self.visible_rows:
                self._refresh_index(index)
                refreshed += 1
        self._follow_cursor_key()
        return refreshed

    def _cursor_index(self) -> int | None:
        """Where the row the cursor is on went: the same thing (incident, passing), else
        the same athlete; None when neither is shown."""
        index = None
        if self.cursor_ident is not None:
            index = self.model.index_of_ident(self.cursor_ident)
        if index is None and self.cursor_key is not None:
            index = self.model.index_of(self.cursor_key)
        return index

    def _follow_cursor_key(self) -> None:
        index = self._cursor_index()
        if index is None or index == self.cursor:
            return
        start, stop = self.first_row, self.first_row + self.visible_rows
        was_visible = start <= self.cursor < stop
        self._refresh_index(self.cursor)
        self.cursor = index
        self._refresh_index(index)
        if was_visible:
            self.scroll_to_row(index)

    def _fetch_window(self, index: int) -> None:
        start = self.first_row
        stop = min(self._count, start + max(self.visible_rows, 1))
        if not start <= index < stop:
            start, stop = index, index + 1
        rows = self.model.fetch(start, stop)
        self.rows_fetched += len(rows)
        for offset, row in enumerate(rows):
            self._rows[start + offset] = row

    def row_at(self, index: int) -> DisplayRow | None:
        if not 0 <= index < self._count:
            return None
        row = self._rows.get(index)
        if row is None:
            self._fetch_window(index)
            row = self._rows.get(index)
        return row

    def _refresh_index(self, index: int) -> None:
        y = index - self.first_row + 1
        if 1 <= y <= self.visible_rows:
            self.refresh(Region(0, y, self.size.width, 1))

    # -------------------------------------------------------------- drawing
    def _style(self, name: str | None) -> Style:
        if name is None:
            return Style()
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = layer_style(self, name)
        return style

    def _laid_out(self, width: int) -> list[tuple[int, Column, int]]:
        key = (width, tuple(self._columns))
        if key != self._layout_key:
            fitted = fit_columns(self._columns, width)
            where = {column.key: i for i, column in enumerate(self._columns)}
            self._layout = [(where[column.key], column, size) for column, size in fitted]
            self._layout_key = key
        return self._layout

    def render_lines(self, crop: Region) -> list[Strip]:
        # The line style and width are the same for every line of one render: worked out
        # once here, not per line (``rich_style`` walks the ancestors: a tenth of a
        # leaderboard frame's CPU at 120x36).
        self._pass = (self.scrollable_content_region.width, self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    def render_line(self, y: int) -> Strip:
        width, base = self._pass or (self.scrollable_content_region.width, self.rich_style)
        layout = self._laid_out(width)
        if y == 0:
            header_key: tuple[object, ...] = ("header", self._layout_key)
            strip = self._strips.get(header_key)
            if strip is None:
                style = base + self._style("rt--header")
                text = " ".join(fit(column.title, size, column.align) for _, column, size in layout)
                strip = Strip([Segment(text, style)]).adjust_cell_length(width, style)
                self._strips[header_key] = strip
            return strip
        index = self.first_row + y - 1
        if self._count == 0:
            # The empty text can be several lines (why a board is empty, one per source).
            lines = [
                part
                for paragraph in self.empty_text.splitlines()
                for part in (textwrap.wrap(paragraph, max(8, width - 2)) or [""])
            ]
            if 1 <= y <= len(lines):
                style = base + self._style("rt--empty")
                return Strip([Segment(fit(" " + lines[y - 1], width), style)])
            return Strip.blank(width, base)
        row = self.row_at(index)
        if row is None:
            return Strip.blank(width, base)
        cursor = index == self.cursor
        key = (row, cursor, self._layout_key)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._draw(row, layout, cursor, width, base)
            self._strips[key] = strip
            self.lines_drawn += 1
        return strip

    def _draw(
        self, row: DisplayRow, layout: list[tuple[int, Column, int]], cursor: bool, width: int, base: Style
    ) -> Strip:
        line = base + self._style(row.style) if row.style else base
        if row.span:  # a group separator: one text across the line
            text = str(row.cells[0][0]) if row.cells else ""
            rule = f"── {text} "
            return Strip([Segment(fit(rule + "─" * max(0, width - cell_len(rule)), width), line)])
        cursor_style = self._style("rt--cursor") if cursor else None
        if cursor_style is not None:
            line = line + cursor_style
        segments: list[Segment] = []
        cells = row.cells
        for n, (index, column, size) in enumerate(layout):
            if n:
                segments.append(Segment(" ", line))
            value: CellValue = cells[index] if index < len(cells) else ("", None)
            if _is_fragments(value):
                segments += self._fragments(value, size, column, line, cursor_style)
                continue
            text, style_name = cast(Cell, value)
            style = line + self._style(style_name) if style_name else line
            if cursor_style is not None and style_name:
                style = style + cursor_style
            segments.append(Segment(fit(str(text), size, column.align), style))
        return Strip(segments).adjust_cell_length(width, line)

    def _fragments(
        self,
        value: tuple[tuple[str, str | None], ...],
        size: int,
        column: Column,
        line: Style,
        cursor_style: Style | None,
    ) -> list[Segment]:
        total = sum(cell_len(text) for text, _ in value)
        out: list[Segment] = []
        spare = max(0, size - total)
        before = spare if column.align == "right" else spare // 2 if column.align == "center" else 0
        if before:
            out.append(Segment(" " * before, line))
        used = 0
        for text, style_name in value:
            room = size - used
            if room <= 0:
                break
            piece = text if cell_len(text) <= room else fit(text, room)
            style = line + self._style(style_name) if style_name else line
            if cursor_style is not None and style_name:
                style = style + cursor_style
            out.append(Segment(piece, style))
            used += cell_len(piece)
        if spare - before:
            out.append(Segment(" " * (spare - before), line))
        return out

    # --------------------------------------------------------------- cursor
    def scroll_to_row(self, index: int) -> None:
        start, rows = self.first_row, max(self.visible_rows, 1)
        if index < start:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= start + rows:
            self.scroll_to(y=index - rows + 1, animate=False, immediate=True)

    def _athlete_row(self, index: int, step: int) -> int:
        """``index``, or the nearest row from it in the direction ``step`` (then the other
        way) that is not a separator: the cursor never rests on a group's line."""
        for direction in (step or 1, -(step or 1)):
            probe = index
            while 0 <= probe < self._count:
                row = self.row_at(probe)
                if row is None or not row.span:
                    return probe
                probe += direction
        return index

    def move_cursor(self, index: int, step: int = 1) -> None:
        if self._count == 0:
            return
        index = self._athlete_row(max(0, min(index, self._count - 1)), step)
        self._refresh_index(self.cursor)
        self.cursor = index
        self.scroll_to_row(index)
        self._refresh_index(index)
        row = self.row_at(index)
        self.cursor_key = row.key if row else None
        self.cursor_ident = row.ident if row else None
        self.post_message(self.Highlighted(self, self.cursor_key))

    def move_to_key(self, key: AthleteRef) -> bool:
        index = self.model.index_of(key)
        if index is None:
            return False
        self.move_cursor(index)
        return True

    def current_key(self) -> AthleteRef | None:
        row = self.row_at(self.cursor)
        return row.key if row else None

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor + step, step)

    def action_page(self, step: int) -> None:
        rows = max(1, self.visible_rows - 1)
        self.scroll_to(y=self.first_row + step * rows, animate=False, immediate=True)
        self.move_cursor(self.cursor + step * rows, step)

    def action_jump(self, where: int) -> None:
        self.move_cursor(0 if where >= 0 else self._count - 1, 1 if where >= 0 else -1)

    def action_select(self) -> None:
        key = self.current_key()
        if key is not None:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = self.first_row + event.y - 1
        if 0 <= index < self._count:
            self.move_cursor(index)
            if event.chain >= 2:
                self.action_select()


def _is_fragments(value: CellValue) -> TypeGuard[tuple[tuple[str, str | None], ...]]:
    return bool(value) and isinstance(value[0], tuple)


class InfoTable(RowTable):
    """A table whose rows open nothing (source health): Enter is not offered."""

    BINDINGS = [Binding("enter", "select", "Open", show=False)]
