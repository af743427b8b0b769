"""``racetui publish`` end to end: real subprocesses, local upstream servers, kill -9."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from racetui.cli import main
from racetui.model import (
    ClockState,
    Event,
    Participant,
    Race,
    RaceClock,
    RaceKind,
    Result,
    Status,
    TimingPoint,
)
from racetui.publish.outbox import ItemState, Outbox
from tests.fakes.asgi import ServerThread
from tests.fakes.opentrack import OpenTrackFake
from tests.fakes.worldtriathlon import WorldTriathlonFake
from tests.support import wait_until

KEY = "wt-cli-key-4242"
USER = "director@example.org"
PASSWORD = "pw-cli-secret-77"
RACES = (("em", "307158"), ("ew", "307159"), ("jm", "307160"))


def write_snapshot(
    path: Path, times: dict[str, dict[int, int]], *, status: dict[str, Status] | None = None
) -> None:
    """A snapshot for the hidden ``--snapshot`` source: ``times`` is race -> bib -> finish ms."""
    races = []
    results: dict[str, list[dict[str, object]]] = {}
    for race_id, prog_id in RACES:
        if race_id not in times:
            continue
        points = [
            TimingPoint(id="swim", race_id=race_id, name="Swim Exit", order=1),
            TimingPoint(id="fin", race_id=race_id, name="Finish", order=2, is_finish=True),
        ]
        clock = RaceClock(
            race_id=race_id, state=ClockState.LIVE, gun_time=datetime(2026, 6, 14, 9, 0, tzinfo=UTC)
        )
        races.append(
            Race(
                id=race_id,
                name=f"Elite {race_id}",
                kind=RaceKind.TRIATHLON,
                points=points,
                external_id=prog_id,
                clock=clock,
            )
        )
        rows = []
        for bib in range(1, 5):
            finish = times[race_id].get(bib)
            rows.append(
                Result(
                    race_id=race_id,
                    bib=str(bib),
                    participant=Participant(
                        bib=str(bib), race_id=race_id, name=f"Athlete {bib}", country="NZL"
                    ),
                    splits={"fin": finish} if finish is not None else {},
                    status=(status or {}).get(f"{race_id}/{bib}", Status.OK),
                ).model_dump(mode="json")
            )
        results[race_id] = rows
    event = Event(id="107158", name="2026 Test Triathlon", races=races)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps({"event": event.model_dump(mode="json"), "results": results}))
    os.replace(tmp, path)


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


def tri_args(snapshot: Path, wt: WorldTriathlonFake, *extra: str) -> list[str]:
    return ["publish", "triathlon", "--snapshot", str(snapshot), "--api-url", wt.url, *FAST, *extra]


def ot_args(snapshot: Path, ot: OpenTrackFake, *extra: str) -> list[str]:
    base = ot.url
    return [
        "publish",
        "opentrack",
        "--snapshot",
        str(snapshot),
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


def test_once_with_yes_publishes_and_reports(wt: WorldTriathlonFake, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000}})
    done = racetui(*tri_args(snap, wt, "--once", "--yes"))
    assert done.returncode == 0, done.stderr
    assert "first upload; 4 added" in done.stdout
    assert "sent #1 Elite em (prog 307158) live sandbox, 4 athletes: 200" in done.stdout
    [body] = wt.applied_bodies()
    assert body["sandbox"] == "true" and body["status"] == "live"
    assert KEY not in done.stdout + done.stderr
    again = racetui(*tri_args(snap, wt, "--once", "--yes", "--no-sandbox"))
    assert again.returncode == 0, again.stderr
    assert "~ sandbox: true -> false" in again.stdout
    assert wt.applied_bodies()[-1]["sandbox"] == "false"
    same = racetui(*tri_args(snap, wt, "--once", "--yes", "--no-sandbox"))
    assert same.returncode == 0 and "nothing new to send" in same.stdout
    assert len(wt.arrivals) == 2


def test_without_a_terminal_it_refuses_unless_yes(wt: WorldTriathlonFake, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000}})
    done = racetui(*tri_args(snap, wt, "--once"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "racetui publish: not confirmed: stdin is not a terminal (pass --yes to publish without asking)"
    )
    assert wt.arrivals == []


def test_terminal_confirmation(
    wt: WorldTriathlonFake,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000}})

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    assert main(tri_args(snap, wt, "--once")) == 1
    assert "not confirmed: nothing was sent" in capsys.readouterr().err
    assert wt.arrivals == []
    monkeypatch.setattr(sys, "stdin", Tty("y\n"))
    assert main(tri_args(snap, wt, "--once")) == 0
    out = capsys.readouterr().out
    assert "Publish to World Triathlon" in out and "(sandbox)? [y/N]" in out
    assert len(wt.applied_bodies()) == 1


def test_dry_run_prints_what_would_be_sent(wt: WorldTriathlonFake, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {2: 3_500_000}, "ew": {}})
    done = racetui(*tri_args(snap, wt, "--dry-run", "--race", "em"))
    assert done.returncode == 0, done.stderr
    assert f"would POST {wt.url}" in done.stdout
    assert "apikey: ***" in done.stdout and KEY not in done.stdout
    assert '"prog_id": "307158"' in done.stdout and '"prog_id": "307159"' not in done.stdout
    assert wt.arrivals == []


def test_a_rejected_publish_exits_1_with_the_reason_in_one_line(
    wt: WorldTriathlonFake, tmp_path: Path
) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000}})
    wt.script[:] = [400]
    done = racetui(*tri_args(snap, wt, "--once", "--yes"))
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
    wt: WorldTriathlonFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000}})
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", "not-the-key-555")
    done = racetui("-vv", *tri_args(snap, wt, "--once", "--yes"))  # debug logs too
    assert done.returncode == 1
    assert "not-the-key-555" not in done.stdout + done.stderr
    reason = [line for line in done.stderr.splitlines() if line.startswith("racetui publish: upload #1")]
    assert len(reason) == 1 and reason[0].endswith("failed: 401 Unauthorized: Invalid API key ***")
    assert "DEBUG" in done.stderr  # the debug log ran and still holds no key
    assert "not-the-key-555" not in racetui("publish", "outbox", "--json").stdout
    # the user fixes the key and runs the command again: that is the retry
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", KEY)
    again = racetui(*tri_args(snap, wt, "--once", "--yes"))
    assert again.returncode == 0, again.stderr
    assert len(wt.applied_bodies()) == 1
    assert [i.state for i in outbox_items()] == [ItemState.SUPERSEDED, ItemState.SENT]


def test_missing_apikey_and_unknown_race_are_usage_errors(
    tmp_path: Path, wt: WorldTriathlonFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {}})
    unknown = racetui(*tri_args(snap, wt, "--once", "--yes", "--race", "nope"))
    assert unknown.returncode == 2
    assert "race 'nope' is not in the data (races: em)" in unknown.stderr
    monkeypatch.delenv("RACETUI_TRIATHLON_APIKEY")
    missing = racetui(*tri_args(snap, wt, "--once", "--yes"))
    assert missing.returncode == 2 and "RACETUI_TRIATHLON_APIKEY" in missing.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr


def test_official_is_published_only_when_asked(wt: WorldTriathlonFake, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000, 2: 3_700_000}})
    refused = racetui(*tri_args(snap, wt, "--official"))
    assert refused.returncode == 2 and wt.arrivals == []
    done = racetui(*tri_args(snap, wt, "--official", "--yes"))
    assert done.returncode == 0, done.stderr
    assert wt.applied_bodies()[-1]["status"] == "official"


def test_live_mode_publishes_changes_until_stopped(wt: WorldTriathlonFake, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {}})
    proc = spawn(*tri_args(snap, wt, "--yes"))
    try:
        wait_until(lambda: len(wt.applied_bodies()) == 1, what="the first message")
        write_snapshot(snap, {"em": {3: 3_550_000}})
        wait_until(lambda: len(wt.applied_bodies()) == 2, what="the changed message")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert "sent #2" in out
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert wt.applied_bodies()[-1]["athletes"][0]["start_num"] == "3"
    assert "Traceback" not in err


def test_kill_9_mid_upload_then_restart_delivers_every_upload_once_in_its_latest_form(
    wt: WorldTriathlonFake, tmp_path: Path
) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000}, "ew": {1: 3_900_000}, "jm": {}})
    wt.script[:] = [("slow", 30.0)]  # the first upload hangs in flight (the server applies it)
    proc = spawn(*tri_args(snap, wt, "--yes"))
    try:
        wait_until(lambda: len(wt.arrivals) == 1, what="the first upload to be in flight")
        first = wt.arrivals[0]
        write_snapshot(snap, {"em": {1: 3_600_000}, "ew": {1: 3_900_000, 2: 3_905_000}, "jm": {}})

        def superseded() -> bool:
            return any(i.state is ItemState.SUPERSEDED for i in outbox_items())

        wait_until(superseded, what="the ew message to be superseded by a newer one")
        before = outbox_items()
        assert [i.state for i in before].count(ItemState.SENDING) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    stale = next(i for i in before if i.state is ItemState.SUPERSEDED)
    restarted = racetui(*tri_args(snap, wt, "--once", "--yes"))
    assert restarted.returncode == 0, restarted.stderr
    bodies = wt.applied_bodies()
    assert sorted(b["prog_id"] for b in bodies) == ["307158", "307159", "307160"]  # each exactly once
    ew = next(b for b in bodies if b["prog_id"] == "307159")
    assert [a["start_num"] for a in ew["athletes"]][:2] == ["1", "2"]  # the latest form
    keys = [a.key for a in wt.arrivals]
    assert stale.idempotency_key not in keys  # superseded: never sent
    assert keys.count(first.key) == 2  # re-sent after the crash with the same key …
    assert [a.duplicate for a in wt.arrivals if a.key == first.key] == [False, True]  # … applied once
    assert all(i.state in (ItemState.SENT, ItemState.SUPERSEDED) for i in outbox_items())


# ------------------------------------------------------------------ opentrack


def test_opentrack_once_dry_run_and_upload(ot: OpenTrackFake, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000, 2: 3_601_500}}, status={"em/4": Status.DNF})
    dry = racetui(*ot_args(snap, ot, "--event", "TRI-M", "--dry-run"))
    assert dry.returncode == 0, dry.stderr
    assert "Authorization: Token ***" in dry.stdout and '"eventid": "TRI-M"' in dry.stdout
    assert ot.arrivals == [] and ot.tokens_issued == 0
    done = racetui(*ot_args(snap, ot, "--event", "TRI-M", "--once", "--yes", "--ignore-unknowns"))
    assert done.returncode == 0, done.stderr
    assert "first upload; 3 added" in done.stdout
    assert ot.results[("TRI-M", 1, 1)] == {"1": "1:00:00.00", "2": "1:00:01.50", "4": "DNF"}
    assert PASSWORD not in done.stdout + done.stderr


def test_opentrack_needs_an_event_and_credentials(
    ot: OpenTrackFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000}})
    no_event = racetui(*ot_args(snap, ot, "--once", "--yes"))
    assert no_event.returncode == 2 and "pass --event EVENTID or set opentrack.events" in no_event.stderr
    monkeypatch.delenv("RACETUI_OPENTRACK_PASSWORD")
    no_creds = racetui(*ot_args(snap, ot, "--event", "E", "--once", "--yes"))
    assert no_creds.returncode == 2 and "RACETUI_OPENTRACK_TOKEN" in no_creds.stderr


def test_opentrack_kill_9_with_appends_queued_then_restart(ot: OpenTrackFake, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    write_snapshot(snap, {"em": {1: 3_600_000, 2: 3_601_000}})
    ot.script[:] = [("slow", 30.0)]
    proc = spawn(*ot_args(snap, ot, "--event", "TRI-M", "--mode", "append", "--yes"))
    try:
        wait_until(lambda: len(ot.arrivals) == 1, what="the first upload to be in flight")
        write_snapshot(snap, {"em": {1: 3_600_000, 2: 3_601_000, 3: 3_602_000}})
        wait_until(lambda: len(outbox_items()) == 2, what="the second append to be queued")
        write_snapshot(snap, {"em": {1: 3_600_000, 2: 3_601_000, 3: 3_602_000, 4: 3_603_000}})
        wait_until(lambda: len(outbox_items()) == 3, what="the third append to be queued")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    restarted = racetui(*ot_args(snap, ot, "--event", "TRI-M", "--mode", "append", "--once", "--yes"))
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
