"""Races a timer marked official, remembered per event: a small JSON file in the data dir.

Keyed like the incident desk's events (:class:`~racetui.sources.desk.EventKey`: the event's
id or name and its date) but without the source: a race confirmed official while watching
the BBT master stays official in the replay of its journal and in ``racetui export``.
Each mark says who confirmed it and when. A file that cannot be read or written is
reported (``problem``), never fatal: the race then shows provisional.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from racetui.config import data_dir
from racetui.engine import Engine
from racetui.sources.desk import EventKey
from racetui.util.files import JsonFile

__all__ = ["OfficialMark", "OfficialStore", "event_key", "event_text"]


def event_text(key: EventKey) -> str:
    """The stored key of an event: its id (or name) and date, not the source."""
    return f"{key.event} · {key.date}"


def event_key(engine: Engine, today: date) -> EventKey | None:
    """The event's key as the desk makes it; a source without an event (a v1.1 feed holds
    races only) is keyed by its races' ids and the day of the first gun."""
    key = EventKey.of(engine, "racetui", today)
    if key is not None or not engine.races:
        return key
    races = sorted(s.race.external_id or s.race.id for s in engine.races.values())
    guns = [s.race.clock.gun_time for s in engine.races.values() if s.race.clock and s.race.clock.gun_time]
    day = min(guns).date() if guns else today
    return EventKey(source="racetui", event="races " + ",".join(races), date=day.isoformat())


@dataclass(frozen=True, slots=True)
class OfficialMark:
    by: str  # the operator who confirmed
    at: str  # ISO time of the confirmation


class OfficialStore(JsonFile):
    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path, lambda: data_dir() / "official.json", "official-results file")

    def _read(self) -> dict[str, dict[str, dict[str, str]]]:
        data = self.read()
        out: dict[str, dict[str, dict[str, str]]] = {}
        for event, races in data.items():
            if isinstance(races, dict):
                out[str(event)] = {
                    str(r): {"by": str(m.get("by", "")), "at": str(m.get("at", ""))}
                    for r, m in races.items()
                    if isinstance(m, dict)
                }
        return out

    def marks(self, event: EventKey | None) -> dict[str, OfficialMark]:
        """Race id -> who marked it official, for ``event`` (empty: none, or no event yet)."""
        if event is None:
            return {}
        races = self._read().get(event_text(event), {})
        return {race: OfficialMark(m["by"], m["at"]) for race, m in races.items()}

    def set(self, event: EventKey, race_id: str, mark: OfficialMark | None) -> bool:
        """Mark ``race_id`` official (``mark``) or provisional again (None); False if not saved."""
        data = self._read()
        races = data.setdefault(event_text(event), {})
        if mark is None:
            races.pop(race_id, None)
        else:
            races[race_id] = {"by": mark.by, "at": mark.at}
        if not races:
            data.pop(event_text(event), None)
        if not self.write(data, "official mark not saved"):
            return False
        self.problem = None
        return True
