"""Race-day fixes written back (``racetui startlist raceentry|chronotrack add|move|edit|
delete|send``) against the stand-ins written from the two documents, over real sockets:
every write action, refusals with the service's own reason, a kill -9 between queueing and
the answer followed by a restart (the entry is created once), and no secret anywhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from racetui.cli import main
from racetui.publish.outbox import ItemState, Outbox
from racetui.sources.startlist import StartListCache
from tests.fakes.chronotrack import FakeChronoTrack
from tests.fakes.raceentry import FakeRaceEntry
from tests.support import wait_until


@pytest.fixture
def raceentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeRaceEntry, str]]:
    fake = FakeRaceEntry()
    fake.add_race("21", "City Fun Run", events=(16, 67))
    fake.add_team("21", 9, "Sole Survivors")
    fake.add(race="21", event="16", registration=30, bib=50004, first="John", last="Doe", age=35)
    fake.add(race="21", event="16", registration=29, bib=50003, first="Jane", last="Doe", gender="F", age=25)
    fake.add(race="21", event="67", registration=71, bib=50007, first="Bob", last="Smith", age=36)
    monkeypatch.setenv("RACETUI_RACEENTRY_KEY", fake.key)
    monkeypatch.setenv("RACETUI_RACEENTRY_SECRET", fake.secret)
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
def chronotrack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeChronoTrack, str]]:
    fake = FakeChronoTrack()
    fake.add_event("9001", "Harbour Half")
    fake.add_race("9001", "77", "Half Marathon")
    fake.add_race("9001", "78", "10K")
    for n in range(4):
        fake.add(event="9001", race="77", entry=100 + n, bib=n + 1, first=f"Ann{n}", last="Lee", sex="F")
    fake.advance(1000)
    monkeypatch.setenv("RACETUI_CHRONOTRACK_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("RACETUI_CHRONOTRACK_CLIENT_SECRET", fake.client_secret)
    monkeypatch.setenv("RACETUI_CHRONOTRACK_USERNAME", fake.username)
    monkeypatch.setenv("RACETUI_CHRONOTRACK_PASSWORD", fake.password)
    with fake.serve() as url:
        yield fake, url


def entries(race: str) -> dict[str, tuple[str, str | None]]:
    """bib -> (name, pending mark) of the cached entries of one racetui race."""
    return {
        e.bib: (f"{e.first_name} {e.last_name}", e.pending)
        for e in StartListCache().entries()
        if e.race_id == race
    }


def re_cli(url: str, *args: str) -> int:
    return main(["startlist", "raceentry", *args, "--url", url, "--wait", "60"])


def ct_cli(url: str, *args: str) -> int:
    return main(["startlist", "chronotrack", *args, "--url", url, "--wait", "60"])


# ------------------------------------------------------------------- RaceEntry
def test_raceentry_every_write_action(
    raceentry: tuple[FakeRaceEntry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = raceentry
    assert re_cli(url, "--race", "21", "--event", "16", "--race-id", "10k") == 0
    assert re_cli(url, "--race", "21", "--event", "67", "--race-id", "5k") == 0
    capsys.readouterr()

    # a walk-up entry
    walk_up = ["--bib", "512", "--first", "Walk", "--last", "Up", "--gender", "F", "--dob", "1990-04-06"]
    code = re_cli(url, "add", "--race", "21", "--event", "16", *walk_up, "--team-id", "9")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "sent: RaceEntry race 21: add Walk Up (bib 512) to event 16" in out
    created = fake.named("21", "Walk", "Up")
    assert len(created) == 1
    record = created[0]
    assert (record["event_id"], record["user"]["dob"], record["user"]["gender"], record["team_id"]) == (
        16, "1990-04-06", "F", 9,
    )  # fmt: skip
    posted = fake.paths("/participants", "POST")[-1][1]
    assert "request" in posted and "tmp_key" in posted  # the documented form field
    walk = next(e for e in StartListCache().entries() if e.bib == "512")
    assert (walk.entry_id, walk.pending, walk.race_id, walk.team) == (
        str(record["registration_id"]), None, "10k", "Sole Survivors",
    )  # fmt: skip

    # a misspelt name and a wrong bib
    assert re_cli(url, "edit", "--race", "21", "--bib", "50004", "--first", "Jon", "--new-bib", "50014") == 0
    john = fake.participants["21"]["30"]
    assert (john["user"]["first_name"], john["bib_num"]) == ("Jon", "50014")
    assert entries("10k")["50014"] == ("Jon Doe", None)

    # 10 km -> 5 km
    assert re_cli(url, "move", "--race", "21", "--entry", "29", "--to-event", "67") == 0
    assert fake.participants["21"]["29"]["event_id"] == 67
    assert entries("5k")["50003"] == ("Jane Doe", None)  # shown in the 5 km at once
    # a no-show
    assert re_cli(url, "delete", "--race", "21", "--bib", "50007") == 0
    assert "71" in fake.removed["21"] and "71" not in fake.participants["21"]
    assert "50007" not in entries("5k")

    # the next incremental syncs agree with what was written
    assert re_cli(url, "--race", "21", "--event", "16", "--race-id", "10k") == 0
    assert re_cli(url, "--race", "21", "--event", "67", "--race-id", "5k") == 0
    assert set(entries("10k")) == {"512", "50014"}
    assert set(entries("5k")) == {"50003"}
    assert len(fake.named("21", "Walk", "Up")) == 1
    out, err = capsys.readouterr()
    assert fake.secret not in out + err and all(k not in out + err for pair in fake.pairs for k in pair)


def test_raceentry_refusal_shows_the_reason_and_undoes_the_local_change(
    raceentry: tuple[FakeRaceEntry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = raceentry
    assert re_cli(url, "--race", "21", "--race-id", "10k") == 0
    capsys.readouterr()
    assert re_cli(url, "move", "--race", "21", "--bib", "50004", "--to-event", "99") == 1
    err = capsys.readouterr().err
    assert "refused: registrations[0].new_event_id: no event 99; the local change was undone" in err
    assert fake.participants["21"]["30"]["event_id"] == 16
    assert next(e for e in StartListCache().entries() if e.bib == "50004").event_id == "16"
    with Outbox(owner=False) as outbox:
        (item,) = outbox.items(target="startlist.raceentry")
    assert item.state is ItemState.FAILED and "no event 99" in (item.error or "")


def test_bad_input_is_refused_before_anything_is_queued(
    raceentry: tuple[FakeRaceEntry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = raceentry
    assert re_cli(url, "--race", "21") == 0
    capsys.readouterr()
    assert re_cli(url, "add", "--race", "21", "--event", "16", "--bib", "9", "--first", "A", "--last", "B",
                  "--dob", "06/04/1990") == 2  # fmt: skip
    assert "dob: '06/04/1990' is not a YYYY-MM-DD date" in capsys.readouterr().err
    assert re_cli(url, "edit", "--race", "21", "--bib", "424242", "--first", "X") == 2
    assert "bib 424242: not in the cached start list of race 21" in capsys.readouterr().err
    with Outbox(owner=False) as outbox:
        assert outbox.items() == []


# ----------------------------------------------------------------- ChronoTrack
def test_chronotrack_every_write_action(
    chronotrack: tuple[FakeChronoTrack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = chronotrack
    assert ct_cli(url, "--event", "9001", "--race-id", "half") == 0
    capsys.readouterr()
    walk_up = ["--bib", "600", "--first", "Walk", "--last", "Up", "--gender", "M", "--dob", "1985-01-31"]
    code = ct_cli(url, "add", "--event", "9001", "--race", "77", *walk_up, "--team", "Harbour Harriers")
    assert code == 0, capsys.readouterr()
    (record,) = fake.named("9001", "Walk", "Up")
    assert (record["race_id"], record["entry_bib"], record["athlete_birthdate"], record["team_name"]) == (
        "77", "600", "1985-01-31", "Harbour Harriers",
    )  # fmt: skip
    assert entries("half")["600"] == ("Walk Up", None)

    assert ct_cli(url, "edit", "--event", "9001", "--bib", "2", "--last", "Leigh", "--gender", "X") == 0
    assert (fake.entries["9001"]["101"]["athlete_last_name"], fake.entries["9001"]["101"]["athlete_sex"]) == (
        "Leigh", "X",
    )  # fmt: skip
    assert ct_cli(url, "move", "--event", "9001", "--bib", "3", "--to-race", "78") == 0
    assert fake.entries["9001"]["102"]["race_id"] == "78"
    assert ct_cli(url, "delete", "--event", "9001", "--entry", "103") == 0
    assert "103" not in fake.entries["9001"]
    methods = [m for m, p, _ in fake.requests if "/entry" in p and m != "GET"]
    assert methods == ["POST", "PUT", "PUT", "DELETE"]

    fake.advance(60)
    assert ct_cli(url, "--event", "9001", "--race-id", "half", "--full") == 0
    assert set(entries("half")) == {"1", "2", "3", "600"}  # --race-id keeps one racetui race
    assert len(fake.named("9001", "Walk", "Up")) == 1


def test_chronotrack_bib_clash_is_refused_with_its_reason(
    chronotrack: tuple[FakeChronoTrack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = chronotrack
    assert ct_cli(url, "--event", "9001", "--race-id", "half") == 0
    capsys.readouterr()
    code = ct_cli(
        url, "add", "--event", "9001", "--race", "77", "--bib", "1", "--first", "Dup", "--last", "Bib"
    )
    assert code == 1
    err = capsys.readouterr().err
    assert (
        "refused: entry[0].entry_bib: bib 1 is already taken by entry 100; the local change was undone" in err
    )
    assert fake.named("9001", "Dup", "Bib") == []
    assert entries("half")["1"] == ("Ann0 Lee", None)  # the local add is gone, Ann keeps her bib


def test_service_down_keeps_the_change_queued_until_send(
    chronotrack: tuple[FakeChronoTrack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = chronotrack
    assert ct_cli(url, "--event", "9001", "--race-id", "half") == 0
    capsys.readouterr()
    fake.fault("/entry", status=500, method="PUT")
    assert main(["startlist", "chronotrack", "edit", "--event", "9001", "--bib", "1", "--first", "Anna",
                 "--url", url, "--wait", "0.5"]) == 1  # fmt: skip
    assert "still queued" in capsys.readouterr().err
    assert entries("half")["1"] == ("Anna Lee", "edit")  # shown at once, marked pending
    fake.faults.clear()
    assert ct_cli(url, "send") == 0
    assert fake.entries["9001"]["100"]["athlete_first_name"] == "Anna"
    assert entries("half")["1"] == ("Anna Lee", None)


# ------------------------------------------------------------------ kill -9
def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "racetui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )


@pytest.mark.parametrize("service", ["raceentry", "chronotrack"])
def test_kill_9_between_queueing_and_the_answer_then_restart_creates_once(
    service: str,
    raceentry: tuple[FakeRaceEntry, str],
    chronotrack: tuple[FakeChronoTrack, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    re_fake, re_url = raceentry
    ct_fake, ct_url = chronotrack
    fake: FakeRaceEntry | FakeChronoTrack
    if service == "raceentry":
        fake, url, where = re_fake, re_url, ["--race", "21"]
        add = [*where, "--event", "16"]
        assert re_cli(url, *where, "--race-id", "10k") == 0
    else:
        fake, url, where = ct_fake, ct_url, ["--event", "9001"]
        add = [*where, "--race", "77"]
        assert ct_cli(url, *where, "--race-id", "10k") == 0
    fake.hold_answers = True  # the service creates the entry, then never answers
    proc = _spawn("startlist", service, "add", *add, "--bib", "777", "--first", "Walk", "--last", "Up",
                  "--url", url, "--wait", "120")  # fmt: skip
    try:
        wait_until(fake.holding.is_set, deadline=60, what="the creation to reach the service")
        # queued, shown at once as pending, and created on the service: now the crash
        assert entries("10k")["777"] == ("Walk Up", "add")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        fake.hold_answers = False
        fake.release()
    created = fake.named("21", "Walk", "Up") if service == "raceentry" else fake.named("9001", "Walk", "Up")
    assert len(created) == 1

    # the restart: the interrupted change is re-sent, finds its entry, creates nothing
    capsys.readouterr()
    assert main(["startlist", service, "send", "--url", url, "--wait", "60"]) == 0
    assert "sent: " in capsys.readouterr().out
    again = fake.named("21", "Walk", "Up") if service == "raceentry" else fake.named("9001", "Walk", "Up")
    assert len(again) == 1
    service_id = str(again[0]["registration_id" if service == "raceentry" else "entry_id"])
    walk = next(e for e in StartListCache().entries() if e.bib == "777")
    assert (walk.entry_id, walk.pending) == (service_id, None)
    with Outbox(owner=False) as outbox:
        (item,) = outbox.items(target=f"startlist.{service}")
    assert item.state is ItemState.SENT and item.attempts == 2
    # and one more send has nothing to do
    assert main(["startlist", service, "send", "--url", url]) == 0
    assert (
        len(fake.named("21", "Walk", "Up") if service == "raceentry" else fake.named("9001", "Walk", "Up"))
        == 1
    )
