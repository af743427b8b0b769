"""The standings engine: pure, no I/O, no Textual.

Its read side is the one place rankings come from: :meth:`RaceStandings.view` rows,
:meth:`RaceStandings.splits`, :meth:`RaceStandings.athlete` snapshots, counts, and
:class:`StandingsSnapshot` (the whole field at one version, read in slices by a
:class:`SnapshotReader` where the loop must not wait). The ranking
rules are :mod:`racetui.engine.ranking`.
"""

from racetui.engine.engine import ChangeSet, Engine
from racetui.engine.pipeline import Listener, Pipeline
from racetui.engine.ranking import Filter, placed_at_point, status_rank, takes_place
from racetui.engine.standings import (
    Athlete,
    AthleteNow,
    Counts,
    Held,
    LeaderboardView,
    Override,
    RaceStandings,
    Row,
    SnapshotReader,
    SplitRow,
    StandingsSnapshot,
    merge_incidents,
)

__all__ = [
    "Athlete",
    "AthleteNow",
    "ChangeSet",
    "Counts",
    "Engine",
    "Filter",
    "Held",
    "LeaderboardView",
    "Listener",
    "Override",
    "Pipeline",
    "RaceStandings",
    "Row",
    "SnapshotReader",
    "SplitRow",
    "StandingsSnapshot",
    "merge_incidents",
    "placed_at_point",
    "status_rank",
    "takes_place",
]
