"""The pure, deterministic race generator: no sockets, no clocks, no I/O.

:func:`generate_event` turns a :class:`~racetui.sim.config.SimConfig` into a
:class:`SimEvent`: the :class:`~racetui.model.Event` (races, waves, timing points,
locations), the start list (:class:`~racetui.model.Participant`), relay team members, and
the *schedule*: every :class:`Happening` of the event (guns, wave starts, passings, status
changes, incidents, condition updates, races made official) in time order.

Time in the schedule is *event time*: whole milliseconds since simulation time zero (the
first gun is at ``config.countdown``). A passing's ``time_ms`` is its gun time (since the
race's gun), as :class:`~racetui.model.Passing` has it.

Same config (same seed) -> the same event, schedule and names, on every machine.

The generator is split by race kind: :mod:`.common` (the schedule, the builder, seeded
people), :mod:`.road`, :mod:`.multisport` (what triathlons and relays share),
:mod:`.triathlon` and :mod:`.relay`.
"""

from __future__ import annotations

import gc
import operator
import random
from datetime import datetime

from racetui.model import Event, RaceKind
from racetui.sim.config import SimConfig
from racetui.sim.generate.common import (
    CONDITIONS,
    DEFAULT_EPOCH,
    GUN,
    INCIDENT,
    OFFICIAL,
    PASS,
    STATUS,
    WAVE,
    Builder,
    Happening,
    SimEvent,
    SimRace,
    to_ms,
)
from racetui.sim.generate.relay import relay_race
from racetui.sim.generate.road import road_race
from racetui.sim.generate.triathlon import triathlon_race

__all__ = [
    "CONDITIONS",
    "DEFAULT_EPOCH",
    "GUN",
    "INCIDENT",
    "OFFICIAL",
    "PASS",
    "STATUS",
    "WAVE",
    "Happening",
    "SimEvent",
    "SimRace",
    "generate_event",
]

_AT = operator.itemgetter(0)


def generate_event(config: SimConfig, *, epoch: datetime | None = None) -> SimEvent:
    """Generate the whole event for ``config``: deterministic for a given seed.

    ``epoch`` (the wall-clock time of event time zero) defaults to ``config.epoch`` or
    :data:`DEFAULT_EPOCH`; it only maps event time to time of day.
    """
    config.validate()
    # Half a million small tuples: the cyclic GC would rescan them over and over.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(config, epoch)
    finally:
        if was_enabled:
            gc.enable()


def _generate(config: SimConfig, epoch: datetime | None) -> SimEvent:
    b = Builder(config)
    countdown_ms = to_ms(config.countdown)
    for number, spec in enumerate(config.race_specs(), 1):
        rng = random.Random(f"racetui-sim:{config.seed}:{number}:{spec.kind}:{spec.variant}:{spec.entries}")
        gun_at_ms = countdown_ms + to_ms(spec.start_after_s or 0.0)
        if spec.kind == "road":
            road_race(b, rng, spec, number, gun_at_ms)
        elif spec.kind == "triathlon":
            triathlon_race(b, rng, spec, number, gun_at_ms)
        else:
            relay_race(b, rng, spec, number, gun_at_ms)
    # Stable sort on the time alone: equal times keep their seq order (cheap int keys).
    b.schedule.sort(key=_AT)
    kinds = {race.kind for race in b.races}
    default_name = (
        "Harbour City Race Weekend" if kinds == {RaceKind.ROAD} else "Harbour City Triathlon Festival"
    )
    event = Event(
        id=str(990000 + config.seed % 10000),
        name=config.event_name or default_name,
        races=[race.race for race in b.races],
        locations=list(b.locations.values()),
    )
    return SimEvent(
        config=config,
        epoch=epoch or config.epoch or DEFAULT_EPOCH,
        event=event,
        races=b.races,
        participants=b.participants,
        legs=b.legs,
        schedule=b.schedule,
    )
