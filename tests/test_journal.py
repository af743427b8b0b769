"""The journal: gzip JSON lines, 0600, readable while written and after a crash mid-write."""

from __future__ import annotations

import gzip
import os
import stat
import time
from pathlib import Path

import orjson
import pytest

from racetui.sources.journal import Journal, iter_journal, read_journal, scrub_url


def _write(path: Path, n: int) -> tuple[Journal, list[int]]:
    """A journal with ``n`` records; returns it (open) and the file size after each record."""
    journal = Journal(path, source="BBT test")
    ends = []
    for i in range(n):
        journal.record(
            "push", orjson.dumps({"event": "results", "seq": i, "racenum": str(100 + i)}), 1000.0 + i
        )
        ends.append(path.stat().st_size)
    return journal, ends


def test_records_round_trip_with_the_documented_fields(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl.gz"
    with Journal(path, source="BBT 10.0.0.5:80") as journal:
        assert journal.record("rest", b'{"page": 1, "data": []}', 1.5, "/api/1.1/event/races?page=1")
        assert journal.record("push", '{"event": "eventdata", "seq": 3}', 2.5)
        assert journal.record("feed", b"<not json>", 3.5)  # the v1.1 feed engineer's call
        assert journal.records == 3
    records = read_journal(path)
    assert records == [
        {
            "t": 1.5,
            "kind": "rest",
            "source": "BBT 10.0.0.5:80",
            "url": "/api/1.1/event/races?page=1",
            "body": {"page": 1, "data": []},
        },
        {
            "t": 2.5,
            "kind": "push",
            "source": "BBT 10.0.0.5:80",
            "url": "",
            "body": {"event": "eventdata", "seq": 3},
        },
        {"t": 3.5, "kind": "feed", "source": "BBT 10.0.0.5:80", "url": "", "body": "<not json>"},
    ]
    # A closed journal is an ordinary gzip file.
    with gzip.open(path, "rb") as handle:
        assert len(handle.read().splitlines()) == 3


def test_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl.gz"
    old = os.umask(0o022)
    try:
        with Journal(path) as journal:
            journal.record("feed", b"{}", 1.0)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_journal_that_recorded_nothing_leaves_no_file(isolated_dirs: Path, tmp_path: Path) -> None:
    # A run whose source never answered must not leave an empty journal behind.
    Journal(tmp_path / "never.jsonl.gz").close()
    default = Journal.open_default("BBT 127.0.0.1:9")
    default.close()
    assert not (tmp_path / "never.jsonl.gz").exists()
    assert not default.path.exists()
    assert list((isolated_dirs / "journals").iterdir()) == []
    assert default.record("feed", b"{}", 1.0) is False  # closed: nothing is created later


def test_open_default_moves_on_when_another_run_took_the_name(isolated_dirs: Path) -> None:
    journal = Journal.open_default("feed")
    journal.path.write_bytes(b"another run's journal")  # created meanwhile by another process
    taken = journal.path
    assert journal.record("feed", b"{}", 1.0)
    journal.close()
    assert journal.path != taken and taken.read_bytes() == b"another run's journal"
    assert [r["body"] for r in read_journal(journal.path)] == [{}]


def test_open_default_lives_in_the_data_dir(isolated_dirs: Path) -> None:
    first = Journal.open_default("BBT 127.0.0.1:8080")
    second = Journal.open_default("BBT 127.0.0.1:8080")
    try:
        assert first.record("rest", b"{}", 1.0) and second.record("rest", b"{}", 1.0)
        assert first.path.parent == isolated_dirs / "journals"
        assert first.path != second.path
        assert first.path.name.startswith("BBT-127.0.0.1-8080-")
        assert first.path.name.endswith(".jsonl.gz")
        assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
        assert first.source == "BBT 127.0.0.1:8080"
    finally:
        first.close()
        second.close()


def test_readable_while_being_written(tmp_path: Path) -> None:
    path = tmp_path / "open.jsonl.gz"
    journal, _ = _write(path, 5)
    problems: list[str] = []
    try:
        seqs = [r["body"]["seq"] for r in iter_journal(path, on_error=problems.append)]
        assert seqs == [0, 1, 2, 3, 4]
        assert problems == []
        journal.record("push", b'{"seq": 5}', 2000.0)
        assert [r["body"]["seq"] for r in iter_journal(path)][-1] == 5
    finally:
        journal.close()


def test_a_journal_cut_anywhere_reads_up_to_its_last_complete_line(tmp_path: Path) -> None:
    """Simulates a crash: every possible truncation of the file."""
    path = tmp_path / "full.jsonl.gz"
    journal, ends = _write(path, 6)
    journal.close()
    data = path.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    for size in range(len(data) + 1):
        cut.write_bytes(data[:size])
        problems: list[str] = []
        seqs = [r["body"]["seq"] for r in iter_journal(cut, on_error=problems.append)]
        complete = sum(1 for end in ends if end <= size)
        # Never a wrong record, never fewer than the records fully written before the cut.
        assert seqs == list(range(len(seqs))), size
        assert len(seqs) >= complete, size
        assert len(problems) <= 1
        if size in ends or size == len(data):
            assert problems == [], (size, problems)
        elif size:
            assert len(problems) == 1 and "cut mid-write" in problems[0], (size, problems)


def test_corrupt_bytes_are_reported_and_reading_stops_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl.gz"
    journal, ends = _write(path, 6)
    journal.close()
    data = bytearray(path.read_bytes())
    for i in range(ends[2] + 2, ends[2] + 12):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    problems: list[str] = []
    seqs = [r["body"]["seq"] for r in iter_journal(path, on_error=problems.append)]
    assert seqs[:3] == [0, 1, 2]
    assert len(seqs) < 6
    assert len(problems) == 1 and str(path) in problems[0]


def test_reopening_appends_a_new_gzip_member(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl.gz"
    with Journal(path) as journal:
        journal.record("push", b'{"seq": 1}', 1.0)
    with Journal(path) as journal:
        journal.record("push", b'{"seq": 2}', 2.0)
    assert [r["body"]["seq"] for r in iter_journal(path)] == [1, 2]


def test_bad_lines_are_skipped_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_bytes(
        b'{"t": 1.0, "kind": "push", "source": "s", "url": "", "body": {"seq": 1}}\n'
        b"not json\n"
        b'{"t": "x", "kind": "push", "body": {}}\n'
        b'{"t": 2.0, "kind": "mail", "body": {}}\n'
        b'{"t": 3.0, "kind": "rest", "source": "s", "url": "/x", "body": null}\n'
    )
    problems: list[str] = []
    records = list(iter_journal(path, on_error=problems.append))
    assert [r["t"] for r in records] == [1.0, 3.0]
    assert len(problems) == 3
    assert "line 2: not JSON" in problems[0]
    assert "line 3: t:" in problems[1]
    assert "line 4: kind:" in problems[2]


def test_secrets_never_reach_the_journal(tmp_path: Path) -> None:
    assert (
        scrub_url("http://user:pw@host:81/api/1.1/x?apikey=abc&race_id=1")
        == "/api/1.1/x?apikey=***&race_id=1"
    )
    path = tmp_path / "j.jsonl.gz"
    with Journal(path) as journal:
        journal.record("rest", b"{}", 1.0, "http://user:hunter2@host/api/1.1/x?token=s3cr3t&race_id=1")
    text = gzip.decompress(path.read_bytes()).decode()
    assert "hunter2" not in text and "s3cr3t" not in text and "user" not in text
    assert "race_id=1" in text


def test_a_write_failure_stops_recording_without_raising(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    journal = Journal("/dev/full")
    assert journal.record("push", b"{}", time.time()) is False
    assert journal.failed is not None and "journal write failed" in journal.failed
    assert journal.record("push", b"{}", time.time()) is False
    journal.close()


def test_unknown_kind_is_a_programming_error(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.gz") as journal, pytest.raises(ValueError, match="kind"):
        journal.record("mail", b"{}", 1.0)
