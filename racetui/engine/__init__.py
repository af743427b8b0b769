"""The standings engine: pure, no I/O, no Textual."""

from racetui.engine.engine import ChangeSet, Engine
from racetui.engine.pipeline import Listener, Pipeline
from racetui.engine.standings import (
    Entry,
    LeaderboardView,
    Override,
    RaceStandings,
    Row,
    merge_incidents,
    status_rank,
)

__all__ = [
    "ChangeSet",
    "Engine",
    "Entry",
    "LeaderboardView",
    "Listener",
    "Override",
    "Pipeline",
    "RaceStandings",
    "Row",
    "merge_incidents",
    "status_rank",
]
