"""``racetui publish`` end to end: real subprocesses, local upstream servers, kill -9."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from racetui.cli import main
from racetui.publish.outbox import ItemState, Outbox
from tests.fakes.asgi import ServerThread
from tests.fakes.hosted import HostedFeed
from tests.fakes.opentrack import OpenTrackFake
from tests.fakes.worldtriathlon import WorldTriathlonFake
from tests.support import INDIVIDUAL, wait_until

KEY = "wt-cli-key-4242"
USER = "director@example.org"
PASSWORD = "pw-cli-secret-77"
Feed = tuple[str, HostedFeed]  # the URL racetui reads, the server
PROG_ID = "307158"  # the race's World Triathlon prog_id: racetui's race id for a v1.1 feed


def _clock(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def v11_message(times: dict[int, int], *, status: dict[int, str] | None = None) -> dict[str, Any]:
    """One race as a timer hosts it in v1.1 (the spec's example header, four athletes):
    ``times`` is bib -> finish time in ms, ``status`` bib -> DNF/DNS/DSQ."""
    message: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    athletes = [
        {
            "id": str(9000 + bib),
            "start_num": str(bib),
            "name": f"Athlete {bib}",
            "country": "NZL",
            "status": (status or {}).get(bib),
            "incidents": None,
            "splits": (
                [{"id": "9", "name": "Finish", "total_time": _clock(times[bib])}] if bib in times else []
            ),
        }
        for bib in range(1, 5)
    ]
    message.update(
        event_id="107158",
        event_name="2026 Test Triathlon",
        prog_id=PROG_ID,
        prog_name="Elite em",
        status="live",
        latest=None,
        num_athletes=str(len(athletes)),
        athletes=athletes,
    )
    return message


@pytest.fixture
def feed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Feed]:
    """The race's v1.1 message hosted on a web server: ``racetui publish --feed URL`` reads
    it as a real feed (polled often, so a change is seen soon)."""
    monkeypatch.setenv("RACETUI_SOURCES_POLL_INTERVAL", "0.1")
    hosted = HostedFeed(path="/live/results.json")
    with ServerThread(hosted.app()) as server:
        yield f"{server.url}/live/results.json", hosted


@pytest.fixture
def wt(monkeypatch: pytest.MonkeyPatch) -> Iterator[WorldTriathlonFake]:
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", KEY)
    fake = WorldTriathlonFake(apikey=KEY)
    with ServerThread(fake.app()) as server:
        fake.url = server.url + "/v1/timing"
        yield fake


@pytest.fixture
def ot(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenTrackFake]:
    monkeypatch.setenv("RACETUI_OPENTRACK_USERNAME", USER)
    monkeypatch.setenv("RACETUI_OPENTRACK_PASSWORD", PASSWORD)
    fake = OpenTrackFake(username=USER, password=PASSWORD)
    with ServerThread(fake.app()) as server:
        fake.url = server.url
        yield fake


FAST = ["--settle", "0.3", "--http-timeout", "2", "--backoff", "0.2", "0.5"]


def tri_args(feed: Feed, wt: WorldTriathlonFake, *extra: str) -> list[str]:
    return ["publish", "triathlon", "--feed", feed[0], "--api-url", wt.url, *FAST, *extra]


def ot_args(feed: Feed, ot: OpenTrackFake, *extra: str) -> list[str]:
    base = ot.url
    return [
        "publish",
        "opentrack",
        "--feed",
        feed[0],
        "--competition",
        f"{base}/api/2026/GBR/api-test/",
        "--server",
        base,
        *FAST,
        *extra,
    ]


def racetui(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "racetui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "racetui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def outbox_items() -> list:  # type: ignore[type-arg]
    outbox = Outbox(owner=False)
    try:
        return sorted(outbox.items(limit=1000), key=lambda i: i.id)
    finally:
        outbox.close()


# ------------------------------------------------------------------ triathlon


def test_once_with_yes_publishes_and_reports(wt: WorldTriathlonFake, feed: Feed) -> None:
    feed[1].host(v11_message({1: 3_600_000}))
    done = racetui(*tri_args(feed, wt, "--once", "--yes"))
    assert done.returncode == 0, done.stderr
    assert "first upload; 4 added" in done.stdout
    assert "sent #1 Elite em (prog 307158) live sandbox, 4 athletes: 200" in done.stdout
    [body] = wt.applied_bodies()
    assert body["sandbox"] == "true" and body["status"] == "live"
    assert KEY not in done.stdout + done.stderr
    again = racetui(*tri_args(feed, wt, "--once", "--yes", "--no-sandbox"))
    assert again.returncode == 0, again.stderr
    assert "~ sandbox: true -> false" in again.stdout
    assert wt.applied_bodies()[-1]["sandbox"] == "false"
    same = racetui(*tri_args(feed, wt, "--once", "--yes", "--no-sandbox"))
    assert same.returncode == 0 and "nothing new to send" in same.stdout
    assert len(wt.arrivals) == 2


def test_without_a_terminal_it_refuses_unless_yes(wt: WorldTriathlonFake, feed: Feed) -> None:
    feed[1].host(v11_message({1: 3_600_000}))
    done = racetui(*tri_args(feed, wt, "--once"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "racetui publish: not confirmed: stdin is not a terminal (pass --yes to publish without asking)"
    )
    assert wt.arrivals == []


def test_terminal_confirmation(
    wt: WorldTriathlonFake,
    feed: Feed,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed[1].host(v11_message({1: 3_600_000}))

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    assert main(tri_args(feed, wt, "--once")) == 1
    assert "not confirmed: nothing was sent" in capsys.readouterr().err
    assert wt.arrivals == []
    monkeypatch.setattr(sys, "stdin", Tty("y\n"))
    assert main(tri_args(feed, wt, "--once")) == 0
    out = capsys.readouterr().out
    assert "Publish to World Triathlon" in out and "(sandbox)? [y/N]" in out
    assert len(wt.applied_bodies()) == 1


def test_dry_run_prints_what_would_be_sent(wt: WorldTriathlonFake, feed: Feed) -> None:
    feed[1].host(v11_message({2: 3_500_000}))
    done = racetui(*tri_args(feed, wt, "--dry-run", "--race", PROG_ID))
    assert done.returncode == 0, done.stderr
    assert f"would POST {wt.url}" in done.stdout
    assert "apikey: ***" in done.stdout and KEY not in done.stdout
    assert '"prog_id": "307158"' in done.stdout and '"start_num": "2"' in done.stdout
    assert wt.arrivals == []


def test_a_rejected_publish_exits_1_with_the_reason_in_one_line(wt: WorldTriathlonFake, feed: Feed) -> None:
    feed[1].host(v11_message({1: 3_600_000}))
    wt.script[:] = [400]
    done = racetui(*tri_args(feed, wt, "--once", "--yes"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "racetui publish: upload #1 (Elite em (prog 307158) live sandbox, 4 athletes) failed: "
        "400 Bad Request: rejected by the test script (400)"
    )
    listing = racetui("publish", "outbox")
    assert "#1 failed" in listing.stdout and "[400]" in listing.stdout
    assert racetui("publish", "outbox", "--retry", "1").returncode == 0
    flushed = racetui("publish", "outbox", "--flush", "--backoff", "0.2", "0.5")
    assert flushed.returncode == 0, flushed.stderr
    assert "sent #1" in flushed.stdout
    assert len(wt.applied_bodies()) == 1


def test_a_refused_key_is_never_printed(
    wt: WorldTriathlonFake, feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed[1].host(v11_message({1: 3_600_000}))
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", "not-the-key-555")
    done = racetui("-vv", *tri_args(feed, wt, "--once", "--yes"))  # debug logs too
    assert done.returncode == 1
    assert "not-the-key-555" not in done.stdout + done.stderr
    reason = [line for line in done.stderr.splitlines() if line.startswith("racetui publish: upload #1")]
    assert len(reason) == 1 and reason[0].endswith("failed: 401 Unauthorized: Invalid API key ***")
    assert "DEBUG" in done.stderr  # the debug log ran and still holds no key
    assert "not-the-key-555" not in racetui("publish", "outbox", "--json").stdout
    # the user fixes the key and runs the command again: that is the retry
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", KEY)
    again = racetui(*tri_args(feed, wt, "--once", "--yes"))
    assert again.returncode == 0, again.stderr
    assert len(wt.applied_bodies()) == 1
    assert [i.state for i in outbox_items()] == [ItemState.SUPERSEDED, ItemState.SENT]


def test_missing_apikey_and_unknown_race_are_usage_errors(
    feed: Feed, wt: WorldTriathlonFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed[1].host(v11_message({}))
    unknown = racetui(*tri_args(feed, wt, "--once", "--yes", "--race", "nope"))
    assert unknown.returncode == 2
    assert "race 'nope' is not in the data (races: 307158)" in unknown.stderr
    monkeypatch.delenv("RACETUI_TRIATHLON_APIKEY")
    missing = racetui(*tri_args(feed, wt, "--once", "--yes"))
    assert missing.returncode == 2 and "RACETUI_TRIATHLON_APIKEY" in missing.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr


def test_official_is_published_only_when_asked(wt: WorldTriathlonFake, feed: Feed) -> None:
    feed[1].host(v11_message({1: 3_600_000, 2: 3_700_000}))
    refused = racetui(*tri_args(feed, wt, "--official"))
    assert refused.returncode == 2 and wt.arrivals == []
    done = racetui(*tri_args(feed, wt, "--official", "--yes"))
    assert done.returncode == 0, done.stderr
    assert wt.applied_bodies()[-1]["status"] == "official"


def test_live_mode_publishes_changes_until_stopped(wt: WorldTriathlonFake, feed: Feed) -> None:
    feed[1].host(v11_message({}))
    proc = spawn(*tri_args(feed, wt, "--yes"))
    try:
        wait_until(lambda: len(wt.applied_bodies()) == 1, what="the first message")
        feed[1].host(v11_message({3: 3_550_000}))
        wait_until(lambda: len(wt.applied_bodies()) == 2, what="the changed message")
        # The stand-in applies a body before its answer reaches racetui: stop only once the
        # outbox has recorded the second upload as sent (what "sent #2" reports).
        wait_until(
            lambda: [i.state for i in outbox_items()].count(ItemState.SENT) == 2,
            what="the second upload recorded as sent",
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert "sent #2" in out
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert wt.applied_bodies()[-1]["athletes"][0]["start_num"] == "3"
    assert "Traceback" not in err


def test_kill_9_mid_upload_then_restart_delivers_the_latest_form_once(
    wt: WorldTriathlonFake, feed: Feed
) -> None:
    hosted = feed[1]
    hosted.host(v11_message({1: 3_600_000}))
    wt.script[:] = [("slow", 30.0)]  # the first upload hangs in flight (the server applies it)
    proc = spawn(*tri_args(feed, wt, "--yes"))
    try:
        wait_until(lambda: len(wt.arrivals) == 1, what="the first upload to be in flight")
        first = wt.arrivals[0]
        hosted.host(v11_message({1: 3_600_000, 2: 3_605_000}))
        wait_until(lambda: len(outbox_items()) == 2, what="the next message to queue behind it")
        hosted.host(v11_message({1: 3_600_000, 2: 3_605_000, 3: 3_610_000}))

        def superseded() -> bool:
            return any(i.state is ItemState.SUPERSEDED for i in outbox_items())

        wait_until(superseded, what="the queued message to be superseded by a newer one")
        before = outbox_items()
        assert [i.state for i in before].count(ItemState.SENDING) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    stale = next(i for i in before if i.state is ItemState.SUPERSEDED)
    restarted = racetui(*tri_args(feed, wt, "--once", "--yes"))
    assert restarted.returncode == 0, restarted.stderr
    bodies = wt.applied_bodies()
    assert [a["start_num"] for a in bodies[-1]["athletes"]][:3] == ["1", "2", "3"]  # the latest form
    keys = [a.key for a in wt.arrivals]
    assert stale.idempotency_key not in keys  # superseded: never sent
    # The upload in flight at the crash was applied; its newer form replaced it, once.
    assert keys == [first.key, keys[-1]] and len(bodies) == 2
    assert not any(a.duplicate for a in wt.arrivals)
    assert all(i.state in (ItemState.SENT, ItemState.SUPERSEDED) for i in outbox_items())


# ------------------------------------------------------------------ opentrack


def test_opentrack_once_dry_run_and_upload(ot: OpenTrackFake, feed: Feed) -> None:
    feed[1].host(v11_message({1: 3_600_000, 2: 3_601_500}, status={4: "DNF"}))
    dry = racetui(*ot_args(feed, ot, "--event", "TRI-M", "--dry-run"))
    assert dry.returncode == 0, dry.stderr
    assert "Authorization: Token ***" in dry.stdout and '"eventid": "TRI-M"' in dry.stdout
    assert ot.arrivals == [] and ot.tokens_issued == 0
    done = racetui(*ot_args(feed, ot, "--event", "TRI-M", "--once", "--yes", "--ignore-unknowns"))
    assert done.returncode == 0, done.stderr
    assert "first upload; 3 added" in done.stdout
    assert ot.results[("TRI-M", 1, 1)] == {"1": "1:00:00.00", "2": "1:00:01.50", "4": "DNF"}
    assert PASSWORD not in done.stdout + done.stderr


def test_opentrack_needs_an_event_and_credentials(
    ot: OpenTrackFake, feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed[1].host(v11_message({1: 3_600_000}))
    no_event = racetui(*ot_args(feed, ot, "--once", "--yes"))
    assert no_event.returncode == 2 and "pass --event EVENTID or set opentrack.events" in no_event.stderr
    monkeypatch.delenv("RACETUI_OPENTRACK_PASSWORD")
    no_creds = racetui(*ot_args(feed, ot, "--event", "E", "--once", "--yes"))
    assert no_creds.returncode == 2 and "RACETUI_OPENTRACK_TOKEN" in no_creds.stderr


def test_opentrack_kill_9_with_appends_queued_then_restart(ot: OpenTrackFake, feed: Feed) -> None:
    feed[1].host(v11_message({1: 3_600_000, 2: 3_601_000}))
    ot.script[:] = [("slow", 30.0)]
    proc = spawn(*ot_args(feed, ot, "--event", "TRI-M", "--mode", "append", "--yes"))
    try:
        wait_until(lambda: len(ot.arrivals) == 1, what="the first upload to be in flight")
        feed[1].host(v11_message({1: 3_600_000, 2: 3_601_000, 3: 3_602_000}))
        wait_until(lambda: len(outbox_items()) == 2, what="the second append to be queued")
        feed[1].host(v11_message({1: 3_600_000, 2: 3_601_000, 3: 3_602_000, 4: 3_603_000}))
        wait_until(lambda: len(outbox_items()) == 3, what="the third append to be queued")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    restarted = racetui(*ot_args(feed, ot, "--event", "TRI-M", "--mode", "append", "--once", "--yes"))
    assert restarted.returncode == 0, restarted.stderr
    assert ot.results[("TRI-M", 1, 1)] == {
        "1": "1:00:00.00",
        "2": "1:00:01.00",
        "3": "1:00:02.00",
        "4": "1:00:03.00",
    }
    applied = list(ot.applied.values())
    assert [[row[0] for row in unit["data"]] for unit in applied] == [["1", "2"], ["3"], ["4"]]  # each once
    assert sum(a.duplicate for a in ot.arrivals) == 1  # the in-flight one, re-sent with its key
    assert all(i.state is ItemState.SENT for i in outbox_items())


async def test_once_on_a_live_master_publishes_once_its_first_load_is_in(wt: WorldTriathlonFake) -> None:
    """A live race is never quiet for --settle: --once publishes what the master holds once
    its first load is complete (and --settle after), not after --wait (600 s here: the
    test would time out)."""
    from tests.fakes.bbt import FakeBBT

    async with FakeBBT(athletes=300) as bbt:
        await bbt.advance(600_000)
        stop = asyncio.Event()

        async def race_on() -> None:
            clock = 600_000
            while not stop.is_set():
                clock += 1_000  # 20 s of race a second: a passing every 0.2 s or so
                await bbt.advance(clock)
                await asyncio.sleep(0.05)

        running = asyncio.create_task(race_on())
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "racetui",
                "publish",
                "triathlon",
                "--connect",
                bbt.url,
                "--api-url",
                wt.url,
                "--prog-id",
                "654321",
                "--event-id",
                "123456",
                "--race",
                "1",
                "--once",
                "--yes",
                *FAST,
                "--settle",  # passings keep coming faster than this: never quiet so long
                "2",
                "--wait",
                "600",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 120)
        finally:
            stop.set()
            await running
    assert proc.returncode == 0, err.decode()
    assert KEY.encode() not in out + err
    [body] = wt.applied_bodies()
    assert {a["start_num"] for a in body["athletes"]} == {
        a.racenum for a in bbt.athletes.values() if a.race_id == 1
    }
