"""7 · Health: every source's mode and state, message age, reconnects, errors, journal.

Below the sources: every recent rejected input and error in full (newest first, the same
reason once with its count), and where the log file is. Enter on a source opens its whole
story (:class:`SourceStory`): last error, journal, what the source reports about itself
(``health.details``), counts and its problems.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from racetui.engine import ChangeSet
from racetui.model.times import format_time_of_day
from racetui.tui.rows import HealthModel, health_badge
from racetui.tui.screens.base import RaceScreen
from racetui.tui.widgets.table import InfoTable

__all__ = ["HealthScreen", "SourceStory", "recent_problems", "source_story"]


def _when(seconds: float) -> str:
    return format_time_of_day(datetime.fromtimestamp(seconds))


def recent_problems(sources: list[Any], pipeline_errors: list[str], limit: int = 12) -> list[str]:
    """Rejected inputs and errors of every source, newest first, with full reasons."""
    items: list[tuple[float, str]] = []
    for source in sources:
        for problem in getattr(source.health, "problems", []):
            times = f" ×{problem.count}, last {_when(problem.last)}" if problem.count > 1 else ""
            items.append((problem.last, f"{_when(problem.first)} {problem.kind}{times}: {problem.message}"))
    items.sort(key=lambda item: item[0], reverse=True)
    lines = [text for _, text in items]
    lines += [f"engine: {error}" for error in reversed(pipeline_errors[-limit:])]
    return lines[:limit]


def source_story(source: Any) -> str:
    """Everything racetui knows about one source, as text (the Health screen's Enter)."""
    health = source.health
    badge, _ = health_badge(health)
    age = health.age()
    lines = [
        f"{source.name}",
        f"  state       {badge}",
        f"  mode        {health.mode}",
        f"  last msg    {'never' if age is None else f'{age:.0f} s ago'}",
        f"  messages    {health.messages}   rejected {health.rejected}   reconnects {health.reconnects}",
    ]
    wait = health.retry_in() if hasattr(health, "retry_in") else None
    if wait is not None:
        lines.append(f"  next try    in {wait:.0f} s")
    lines.append(f"  journal     {health.journal_path or 'none'}")
    lines.append(f"  last error  {health.last_error or 'none'}")
    details = getattr(health, "details", {})
    if details:
        lines.append("")
        lines += [f"  {label:<11} {text}" for label, text in details.items()]
    problems = getattr(health, "problems", [])
    lines.append("")
    lines.append("Problems (newest first):" if problems else "Problems: none")
    for problem in reversed(problems):
        times = f" ×{problem.count} (last {_when(problem.last)})" if problem.count > 1 else ""
        lines.append(f"  {_when(problem.first)} {problem.kind}{times}: {problem.message}")
    return "\n".join(lines)


class SourceStory(ModalScreen[None]):
    """One source's whole story; escape, q or enter closes."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    DEFAULT_CSS = """
    SourceStory { align: center middle; }
    SourceStory > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.text, markup=False)


class HealthScreen(RaceScreen):
    TITLE = "Health"

    BINDINGS = [Binding("enter", "story", "Source story", priority=True)]

    DEFAULT_CSS = """
    HealthScreen #sources { height: auto; max-height: 12; }
    HealthScreen #errors-title { padding: 1 1 0 1; text-style: bold; }
    HealthScreen #errors { padding: 0 1; color: $foreground 80%; height: 1fr; }
    HealthScreen #log { padding: 0 1; color: $foreground 70%; height: auto; }
    HealthScreen #extras { padding: 0 1; color: $foreground 70%; height: auto; }
    """

    def compose_body(self) -> ComposeResult:
        yield InfoTable(
            HealthModel(self.race_app.sources),
            empty="No sources: nothing is feeding this dashboard.",
            id="sources",
        )
        yield Static("Recent rejected input and errors", id="errors-title")
        yield VerticalScroll(Static("", id="errors", markup=False))
        yield Static("", id="log", markup=False)
        yield Static("", id="extras", markup=False)

    @property
    def table(self) -> InfoTable:
        return self.query_one("#sources", InfoTable)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: dict[str, str] = {}

    def on_mount(self) -> None:
        self.table.focus()

    def on_changes(self, changes: ChangeSet) -> None:
        self.reload_body()

    def reload(self) -> None:
        super().reload()
        if not self.resuming:  # back from hidden: its rows are compared, not all redrawn
            self.table.reset()
        self.reload_body()

    def reload_body(self) -> None:
        self.table.model.reload()
        self.table.update_rows(None)
        app = self.race_app
        lines = recent_problems([*app.sources, *app.local_sources()], app.pipeline.errors)
        text = "\n".join(lines) if lines else "none"
        self._show("#errors", text)
        logs = app.logs
        if logs is None:
            log_text = "Log: on stderr (not started by a racetui command)"
        elif logs.path is None:
            log_text = f"Log: {logs.problem}"
        else:
            log_text = f"Log file: {logs.path}"
        if logs is not None and logs.recent.lines:
            log_text += "\n" + "\n".join(line.splitlines()[0] for line in list(logs.recent.lines)[-3:])
        self._show("#log", log_text)
        lag = [app.loop_lag.line(), app.loop_lag.cpu_line()]
        self._show("#extras", "\n".join([line for line in lag if line] + app.health_lines()))

    def _show(self, selector: str, text: str) -> None:
        """Update a text only when it changed: an unchanged Health screen costs no repaint."""
        if self._shown.get(selector) != text:
            self._shown[selector] = text
            self.query_one(selector, Static).update(text)

    def action_story(self) -> None:
        sources = self.race_app.sources
        if not sources:
            return
        index = max(0, min(self.table.cursor, len(sources) - 1))
        self.app.push_screen(SourceStory(source_story(sources[index])))
