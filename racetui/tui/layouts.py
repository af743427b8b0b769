"""A saved layout per role: the screens in the footer, the leaderboard's columns, the race.

Each role (and no role) has its own small JSON file in the data dir,
``<data dir>/layouts/<role>.json`` (``all.json`` without a role), written atomically when
the layout changes and read at start. A file that cannot be read or is not a layout is
set aside with one notice (the role's defaults are used, and the next change rewrites it):
a layout must never keep the dashboard from starting.

The defaults by role (:func:`default_screens`): without a role and for a timer every
screen but the penalty box (``9`` still opens it), starting on the leaderboard; a
commentator the race screens (no Publish, no Health); a technical delegate starts on
Incidents, with the penalty box next to it, then every other screen.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from racetui.config import Role, data_dir
from racetui.util.files import write_atomic

__all__ = ["Layout", "LayoutStore", "default_screens"]

log = logging.getLogger(__name__)

# Per role: the screens left out of the footer, and the ones put first (the first opens at
# start). Written as exceptions so that a new screen shows for every role by default.
_LEFT_OUT: dict[Role | None, frozenset[str]] = {
    None: frozenset({"box"}),  # one person at a small race: the box is a key away (9)
    Role.TIMER: frozenset({"box"}),
    Role.COMMENTATOR: frozenset({"publish", "health", "box"}),
    Role.TD: frozenset(),
}
_FIRST: dict[Role | None, tuple[str, ...]] = {Role.TD: ("incidents", "box")}


def default_screens(role: Role | None, known: tuple[str, ...]) -> tuple[str, ...]:
    """The footer's screens for ``role`` among ``known`` (the app's modes, in key order)."""
    first = tuple(s for s in _FIRST.get(role, ()) if s in known)
    rest = tuple(s for s in known if s not in first and s not in _LEFT_OUT[role])
    return first + rest


@dataclass(frozen=True, slots=True)
class Layout:
    screens: tuple[str, ...]  # mode names shown in the footer; the first opens at start
    hidden_columns: frozenset[str] = field(default_factory=frozenset)  # leaderboard column keys
    race: str | None = None  # the race last chosen

    @property
    def start(self) -> str:
        return self.screens[0] if self.screens else "leaderboard"


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")

    screens: list[str]
    hidden_columns: list[str] = []
    race: str | None = None


class LayoutStore:
    """One role's layout file. ``known`` are the screens that exist (others are dropped)."""

    def __init__(self, role: Role | None, known: tuple[str, ...], directory: Path | None = None) -> None:
        self.role = role
        self.known = known
        self._directory = directory
        self.problem: str | None = None  # what was wrong with the file, for one notice
        self.layout = self._read()

    @property
    def path(self) -> Path:
        base = self._directory if self._directory is not None else data_dir() / "layouts"
        return base / f"{self.role.value if self.role else 'all'}.json"

    def _fit(self, layout: Layout) -> Layout:
        screens = tuple(s for s in layout.screens if s in self.known)
        return replace(layout, screens=screens or default_screens(self.role, self.known))

    def _read(self) -> Layout:
        default = Layout(default_screens(self.role, self.known))
        try:
            path = self.path
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return default
        except (OSError, UnicodeDecodeError) as exc:
            self.problem = f"layout {path.name} unreadable ({exc}): using the defaults"
            return default
        try:
            data = _File.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
            first = str(exc).splitlines()[0]
            self.problem = f"layout {path.name} is not a layout ({first}): using the defaults"
            return default
        return self._fit(Layout(tuple(data.screens), frozenset(data.hidden_columns), data.race))

    def save(self, layout: Layout) -> None:
        """Keep ``layout`` (written only when it changed). Errors are logged, never raised:
        losing a layout must not stop a race."""
        layout = self._fit(layout)
        if layout == self.layout and self.path.exists():
            return
        self.layout = layout
        body = {
            "screens": list(layout.screens),
            "hidden_columns": sorted(layout.hidden_columns),
            "race": layout.race,
        }
        try:
            write_atomic(self.path, (json.dumps(body, indent=2) + "\n").encode())
        except OSError as exc:
            log.warning("layout not saved: %s", exc)
            self.problem = f"layout not saved: {exc}"
