"""The BBT client against masters that differ where the vendor's text is silent, and
against the faults a real timing PC shows: all over real sockets (tests/fakes/bbt.py).

Every check compares racetui's engine with the stand-in master's own truth (every pass it
recorded, its finish order), never with racetui's own writer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from racetui.sources.base import Pipeline
from racetui.sources.bbt import BadData, BBTDecoder, BBTError, BBTSource
from tests.fakes.asgi import LoopServer, ServerThread, free_port
from tests.fakes.bbt import FakeBBT, Variant, engine_finishers, engine_state, until
from tests.test_bbt_client import FAST, running

VARIANTS = {
    "ids as text": Variant(ids="text"),
    "durations in seconds": Variant(durations="seconds"),
    "durations in milliseconds": Variant(durations="ms"),
    "no total/pages": Variant(paging="no_totals"),
    "bare arrays": Variant(paging="bare"),
    "no waves, no race clock": Variant(missing=frozenset({"/event/waves", "/timing/raceclock"})),
    "all at once": Variant(
        ids="text",
        durations="ms",
        paging="bare",
        missing=frozenset({"/event/waves", "/timing/raceclock", "/timing/locations"}),
    ),
}


def matches(bbt: FakeBBT, pipeline: Pipeline) -> bool:
    return engine_state(pipeline) == bbt.truth()


def standings_match(bbt: FakeBBT, pipeline: Pipeline) -> bool:
    return all(engine_finishers(pipeline, str(race_id)) == bbt.toplist(race_id) for race_id in (1, 2))


@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=list(VARIANTS))
async def test_each_variant_gives_the_masters_standings(variant: Variant) -> None:
    async with FakeBBT(athletes=150) as bbt:
        bbt.variant = variant
        await bbt.advance(2_600_000)
        bbt.set_status("3", "DNF")
        pipeline = Pipeline()
        source = BBTSource(bbt.url, page_size=20, **FAST)
        await source.sync_once(pipeline)
        assert engine_state(pipeline) == bbt.truth()
        assert standings_match(bbt, pipeline)
        assert len(bbt.toplist(1)) > 40  # a real field finished, not an empty agreement
        assert source.health.rejected == 0, source.rejections
        if variant.durations == "ms":
            assert "milliseconds" in source.health.details["durations"]
        if variant.durations == "seconds":
            assert source.health.details["durations"] == "durations sent as numbers: seconds"
        if variant.paging != "envelope":
            assert "paged until a short page" in source.health.details["paging"]
        for route in variant.missing:
            assert source.supports[route] is False and f"lacks {route}" in source.health.details
        if "/event/waves" in variant.missing:
            offsets = {w.id: w.offset_ms for w in pipeline.engine.races["1"].race.waves}
            assert offsets == {"1": 0, "2": 300_000}  # derived from race time minus chip time
        # Detected once: a second sync does not ask a missing endpoint again.
        asked = {route: bbt.requests[route] for route in variant.missing}
        await source.sync_once(pipeline)
        assert {route: bbt.requests[route] for route in variant.missing} == asked


async def test_a_live_race_over_every_variant_with_push_and_polling() -> None:
    for variant in (VARIANTS["all at once"], Variant(ids="text", durations="seconds", paging="no_totals")):
        for poll in (False, True):
            async with FakeBBT(athletes=60) as bbt:
                bbt.variant = variant
                pipeline = Pipeline()
                source = BBTSource(bbt.url, poll=poll, list_refresh=0.2, latest_page_size=7, **FAST)
                async with running(source, pipeline):
                    await until(lambda p=pipeline: bool(p.engine.races), what="the event")
                    for clock in range(300_000, 3_000_001, 300_000):
                        await bbt.advance(clock)
                    await until(
                        lambda b=bbt, p=pipeline: matches(b, p) and standings_match(b, p),
                        what=f"the live race ({variant}, poll={poll})",
                    )
                assert source.health.rejected == 0, source.rejections


async def test_vendor_push_frames_are_read_back_targeted_not_by_full_resyncs() -> None:
    async with FakeBBT(athletes=80) as bbt:
        bbt.variant = Variant(push="vendor")
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **FAST)
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers) and source.syncs >= 1, what="push and the first load")
            first = dict(bbt.requests)
            for clock in range(200_000, 3_000_001, 200_000):
                await bbt.advance(clock)
            bbt.set_status("5", "DSQ")
            await until(lambda: matches(bbt, pipeline), what="the race through vendor-form push")
        frames = source.seqless_frames
        assert frames > 100
        assert source.syncs == 1 and source.resyncs_requested == 1  # the first load only
        assert source.health.rejected == 0, source.rejections
        assert "without seq" in source.health.details["push"]
        # One targeted read per frame at most (coalesced): never a full read of the lists.
        assert bbt.requests["/results/list"] == first.get("/results/list", 0)
        assert bbt.requests["/results/toplistforpoint"] == first.get("/results/toplistforpoint", 0)
        assert bbt.requests["/results/participant"] <= frames


async def test_a_seq_that_always_skips_cannot_flood_the_master_with_resyncs() -> None:
    async with FakeBBT(athletes=40) as bbt:
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **{**FAST, "resync_base": 0.5, "resync_cap": 4.0})
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers) and source.syncs >= 1, what="push")
            loop = asyncio.get_running_loop()
            started = loop.time()
            for clock in range(50_000, 3_000_001, 50_000):
                bbt.lose_next_push = 1  # every other frame lost: a gap on every frame
                await bbt.advance(clock)
                await until(bbt.pushed, what=f"the frames at {clock} ms")  # frames arrive spread out
            await until(lambda: matches(bbt, pipeline), what="the race despite the gaps")
            elapsed = loop.time() - started
        # 0.5 s, then doubling to 4 s: a handful of resyncs however many gaps were seen.
        assert source.resyncs_requested <= 2 + elapsed / 0.5, (source.resyncs_requested, elapsed)
        assert bbt.requests["/results/list"] <= 2 * source.resyncs_requested + 2


@pytest.mark.parametrize("poll", [False, True], ids=["push", "polling"])
async def test_deleted_passes_and_results_disappear(poll: bool) -> None:
    async with FakeBBT(athletes=40) as bbt:
        await bbt.advance(2_000_000)
        pipeline = Pipeline()
        source = BBTSource(bbt.url, poll=poll, list_refresh=0.05, **FAST)
        async with running(source, pipeline):
            await until(lambda: matches(bbt, pipeline), what="the first load")
            athlete = next(a for a in bbt.athletes.values() if a.race_id == 1 and len(a.splits) >= 2)
            last = max(athlete.splits, key=lambda p: bbt.point(p)["order"])
            bbt.delete_pass(athlete.racenum, last, race_id=1)
            gone = next(a for a in bbt.athletes.values() if a.race_id == 1 and a is not athlete)
            bbt.delete_athlete(gone.racenum, race_id=1)
            await until(lambda: matches(bbt, pipeline), what="the deletions")
        assert gone.racenum not in pipeline.engine.races["1"].entries
        assert str(last) not in engine_state(pipeline)[("1", athlete.racenum)][1]


async def test_page_two_failing_during_resyncs_loses_no_passing_in_twenty_rounds() -> None:
    # The three faults take turns (each one in six or seven rounds): one race, not three.
    faults = ("503", "timeout", "drop")
    async with FakeBBT(athletes=60) as bbt:
        bbt.timeout_after = 1.0
        pipeline = Pipeline()
        options = {**FAST, "timeout": 0.5}
        source = BBTSource(bbt.url, latest_page_size=5, page_size=20, **options)
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers) and source.syncs >= 1, what="push and the first load")
            for round_ in range(20):
                fault = faults[round_ % len(faults)]
                # Passes pile up unseen (push lost), then the resync's page 2 fails once.
                before = source.syncs
                bbt.lose_next_push = 10**6
                await bbt.advance(150_000 * (round_ + 1))
                bbt.lose_next_push = 0
                for route in ("/results/latest", "/results/list", "/results/toplistforpoint"):
                    bbt.page_faults[(route, 2)] = [fault]
                await bbt.drop_push()  # the push cut: reconnect, resync
                await until(
                    lambda n=before: source.syncs > n,
                    timeout=60,
                    what=f"the resync of round {round_} ({fault})",
                )
            await until(lambda: matches(bbt, pipeline), timeout=60, what="every passing")
        truth = bbt.truth()
        passings = sum(len(times) for _, times in truth.values())
        lost = sum(
            len(set(times) - set(engine_state(pipeline).get(key, ("", {}))[1]))
            for key, (_, times) in truth.items()
        )
        assert passings > 100 and lost == 0
        assert standings_match(bbt, pipeline)


async def test_absurd_page_counts_are_refused_by_name() -> None:
    async with FakeBBT(athletes=10) as bbt:
        original = bbt._paged

        def paged(request: Request, rows: list[Any]) -> Any:
            body = original(request, rows)
            if isinstance(body, dict) and request.url.path.endswith("/timing/points"):
                body = {**body, "pages": 10**9}
            return body

        bbt._paged = paged  # type: ignore[method-assign]
        pipeline = Pipeline()
        source = BBTSource(bbt.url, **FAST)
        with pytest.raises(BBTError, match=r"GET /timing/points page 1: pages: 1000000000 is absurd"):
            await source.sync_once(pipeline)
        assert bbt.requests["/timing/points"] == 1


async def test_a_body_trickled_byte_by_byte_hits_the_overall_deadline() -> None:
    async def trickle(request: Request) -> Response:
        async def body() -> Any:
            for byte in b'{"page": 1, "pages": 1, "data": [' + b" " * 10_000:
                yield bytes([byte])
                await asyncio.sleep(0.01)

        return StreamingResponse(body(), media_type="application/json")

    app = Starlette(routes=[Route("/api/1.1/{path:path}", trickle)])
    async with LoopServer(app) as server:
        source = BBTSource(server.url, timeout=0.5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(BBTError, match=r"no complete answer within 0.5 s"):
            await source.sync_once(Pipeline())
        # One deadline per request, not per read: read by read, the trickle would take 100 s.
        assert loop.time() - started < 50.0


async def test_a_refused_connection_names_the_master_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://timer:s3cr3t-pw@127.0.0.1:{free_port()}"
    source = BBTSource(url, headers={"Authorization": "Bearer t0k3n-abc"}, timeout=1.0)
    with pytest.raises(BBTError) as raised:
        await source.sync_once(Pipeline())
    assert "s3cr3t-pw" not in str(raised.value) and "t0k3n-abc" not in str(raised.value)


async def test_secrets_reach_no_log_at_any_verbosity(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # -vv: httpx, httpcore and websockets log URLs and headers
    async with FakeBBT(athletes=10) as bbt:
        await bbt.advance(600_000)
        pipeline = Pipeline()
        url = bbt.url.replace("http://", "http://timer:s3cr3t-pw@")
        source = BBTSource(url, headers={"Authorization": "Bearer t0k3n-abc"}, **FAST)
        async with running(source, pipeline):
            await until(lambda: bool(bbt.subscribers) and matches(bbt, pipeline), what="push and the load")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET" in text or "HTTP Request" in text  # the libraries did log
    assert "s3cr3t-pw" not in text and "t0k3n-abc" not in text
    assert "dGltZXI6czNjcjN0LXB3" not in text  # timer:s3cr3t-pw as a Basic header


# ------------------------------------------------------------------ the decoder, fuzzed
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e308, -1e308, 10**30, "1e308", "99:99:99", "00:00:01.5", "٣", "\u202e12", "", " "])
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "id",
        "race_id",
        "racenum",
        "point_id",
        "time",
        "race_time",
        "status",
        "wave_id",
        "last_point_id",
        "result_id",
        "members",
        "incidents",
        "splits",
        "offset",
        "page",
        "pages",
        "total",
        "data",
        "seq",
        "event",
        "gun_time",
        "order",
    ]
)
ROUTES = [
    "/api/1.1/event/races?page=1",
    "/api/1.1/event/waves?page=1",
    "/api/1.1/timing/points?page=1",
    "/api/1.1/timing/locations?page=1",
    "/api/1.1/timing/raceclock?race_id=1",
    "/api/1.1/results/list?race_id=1&page=1&page_size=50",
    "/api/1.1/results/toplistforpoint?race_id=1&point_id=11&page=1",
    "/api/1.1/results/latest?point_id=11&page=2&page_size=5",
    "/api/1.1/results/participant?result_id=1001",
]
ITEM = st.dictionaries(FIELDS, JSON, max_size=10)
BODY = st.one_of(
    JSON,
    st.lists(ITEM, max_size=4),
    st.fixed_dictionaries({"data": st.lists(ITEM, max_size=4)}, optional={"pages": JSON, "page": JSON}),
    ITEM,
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"time": [value]}
    return value


def _loaded_decoder() -> tuple[BBTDecoder, Pipeline]:
    decoder = BBTDecoder("fuzz")
    pipeline = Pipeline()
    decoder.handle_rest_body(pipeline, ROUTES[0], [{"id": 1, "name": "City 10k", "state": "live"}])
    decoder.handle_rest_body(
        pipeline, ROUTES[2], [{"id": 11, "race_id": 1, "order": 1}, {"id": 12, "race_id": 1, "order": 2}]
    )
    return decoder, pipeline


DECODER, PIPELINE = _loaded_decoder()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(ROUTES), body=BODY, frame=st.one_of(ITEM, JSON))
def test_the_decoder_lets_nothing_out_whatever_the_input(route: str, body: Any, frame: Any) -> None:
    info = DECODER.handle_rest_body(PIPELINE, route, body)
    assert isinstance(info.ok, bool)
    if isinstance(frame, dict):
        frame = {"event": "results", **frame}
    assert isinstance(DECODER.handle_push_body(PIPELINE, frame), bool)


def test_huge_numbers_and_deep_nesting_are_rejected_by_name() -> None:
    decoder, pipeline = _loaded_decoder()
    frame = {"event": "results", "seq": 1, "id": 5, "race_id": 1, "racenum": "7", "point_id": 11}
    assert not decoder.handle_push_body(pipeline, {**frame, "race_time": 1e308})
    assert "race_time: not a time: 1e+308" in (decoder.health.last_error or "")
    assert not decoder.handle_push_body(pipeline, {**frame, "seq": 2, "time": 10**40})
    deep = _nested(5000)
    assert not decoder.handle_rest_body(pipeline, ROUTES[5], {"data": [deep]}).ok or decoder.health.rejected
    assert not decoder.handle_push_body(pipeline, {**frame, "seq": 3, "time": deep})
    assert not decoder.handle_rest(pipeline, ROUTES[5], b"[" * 100_000).ok
    with pytest.raises(BadData):  # the readers themselves raise only racetui's own error
        from racetui.sources.bbt.wire import read_id

        read_id({"id": deep}, "id")


# ------------------------------------------------------------------- headless: export
def _export(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str, str]:
    from racetui.cli import main

    code = main(["export", "--connect", url, "--format", "csv"])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_says_what_was_rejected_and_fails_when_nothing_usable_arrived(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bbt = FakeBBT(athletes=12)
    with ServerThread(bbt.app()) as server:
        bbt.faults["/results/list"] = ["wrongtypes"]  # one row without a race number
        code, out, err = _export(capsys, server.url)
        assert code == 0 and out
        assert "racetui export: 1 rows rejected: GET /results/list page 1 data[0].racenum" in err
        assert "Traceback" not in err
        # Every athlete's row unreadable: nothing usable, a non-zero exit naming why.
        original = bbt.result
        bbt.result = lambda a, at=None: {**original(a, at), "racenum": None}  # type: ignore[method-assign]
        code, out, err = _export(capsys, server.url)
        assert code != 0 and out == ""
        assert "rows rejected" in err and "nothing usable arrived" in err, err


# -------------------------------------------------------------- the dashboard: Health
class _DecoderSource:
    """A decoder fed a variant master's answers, standing in for the live client."""

    def __init__(self, decoder: BBTDecoder) -> None:
        self.decoder = decoder
        self.name = decoder.name
        self.health = decoder.health

    async def run(self, pipeline: Pipeline) -> None:
        await asyncio.Event().wait()


