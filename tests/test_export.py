"""``racetui export`` through the real CLI entry point."""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from racetui.cli import main
from racetui.commands import export
from racetui.engine import Engine
from racetui.model import Participant, Race, Result, TimingPoint
from racetui.sources.v11 import parse_message
from tests.fakes.asgi import ServerThread
from tests.fakes.hosted import HostedFeed
from tests.support import INDIVIDUAL, RELAY

SECRET = "wt-key-DO-NOT-PRINT"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["export", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_of_the_individual_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--feed", str(INDIVIDUAL))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        "position,bib,name,country,club,gender,category,status,time,gap,results,Swim Lap 1,Swim Exit"
    )
    table = rows(out)
    assert [r["bib"] for r in table] == ["26", "22"]
    assert table[0] == {
        "position": "1",
        "bib": "26",
        "name": "Javier Gomez Noya",
        "country": "ESP",
        "club": "",
        "gender": "",
        "category": "",
        "status": "OK",
        "time": "00:18:37.911",
        "gap": "00:00:00.000",
        "results": "provisional",  # the example's message status is live
        "Swim Lap 1": "00:10:54.799",
        "Swim Exit": "00:18:37.911",
    }
    assert (table[1]["position"], table[1]["time"], table[1]["Swim Exit"]) == ("2", "00:10:53.996", "")


