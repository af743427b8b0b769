"""Who may write through Redis, on a real redis-server and a hub fed by the real simulator:
a TD viewer's desk entry is recorded in the hub's desk database and reaches a second viewer
as a change frame; a refused entry comes back with the desk's words; a retried send is
applied once; a commentator viewer's attempt is refused before anything reaches Redis."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from racetui.hub.records import HealthRec
from racetui.hub.redis import RedisViewer, run_hub
from racetui.hub.redis_desk import RemoteDesk, desk_keys
from racetui.model import Status
from racetui.sim import RaceSpec, SimConfig, running_sim
from racetui.sources.bbt import BBTSource
from racetui.sources.desk import DeskError, IncidentDesk
from tests.fakes.bbt import until
from tests.fakes.redis import RedisServer
from tests.test_bbt_client import FAST
from tests.test_hub_redis import stop, task_of

RACES = (RaceSpec(kind="road", variant="10k", entries=30),)


def rows(path: Path) -> list[tuple[str, str, str, str, int | None]]:
    """The hub's desk database as stored (operator, race, bib, action, seconds)."""
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT operator, race_id, bib, action, seconds FROM actions ORDER BY id"))


def athletes(pipeline: Any) -> int:
    return sum(len(s.entries) for s in pipeline.engine.races.values())


def viewer(url: str, role: str | None, operator: str) -> tuple[RedisViewer, RemoteDesk, Any]:
    desk = RemoteDesk(url, operator=operator, role=role)
    link = RedisViewer(url, [HealthRec("bbt", "push", "connecting", None)], desk=desk)
    return link, desk, link.pipeline()


