"""``?``: every key, on one page."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HELP_TEXT", "HelpScreen"]

HELP_TEXT = """\
Screens                       Everywhere
  1 Leaderboard                 /       search bib or name
  2 Splits                      enter   athlete details
  3 Clock                       r / R   next / previous race
  4 Incidents                   v       next wave
  5 Passes                      w       watch athlete (★)
  6 Publish                     m       mark athlete (◆) for gaps
  7 Health                      t       next theme
                                ctrl+p  command palette
Leaderboard                     ?       this help
  p / P  next / previous point  q       quit
  l      latest point (live)
  f      gender filter        Incidents
  c      category filter        u  unserved only  f  kind filter
  g      gap ◆ → highlighted    a  all read        A  audit trail

Incident desk: on athlete details or an Incidents row; all confirm
  + penalty  s served  x DSQ  n DNF  S DNS  L LAP
  e edit  del withdraw (reason)  i reinstate an overturned DSQ

Splits: ← → scroll points     Passes: p / P  point or location
Publish: p publish (asks)  a retry  x cancel  u resume held
         s sandbox on/off  o official (final: type it)

▲ places gained   ▼ lost      ★ watched   ◆ marked   ⌂ desk
PEN! not served   PEN✓ served DSQ DNF DNS     NEW unread
● push  ◐ polling  ▤ file  ▶ replay  ○ stale  ✕ error
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP_TEXT, markup=False)
