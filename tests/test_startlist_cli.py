"""``racetui startlist`` end to end through racetui.cli.main against the local servers,
checking what lands in the cache, and that no secret ever shows (output, logs, cache)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from racetui.cli import main
from racetui.sources.startlist import CACHE_NAME, StartListCache
from tests.fakes.chronotrack import FakeChronoTrack
from tests.fakes.raceentry import FakeRaceEntry

ENV = (
    "RACETUI_RACEENTRY_KEY",
    "RACETUI_RACEENTRY_SECRET",
    "RACETUI_CHRONOTRACK_CLIENT_ID",
    "RACETUI_CHRONOTRACK_CLIENT_SECRET",
    "RACETUI_CHRONOTRACK_USERNAME",
    "RACETUI_CHRONOTRACK_PASSWORD",
)


@pytest.fixture(autouse=True)
def no_credentials_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def raceentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeRaceEntry, str]]:
    fake = FakeRaceEntry()
    fake.add_race("21", "City Fun Run", "04/17/2026")
    fake.add_team("21", 9, "Sole Survivors")
    fake.add(race="21", event="16", registration=30, bib=50004, first="John", last="Doe", age=35)
    fake.add(
        race="21",
        event="16",
        registration=29,
        bib=50003,
        first="Jane",
        last="Doe",
        gender="F",
        age=25,
        team_id=9,
    )
    fake.add(
        race="21", event="67", registration=71, bib=50007, first="Bob", last="Smith", age=36, city="Orem"
    )
    monkeypatch.setenv("RACETUI_RACEENTRY_KEY", fake.key)
    monkeypatch.setenv("RACETUI_RACEENTRY_SECRET", fake.secret)
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
def chronotrack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeChronoTrack, str]]:
    fake = FakeChronoTrack()
    fake.add_event("9001", "Harbour Half")
    fake.add_race("9001", "77", "Half Marathon")
    for n in range(7):
        fake.add(
            event="9001",
            race="77",
            entry=100 + n,
            bib=n + 1,
            first=f"Ann{n}",
            last="Lee",
            sex="F",
            age=30 + n,
        )
    fake.advance(1000)
    fake.page_size = 3  # the server's page size: 7 entries on three pages
    monkeypatch.setenv("RACETUI_CHRONOTRACK_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("RACETUI_CHRONOTRACK_CLIENT_SECRET", fake.client_secret)
    monkeypatch.setenv("RACETUI_CHRONOTRACK_USERNAME", fake.username)
    monkeypatch.setenv("RACETUI_CHRONOTRACK_PASSWORD", fake.password)
    with fake.serve() as url:
        yield fake, url


def test_raceentry_import_incremental_and_full(
    raceentry: tuple[FakeRaceEntry, str], capsys: pytest.CaptureFixture[str], isolated_dirs: Path
) -> None:
    fake, url = raceentry
    assert main(["startlist", "raceentry", "--race", "21", "--race-id", "10k", "--url", url]) == 0
    out = capsys.readouterr().out
    assert (
        "RaceEntry race 21 -> racetui race 10k: 3 added, 0 updated, 0 removed (full sync); 3 in the cache"
        in out
    )

    cache = StartListCache()
    assert cache.path == isolated_dirs / CACHE_NAME
    rows = {p.bib: p for p in cache.participants("10k")}
    assert set(rows) == {"50003", "50004", "50007"}
    assert (rows["50003"].display_name(), rows["50003"].category, rows["50003"].club) == (
        "Jane Doe",
        "F25",
        "Sole Survivors",
    )
    assert (rows["50007"].club, rows["50004"].country) == ("Orem, UT", "USA")
    watermark = cache.watermark("raceentry", "race 21")
    assert watermark == max(r["last_modified"] for r in fake.participants["21"].values())

    fake.modify("21", 30, first_name="Johnny")
    fake.remove("21", 71)
    assert main(["startlist", "raceentry", "--race", "21", "--race-id", "10k", "--url", url]) == 0
    assert "0 added, 1 updated, 1 removed (incremental sync); 2 in the cache" in capsys.readouterr().out
    assert {p.bib: p.first_name for p in cache.participants("10k")} == {"50003": "Jane", "50004": "Johnny"}
    assert fake.paths("/participants")[-1][1]["modified_after_timestamp"] != "0"

    assert main(["startlist", "raceentry", "--race", "21", "--race-id", "10k", "--url", url, "--full"]) == 0
    assert "0 added, 0 updated, 0 removed (full sync); 2 in the cache" in capsys.readouterr().out
    assert fake.paths("/participants")[-1][1]["modified_after_timestamp"] == "0"

    assert main(["startlist", "show", "--race-id", "10k"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown == [
        "10k\t50003\tJane Doe\tF\tF25\tSole Survivors\tUSA",
        "10k\t50004\tJohnny Doe\tM\tM35\tProvo, UT\tUSA",
    ]


def test_raceentry_list_races(
    raceentry: tuple[FakeRaceEntry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = raceentry
    code = main(
        [
            "startlist",
            "raceentry",
            "--list",
            "--url",
            url,
            "--start-date",
            "2026-04-01",
            "--end-date",
            "2026-04-30",
        ]
    )
    assert code == 0
    assert capsys.readouterr().out == "21\t04/17/2026\tCity Fun Run\n"


def test_chronotrack_import_with_paging(
    chronotrack: tuple[FakeChronoTrack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = chronotrack
    code = main(["startlist", "chronotrack", "--event", "9001", "--url", url])
    assert code == 0
    assert (
        "ChronoTrack event 9001: 7 added, 0 updated, 0 removed (full sync); 7 in the cache"
        in capsys.readouterr().out
    )
    assert [q["page"] for _, q in fake.paths("/entry")] == ["1", "2", "3"]
    participants = StartListCache().participants("77")
    assert [(p.bib, p.display_name(), p.category) for p in participants][:2] == [
        ("1", "Ann0 Lee", "F30"),
        ("2", "Ann1 Lee", "F30"),
    ]

    assert main(["startlist", "chronotrack", "--list", "--url", url]) == 0
    assert capsys.readouterr().out == "9001\tHarbour Half\n"
    assert main(["startlist", "chronotrack", "--list", "--event", "9001", "--url", url]) == 0
    assert capsys.readouterr().out == "77\tHalf Marathon\n"


def test_credentials_from_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeChronoTrack()
    fake.add_event("9001")
    fake.add(event="9001", entry=1, bib=1, first="Cy", last="Cle")
    config = tmp_path / "config.toml"
    config.write_text(
        "[startlist]\n"
        f'chronotrack_client_id = "{fake.client_id}"\n'
        f'chronotrack_username = "{fake.username}"\n'
        f'chronotrack_password = "{fake.password}"\n'
    )
    config.chmod(0o600)
    monkeypatch.setenv("RACETUI_CONFIG", str(config))
    with fake.serve() as url:
        assert main(["startlist", "chronotrack", "--event", "9001", "--url", url]) == 0
    captured = capsys.readouterr()
    assert "1 added" in captured.out and captured.err == ""
    assert fake.auth_schemes == ["Basic"]  # no client secret: HTTP Basic


def test_refused_credentials_exit_1_and_write_nothing(
    raceentry: tuple[FakeRaceEntry, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = raceentry
    assert main(["startlist", "raceentry", "--race", "21", "--url", url]) == 0
    before = StartListCache().entries()
    capsys.readouterr()
    monkeypatch.setenv("RACETUI_RACEENTRY_SECRET", "definitely-wrong-secret")
    fake.modify("21", 30, first_name="Changed")
    assert main(["startlist", "raceentry", "--race", "21", "--url", url]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("racetui startlist: RaceEntry login: login refused")
    assert "Traceback" not in captured.err and "definitely-wrong-secret" not in captured.err
    assert StartListCache().entries() == before


def test_server_error_exit_1_cache_unchanged(
    chronotrack: tuple[FakeChronoTrack, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = chronotrack
    assert main(["startlist", "chronotrack", "--event", "9001", "--url", url]) == 0
    before = StartListCache().entries()
    fake.advance(10)
    fake.modify("9001", 100, athlete_last_name="Changed")
    fake.fault("/entry", status=500, page=2)
    args = ["startlist", "chronotrack", "--event", "9001", "--url", url, "--full"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "server error HTTP 500 (injected failure); the cache is unchanged" in err
    assert StartListCache().entries() == before


def test_missing_credentials_and_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["startlist", "raceentry", "--race", "21", "--url", "http://127.0.0.1:9/rest"]) == 2
    assert "RACETUI_RACEENTRY_KEY" in capsys.readouterr().err
    assert main(["startlist"]) == 2
    assert "raceentry, chronotrack or show" in capsys.readouterr().err


def test_missing_race_exit_2(
    raceentry: tuple[FakeRaceEntry, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = raceentry
    assert main(["startlist", "raceentry", "--url", url]) == 2
    assert "--race is required" in capsys.readouterr().err


def test_unreachable_server_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RACETUI_RACEENTRY_KEY", "k-123")
    monkeypatch.setenv("RACETUI_RACEENTRY_SECRET", "s-456")
    assert (
        main(["startlist", "raceentry", "--race", "1", "--url", "http://127.0.0.1:9/rest", "--timeout", "1"])
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot connect" in err and "s-456" not in err


def test_secrets_never_appear_in_output_logs_or_cache(
    raceentry: tuple[FakeRaceEntry, str],
    chronotrack: tuple[FakeChronoTrack, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    isolated_dirs: Path,
) -> None:
    re_fake, re_url = raceentry
    ct_fake, ct_url = chronotrack
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []

    def run(*args: str) -> int:
        code = main(["-vv", "startlist", *args])
        captured = capsys.readouterr()
        outputs.extend([captured.out, captured.err])
        return code

    assert run("raceentry", "--race", "21", "--url", re_url) == 0
    re_fake.expire_keys()  # a second login during the next sync
    assert run("raceentry", "--race", "21", "--url", re_url) == 0
    assert run("raceentry", "--list", "--url", re_url) == 0
    assert run("chronotrack", "--event", "9001", "--url", ct_url) == 0
    ct_fake.expire_tokens()
    assert run("chronotrack", "--event", "9001", "--url", ct_url, "--full") == 0
    assert run("show") == 0
    # failures too: refused login, refused password (their messages are printed)
    monkeypatch.setenv("RACETUI_RACEENTRY_SECRET", "wrong-" + re_fake.secret)
    assert run("raceentry", "--race", "21", "--url", re_url) == 1
    monkeypatch.setenv("RACETUI_CHRONOTRACK_PASSWORD", "wrong-" + ct_fake.password)
    monkeypatch.setenv("RACETUI_CHRONOTRACK_CLIENT_SECRET", "")
    assert run("chronotrack", "--event", "9001", "--url", ct_url) == 1

    assert re_fake.logins >= 3 and ct_fake.token_grants == ["password", "password"]
    logs = caplog.text + "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "HTTP Request: GET" in logs and "tmp_key=***" in logs  # the URLs were logged, redacted
    secrets = [
        re_fake.key,
        re_fake.secret,
        *[value for pair in re_fake.pairs for value in pair],
        ct_fake.client_secret,
        ct_fake.password,
        *ct_fake.tokens,
        *ct_fake.refresh_tokens,
    ]
    assert len(secrets) >= 10
    cache_bytes = b"".join(p.read_bytes() for p in isolated_dirs.glob(CACHE_NAME + "*"))
    assert cache_bytes  # the cache (and its WAL) exist and hold the names
    assert b"Jane" in cache_bytes
    for secret in secrets:
        for text in outputs:
            assert secret not in text
        assert secret not in logs
        assert secret.encode() not in cache_bytes


def test_bad_url_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RACETUI_RACEENTRY_KEY", "k-123")
    monkeypatch.setenv("RACETUI_RACEENTRY_SECRET", "s-456")
    for url in ("localhost:8000/rest", "http://[::1/rest"):
        assert main(["startlist", "raceentry", "--race", "1", "--url", url]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and "s-456" not in err
        assert err.startswith("racetui startlist: RaceEntry login: ")
