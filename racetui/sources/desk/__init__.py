"""The incident desk: penalties, DSQ and withdrawals, from an official's report to served.

Under World Triathlon v1.1, incidents enter the results only once officials confirm them,
in fixed wording; a BBT master has no incident model and feeds lag. The desk stores every
action durably (SQLite in the data dir, one transaction per action, WAL) as an append-only
audit trail (:mod:`.store`), folds the trail into entries with a lifecycle state
(:mod:`.lifecycle`, pure), and gives the engine one :class:`~racetui.engine.Override` per
athlete made of its **confirmed entries only**: what uploads, exports and the commentators'
screens see. Reported entries stay on the desk, for the technical delegates alone
(:meth:`IncidentDesk.pending`), until confirmed. :mod:`.reports` prints what the officials
hand out (the finish-board list, the violation report, the announcer's lines).

The lifecycle of a penalty (each arrow an action, each action a row with who, when, and
for which event)::

    report ──► REPORTED ──confirm──► CONFIRMED ──assign(box)──► ASSIGNED ──enter──► IN BOX
                  │                     │ └─────────────serve──────────┬──────────────┤
                  └─decline(why)─► DECLINED                            ▼            leave
                                        └──unserved (at the finish)─► UNSERVED ◄─   SERVED
                                              └─ proposes a DSQ: REPORTED ──confirm──► DSQ

- ``report`` (by which official: ``operator``; where: ``location``; when: ``seen_at``, else
  the time recorded) of a penalty (``seconds``, ``infringement``; the race's length for the
  rule when the seconds are omitted) or of a DSQ (``subject`` dsq).
- ``confirm`` / ``decline`` (with the reason): who decided is the action's operator.
- ``assign`` to one of the race's boxes (race settings: :class:`~racetui.config.DeskConfig`,
  ``[desk] boxes`` and ``[desk.races.<race>]``; never constants in code).
- ``enter`` starts the penalty's time (the box screen's countdown: ``entry.entered``);
  ``leave`` serves it. ``serve`` marks it served at once: served on an earlier lap counts.
- ``unserved`` at the finish proposes a DSQ: an entry of its own (id = that action's id,
  "DSQ for failing to serve a 30 second penalty for …"), pending until ``confirm``; the
  athlete's status becomes DSQ only then.
- ``undo`` takes back the latest step of an entry (its creation, if it is the only step);
  ``withdraw`` (with the reason) takes a whole entry away; ``edit`` changes seconds,
  infringement or a DNF's reason; ``reinstate`` overturns a DSQ on protest.
- ``penalty``, ``dsq``, ``dnf``, ``dns``, ``lap``: a technical delegate's decision recorded
  directly, reported and confirmed in one step (as before the lifecycle existed).

Several penalties add up: each is an entry; :meth:`IncidentDesk.due` lists those still to
serve (×N per athlete and box in the reports). Every action records the event
(:class:`EventKey`: source, event id or name, date): one database serves every event a laptop
ever times, and a decision of one event never reaches another's results. Databases from
before a column existed get it (:data:`store._MIGRATIONS`); their entries keep working
(those from before events were recorded belong to no event and never apply).

Reading: :meth:`IncidentDesk.entries_of` (an athlete's standing entries), ``history``
(closed ones too), ``pending``, ``due``, ``entry``, ``last_step``, ``audit``. Writing:
``record`` (any action) or by name: ``report``, ``confirm``, ``decline``, ``assign``,
``enter_box``, ``leave_box``, ``serve``, ``mark_unserved``, ``withdraw``, ``undo``. Then
``apply(pipeline, race, bib)`` pushes the desk's word into the engine.
"""

from __future__ import annotations

from racetui.sources.desk.lifecycle import (
    CREATING,
    ActionKind,
    DeskAction,
    DeskEntry,
    DeskError,
    EntryState,
    permission_for,
)
from racetui.sources.desk.store import EventKey, IncidentDesk

__all__ = [
    "CREATING",
    "ActionKind",
    "DeskAction",
    "DeskEntry",
    "DeskError",
    "EntryState",
    "EventKey",
    "IncidentDesk",
    "permission_for",
]
