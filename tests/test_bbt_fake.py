"""The stand-in BBT master (tests/fakes/bbt.py) checked against the documented contract."""

from __future__ import annotations

import httpx

from tests.fakes.bbt import FakeBBT


async def test_fake_serves_the_documented_envelope_and_errors() -> None:
    async with FakeBBT(athletes=30) as bbt, httpx.AsyncClient(base_url=bbt.url + "/api/1.1") as client:
        body = (await client.get("/results/list", params={"race_id": 1, "page_size": 10})).json()
        assert (body["page"], body["page_size"], body["pages"]) == (1, 10, 3)
        assert body["total"] == 22 and len(body["data"]) == 10
        assert (await client.get("/results/list", params={"page_size": 5000})).status_code == 400
        assert (await client.get("/timing/raceclock", params={"race_id": 99})).status_code == 404
        await bbt.advance(10**9)
        assert len(bbt.toplist(1)) == 22
        latest = (await client.get("/results/latest", params={"point_id": 13})).json()["data"]
        assert [p["id"] for p in latest] == sorted((p["id"] for p in latest), reverse=True)
