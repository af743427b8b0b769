"""The BBT client against the real simulator (racetui.sim): push cut 20 times during a race,
polling only, and a journal of the run replayed — each must end on the simulator's own
/results/toplist, nothing lost."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import httpx

from racetui.sim import RaceSpec, Sim, SimConfig, running_sim
from racetui.sources.base import Pipeline, SourceMode
from racetui.sources.bbt import BBTSource
from racetui.sources.journal import Journal
from racetui.sources.replay import ReplaySource
from tests.fakes.bbt import engine_finishers, until
from tests.test_bbt_client import FAST, running

RACES = (
    RaceSpec(kind="road", variant="10k", entries=300, start_mode="waves"),
    RaceSpec(kind="triathlon", variant="sprint", entries=60, start_after_s=120),
    RaceSpec(kind="relay", entries=8, start_after_s=240),
)


def config() -> SimConfig:
    return SimConfig(races=RACES, clock="manual", countdown=30, seed=3)


async def api_toplist(sim: Sim, race_id: str) -> list[str]:
    """The simulator's /results/toplist, every page."""
    bibs: list[str] = []
    async with httpx.AsyncClient(base_url=sim.api_url, trust_env=False) as client:
        page = 1
        while True:
            body = (
                await client.get(
                    "/results/toplist", params={"race_id": race_id, "page": page, "page_size": 1000}
                )
            ).json()
            rows = body if isinstance(body, list) else body["data"]  # a bare-array master too
            bibs += [str(row["racenum"]) for row in rows]
            if (page >= body["pages"]) if isinstance(body, dict) and "pages" in body else len(rows) < 1000:
                return bibs
            page += 1


def holds_the_truth(sim: Sim, pipeline: Pipeline) -> bool:
    """Every athlete's status, incidents, relay members and chip time at every point, as
    the simulator has them."""
    for race_id, standings in pipeline.engine.races.items():
        for bib, entry in standings.entries.items():
            truth = sim.truth_athlete(race_id, bib)
            if list(entry.times) != list(truth.chips) or entry.source_status != truth.status:
                return False
            if [i.standard_text() for i in entry.source_incidents] != [
                i.standard_text() for i in truth.incidents
            ]:
                return False
            if [(leg.order, leg.member.name) for leg in entry.legs] != [
                (leg.order, leg.member.name) for leg in truth.legs
            ]:
                return False
        if len(standings.entries) != len([p for p in sim.event.participants if p.race_id == race_id]):
            return False
    return True


def pushed(sim: Sim) -> bool:
    """Every push frame of the moment reached its socket: a test steps the race on this
    condition (the race arrives spread out, on deliveries rather than on the clock)."""
    return all(not subscriber.queue for subscriber in sim.hub.subscribers)


async def step(sim: Sim, seconds: float) -> None:
    """Move the race ``seconds`` on, then wait until its frames have gone out."""
    await sim.advance(seconds)
    await until(lambda: pushed(sim), what=f"the push frames at {sim.now_ms} ms")


async def final_standings_match(sim: Sim, pipeline: Pipeline) -> None:
    await until(lambda: holds_the_truth(sim, pipeline), timeout=20, what="the simulator's truth")
    for race_id in pipeline.engine.races:
        toplist = await api_toplist(sim, race_id)
        assert toplist, f"race {race_id} has finishers"
        assert engine_finishers(pipeline, race_id) == toplist
        assert toplist == [row.racenum for row in sim.truth_toplist(race_id)]
    entries = [e for standings in pipeline.engine.races.values() for e in standings.entries.values()]
    assert any(e.source_incidents for e in entries), "the race had incidents to carry"
    assert any(e.legs for e in entries), "the relay's members arrived"


async def test_push_cut_twenty_times_during_a_race_loses_nothing(tmp_path: Path) -> None:
    async with running_sim(config(), host="127.0.0.1", port=0) as sim:
        journal = Journal(tmp_path / "sim.jsonl.gz", source="BBT sim")
        pipeline = Pipeline()
        source = BBTSource(sim.base_url, journal=journal, **FAST)
        async with running(source, pipeline):
            await until(lambda: source.syncs > 0 and source.health.mode is SourceMode.PUSH, what="first sync")
            for cut in range(20):
                await step(sim, 90)  # the race goes on...
                # ...the push is cut; the first ten times it is refused a while (the client
                # polls meanwhile), the last ten it comes back at once (only the resync
                # after the reconnect can bring what happened during the cut)...
                before_cut = source.syncs
                await sim.drop_push(refuse_for=0.15 if cut < 10 else 0.0)
                await sim.advance(30)  # ...and goes on while the client is cut off
                if cut == 5:
                    sim.refuse_http(0.1)  # the timing PC is busy for REST too
                await until(
                    lambda: source.health.mode is SourceMode.PUSH and bool(sim.hub.subscribers),
                    what=f"push back after cut {cut + 1}",
                )
            # The rest of the race on push alone (after the last resync has finished).
            # (Counted from before the last cut: that resync may already be over by now.)
            await until(
                lambda: source.syncs > before_cut and not source.syncing and not source.needs_resync,
                timeout=60,
                what="the last resync",
            )
            while not sim.finished:
                await step(sim, 120)
            await final_standings_match(sim, pipeline)
            assert source.health.reconnects >= 20
        journal.close()
        live = pipeline

        # The journal of that run replays to the same final standings.
        replayed = Pipeline()
        replay = ReplaySource(journal.path, speed=0)
        await asyncio.wait_for(replay.run(replayed), 60)
        assert replay.problems == [] and replay.health.rejected == 0
        for race_id in live.engine.races:
            assert engine_finishers(replayed, race_id) == engine_finishers(live, race_id)
        assert holds_the_truth(sim, replayed)


async def test_polling_only_reaches_the_same_standings() -> None:
    async with running_sim(config(), host="127.0.0.1", port=0) as sim:
        pipeline = Pipeline()
        source = BBTSource(sim.base_url, poll=True, list_refresh=0.3, **FAST)
        async with running(source, pipeline):
            await until(lambda: source.syncs > 0, what="first sync")
            for _ in range(30):
                polled = source.requests
                await sim.advance(90)
                await until(lambda n=polled: source.requests > n, what="a poll of that moment")
            await sim.run_until_finished()
            await final_standings_match(sim, pipeline)
            assert source.health.mode is SourceMode.POLLING
            assert sim.hub.messages == 0  # never subscribed


async def test_the_simulator_serves_every_wire_variant_and_the_client_reads_them() -> None:
    import orjson

    wire = "ids=text,durations=ms,paging=bare,missing=/event/waves+/timing/raceclock,push=vendor"
    async with running_sim(replace(config(), wire=wire), host="127.0.0.1", port=0) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url + "/api/1.1") as client:
            races = (await client.get("/event/races")).json()
            assert isinstance(races, list) and isinstance(races[0]["id"], str)
            assert (await client.get("/event/waves")).status_code == 404
            assert (await client.get("/timing/raceclock", params={"race_id": 1})).status_code == 404
        pipeline = Pipeline()
        source = BBTSource(sim.base_url, **FAST)
        async with running(source, pipeline):
            await until(lambda: source.syncs > 0 and bool(sim.hub.subscribers), what="first sync and push")
            for _ in range(30):
                await step(sim, 90)
            await sim.run_until_finished()
            await final_standings_match(sim, pipeline)
            assert source.seqless_frames > 0 and source.syncs == 1
            assert source.supports["/event/waves"] is False
            assert "milliseconds" in source.health.details["durations"]
        assert orjson.dumps(source.health.details)  # what Health shows