async def test_health_shows_what_the_master_sends_and_every_rejection() -> None:
    from racetui.tui.app import RaceApp
    from racetui.tui.clock import fixed_clock
    from racetui.tui.screens.health import SourceStory
    from racetui.tui.themes import builtin_theme_dir
    from tests.fakes.race import RACE_NOW, race_pipeline

    pipeline, _ = race_pipeline(20)
    decoder = BBTDecoder("BBT timing PC")
    decoder.handle_rest_body(pipeline, ROUTES[0], [{"id": 1, "name": "City 10k", "state": "live"}])
    decoder.handle_rest_body(pipeline, ROUTES[2], [{"id": 11, "race_id": 1, "order": 1}])
    decoder.unsupported(pipeline, "/event/waves")
    decoder.handle_rest_body(
        pipeline,
        ROUTES[5],
        [
            {
                "id": 7,
                "race_id": 1,
                "racenum": "7",
                "last_point_id": 11,
                "time": 3_725_000,
                "race_time": 3_725_000,
            },
            {"id": 8, "race_id": 1, "racenum": "8", "status": "RETIRED"},
        ],
    )
    app = RaceApp(
        pipeline, [_DecoderSource(decoder)], clock=fixed_clock(RACE_NOW), theme_dirs=[builtin_theme_dir()]
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        problems = str(app.screen.query_one("#errors").render())
        assert "status: unknown status 'RETIRED'" in problems
        await pilot.press("enter")  # the source's story: what the master was found to send
        await pilot.pause()
        assert isinstance(app.screen, SourceStory)
        story = app.screen.text
        assert "durations sent as numbers: milliseconds" in story
        assert "master has no /event/waves (404): waves derived from results" in story
        assert "list answers as bare array" in story
