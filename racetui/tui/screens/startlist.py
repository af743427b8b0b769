"""The start-list screen: the cached entries of the current race, and the race-day fixes -
add a walk-up entry (``a``), fix name, bib, gender, date of birth or team (``e``), change
event or race (``m``), delete a no-show (``d``). Each is confirmed on screen, shown at once
marked *pending*, and sent through the durable outbox (see
:mod:`racetui.tui.startlist_changes`); the answer comes back as a notification, a refusal
with the service's own reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from racetui.config import Permission
from racetui.model.bibs import bib_key
from racetui.tui.appref import race_app
from racetui.tui.roles import gated

if TYPE_CHECKING:
    from racetui.sources.startlist.cache import SyncInfo
    from racetui.sources.startlist.common import StartEntry
    from racetui.tui.app import RaceApp

__all__ = ["ConfirmScreen", "EntryFormScreen", "StartListScreen"]

_SERVICE = {"raceentry": "RaceEntry", "chronotrack": "ChronoTrack"}


def _event_word(source: str) -> str:
    return "event" if source == "raceentry" else "race"


class ConfirmScreen(ModalScreen[bool]):
    """One line, Enter (or y) to go ahead, Escape (or n) to go back."""

    BINDINGS = [
        Binding("enter,y", "answer(True)", "Send"),
        Binding("escape,n", "answer(False)", "Back"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Static {
        width: 80; max-width: 100%; border: round $warning; padding: 1 2; background: $surface;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield Static(f"{self.text}\n\nEnter: send   Escape: back", markup=False, id="confirm")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class EntryFormScreen(ModalScreen[dict[str, str] | None]):
    """The fields of an add, edit or move; Enter in the last field (or ctrl+s) submits."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Done")]
    DEFAULT_CSS = """
    EntryFormScreen { align: center middle; }
    EntryFormScreen > Vertical { width: 70; max-width: 100%; height: auto; border: round $primary;
        background: $surface; padding: 0 1; }
    EntryFormScreen Input { margin: 0; }
    EntryFormScreen #problem { color: $error; }
    """

    def __init__(self, title: str, fields: list[tuple[str, str, str]]) -> None:
        """``fields``: (name, label, initial value)."""
        super().__init__()
        self.title_text = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, markup=False, id="title")
            for name, label, value in self.fields:
                yield Input(value=value, placeholder=label, id=f"f-{name}")
            yield Static("", id="problem", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_submit()

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#f-{name}", Input).value.strip() for name, _, _ in self.fields}

    def action_submit(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)


class StartListScreen(ModalScreen[None]):
    """The writable start lists' entries of the current race (or all), with pending marks."""

    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("a", "add", "Add entry"),
        Binding("e", "edit", "Fix"),
        Binding("m", "move", "Event/race"),
        Binding("d", "delete", "Delete"),
    ]
    DEFAULT_CSS = """
    StartListScreen { align: center middle; }
    StartListScreen > Vertical {
        width: 100%; height: 100%; border: round $primary; background: $surface;
    }
    StartListScreen #lists { color: $foreground 80%; }
    StartListScreen DataTable { height: 1fr; }
    """

    def __init__(self, bib: str | None = None) -> None:
        super().__init__()
        self.bib = bib
        self.rows: list[tuple[SyncInfo, StartEntry]] = []

    @property
    def race_app(self) -> RaceApp:
        return race_app(self)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="lists", markup=False)
            yield DataTable(id="entries", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Bib", "Name", "G", "Born", "Team", "Event/race", "List", "")
        self.reload()
        table.focus()

    def reload(self) -> None:
        app = self.race_app
        table = self.query_one(DataTable)
        table.clear()
        changes = app.startlists
        if changes is None:
            self.query_one("#lists", Static).update(
                "No start-list service to write to: start the dashboard with start-list credentials."
            )
            self.rows = []
            return
        race = app.state.race_id
        self.rows = sorted(changes.entries_by_list(race), key=lambda r: (r[1].race_id, bib_key(r[1].bib)))
        lists = ", ".join(f"{_SERVICE.get(i.source, i.source)} {i.source_key}" for i in changes.lists())
        lists = lists or "none cached (sync one first)"
        self.query_one("#lists", Static).update(
            f"Race {race or '(all)'}: {len(self.rows)} entries  |  {lists}"
        )
        for info, entry in self.rows:
            name = f"{entry.first_name} {entry.last_name}".strip() or entry.name
            mark = f"pending {entry.pending}" if entry.pending else ""
            table.add_row(
                entry.bib,
                name,
                entry.gender or "",
                entry.dob or "",
                entry.team or "",
                entry.event_id or "",
                f"{_SERVICE.get(info.source, info.source)} {info.source_key}",
                mark,
                key=f"{info.source}|{info.source_key}|{entry.entry_id}",
            )
        if self.bib is not None:
            for index, (_, entry) in enumerate(self.rows):
                if entry.bib == self.bib:
                    table.move_cursor(row=index)
                    break

    def _current(self) -> tuple[SyncInfo, StartEntry] | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or not 0 <= table.cursor_row < len(self.rows):
            self.notify("No entry selected.", title="Start list", markup=False)
            return None
        return self.rows[table.cursor_row]

    def _remote(self, info: SyncInfo) -> str:
        return info.container.split(" ", 1)[1] if " " in info.container else info.container

    # ------------------------------------------------------------ actions
    @gated(Permission.PUBLISH)
    def action_add(self) -> None:
        changes = self.race_app.startlists
        lists = changes.lists() if changes is not None else []
        if not lists:
            self.notify("No writable start list is cached: sync one first.", title="Start list", markup=False)
            return
        info = lists[0]
        fields = [
            ("bib", "bib", ""),
            ("first_name", "first name", ""),
            ("last_name", "last name", ""),
            ("gender", "gender (M/F/X)", ""),
            ("dob", "date of birth (YYYY-MM-DD)", ""),
            ("event", f"{_event_word(info.source)} id", info.wanted[0] if info.wanted else ""),
        ]
        title = f"Add an entry to {_SERVICE.get(info.source, info.source)} {info.container}"

        def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            event = values.pop("event", "")
            who = (
                f"{values.get('first_name', '')} {values.get('last_name', '')} (bib {values.get('bib', '')})"
            )
            self._confirm(
                f"Add {who} to {_event_word(info.source)} {event}?",
                action="add",
                source=info.source,
                remote=self._remote(info),
                event=event or None,
                fields={k: v for k, v in values.items() if v},
            )

        self.app.push_screen(EntryFormScreen(title, fields), done)

    @gated(Permission.PUBLISH)
    def action_edit(self) -> None:
        current = self._current()
        if current is None:
            return
        info, entry = current
        fields = [
            ("first_name", "first name", entry.first_name),
            ("last_name", "last name", entry.last_name),
            ("bib", "bib", entry.bib),
            ("gender", "gender (M/F/X)", entry.gender or ""),
            ("dob", "date of birth (YYYY-MM-DD)", entry.dob or ""),
        ]
        if info.source == "raceentry":
            fields.append(("team_id", "team id", entry.team_id or ""))
        else:
            fields.append(("team", "team", entry.team or ""))
        old = {name: value for name, _, value in fields}

        def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            changed = {k: v for k, v in values.items() if v and v != old.get(k)}
            if not changed:
                self.notify("Nothing changed.", title="Start list", markup=False)
                return
            listed = ", ".join(f"{k} {v!r}" for k, v in changed.items())
            self._confirm(
                f"Fix bib {entry.bib}: {listed}?",
                action="edit",
                source=info.source,
                remote=self._remote(info),
                entry_id=entry.entry_id,
                list_key=info.source_key,
                fields=changed,
            )

        self.app.push_screen(EntryFormScreen(f"Fix bib {entry.bib}", fields), done)

    @gated(Permission.PUBLISH)
    def action_move(self) -> None:
        current = self._current()
        if current is None:
            return
        info, entry = current
        word = _event_word(info.source)

        def done(values: dict[str, str] | None) -> None:
            if values is None or not values.get("event"):
                return
            self._confirm(
                f"Move bib {entry.bib} {entry.first_name} {entry.last_name} from {word} {entry.event_id} "
                f"to {word} {values['event']}?",
                action="move",
                source=info.source,
                remote=self._remote(info),
                entry_id=entry.entry_id,
                list_key=info.source_key,
                event=values["event"],
            )

        self.app.push_screen(
            EntryFormScreen(f"Move bib {entry.bib} to another {word}", [("event", f"{word} id", "")]), done
        )

    @gated(Permission.PUBLISH)
    def action_delete(self) -> None:
        current = self._current()
        if current is None:
            return
        info, entry = current
        self._confirm(
            f"Delete bib {entry.bib} {entry.first_name} {entry.last_name} from {_SERVICE.get(info.source)}?",
            action="delete",
            source=info.source,
            remote=self._remote(info),
            entry_id=entry.entry_id,
            list_key=info.source_key,
        )

    def _confirm(self, text: str, **what: Any) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._submit(what), name="start-list change", exit_on_error=False)

        self.app.push_screen(ConfirmScreen(text), answered)

    async def _submit(self, what: dict[str, Any]) -> None:
        app = self.race_app
        changes = app.startlists
        if changes is None:
            return
        try:
            change, item = await changes.submit(app.pipeline, **what)
        except ValueError as exc:
            self.notify(str(exc), title="Start list", severity="error", markup=False)
            return
        self.notify(f"{change.describe()} (outbox #{item.id}, pending)", title="Start list", markup=False)
        if self.is_mounted:
            self.reload()
