"""6 · Publish: the publish outbox's screen.

The targets (World Triathlon by POST or hosted file, OpenTrack) with their delivery status,
and the outbox, newest first: every upload's state and the server's answer; the selected
upload's detail underneath. Actions, each behind a confirmation where it matters:

    p  publish now (shows what changes against the last successful upload, then asks)
    a  retry the selected failed upload        x  cancel the selected queued upload
    u  resume a held target                    s  sandbox on/off (asks before turning it off)
    o  mark the current race official (asks for the word OFFICIAL: it is final)

The screen drives :class:`racetui.publish.session.Publishing` (``app.publishing``);
without publishing options it says which options enable it. Secrets never reach it: the
outbox stores none and scrubs every server answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from racetui.config import Permission
from racetui.engine import ChangeSet
from racetui.model.times import format_time_of_day
from racetui.tui.appref import race_app
from racetui.tui.roles import gated
from racetui.tui.screens.base import RaceScreen

if TYPE_CHECKING:
    from racetui.publish.session import Publishing

__all__ = ["ConfirmPublish", "PublishPanel", "PublishScreen"]

_LIMIT = 200  # newest uploads listed (the outbox keeps a few thousand)
_ANSWER = 32  # the answer column's width (the detail shows it whole)
_STATE_STYLE = {
    "queued": "yellow",
    "sending": "cyan",
    "sent": "green",
    "failed": "bold red",
    "superseded": "dim",
    "cancelled": "dim",
}

log = logging.getLogger(__name__)


class ConfirmPublish(ModalScreen[bool]):
    """A question with the details under it; ``y`` confirms, ``n``/Esc declines. With
    ``word``, the user must type that word and press Enter (for final actions)."""

    DEFAULT_CSS = """
    ConfirmPublish { align: center middle; }
    ConfirmPublish > Vertical {
        width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ConfirmPublish #confirm-question { text-style: bold; padding: 1 0 0 0; }
    ConfirmPublish #confirm-body { height: auto; max-height: 20; }
    ConfirmPublish #confirm-keys { color: $foreground 70%; padding: 1 0 0 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "decline", "Cancel"),
    ]

    def __init__(self, question: str, body: str = "", *, word: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.body = body
        self.word = word

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="confirm-question", markup=False)
            with VerticalScroll(id="confirm-body"):
                yield Static(self.body, markup=False)
            if self.word:
                yield Input(placeholder=f"type {self.word} and press Enter", id="confirm-word")
                yield Static("Esc: cancel", id="confirm-keys")
            else:
                yield Static("y: yes   n / Esc: no", id="confirm-keys")

    def on_mount(self) -> None:
        if self.word:
            self.query_one(Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # with a typed word, y and n are letters for the input, not answers
        return not (self.word and action == "answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.word:
            self.dismiss(True)
        else:
            self.query_one("#confirm-keys", Static).update(f"type exactly {self.word} (Esc: cancel)")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_decline(self) -> None:
        self.dismiss(False)


def _when(stamp: float | None, zone: tzinfo | None) -> str:
    if stamp is None:
        return "-"
    return format_time_of_day(datetime.fromtimestamp(stamp, tz=zone))


class PublishPanel(Vertical):
    """Targets, the outbox and the selected upload; or how to enable publishing."""

    DEFAULT_CSS = """
    PublishPanel { height: 1fr; }
    PublishPanel #publish-off { padding: 1 2; color: $foreground 80%; }
    PublishPanel #publish-problem { padding: 0 1; color: $error; height: auto; }
    PublishPanel #publish-progress { padding: 0 1; height: auto; color: $accent; display: none; }
    PublishPanel #publish-targets { padding: 0 1; height: auto; max-height: 12; }
    PublishPanel #publish-items { height: 1fr; min-height: 4; overflow-x: hidden; }
    PublishPanel #publish-detail {
        height: auto; max-height: 9; padding: 0 1; border-top: solid $foreground 30%;
    }
    """

    def __init__(self, publishing: Publishing | None = None) -> None:
        super().__init__(id="publish-panel")
        self.publishing = publishing
        self._signature: tuple[Any, ...] = ()
        self._items: dict[int, Any] = {}

    def compose(self) -> ComposeResult:
        if self.publishing is None:
            from racetui.publish.session import ENABLE_HINT

            yield Static("Publish\n\n" + ENABLE_HINT, id="publish-off", markup=False)
            return
        if self.publishing.problem:
            yield Static(self.publishing.problem, id="publish-problem", markup=False)
        yield Static("", id="publish-targets", markup=False)
        yield Static("", id="publish-progress", markup=False)  # while p reads the engine
        table: DataTable[Any] = DataTable(id="publish-items", cursor_type="row", zebra_stripes=False)
        table.add_columns("#", "updated", "state", "target", "answer", "upload")
        yield table
        yield Static("", id="publish-detail", markup=False)

    # ----------------------------------------------------------- reading
    @property
    def zone(self) -> tzinfo | None:
        return race_app(self).clock().tzinfo

    def selected(self) -> Any:
        if self.publishing is None:
            return None
        table = self.query_one("#publish-items", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._items.get(int(key)) if key is not None else None

    def target_lines(self) -> list[str]:
        pub = self.publishing
        if pub is None:
            return []
        zone = self.zone
        lines: list[str] = []
        for status in pub.service.targets():
            lines.append(self._target_head(status.name))
            state = "HELD: " + status.held if status.held else ("live" if pub.live else "waiting for p")
            if not pub.owner:
                state = "read-only (another process delivers)"
            parts = [
                f"  {state}",
                f"last send {_when(status.last_attempt_at, zone)}",
                f"status {status.last_status if status.last_status is not None else '-'}",
                f"sent {status.sent}",
            ]
            if status.retry_at is not None and not status.held:
                parts.append(f"retry at {_when(status.retry_at, zone)}")
            lines.append(" · ".join(parts))
            if status.last_error:
                lines.append(f"  last error: {status.last_error}")
        if pub.triathlon is not None:
            lines += [f"  ⚠ {warning}" for warning in pub.triathlon.placeholders()]
        for publisher in pub.publishers:
            if publisher.errors:  # live mode could not build a message (no prog_id…)
                lines.append(f"  cannot publish: {publisher.errors[-1]}")
        return lines

    def _target_head(self, name: str) -> str:
        from racetui.publish.outbox import PublishError

        pub = self.publishing
        if pub is None:
            return name
        tri = pub.triathlon
        if tri is not None and name == tri.target:
            where = f"file {tri.destination}" if tri.hosted_file else tri.destination
            races = []
            for race_id in tri.race_ids():
                try:
                    prog = tri.program(race_id).prog_id
                except PublishError:
                    prog = "no prog_id"
                official = " OFFICIAL" if tri.is_official(race_id) else ""
                races.append(f"{race_id}→{prog}{official}")
            sandbox = "sandbox ON" if tri.sandbox else "sandbox OFF (live results)"
            return f"World Triathlon {where} · {sandbox} · " + (", ".join(races) or "no races yet")
        ot = pub.opentrack
        if ot is not None and name == "opentrack":
            events = ", ".join(f"{e.race_id}→{e.label}" for e in ot.events)
            return f"OpenTrack {ot.upload_url} · {ot.mode} · {events}"
        return name

    # ---------------------------------------------------------- drawing
    def refresh_all(self, *, force: bool = False) -> None:
        if self.publishing is None or not self.is_mounted:
            return
        self.query_one("#publish-targets", Static).update("\n".join(self.target_lines()))
        items = self.publishing.service.items(limit=_LIMIT)
        signature = tuple((i.id, i.state, i.updated_at, i.attempts) for i in items)
        if force or signature != self._signature:
            self._signature = signature
            self._fill(items)
        self.show_detail()

    def _fill(self, items: list[Any]) -> None:
        table = self.query_one("#publish-items", DataTable)
        current = self.selected()
        zone = self.zone
        self._items = {item.id: item for item in items}
        table.clear()
        for item in items:
            answer = ""
            if item.status_code is not None:
                answer = str(item.status_code)
            if item.error and item.state.value != "sent":
                answer = item.error
            if len(answer) > _ANSWER:
                answer = answer[: _ANSWER - 1] + "…"
            table.add_row(
                str(item.id),
                _when(item.updated_at, zone),
                Text(item.state.value, style=_STATE_STYLE.get(item.state.value, "")),
                item.target,
                answer,
                item.summary,
                key=str(item.id),
            )
        if current is not None and current.id in self._items:
            table.move_cursor(row=table.get_row_index(str(current.id)))

    def show_detail(self) -> None:
        detail = self.query_one("#publish-detail", Static)
        item = self.selected()
        if item is None:
            detail.update("The outbox is empty: press p to publish.")
            return
        zone = self.zone
        lines = [
            f"#{item.id} {item.state.value} · {item.summary}",
            f"{item.method} {item.url} · {item.size} bytes · attempts {item.attempts}"
            f" · created {_when(item.created_at, zone)}"
            + (f" · sent {_when(item.sent_at, zone)}" if item.sent_at else "")
            + (f" · next try {_when(item.next_attempt_at, zone)}" if item.next_attempt_at else ""),
        ]
        if item.status_code is not None:
            lines.append(f"status {item.status_code}")
        if item.error:
            lines.append(f"error: {item.error}")
        if item.response:
            lines.append("response: " + " ".join(item.response.split())[:400])
        if item.superseded_by:
            lines.append(f"superseded by #{item.superseded_by} (never sent)")
        detail.update("\n".join(lines))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def show_progress(self, race_id: str, read: int, total: int) -> None:
        """The message's engine read, between its slices (shown only when it takes more
        than one loop step: a big field); then that the message is being built."""
        if not self.is_mounted:
            return
        line = self.query_one("#publish-progress", Static)
        if read < total:
            line.update(f"{race_id}: reading {read:,} of {total:,} athletes…")
        else:
            line.update(f"{race_id}: read {total:,} athletes; building the message…")
        line.display = True

    def hide_progress(self) -> None:
        if self.is_mounted and self.publishing is not None:
            self.query_one("#publish-progress", Static).display = False


class PublishScreen(RaceScreen):
    TITLE = "Publish"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "publish_now", "Publish"),
        Binding("a", "retry", "Retry"),
        Binding("x", "cancel_item", "Cancel"),
        Binding("u", "resume", "Resume"),
        Binding("s", "sandbox", "Sandbox"),
        Binding("o", "official", "Official"),
    ]

    @property
    def publishing(self) -> Any:
        return getattr(self.race_app, "publishing", None)

    @property
    def panel(self) -> PublishPanel:
        return self.query_one(PublishPanel)

    def compose_body(self) -> ComposeResult:
        yield PublishPanel(self.publishing)

    def on_mount(self) -> None:
        if self.publishing is not None:
            self.publishing.service.listeners.append(self._on_item)
            self.query_one("#publish-items", DataTable).focus()
        self._dirty = True

    def on_unmount(self) -> None:
        if self.publishing is not None and self._on_item in self.publishing.service.listeners:
            self.publishing.service.listeners.remove(self._on_item)

    def _on_item(self, _item: Any) -> None:
        self._dirty = True

    def on_changes(self, changes: ChangeSet) -> None:
        # the outbox changes by the service's listener; another process's changes and the
        # targets' times are picked up every tick (one small indexed query)
        self.panel.refresh_all(force=self._dirty)
        self._dirty = False

    def reload(self) -> None:
        super().reload()
        self.panel.refresh_all(force=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("publish_now", "retry", "cancel_item", "resume", "sandbox", "official"):
            return self.publishing is not None
        return True

    # ---------------------------------------------------------- helpers
    def _say(self, message: str, *, error: bool = False) -> None:
        self.notify(message, title="Publish", severity="error" if error else "information", markup=False)

    def _owner(self) -> bool:
        pub = self.publishing
        if pub is None or not pub.owner:
            self._say(
                "read-only: " + (pub.problem if pub is not None and pub.problem else "publishing is off"),
                error=True,
            )
            return False
        return True

    def _ask(self, question: str, body: str, then: Callable[[], None], *, word: str | None = None) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()
            else:
                self._say("not confirmed: nothing was changed")

        self.app.push_screen(ConfirmPublish(question, body, word=word), answered)

    def _guard(self, action: Callable[[], Any]) -> Any:
        from racetui.publish.outbox import OutboxError, PublishError

        try:
            return action()
        except (OutboxError, PublishError) as exc:
            self._say(str(exc), error=True)
            return None
        finally:
            self._dirty = True
            self.panel.refresh_all(force=True)

    # ---------------------------------------------------------- actions
    @gated(Permission.PUBLISH)
    def action_publish_now(self) -> None:
        if not self._owner():
            return
        # A 50,000-athlete v1.1 message takes seconds to build: off the UI loop, and the
        # question comes when it is ready (another p meanwhile starts over).
        self._say("building the message to publish…")
        self.run_worker(self._publish_now(), group="publish-now", exclusive=True, exit_on_error=False)

    async def _publish_now(self) -> None:
        from racetui.publish.outbox import OutboxError, PublishError

        pub = self.publishing
        texts: list[str] = []
        changed = False
        previews = []
        try:
            if pub.triathlon is not None:
                texts += [f"⚠ {warning}" for warning in pub.triathlon.placeholders()]
                panel = self.panel  # the user may leave the screen meanwhile
                try:
                    previews = await pub.triathlon.preview_off_loop(
                        resend_failed=True, progress=panel.show_progress
                    )
                finally:
                    panel.hide_progress()
                texts += [p.render() for p in previews]
                changed |= any(p.changed for p in previews)
            if pub.opentrack is not None:
                texts += [p.render() for p in pub.opentrack.preview()]
                changed |= pub.opentrack.would_send(pub.opentrack.build(), resend_failed=True)
        except (OutboxError, PublishError) as exc:
            self._say(str(exc), error=True)
            return
        except Exception as exc:  # a bug must not pass unseen in a worker
            log.exception("publish: building the message failed")
            self._say(f"could not build the message ({type(exc).__name__}: {exc}); see the log", error=True)
            return
        if not changed:
            self._say("nothing new to send since the last upload")
            pub.start_live()
            return

        async def queue() -> None:
            try:
                items = await pub.publish_previewed(previews)
            except (OutboxError, PublishError) as exc:
                self._say(str(exc), error=True)
                return
            finally:
                self._dirty = True
                self.panel.refresh_all(force=True)
            self._say(f"queued {len(items)} upload(s); every change is published from now on")

        def publish() -> None:
            self.run_worker(queue(), group="publish-queue", exit_on_error=False)

        self._ask(f"Publish to {self._destination()}?", "\n\n".join(texts), publish)

    def _destination(self) -> str:
        pub = self.publishing
        names = []
        if pub.triathlon is not None:
            tri = pub.triathlon
            if tri.hosted_file:
                names.append(f"the hosted file {tri.destination}")
            else:
                names.append(
                    f"World Triathlon {tri.destination}" + (" (sandbox)" if tri.sandbox else " (LIVE)")
                )
        if pub.opentrack is not None:
            names.append(f"OpenTrack {pub.opentrack.upload_url}")
        return " and ".join(names)

    @gated(Permission.PUBLISH)
    def action_retry(self) -> None:
        item = self.panel.selected()
        if item is None or item.state.value != "failed":
            self._say("select a failed upload to retry it", error=True)
            return
        body = f"{item.summary}\nlast answer: {item.error or '-'}"

        def retry() -> None:
            if self._guard(lambda: self.publishing.service.retry(item.id)) is not None:
                self._say(f"#{item.id} queued again")

        self._ask(f"Send #{item.id} again?", body, retry)

    @gated(Permission.PUBLISH)
    def action_cancel_item(self) -> None:
        item = self.panel.selected()
        if item is None or item.state.value not in ("queued", "failed"):
            self._say("select a queued or failed upload to cancel it", error=True)
            return

        def cancel() -> None:
            if self._guard(lambda: self.publishing.service.cancel(item.id)) is not None:
                self._say(f"#{item.id} cancelled: it will not be sent")

        self._ask(f"Cancel #{item.id}? It will never be sent.", item.summary, cancel)

    @gated(Permission.PUBLISH)
    def action_resume(self) -> None:
        if not self._owner():
            return
        held = [t for t in self.publishing.service.targets() if t.held]
        if not held:
            self._say("no target is held")
            return
        body = "\n".join(f"{t.name}: {t.held}" for t in held)

        def resume() -> None:
            service = self.publishing.service
            self._guard(lambda: [service.resume(target.name) for target in held])
            self._say("resumed: " + ", ".join(t.name for t in held))

        self._ask("Resume sending? (fix the credentials first)", body, resume)

    @gated(Permission.PUBLISH)
    def action_sandbox(self) -> None:
        if not self._owner():
            return
        tri = self.publishing.triathlon
        if tri is None:
            self._say("sandbox is a World Triathlon setting: not publishing to World Triathlon", error=True)
            return

        def turn(on: bool) -> Callable[[], None]:
            def apply() -> None:
                self._guard(lambda: tri.set_sandbox(on))
                self._say(f"sandbox {'on' if on else 'OFF: results are published as live results'}")

            return apply

        if tri.sandbox:
            self._ask(
                "Turn the sandbox OFF?",
                "The next messages are World Triathlon's real live results, shown to the public.",
                turn(False),
            )
        else:
            turn(True)()

    @gated(Permission.PUBLISH)
    def action_official(self) -> None:
        from racetui.publish.outbox import PublishError

        if not self._owner():
            return
        tri = self.publishing.triathlon
        race_id = self.state.race_id
        if tri is None:
            self._say("official is a World Triathlon status: not publishing to World Triathlon", error=True)
            return
        if race_id is None or race_id not in tri.race_ids():
            self._say(f"race {race_id!r} is not published (r: next race)", error=True)
            return
        try:
            program = tri.program(race_id)
        except PublishError as exc:
            self._say(str(exc), error=True)
            return

        def official() -> None:
            items = self._guard(lambda: tri.mark_official(race_id, confirmed=True))
            if items is not None:
                self._say(f"{program.prog_name} published OFFICIAL ({len(items)} upload(s) queued)")
                self.publishing.start_live()

        self._ask(
            f"Mark {program.prog_name} (prog {program.prog_id}) OFFICIAL?",
            "Official means the race referee confirmed the results. It is final: World Triathlon "
            "treats an official message as the result of record.",
            official,
            word="OFFICIAL",
        )
