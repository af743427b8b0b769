"""``racetui desk report``: the penalty board, the violation report and the announcer's
lines, from the desk's database and the start-list cache alone, checked line by line."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from racetui.cli import main
from racetui.config import DeskConfig
from racetui.sources.desk import EventKey, IncidentDesk
from racetui.sources.startlist.cache import StartListCache
from racetui.sources.startlist.common import Fetched, StartEntry

EVENT = EventKey("BBTSource", "demo", "2026-12-02")
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Text reports give the local time of day: make local UTC for the test."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def desk(isolated_dirs: Path) -> IncidentDesk:
    """The race day's decisions (see each step), with a clock the fixture moves."""
    now = [T0]
    desk = IncidentDesk(
        operator="TD Jane",
        event=EVENT,
        settings=DeskConfig(boxes=["bike box", "run box"]),
        clock=lambda: now[0],
    )

    def at(minutes: float) -> None:
        now[0] = T0 + timedelta(minutes=minutes)

    desk.bind(EventKey("BBTSource", "yesterday", "2026-12-01"))
    desk.record("1", "12", "dsq", infringement="from another event")  # never in today's reports
    desk.bind(EVENT)
    rep = desk.report(
        "1", "12", seconds=30, infringement="drafting", location="bike lap 2", operator="Ref Bo"
    )
    at(1)
    desk.confirm("1", "12", rep.id, operator="CTO Ann")
    desk.assign("1", "12", rep.id, box="bike box")
    at(2)
    second = desk.record("1", "12", "penalty", seconds=15, infringement="littering", location="aid station")
    at(3)
    desk.assign("1", "12", second.id, box="bike box")
    declined = desk.report(
        "1", "7", seconds=10, infringement="unsafe mount", location="T1", operator="Ref Bo", seen_at=T0
    )
    at(5)
    desk.decline("1", "7", declined.id, reason="not seen on the video", operator="CTO Ann")
    at(6)
    served = desk.record("1", "3", "penalty", seconds=30, infringement="drafting", name="Sam Low")
    desk.assign("1", "3", served.id, box="run box")
    at(20)
    desk.enter_box("1", "3", served.id)
    at(20.5)
    desk.leave_box("1", "3", served.id)
    at(21)
    desk.report("1", "5", infringement="dangerous riding", dsq=True, operator="Ref Bo", name="Max Roe")
    at(22)
    desk.record("2", "40", "penalty", seconds=10, infringement="drafting")  # another race: no box yet
    return desk