async def test_a_td_viewer_records_at_the_hub_and_a_second_viewer_sees_it(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_server.url
    db = tmp_path / "hub-incidents.sqlite3"
    async with running_sim(SimConfig(races=RACES, clock="manual", countdown=5, seed=3)) as sim:
        hub_desk = IncidentDesk(db, operator="hub")
        hub_task = asyncio.create_task(
            run_hub([BBTSource(sim.base_url, name="bbt", **FAST)], url, snapshot_every=0.3, desk=hub_desk)
        )
        td, td_desk, pa = viewer(url, "td", "Jane Delegate")
        box, box_desk, pb = viewer(url, "commentator", "Cam")
        try:
            async with task_of(td.run(pa)), task_of(box.run(pb)):
                await until(lambda: athletes(pa) == athletes(pb) == 30, what="both synced")
                race_id = next(iter(pa.engine.races))
                bib = sorted(pa.engine.races[race_id].entries)[0]

                actions = await td_desk.submit(
                    {
                        "race_id": race_id,
                        "bib": bib,
                        "action": "penalty",
                        "seconds": 30,
                        "infringement": "drafting",
                    }
                )
                # the hub's database holds the row, with the viewer's operator
                assert rows(db) == [("Jane Delegate", race_id, bib, "penalty", 30)]
                assert actions[-1].operator == "Jane Delegate" and actions[-1].seconds == 30
                # submit returned only once the viewer's replica applied the hub's frame
                entry = pa.engine.races[race_id].entries[bib]
                assert entry.override is not None and entry.override.incidents
                # the second viewer sees it as a normal change frame, and on its desk screens
                await until(
                    lambda: (
                        (e := pb.engine.races[race_id].entries.get(bib)) is not None
                        and e.override is not None
                    ),
                    what="the second viewer's override",
                )
                await until(lambda: bool(box_desk.entries_of(race_id, bib)), what="the second viewer's desk")
                [entry] = box_desk.entries_of(race_id, bib)
                assert (entry.seconds, entry.infringement, entry.served) == (30, "drafting", False)

                # serving it (a target from the mirrored desk state), then a DSQ
                await td_desk.submit(
                    {"race_id": race_id, "bib": bib, "action": "serve", "target": entry.action.id}
                )
                await until(
                    lambda: box_desk.entries_of(race_id, bib)[0].served, what="served on the second viewer"
                )
                await td_desk.submit({"race_id": race_id, "bib": bib, "action": "dsq", "infringement": "cup"})
                await until(
                    lambda: pb.engine.races[race_id].entries[bib].status is Status.DSQ, what="DSQ on viewer b"
                )

                # the desk's refusal comes back in its own words; nothing is recorded
                with pytest.raises(DeskError, match="seconds: a penalty needs a positive number of seconds"):
                    await td_desk.submit(
                        {"race_id": race_id, "bib": bib, "action": "penalty", "infringement": "x"}
                    )
                with pytest.raises(DeskError, match="target: #999"):
                    await td_desk.submit({"race_id": race_id, "bib": bib, "action": "serve", "target": 999})
                assert len(rows(db)) == 3

                # a commentator is refused here: nothing reaches Redis
                client = redis_server.client()
                requests = desk_keys("racetui")["requests"]
                before = client.xlen(requests)
                with pytest.raises(DeskError, match="role commentator: read-only viewer"):
                    await box_desk.submit({"race_id": race_id, "bib": bib, "action": "dns"})
                assert client.xlen(requests) == before
                assert len(rows(db)) == 3

                # a retried send (same id, twice on the stream) is applied once
                body = {"race_id": race_id, "bib": bib, "action": "dnf", "reason": "cramp"}
                fields = {
                    "id": "retry-1",
                    "operator": "Jane Delegate",
                    "role": "td",
                    "body": json.dumps(body),
                }
                client.xadd(requests, fields)
                client.xadd(requests, fields)
                answer = desk_keys("racetui")["answer"] + "retry-1"
                await until(lambda: client.llen(answer) >= 2, what="both sends answered")
                first, second = (json.loads(x) for x in client.lrange(answer, 0, -1))
                assert first == second and first["ok"]
                assert [r[3] for r in rows(db)] == ["penalty", "serve", "dsq", "dnf"]
                # the hub's own role check: a request claiming no role is refused there too
                fields = {"id": "norole", "operator": "x", "role": "None", "body": json.dumps(body)}
                client.xadd(requests, fields)
                await until(
                    lambda: client.llen(desk_keys("racetui")["answer"] + "norole") == 1, what="refusal"
                )
                refused = json.loads(client.lpop(desk_keys("racetui")["answer"] + "norole"))
                assert refused == {"ok": False, "error": "role 'None' may not record desk entries"}
                assert len(rows(db)) == 4
                client.close()
        finally:
            await stop(hub_task)


async def test_a_request_sent_while_the_hub_is_down_is_recorded_when_it_starts(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The request stream keeps the entry; the hub records it at its next start, once."""
    url = redis_server.url
    db = tmp_path / "hub-incidents.sqlite3"
    async with running_sim(SimConfig(races=RACES, clock="manual", countdown=5, seed=4)) as sim:

        def hub() -> Any:
            return run_hub(
                [BBTSource(sim.base_url, name="bbt", **FAST)],
                url,
                snapshot_every=0.3,
                desk=IncidentDesk(db, operator="hub"),
            )

        hub_task = asyncio.create_task(hub())
        td, td_desk, pa = viewer(url, "timer", "Tim")
        try:
            async with task_of(td.run(pa)):
                await until(lambda: athletes(pa) == 30, what="synced")
                race_id = next(iter(pa.engine.races))
                bib = sorted(pa.engine.races[race_id].entries)[1]
                await stop(hub_task)
                sent = asyncio.create_task(
                    td_desk.submit({"race_id": race_id, "bib": bib, "action": "dns"}, timeout=90)
                )
                client = redis_server.client()
                await until(lambda: client.xlen(desk_keys("racetui")["requests"]) >= 1, what="queued")
                assert not sent.done() and rows(db) == []
                # a timer records race status, not penalties: refused here, nothing sent
                queued = client.xlen(desk_keys("racetui")["requests"])
                with pytest.raises(DeskError, match="role timer: penalty is a TD's desk entry"):
                    await td_desk.submit(
                        {
                            "race_id": race_id,
                            "bib": bib,
                            "action": "penalty",
                            "seconds": 5,
                            "infringement": "x",
                        }
                    )
                assert client.xlen(desk_keys("racetui")["requests"]) == queued
                hub_task = asyncio.create_task(hub())
                actions = await asyncio.wait_for(sent, 60)
                assert [a.action.value for a in actions] == ["dns"]
                assert rows(db) == [("Tim", race_id, bib, "dns", None)]
                await until(lambda: pa.engine.races[race_id].entries[bib].status is Status.DNS, what="DNS")
                client.close()
        finally:
            await stop(hub_task)


async def press_dns_on_a_viewer(url: str, db: Path, role: str, operator: str) -> None:
    """One viewer's dashboard: open an athlete, S (DNS), confirm; check what happened."""
    from racetui.config import Config
    from racetui.tui.app import RaceApp
    from racetui.tui.screens.athlete import AthleteScreen
    from racetui.tui.screens.desk import ConfirmDeskEntry
    from tests.support import async_wait_until

    link, desk, pipeline = viewer(url, role, operator)
    app = RaceApp(
        pipeline,
        list(link.sources),
        config=Config(operator=operator),
        desk=desk,  # type: ignore[arg-type]
        tick=0.25,
        tracker_budget=None,
        strict=True,
    )

    def said(text: str) -> bool:
        return any(text in n.message for n in app._notifications)

    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_until(lambda: athletes(pipeline) == 30, what="the viewer synced")
        race_id = next(iter(pipeline.engine.races))
        bib = sorted(pipeline.engine.races[race_id].entries)[2]
        app.tick()
        app.open_athlete((race_id, bib))
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeskEntry)
        await pilot.press("enter")
        if role == "td":
            await async_wait_until(
                lambda: pipeline.engine.races[race_id].entries[bib].status is Status.DNS,
                what="DNS on the viewer",
            )
            assert said("pending at the hub")
            await async_wait_until(lambda: said("hub desk #1"), what="recorded")
            assert rows(db) == [(operator, race_id, bib, "dns", None)]
        else:
            await async_wait_until(lambda: said("read-only viewer"), what="the refusal")
            assert len(rows(db)) == 1  # the TD's entry only
        await pilot.press("q")


async def test_the_dashboard_of_a_td_viewer_records_through_the_hub_and_a_commentator_is_refused(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Keys on a viewer's dashboard, as a TD drives them: the entry is pending, then the
    hub's frame shows it; a commentator's dashboard refuses with the reason."""
    url = redis_server.url
    db = tmp_path / "hub-incidents.sqlite3"
    async with running_sim(SimConfig(races=RACES, clock="manual", countdown=5, seed=6)) as sim:
        hub_task = asyncio.create_task(
            run_hub(
                [BBTSource(sim.base_url, name="bbt", **FAST)],
                url,
                snapshot_every=0.3,
                desk=IncidentDesk(db, operator="hub"),
            )
        )
        try:
            await press_dns_on_a_viewer(url, db, "td", "TD Jane")
            await press_dns_on_a_viewer(url, db, "commentator", "Cam")
        finally:
            await stop(hub_task)
