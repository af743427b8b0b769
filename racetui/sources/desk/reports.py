"""What the officials hand out, from the desk's own record (no live connection needed).

- :func:`board` — the finish-board list: bibs with confirmed penalties still to serve, per
  penalty box, ×N when several are queued, with the total time to serve.
- :func:`violations` — the violation report: every reported penalty or DSQ with its rule,
  time, location, the official who reported it and the decision (who, why); declined,
  withdrawn and overturned ones too, so the report says what became of each.
- :func:`announcer` — the announcer's lines: confirmed entries only, in the Standard
  Incident Guidelines wording (:meth:`racetui.model.Incident.standard_text`).

Each is a list of rows (:class:`BoardRow`, :class:`ViolationRow`, :class:`AnnouncerLine`);
:func:`text_lines` and :func:`csv_rows` print them. Names come from ``names`` (race id, bib
→ name: the start-list cache), else the name recorded with the entry, else none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from racetui.model.bibs import bib_key
from racetui.model.times import format_time_of_day
from racetui.sources.desk.lifecycle import ActionKind, DeskEntry, EntryState

__all__ = [
    "AnnouncerLine",
    "BoardRow",
    "ViolationRow",
    "announcer",
    "board",
    "csv_rows",
    "text_lines",
    "violations",
]

NO_BOX = "no box yet"
Names = Mapping[tuple[str, str], str]


def _name(entry: DeskEntry, names: Names) -> str:
    return names.get((entry.race_id, entry.bib)) or entry.name or ""


def _time(moment: datetime | None, zone: tzinfo | None) -> str:
    return format_time_of_day(None if moment is None else moment.astimezone(zone))


@dataclass(frozen=True, slots=True)
class BoardRow:
    race_id: str
    box: str
    bib: str
    name: str
    count: int  # penalties queued at this box
    seconds: int  # their time, added up


def board(
    entries: Iterable[DeskEntry], names: Names, boxes: Callable[[str], Sequence[str]]
) -> list[BoardRow]:
    """Penalties still to serve, per race and box (the race's boxes in their order, then
    any other, then those not assigned yet), bibs in start-number order."""
    queued: dict[tuple[str, str, str], list[DeskEntry]] = {}
    for entry in entries:
        if entry.due:
            queued.setdefault((entry.race_id, entry.box or NO_BOX, entry.bib), []).append(entry)

    def order(key: tuple[str, str, str]) -> tuple[object, ...]:
        race_id, box, bib = key
        known = list(boxes(race_id))
        place = known.index(box) if box in known else len(known) + (box == NO_BOX)
        return (race_id, place, box, bib_key(bib))

    rows = []
    for key in sorted(queued, key=order):
        race_id, box, bib = key
        these = queued[key]
        rows.append(
            BoardRow(
                race_id, box, bib, _name(these[0], names), len(these), sum(e.seconds or 0 for e in these)
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class ViolationRow:
    race_id: str
    bib: str
    name: str
    rule: str  # the infringement
    penalty: str  # "30 s" or "DSQ"
    time: datetime  # when it happened (the official's time, else when reported)
    location: str
    official: str  # who reported it
    decision: str  # what became of it, in words
    decided_by: str
    reason: str  # why (a decline, a withdrawal, an overturn)


_DECISIONS = {
    EntryState.REPORTED: "pending",
    EntryState.DECLINED: "declined",
    EntryState.CONFIRMED: "confirmed, not served",
    EntryState.ASSIGNED: "confirmed, not served",
    EntryState.IN_BOX: "confirmed, in the box",
    EntryState.SERVED: "confirmed, served",
    EntryState.UNSERVED: "confirmed, not served at the finish",
    EntryState.WITHDRAWN: "withdrawn",
    EntryState.OVERTURNED: "overturned",
}


def _decision(entry: DeskEntry) -> str:
    if entry.kind is ActionKind.DSQ:
        words = {EntryState.CONFIRMED: "DSQ confirmed", EntryState.REPORTED: "DSQ pending"}
        text = words.get(entry.state, _DECISIONS[entry.state])
    else:
        text = _DECISIONS[entry.state]
        if entry.state is EntryState.SERVED and entry.box:
            text += f" at the {entry.box}"
        elif entry.state is EntryState.ASSIGNED and entry.box:
            text += f" (to the {entry.box})"
    return text + (", held back (not published)" if entry.held else "")


def violations(entries: Iterable[DeskEntry], names: Names) -> list[ViolationRow]:
    """Every penalty and DSQ on the desk, in the order they happened."""
    rows = []
    for entry in entries:
        if entry.kind not in (ActionKind.PENALTY, ActionKind.DSQ) or not entry.infringement:
            continue
        closing = entry.closed if entry.state in (EntryState.WITHDRAWN, EntryState.OVERTURNED) else None
        decider = closing or entry.decided
        direct = decider is entry.action and entry.action.action is not ActionKind.REPORT
        rows.append(
            ViolationRow(
                race_id=entry.race_id,
                bib=entry.bib,
                name=_name(entry, names),
                rule=entry.infringement,
                penalty="DSQ" if entry.kind is ActionKind.DSQ else f"{entry.seconds} s",
                time=entry.action.when,
                location=entry.location or "",
                official=entry.reported_by,
                decision=_decision(entry),
                decided_by=""
                if decider is None
                else decider.operator + (" (recorded directly)" if direct else ""),
                reason=(decider.reason or "") if decider is not None and not direct else "",
            )
        )
    return sorted(rows, key=lambda r: (r.race_id, r.time))  # same time: as recorded


@dataclass(frozen=True, slots=True)
class AnnouncerLine:
    race_id: str
    bib: str
    name: str
    time: datetime
    text: str  # the guidelines' wording


def announcer(entries: Iterable[DeskEntry], names: Names) -> list[AnnouncerLine]:
    """Confirmed incidents only (never a pending one), in the order they were decided."""
    lines = []
    for entry in entries:
        incident = entry.incident()
        if incident is None or not incident.standard_text():
            continue
        decided = entry.decided or entry.action
        moment = entry.left if entry.served and entry.left is not None else decided.at
        lines.append(
            AnnouncerLine(entry.race_id, entry.bib, _name(entry, names), moment, incident.standard_text())
        )
    return sorted(lines, key=lambda line: (line.race_id, line.time))


def _who(bib: str, name: str) -> str:
    return f"#{bib} {name}".rstrip()


def text_lines(
    rows: Sequence[BoardRow] | Sequence[ViolationRow] | Sequence[AnnouncerLine],
    what: str,
    *,
    title: str,
    zone: tzinfo | None = None,
) -> list[str]:
    """The printable report: a title line, then one line per row (grouped by race and,
    for the board, by box)."""
    lines = [title]
    if not rows:
        lines.append(
            {
                "board": "No penalties to serve.",
                "violations": "No penalties or DSQ on the desk.",
                "announcer": "Nothing confirmed yet.",
            }[what]
        )
        return lines
    race = box = None
    for row in rows:
        if row.race_id != race:
            race, box = row.race_id, None
            lines.append(f"Race {race}")
        if isinstance(row, BoardRow):
            if row.box != box:
                box = row.box
                lines.append(f"  {box}")
            times = f"×{row.count}" if row.count > 1 else "  "
            lines.append(f"    {row.bib:>5} {times:<3} {row.seconds:>4} s  {row.name}".rstrip())
        elif isinstance(row, ViolationRow):
            where = f" at {row.location}" if row.location else ""
            lines.append(
                f"  {_time(row.time, zone)} {_who(row.bib, row.name)}: {row.penalty} for {row.rule}{where}"
                f" · reported by {row.official}"
            )
            decided = f" by {row.decided_by}" if row.decided_by else ""
            why = f": {row.reason}" if row.reason else ""
            lines.append(f"           {row.decision}{decided}{why}")
        else:
            lines.append(f"  {_time(row.time, zone)} {_who(row.bib, row.name)}: {row.text}")
    return lines


CSV_HEADERS = {
    "board": ["race", "box", "bib", "name", "penalties", "seconds"],
    "violations": [
        "race",
        "bib",
        "name",
        "rule",
        "penalty",
        "time",
        "location",
        "official",
        "decision",
        "decided_by",
        "reason",
    ],
    "announcer": ["race", "bib", "name", "time", "text"],
}


def csv_rows(
    rows: Sequence[BoardRow] | Sequence[ViolationRow] | Sequence[AnnouncerLine], what: str
) -> list[list[str]]:
    """The header and one list of cells per row (times as ISO 8601 with their offset)."""
    out = [list(CSV_HEADERS[what])]
    for row in rows:
        if isinstance(row, BoardRow):
            out.append([row.race_id, row.box, row.bib, row.name, str(row.count), str(row.seconds)])
        elif isinstance(row, ViolationRow):
            out.append(
                [
                    row.race_id,
                    row.bib,
                    row.name,
                    row.rule,
                    row.penalty,
                    row.time.isoformat(timespec="seconds"),
                    row.location,
                    row.official,
                    row.decision,
                    row.decided_by,
                    row.reason,
                ]
            )
        else:
            out.append([row.race_id, row.bib, row.name, row.time.isoformat(timespec="seconds"), row.text])
    return out
