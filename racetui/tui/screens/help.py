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
  8 Coming                      F2      layout: footer, columns
  9 Box (penalty box)           ctrl+p  command palette
Leaderboard                     ?       this help
  p / P  next / previous point  q       quit
  l      latest point (live)
  f      gender filter        Incidents
  c      category filter        u  unserved only  f  kind filter
  g      gap ◆ → highlighted    a  all read        A  audit trail
  G      groups at a point on/off
  T      group time 1/2/5/10 s
  O      places official / provisional (asks)

Incident desk: on athlete details or an Incidents row; all confirm
  + penalty  s served  x DSQ  n DNF  S DNS  L LAP
  e edit  del withdraw (reason)  i reinstate an overturned DSQ
  ! report  C confirm  D decline (reason)  b box  B in  O out
  U unserved at the finish: proposes DSQ  z undo the latest step
  H hold a decision back (desk only)  C releases it

TV delay: everything shown (publishing and the desk stay live)
  [ / ] −/+1 s   { / } −/+10 s   = the leader crosses on TV now
  raising it holds the picture until reached (never back in time)
Cards: N on athlete details adds a note · Esc closes a card

Splits: ← → scroll points     Passes: p / P  point or location
Coming: p / P point  < > minutes ahead  o on course / coming
Box: B in  O out (served)  z undo  space board  b next box
Publish: p publish (asks)  a retry  x cancel  u resume held
         s sandbox on/off  o official (final: type it)
Symbols and badges
  ▲ / ▼ places gained / lost since the last point   = unchanged
  ★ watched (w)   ◆ marked (m), gaps to it   ⌂ by the incident desk
  PEN! penalty not served  PEN✓ served  ⚑ BOX NEXT due at the box
  DSQ disqualified  DNF did not finish  DNS did not start
  LAP lapped  NC not classified
  FIN finished   NEW incident not read yet   – no position there
Header
  TD         the role (--role): timer publishes, DNS/DNF/LAP; td the
             desk; commentator read-only; none: everything
  ◷ 1:02:03  race clock since the gun (-0:15 before); time of day
  ⚑ 3 new    unread incidents (4 Incidents, a marks them read)
  TV −12 s   everything shown is 12 s behind the timing system
  ● push  ◐ polling  ▤ file  ▶ replay   … connecting
  ○ stale 12 s (nothing for 12 s)  ✕ error (7 Health)  ■ stopped
q while a source is live or uploads are queued asks first (y / n)
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
