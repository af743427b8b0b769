"""The embedded race simulator: seeded races served over real sockets.

It serves what racetui reads, on real sockets: the BBT local API 1.1 over HTTP
(``docs/bbt-api.md``), its WebSocket push, and a World Triathlon v1.1 hosted file per
triathlon or relay race. Tests, benchmarks, ``racetui demo`` and ``racetui sim`` use it.

Configure
---------
``SimConfig(kind="road", athletes=2000, seed=1, speed=1.0, countdown=60.0, clock="real")``
— one race of ``kind`` (``road``/``marathon``/``half``/``10k``, ``triathlon``/``standard``/
``sprint``, ``relay``), or several with ``races=(RaceSpec(...), ...)`` or
``races=parse_races("marathon:20000,10k:5000@30,sprint:300@45,relay:16@90")``.
``clock="manual"`` makes race time move only through ``Sim.advance``; ``clock="real"`` runs
it at ``speed`` times real time. ``push_queue`` bounds each push subscriber's queue.
Bad values raise ``SimConfigError`` (a ``ValueError``) naming the field.

Serve
-----
::

    async with running_sim(SimConfig(clock="manual"), host="127.0.0.1", port=0,
                           event=None, send_buffer=256 * 1024) as sim:
        sim.base_url        # "http://127.0.0.1:54321"
        sim.api_url         # base_url + "/api/1.1"
        sim.push_url        # "ws://127.0.0.1:54321/api/1.1/push?events=results,eventdata"
        sim.feed_url(2)     # base_url + "/feeds/v1.1/2.json"  (triathlon and relay races)
        sim.feed_race_ids() # [2, ...]
        await sim.advance(90)           # event time +90 s, applies what is due -> count
        await sim.advance_to(ms)        # to an event time (ms since simulation time zero)
        await sim.run_until_finished()  # manual: everything now; real: wait for the end
        sim.now_ms, sim.race_time_ms(1), sim.finished
        await sim.drop_push(refuse_for=3.0)  # close every push socket (1012); refuse new
                                             # ones (HTTP 503 on the handshake) for 3 s
        sim.refuse_http(5.0)            # every HTTP request answers 503 JSON for 5 s
        sim.truth_toplist(1)            # [TruthRow(racenum, chip_ms, status), ...]
        sim.truth_athlete(1, "123")     # AthleteTruth: status, chips per point, incidents
        sim.event                       # the SimEvent being served
        sim.state.engine                # the racetui Engine fed by the simulation

``running_sim`` binds ``host`` (127.0.0.1 unless told otherwise; ``OSError`` when it
cannot), generates the event in a worker thread unless ``event`` is given, and stops the
server (push sockets closed with 1001) on exit. ``send_buffer`` is each connection's kernel
send buffer: small enough that a subscriber that stops reading overflows its queue (1013)
quickly. Applying a long stretch of race moves what was recorded into the GC's permanent
generation (``gc.freeze()``), process-wide.

Event time is whole milliseconds since simulation time zero; the first gun fires at
``countdown`` seconds, other races ``RaceSpec.start_after_s`` later. Time of day is
``epoch + event time`` (``SimConfig.epoch``; default: now for a real clock, else
2026-11-23T08:00:00Z).

Without sockets
---------------
``generate_event(SimConfig(...)) -> SimEvent`` is pure and deterministic (same seed, same
event): ``.event`` (``Event``: races, waves, timing points, locations), ``.participants``
(``Participant`` list; relay teams are participants too), ``.legs`` (relay members by
``(race_id, bib)``), ``.races`` (``SimRace``: gun time, start mode, official time),
``.schedule`` (``Happening`` list in time order: ``gun``, ``wave``, ``pass``, ``status``,
``incident``, ``conditions``, ``official``), ``.passings(until_ms)`` (``Passing`` models).
``SimState(event).advance_to(ms)`` applies the schedule to a fresh ``Engine``
(``.engine``) and the truth, with no sockets — for snapshot tests and benchmarks.
50,000 athletes x 10 points generate in about two seconds.
"""

from racetui.sim.config import ClockMode, RaceSpec, SimConfig, SimConfigError, parse_races
from racetui.sim.generate import DEFAULT_EPOCH, Happening, SimEvent, SimRace, generate_event
from racetui.sim.server import Sim, running_sim
from racetui.sim.state import AthleteTruth, SimState, TruthRow

__all__ = [
    "DEFAULT_EPOCH",
    "AthleteTruth",
    "ClockMode",
    "Happening",
    "RaceSpec",
    "Sim",
    "SimConfig",
    "SimConfigError",
    "SimEvent",
    "SimRace",
    "SimState",
    "TruthRow",
    "generate_event",
    "parse_races",
    "running_sim",
]