def test_csv_at_a_point(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--feed", str(INDIVIDUAL), "--point", "1")
    assert code == 0
    table = rows(out)
    assert [(r["bib"], r["position"], r["time"], r["gap"]) for r in table] == [
        ("22", "1", "00:10:53.996", "00:00:00.000"),
        ("26", "2", "00:10:54.799", "00:00:00.803"),
    ]
    code, out, _ = run(capsys, "--feed", str(INDIVIDUAL), "--point", "2")
    assert [r["bib"] for r in rows(out)] == ["26"]


def test_json_of_the_relay_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--feed", str(RELAY), "--format", "json")
    assert (code, err) == (0, "")
    data = orjson.loads(out)
    (race,) = data["races"]
    assert (race["id"], race["name"], race["kind"], race["point"]) == (
        "307248",
        "Elite Mixed Relay",
        "relay",
        None,
    )
    assert [p["id"] for p in race["points"]] == [str(i) for i in range(1, 9)]
    (team,) = race["rows"]
    assert team["bib"] == "1"
    assert team["name"] == "Team GBR I"
    assert team["position"] == 1
    assert team["point"] == "8"
    assert team["time_ms"] == 998_000 and team["time"] == "00:16:38.000"
    assert team["splits"]["7"] == 6_411_000
    assert team["incidents"] == []


def test_relay_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--feed", str(RELAY))
    assert code == 0
    (team,) = rows(out)
    assert team["name"] == "Team GBR I"
    assert team["Leg 1 Finish"] == "01:46:51.000"
    assert team["Leg 2 Swim Exit"] == "00:16:38.000"


@pytest.mark.parametrize("example", [INDIVIDUAL, RELAY])
def test_triathlon_format_round_trips(capsys: pytest.CaptureFixture[str], example: Path) -> None:
    code, out, err = run(capsys, "--feed", str(example), "--format", "triathlon")
    assert (code, err) == (0, "")
    original = parse_message(example.read_bytes())
    exported = parse_message(out.encode())
    assert exported.warnings == []
    assert exported.race == original.race
    assert {r.bib: r for r in exported.results} == {r.bib: r for r in original.results}
    assert exported.header.event_id == original.header.event_id
    assert exported.header.event_name == original.header.event_name
    message = orjson.loads(out)
    assert message["status"] == "live" and message["sandbox"] == "false"


def _placings(message: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every position and difference of a message: athletes (or teams) and their splits,
    positions as numbers (the spec's examples mix "2" and 2)."""

    def place(value: Any) -> int | None:
        return None if value is None else int(value)

    out: list[tuple[Any, ...]] = []
    for athlete in message.get("athletes") or message.get("teams") or []:
        out.append((athlete["start_num"], place(athlete["position"]), athlete["difference"]))
        legs = athlete.get("athletes") or [athlete]
        for leg in legs:
            for split in leg.get("splits") or []:
                out.append(
                    (athlete["start_num"], str(split["id"]), place(split["position"]), split["difference"])
                )
    return out


@pytest.mark.parametrize("example", [INDIVIDUAL, RELAY])
def test_triathlon_export_gives_back_the_examples_own_positions(
    capsys: pytest.CaptureFixture[str], example: Path
) -> None:
    """The examples rank a field bigger than the two athletes they print (Thomas Bishop is
    2nd, 10.198 s down at Swim Lap 1 although he leads the two shown there): what the
    source ranked goes out unchanged."""
    code, out, err = run(capsys, "--feed", str(example), "--format", "triathlon")
    assert (code, err) == (0, "")
    assert _placings(orjson.loads(out)) == _placings(orjson.loads(example.read_bytes()))


def test_triathlon_export_ranks_athletes_racetui_changed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Positions the source did not give are racetui's: a place in the array, none for DNF."""
    data: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    for athlete in data["athletes"]:
        athlete["position"] = athlete["difference"] = None
        for split in athlete["splits"]:
            split["position"] = split["difference"] = None
    data["athletes"].append(
        {
            "start_num": "12",
            "name": "Quit",
            "status": "DNF",
            "splits": [{"id": "1", "total_time": "00:11:00.000"}],
        }
    )
    feed = tmp_path / "feed.json"
    feed.write_bytes(orjson.dumps(data))
    code, out, _err = run(capsys, "--feed", str(feed), "--format", "triathlon")
    assert code == 0
    athletes = orjson.loads(out)["athletes"]
    assert [(a["start_num"], a["position"], a["difference"]) for a in athletes] == [
        ("26", "1", "00:00:00.000"),
        ("22", "2", "00:00:00.000"),
        ("12", None, "00:00:06.004"),
    ]
    assert [s["position"] for s in athletes[2]["splits"]] == ["3"]  # a DNF's splits still place


def test_triathlon_format_ordering_and_config_ids(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    data["athletes"][0]["status"] = "DSQ"
    data["athletes"][0]["incidents"] = "DSQ for drafting"
    data["athletes"].append({"start_num": "3", "name": "Starter", "splits": None})
    data["athletes"].append({"start_num": "1", "name": "Quit", "status": "DNF", "splits": None})
    data["num_athletes"] = "4"
    feed = tmp_path / "feed.json"
    feed.write_bytes(orjson.dumps(data))
    config = tmp_path / "config.toml"
    config.write_text('[triathlon]\nevent_id = "555"\n[triathlon.programs]\n"307158" = "777"\n')
    monkeypatch.setenv("RACETUI_CONFIG", str(config))
    code, out, err = run(capsys, "--feed", str(feed), "--format", "triathlon")
    assert (code, err) == (0, "")
    message = orjson.loads(out)
    assert (message["event_id"], message["prog_id"]) == ("555", "777")
    athletes = message["athletes"]
    assert [(a["start_num"], a["status"]) for a in athletes] == [
        ("22", None),
        ("3", None),
        ("1", "DNF"),
        ("26", "DSQ"),
    ]
    assert athletes[-1]["incidents"] == "DSQ for drafting"
    assert message["num_athletes"] == "4"


def test_several_races(capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine()
    for race_id, name in (("m", "Men"), ("w", "Women")):
        points = [TimingPoint(id=f"{race_id}1", race_id=race_id, name="Swim", order=1)]
        engine.upsert_race(Race(id=race_id, name=name, points=points))
        engine.apply_results(
            race_id,
            [
                Result(
                    race_id=race_id,
                    bib=f"{race_id}{n}",
                    participant=Participant(bib=f"{race_id}{n}", race_id=race_id, name=f"{name} {n}"),
                    splits={f"{race_id}1": 600_000 + n * 1000},
                )
                for n in (2, 1)
            ],
        )
    races = list(engine.races.values())
    table = rows(export._csv(races, None))
    assert [(r["race"], r["bib"], r["position"], r["Swim"]) for r in table] == [
        ("m", "m1", "1", "00:10:01.000"),
        ("m", "m2", "2", "00:10:02.000"),
        ("w", "w1", "1", "00:10:01.000"),
        ("w", "w2", "2", "00:10:02.000"),
    ]
    data = orjson.loads(b"".join(export._json(races, None)))
    assert [race["id"] for race in data["races"]] == ["m", "w"]


def test_json_is_encoded_in_parts_as_the_whole_would_be() -> None:
    """Rows are encoded a thousand at a time and indented into place: byte for byte the
    two-space encoding of the whole (several races, one with no athletes, more than one part)."""
    engine = Engine()
    for race_id, count in (("m", 2_500), ("w", 0), ("x", 3)):
        points = [TimingPoint(id=f"{race_id}{i}", race_id=race_id, name=f"P{i}", order=i) for i in (1, 2)]
        engine.upsert_race(Race(id=race_id, name=race_id.upper(), points=points))
        results = [
            Result(
                race_id=race_id,
                bib=f"{race_id}{n}",
                participant=Participant(bib=f"{race_id}{n}", race_id=race_id, name=f"A {n}", country="NOR"),
                splits={f"{race_id}1": 600_000 + n * 10, **({f"{race_id}2": 900_000 + n} if n % 2 else {})},
            )
            for n in range(count)
        ]
        engine.apply_results(race_id, results)
    data = b"".join(export._json(list(engine.races.values()), None))
    assert data == orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2)
    assert [len(race["rows"]) for race in orjson.loads(data)["races"]] == [2_500, 0, 3]


def test_errors_are_one_line_and_non_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"athletes": [')
    for argv, expected in [
        (["--feed", str(tmp_path / "missing.json")], f"{tmp_path / 'missing.json'}: cannot read"),
        (["--feed", str(bad)], "rejected message: not JSON"),
        (["--feed", str(INDIVIDUAL), "--race", "nope"], "--race: no race 'nope' (races: 307158)"),
        (["--feed", str(INDIVIDUAL), "--point", "9"], "--point: no timing point '9' in any race"),
        (["--feed", str(INDIVIDUAL), "--format", "triathlon", "--point", "1"], "--point does not apply"),
        (["--feed", "ftp://example.org/x.json"], "target: expected an http(s) URL or a file path"),
    ]:
        code, out, err = run(capsys, *argv)
        assert code == 1, argv
        assert out == ""
        assert len(err.splitlines()) == 1, err
        assert err.startswith("racetui export: ") and expected in err, err
        assert "Traceback" not in err


def test_race_by_prog_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--feed", str(INDIVIDUAL), "--race", "307158", "--format", "json")
    assert code == 0 and orjson.loads(out)["races"][0]["id"] == "307158"


def test_connect_and_replay_fail_cleanly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for argv in (["--connect", f"http://127.0.0.1:{port}"], ["--replay", str(tmp_path / "none.jsonl.gz")]):
        code, out, err = run(capsys, *argv)
        assert code != 0 and out == ""
        assert len(err.splitlines()) == 1 and err.startswith("racetui export: "), err
        assert "Traceback" not in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["export"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        main(["export", "--feed", "a", "--replay", "b"])
    capsys.readouterr()


# ----------------------------------------------------------------- a URL feed
@pytest.fixture
def wt_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """World Triathlon's live endpoint for prog 307158, answering in its envelope."""
    envelope = {"code": 200, "status": "success", "data": orjson.loads(INDIVIDUAL.read_bytes())}
    feed = HostedFeed(orjson.dumps(envelope), path="/v1/live/timing/307158")
    with ServerThread(feed.app()) as running:
        yield running.url, feed.requests


def test_feed_url_apikey_only_for_the_configured_host(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wt_server: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = wt_server
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", SECRET)
    code, out, _ = run(capsys, "--feed", f"{base}/v1/live/timing/307158")
    assert code == 0 and [r["bib"] for r in rows(out)] == ["26", "22"]
    assert "apikey" not in {k.lower() for k in seen[-1]}  # not World Triathlon's host: no key

    config = tmp_path / "config.toml"
    config.write_text(f'[triathlon]\nlive_url = "{base}/v1/live/timing/{{prog_id}}"\n')
    monkeypatch.setenv("RACETUI_CONFIG", str(config))
    code, out, err = run(capsys, "--feed", f"{base}/v1/live/timing/307158", "--format", "json")
    assert code == 0, err
    assert {k.lower(): v for k, v in seen[-1].items()}["apikey"] == SECRET
    assert SECRET not in out + err


def test_replay_of_a_recorded_feed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from racetui.sources.journal import Journal

    journal = Journal(tmp_path / "feed.jsonl.gz", source="v1.1 test")
    journal.record("feed", INDIVIDUAL.read_bytes(), 1_700_000_000.0)
    later: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    later["athletes"][1]["status"] = "DNF"
    journal.record("feed", orjson.dumps(later), 1_700_000_002.0)
    journal.close()
    code, out, err = run(capsys, "--replay", str(tmp_path / "feed.jsonl.gz"))
    assert (code, err) == (0, "")
    assert [(r["bib"], r["status"]) for r in rows(out)] == [("26", "OK"), ("22", "DNF")]
    code, out, err = run(capsys, "--replay", str(tmp_path / "feed.jsonl.gz"), "--format", "triathlon")
    assert (code, err) == (0, "")
    message = orjson.loads(out)
    assert (message["event_id"], message["prog_id"]) == ("107158", "307158")
    assert message["athletes"][-1]["status"] == "DNF"


def test_a_journal_cut_mid_stream_exports_what_was_read_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from racetui.sources.journal import Journal

    path = tmp_path / "cut.jsonl.gz"
    journal = Journal(path, source="v1.1 test")
    journal.record("feed", INDIVIDUAL.read_bytes(), 1_700_000_000.0)
    whole = path.stat().st_size
    later: dict[str, Any] = orjson.loads(INDIVIDUAL.read_bytes())
    later["athletes"][1]["status"] = "DNF"
    journal.record("feed", orjson.dumps(later), 1_700_000_002.0)
    journal.close()
    data = path.read_bytes()
    path.write_bytes(data[: whole + (len(data) - whole) // 2])  # cut inside the second record
    code, out, err = run(capsys, "--replay", str(path))
    assert code == 0
    assert [(r["bib"], r["status"]) for r in rows(out)] == [("26", "OK"), ("22", "OK")]
    assert len(err.splitlines()) == 1, err
    assert err.startswith("racetui export: warning: read 1 records, then stopped:")
    assert str(path) in err and "cut" in err


def test_a_plain_v11_file_given_to_replay_names_the_feed_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--replay", str(INDIVIDUAL))
    assert (code, out) == (2, "")
    assert (
        err == f"racetui export: --replay: {INDIVIDUAL}: a World Triathlon v1.1 message,"
        f" not a recorded journal; open it with: racetui feed {INDIVIDUAL}\n"
    )
    code = main(["replay", str(INDIVIDUAL)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and f"racetui feed {INDIVIDUAL}" in err
    assert "Traceback" not in err
