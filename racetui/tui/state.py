"""The dashboard's own state, shared by every screen: which race, wave, filters and
timing point; the watchlist; the athlete marked for gaps; what the incidents screen has
shown. No Textual here, so it is tested without an app.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from racetui.config import LeaderboardConfig
from racetui.engine import Athlete, ChangeSet, Engine, LeaderboardView, RaceStandings
from racetui.engine.gaps import Trend, true_gap
from racetui.engine.official import ResultsState, results_state
from racetui.model import Race, Wave
from racetui.tui.clock import Clock, RaceTime, race_time, system_clock, wave_time
from racetui.tui.tracker import Tracker, Watchlist

__all__ = ["AthleteRef", "Gap", "UiState"]

AthleteRef = tuple[str, str]  # (race id, bib)


@dataclass(frozen=True, slots=True)
class Gap:
    """Time between two athletes on the road (gun time) at a timing point: the one viewed,
    or (at the latest point) the true gap, where the chaser is now, with its trend."""

    point_name: str
    ms: int  # positive: the second athlete is behind the first
    trend: Trend | None = None  # closing / opening over the last splits (true gaps only)
    per_split_ms: int | None = None  # the gap's change per split (negative: closing)
    points_behind: int = 0  # timing points between them (a lap counts its points)


class UiState:
    def __init__(self, engine: Engine, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.clock = clock
        # False when ``clock`` already is the timing system's clock (the demo's simulator).
        self.master_offset = True
        self.tracker = Tracker(engine, clock)
        self.watch = Watchlist()
        self.mark: AthleteRef | None = None
        self.race_id: str | None = None
        self.wave_id: str | None = None
        self.gender: str | None = None
        self.category: str | None = None
        self.point_id: str | None = None  # None: every athlete at their latest point
        self.incidents_seen = 0  # tracker sequence number shown on the Incidents screen
        leaderboard = LeaderboardConfig()
        # race id -> who marked it official (the app loads them for the event on screen)
        self.official: dict[str, object] = {}
        self._results: dict[str, tuple[tuple[object, ...], ResultsState]] = {}
        self.groups = leaderboard.groups  # separators between groups on the leaderboard
        self.group_ms = round(leaderboard.group_seconds * 1000)
        self.hidden_columns: set[str] = set()  # leaderboard columns left out (saved layout)

    # -------------------------------------------------------------- races
    def race_ids(self) -> list[str]:
        ordered = [race.id for race in self.engine.event.races] if self.engine.event else []
        known = [r for r in ordered if r in self.engine.races]
        return known + [r for r in self.engine.races if r not in ordered]

    def ensure_race(self) -> str | None:
        ids = self.race_ids()
        if self.race_id not in ids:
            self.race_id = ids[0] if ids else None
            self.wave_id = self.point_id = None
        return self.race_id

    def standings(self) -> RaceStandings | None:
        race_id = self.ensure_race()
        return None if race_id is None else self.engine.races.get(race_id)

    def race(self) -> Race | None:
        standings = self.standings()
        return None if standings is None else standings.race

    def wave(self) -> Wave | None:
        race = self.race()
        if race is None or self.wave_id is None:
            return None
        return next((w for w in race.waves if w.id == self.wave_id), None)

    def race_clock(self, race: Race | None = None) -> RaceTime | None:
        race = race or self.race()
        if race is None:
            return None
        wave = self.wave() if race is self.race() else None
        now = self.clock()
        offset = self.master_offset
        standings = self.engine.races.get(race.id)
        ended = standings.ended_ms() if standings is not None else None
        last = standings.last_passing_ms() if standings is not None else None
        if wave is not None:
            return wave_time(race, wave, now, master_offset=offset, ended_ms=ended, last_ms=last)
        return race_time(race, now, master_offset=offset, ended_ms=ended, last_ms=last)

    def cycle_race(self, step: int = 1) -> str | None:
        ids = self.race_ids()
        if not ids:
            return None
        current = ids.index(self.race_id) if self.race_id in ids else -step
        self.race_id = ids[(current + step) % len(ids)]
        self.wave_id = self.point_id = self.gender = self.category = None
        return self.race_id

    def cycle_wave(self) -> Wave | None:
        race = self.race()
        waves = race.waves if race else []
        self.wave_id = _next([w.id for w in waves], self.wave_id)
        return self.wave()

    def genders(self) -> list[str]:
        standings = self.standings()
        return [] if standings is None else standings.genders()

    def categories(self) -> list[str]:
        """Categories present among the athletes the other filters keep."""
        standings = self.standings()
        if standings is None:
            return []
        return standings.categories(gender=self.gender, wave_id=self.wave_id)

    def cycle_gender(self) -> str | None:
        self.gender = _next(self.genders(), self.gender)
        return self.gender

    def cycle_category(self) -> str | None:
        self.category = _next(self.categories(), self.category)
        return self.category

    def cycle_point(self, step: int = 1) -> str | None:
        """Latest point (None) → first point → … → last point → latest again."""
        standings = self.standings()
        ids: list[str | None] = [None, *(p.id for p in standings.points)] if standings else [None]
        current = ids.index(self.point_id) if self.point_id in ids else 0
        self.point_id = ids[(current + step) % len(ids)]
        return self.point_id

    def point_name(self) -> str:
        standings = self.standings()
        if self.point_id is None or standings is None:
            return "latest"
        index = standings.point_index.get(self.point_id)
        return standings.points[index].name if index is not None else self.point_id

    def filter_text(self) -> str:
        parts = []
        wave = self.wave()
        if wave is not None:
            parts.append(wave.name)
        if self.gender:
            parts.append({"M": "Men", "F": "Women", "X": "Mixed"}.get(self.gender, self.gender))
        if self.category:
            parts.append(self.category)
        return " · ".join(parts) if parts else "all"

    def results(self, race_id: str | None = None, *, counts: bool = False) -> ResultsState | None:
        """Provisional or official (engine/official.py), for the current race by default;
        ``counts``: with who is still out (reads every athlete: asked for by the O dialog,
        not every tick)."""
        race_id = race_id or self.ensure_race()
        standings = self.engine.races.get(race_id) if race_id else None
        if standings is None or race_id is None:
            return None
        confirmed = race_id in self.official
        clock = standings.race.clock.state if standings.race.clock else None
        if counts:
            return results_state(standings, confirmed=confirmed)
        key = (standings.version, confirmed, clock)
        cached = self._results.get(race_id)
        if cached is None or cached[0] != key:
            cached = (key, results_state(standings, confirmed=confirmed, counts=False))
            self._results[race_id] = cached
        return cached[1]

    # --------------------------------------------------------------- views
    def view(self, *, latest: bool = False) -> LeaderboardView | None:
        """The leaderboard for the current race and filters (``latest``: ignore the point).

        Views are cheap handles: the engine keeps the orderings they read, and only
        while they are read."""
        standings = self.standings()
        if standings is None:
            return None
        if self.point_id is not None and self.point_id not in standings.point_index:
            self.point_id = None
        return standings.view(
            point_id=None if latest else self.point_id,
            gender=self.gender,
            category=self.category,
            wave_id=self.wave_id,
        )

    def precise(self) -> bool:
        """True when change sets' moved ranges are indexes of :meth:`view` (whole field, latest)."""
        view = self.view()
        return view is not None and view.whole_field

    def apply(self, changes: ChangeSet) -> None:
        """Nothing to keep: the engine keeps every ordering a view reads up to date."""

    # ------------------------------------------------------------ athletes
    def entry(self, ref: AthleteRef | None) -> Athlete | None:
        """What the engine holds about the athlete (a snapshot), None if not held."""
        if ref is None:
            return None
        standings = self.engine.races.get(ref[0])
        return None if standings is None else standings.athlete(ref[1])

    def toggle_watch(self, ref: AthleteRef) -> bool:
        return self.watch.toggle(*ref)

    def toggle_mark(self, ref: AthleteRef) -> bool:
        self.mark = None if self.mark == ref else ref
        return self.mark is not None

    def gap(self, first: AthleteRef, second: AthleteRef, point_id: str | None = None) -> Gap | None:
        """Gap on the road from ``first`` to ``second``: at ``point_id`` (the point being
        viewed) when given, else the true gap (engine/gaps.py: at the point the chaser reached
        last, with the trend). Same race only; None when there is none."""
        if first[0] != second[0]:
            return None
        standings = self.engine.races.get(first[0])
        a, b = self.entry(first), self.entry(second)
        if standings is None or a is None or b is None:
            return None
        if point_id is not None:
            at = standings.point_index.get(point_id)
            if at is None:
                return None
            ta, tb = a.gun_time(at), b.gun_time(at)
            return None if ta is None or tb is None else Gap(standings.points[at].name, tb - ta)
        found = true_gap(standings, first[1], second[1])
        if found is None:
            return None
        sign = 1 if found.ahead == first[1] else -1
        return Gap(
            standings.points[found.point_index].name,
            sign * found.gap_ms,
            found.trend,
            found.per_split_ms,
            found.points_behind,
        )

    def find(self, text: str, limit: int = 50) -> list[AthleteRef]:
        """Athletes whose bib is ``text`` or whose name contains it, ignoring case and
        accents ('muller' finds Müller, 'sjo' finds Sjöberg); current race first."""
        bib = text.strip()
        needle = fold(bib)
        if not needle:
            return []
        current = self.ensure_race()
        order = sorted(self.engine.races, key=lambda r: r != current)
        exact = [(r, b) for r in order for b in {bib, bib.upper(), needle} if b in self.engine.races[r]]
        if exact:
            return list(dict.fromkeys(exact))
        out: list[AthleteRef] = []
        for race_id in order:
            for bib, name in self.engine.races[race_id].names():
                if needle in fold(name):
                    out.append((race_id, bib))
                    if len(out) >= limit:
                        return out
        return out


_FOLDED: dict[str, str] = {}


def fold(text: str) -> str:
    """``text`` without case or accents, for search: 'Müller' -> 'muller', 'Øberg' -> 'oberg'."""
    known = _FOLDED.get(text)
    if known is not None:
        return known
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = plain.translate(_EXTRA)
    if len(_FOLDED) < 200_000:
        _FOLDED[text] = plain
    return plain


# letters NFKD does not split into a base letter and an accent
_EXTRA = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l", "ħ": "h", "ı": "i", "þ": "th"})


def _next(values: list[str], current: str | None) -> str | None:
    """None → first → … → last → None."""
    options: list[str | None] = [None, *values]
    index = options.index(current) if current in options else 0
    return options[(index + 1) % len(options)]
