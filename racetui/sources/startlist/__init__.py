"""Start lists from RaceEntry and ChronoTrack Live: names, gender, age, category, team and
hometown by bib, kept in a local SQLite cache that every source reads.

- :func:`load_participants` - participants from the cache (all races, or one);
- :class:`StartListSync` - a background source: refreshes a remote list incrementally and
  pushes what changed into the pipeline;
- :func:`sync_once` - one sync (what ``racetui startlist`` runs);
- :class:`RaceEntryClient` / :class:`RaceEntryStartList`, :class:`ChronoTrackClient` /
  :class:`ChronoTrackStartList` - the two APIs.

See ``docs/startlists.md`` for the field mapping.
"""

from racetui.sources.startlist.cache import (
    CACHE_NAME,
    StartListCache,
    SyncInfo,
    SyncOutcome,
    load_participants,
)
from racetui.sources.startlist.chronotrack import ChronoTrackClient, ChronoTrackStartList
from racetui.sources.startlist.common import (
    CredentialsError,
    Fetched,
    StartEntry,
    StartListError,
    StartListFetcher,
    Team,
    age_band,
)
from racetui.sources.startlist.raceentry import RaceEntryClient, RaceEntryStartList
from racetui.sources.startlist.sync import StartListSync, push_outcome, sync_once

__all__ = [
    "CACHE_NAME",
    "ChronoTrackClient",
    "ChronoTrackStartList",
    "CredentialsError",
    "Fetched",
    "RaceEntryClient",
    "RaceEntryStartList",
    "StartEntry",
    "StartListCache",
    "StartListError",
    "StartListFetcher",
    "StartListSync",
    "SyncInfo",
    "SyncOutcome",
    "Team",
    "age_band",
    "load_participants",
    "push_outcome",
    "sync_once",
]