@pytest.fixture
def names(isolated_dirs: Path) -> None:
    StartListCache().apply(
        "raceentry",
        "race 1",
        Fetched(
            entries=[StartEntry(entry_id="a", race_id="1", bib="12", name="Jane Doe")],
            complete=True,
            watermark=1,
        ),
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["desk", "report", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


@pytest.mark.usefixtures("names")
def test_the_board_lists_bibs_to_serve_per_box(
    desk: IncidentDesk, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, err = run(capsys, "--event", "demo")
    assert (code, err) == (0, "")
    assert lines == [
        "Penalty board · BBTSource · demo · 2026-12-02",
        "Race 1",
        "  bike box",
        "       12 ×2    45 s  Jane Doe",
        "Race 2",
        "  no box yet",
        "       40       10 s",
    ]
    code, lines, _ = run(capsys, "--race", "1", "--format", "csv")
    assert list(csv.reader(io.StringIO("\n".join(lines)))) == [
        ["race", "box", "bib", "name", "penalties", "seconds"],
        ["1", "bike box", "12", "Jane Doe", "2", "45"],
    ]


@pytest.mark.usefixtures("names")
def test_the_violation_report(desk: IncidentDesk, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run(capsys, "--what", "violations", "--race", "1")
    assert (code, err) == (0, "")
    assert lines == [
        "Violation report · BBTSource · demo · 2026-12-02",
        "Race 1",
        "  09:00:00 #12 Jane Doe: 30 s for drafting at bike lap 2 · reported by Ref Bo",
        "           confirmed, not served (to the bike box) by CTO Ann",
        "  09:00:00 #7: 10 s for unsafe mount at T1 · reported by Ref Bo",
        "           declined by CTO Ann: not seen on the video",
        "  09:02:00 #12 Jane Doe: 15 s for littering at aid station · reported by TD Jane",
        "           confirmed, not served (to the bike box) by TD Jane (recorded directly)",
        "  09:06:00 #3 Sam Low: 30 s for drafting · reported by TD Jane",
        "           confirmed, served at the run box by TD Jane (recorded directly)",
        "  09:21:00 #5 Max Roe: DSQ for dangerous riding · reported by Ref Bo",
        "           DSQ pending",
    ]
    code, lines, _ = run(capsys, "--what", "violations", "--format", "csv", "--race", "1")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert [(r["bib"], r["name"], r["rule"], r["decision"], r["decided_by"], r["reason"]) for r in rows] == [
        ("12", "Jane Doe", "drafting", "confirmed, not served (to the bike box)", "CTO Ann", ""),
        ("7", "", "unsafe mount", "declined", "CTO Ann", "not seen on the video"),
        (
            "12",
            "Jane Doe",
            "littering",
            "confirmed, not served (to the bike box)",
            "TD Jane (recorded directly)",
            "",
        ),
        ("3", "Sam Low", "drafting", "confirmed, served at the run box", "TD Jane (recorded directly)", ""),
        ("5", "Max Roe", "dangerous riding", "DSQ pending", "", ""),
    ]
    assert [(r["time"], r["location"], r["official"], r["penalty"]) for r in rows[:2]] == [
        ("2026-12-02T09:00:00+00:00", "bike lap 2", "Ref Bo", "30 s"),
        ("2026-12-02T09:00:00+00:00", "T1", "Ref Bo", "10 s"),
    ]


@pytest.mark.usefixtures("names")
def test_the_announcer_hears_confirmed_entries_only(
    desk: IncidentDesk, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = run(capsys, "--what", "announcer")
    assert code == 0
    assert lines == [
        "Announcer's lines · BBTSource · demo · 2026-12-02",
        "Race 1",
        "  09:01:00 #12 Jane Doe: 30 second penalty for drafting",
        "  09:02:00 #12 Jane Doe: 15 second penalty for littering",
        "  09:20:30 #3 Sam Low: Served 30 second penalty for drafting",
        "Race 2",
        "  09:22:00 #40: 10 second penalty for drafting",
    ]
    code, lines, err = run(capsys, "--what", "announcer", "--format", "csv", "--event", "yesterday")
    assert (code, err) == (0, "")
    assert list(csv.reader(io.StringIO("\n".join(lines)))) == [
        ["race", "bib", "name", "time", "text"],
        ["1", "12", "Jane Doe", "2026-12-02T09:00:00+00:00", "DSQ for from another event"],
    ]


def test_no_desk_no_event_and_a_wrong_event_say_so(
    isolated_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, err = run(capsys)
    assert code == 1 and lines == [] and "no incident desk yet" in err
    desk = IncidentDesk(event=EVENT)
    code, lines, err = run(capsys)
    assert code == 1 and "holds no entries" in err
    desk.record("1", "9", "dns")
    code, lines, err = run(capsys, "--event", "nowhere")
    assert code == 2 and err.strip() == (
        "racetui desk: --event 'nowhere': no such event on the desk (events: BBTSource · demo · 2026-12-02)"
    )
    code, lines, err = run(capsys)  # names: no start-list cache, bibs only; nothing to serve
    assert (code, lines) == (0, ["Penalty board · BBTSource · demo · 2026-12-02", "No penalties to serve."])
    assert main(["desk", "events"]) == 0
    assert capsys.readouterr().out == "BBTSource · demo · 2026-12-02\n"
