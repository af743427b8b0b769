"""A race festival in progress for the dashboard's tests, made by the product's own seeded
generator (:mod:`racetui.sim.generate`) and replayed through a :class:`Pipeline` the way a
source feeds it: same seed, same race, no sockets, no wall clock.

The festival (event time 0 is the first gun, :data:`RACE_EPOCH` its time of day):

* race :data:`OPEN` — a sprint triathlon (or any simulator variant: ``kind="half"`` for a
  field too big for a triathlon), mass start at 0, ``athletes`` strong;
* race :data:`WAVES` — an age-group standard triathlon, gun at 10:00, three waves five
  minutes apart (Men 18-39, Men 40+, Women);
* race :data:`LATER` — a mixed relay whose gun is at 1:40:00, not started at :data:`RACE_NOW`.

At :data:`RACE_NOW` (45 minutes after the first gun) the open race is 45:00 in, the wave race
35:00 and the relay starts in 55:00. Everything due by then is in the pipeline (passings,
DNS/DNF/DSQ, penalties, guns, conditions); :class:`RaceFeed` holds the rest of the schedule
and applies it on demand (:meth:`RaceFeed.step`, :meth:`RaceFeed.advance_to`), so a test
moves race time itself instead of waiting for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

from racetui.model import Passing, Race, Result
from racetui.sim import DEFAULT_EPOCH, RaceSpec, SimConfig, SimEvent, SimState, generate_event
from racetui.sim.generate import INCIDENT, PASS, STATUS
from racetui.sources.base import FeedState, Pipeline, SourceHealth, SourceMode

__all__ = [
    "LATER",
    "OPEN",
    "RACE_EPOCH",
    "RACE_NOW",
    "WAVES",
    "RaceFeed",
    "festival",
    "race_pipeline",
]

OPEN, WAVES, LATER = "1", "2", "3"
RACE_EPOCH = DEFAULT_EPOCH
RACE_NOW = RACE_EPOCH + timedelta(minutes=45)


def festival(athletes: int = 120, *, seed: int = 7, kind: str = "sprint") -> SimEvent:
    """The festival's event and schedule (see the module docstring). Same arguments, same
    event, on every machine."""
    config = SimConfig(
        races=(
            RaceSpec(kind, entries=athletes, start_mode="mass"),
            RaceSpec(
                "standard", entries=min(max(90, athletes // 2), 1000), start_after_s=600, start_mode="waves"
            ),
            RaceSpec("relay", entries=8, start_after_s=6000),
        ),
        seed=seed,
        countdown=0,
        clock="manual",
        epoch=RACE_EPOCH,
    )
    return generate_event(config)


def _ms(moment: datetime) -> int:
    return int((moment - RACE_EPOCH) / timedelta(milliseconds=1))


class RaceFeed:
    """A source made of a generated festival: ``name``/``health``/``run`` like any source.

    The product's :class:`~racetui.sim.SimState` applies the schedule and keeps the truth;
    every happening it applies is handed to the pipeline as a timing system would send it
    (passings as passings, status and incident changes as the athlete's whole result, guns
    and conditions as the race), so screens see the same change sets as in a live race.
    """

    def __init__(self, sim: SimEvent, *, name: str = "sim", mode: SourceMode = SourceMode.REPLAY) -> None:
        self.sim = sim
        self.state = SimState(sim)
        self.name = name
        self.health = SourceHealth(name=name, mode=mode, state=FeedState.CONNECTED, clock=lambda: 0.0)
        self.health.last_message = 0.0

    # ------------------------------------------------------------------ reads
    @property
    def now(self) -> datetime:
        """The festival's current moment."""
        return self.state.time_of_day(self.state.now_ms)

    def clock(self) -> datetime:
        """The festival's current moment, as a clock for the app."""
        return self.now

    def upcoming(self) -> Iterator[Passing]:
        """The passings still to come, in time order."""
        for happening in self.sim.schedule[self.state.cursor :]:
            if happening.kind == PASS:
                yield happening.passing()

    def remaining(self) -> int:
        return len(self.sim.schedule) - self.state.cursor

    # ---------------------------------------------------------------- applying
    def load(self, pipeline: Pipeline, *, until: datetime = RACE_NOW) -> None:
        """The event, the start list and everything due by ``until``, as one sync."""
        event = self.sim.event.model_copy(update={"races": [self._race(r.id) for r in self.sim.event.races]})
        with pipeline.batch():
            pipeline.load_event(event)
            pipeline.add_participants(self.sim.participants)
            for (race_id, bib), legs in self.sim.legs.items():
                pipeline.apply_results(race_id, [Result(race_id=race_id, bib=bib, legs=legs)])
            self.advance_to(pipeline, until)

    def advance_to(self, pipeline: Pipeline, moment: datetime) -> int:
        """Apply every happening due by ``moment``; returns how many passings that was."""
        start = self.state.cursor
        self.state.advance_to(_ms(moment))
        return len(self._hand_over(pipeline, start))

    def step(self, pipeline: Pipeline, count: int) -> list[Passing]:
        """Apply the next ``count`` passings (and whatever happens between them)."""
        start = self.state.cursor
        schedule = self.sim.schedule
        end, seen = start, 0
        while end < len(schedule) and seen < count:
            seen += schedule[end].kind == PASS
            end += 1
        if end > start:
            self.state.advance_to(schedule[end - 1].at_ms, limit=end - start)
        return self._hand_over(pipeline, start)

    def _hand_over(self, pipeline: Pipeline, start: int) -> list[Passing]:
        applied = self.sim.schedule[start : self.state.cursor]
        passings: list[Passing] = []
        for happening in applied:
            if happening.kind == PASS:
                passings.append(happening.passing(self.sim.epoch))
                continue
            if passings:  # keep the order: passings so far, then this change
                pipeline.apply_passings(passings)
                self.health.messages += len(passings)
                passings = []
            if happening.kind in (STATUS, INCIDENT) and happening.bib is not None:
                pipeline.apply_results(happening.race_id, [self._result(happening.race_id, happening.bib)])
            else:
                pipeline.upsert_race(self._race(happening.race_id))
            self.health.messages += 1
        if passings:
            pipeline.apply_passings(passings)
            self.health.messages += len(passings)
        return [h.passing(self.sim.epoch) for h in applied if h.kind == PASS]

    def _race(self, race_id: str) -> Race:
        race = self.state.engine.race(race_id).race
        if race.clock is not None and race.clock.gun_time is None:  # keep the announced gun
            announced = self.sim.time_of_day(self.sim.race(race_id).gun_at_ms)
            race = race.model_copy(update={"clock": race.clock.model_copy(update={"gun_time": announced})})
        return race

    def _result(self, race_id: str, bib: str) -> Result:
        truth = self.state.truth_athlete(race_id, bib)
        return Result(
            race_id=race_id,
            bib=bib,
            status=truth.status,
            splits=truth.gun_times(self.state.race_run(race_id).point_ids),
            incidents=list(truth.incidents),
            legs=list(truth.legs),
        )

    async def run(self, pipeline: Pipeline) -> None:
        """As a source: the data is loaded already and race time moves only when a test
        moves it, so there is nothing to do but stay connected."""
        await asyncio.Event().wait()


def race_pipeline(athletes: int = 120, *, seed: int = 7, kind: str = "sprint") -> tuple[Pipeline, RaceFeed]:
    """A pipeline loaded with the festival at :data:`RACE_NOW`, and its feed."""
    feed = RaceFeed(festival(athletes, seed=seed, kind=kind))
    pipeline = Pipeline()
    feed.load(pipeline)
    return pipeline, feed
