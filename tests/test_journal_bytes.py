"""The journal keeps a message's bytes as received: no decode and re-encode on the way."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from racetui.sources.journal import Journal, read_journal

DATA = Path(__file__).parent / "data"


def test_the_json_text_goes_into_the_line_as_received(tmp_path: Path) -> None:
    example = next(iter(sorted(DATA.glob("*.json"))))
    received = example.read_bytes()  # the spec's example, pretty-printed over many lines
    assert received.count(b"\n") > 3
    journal = Journal(tmp_path / "j.jsonl.gz", source="feed")
    assert journal.record("feed", received, 1.5, "/feed.json")
    journal.close()
    lines = gzip.decompress((tmp_path / "j.jsonl.gz").read_bytes()).splitlines()
    assert len(lines) == 1
    # the received text, byte for byte but for its line breaks (whitespace between tokens)
    assert received.replace(b"\n", b" ").strip() in lines[0]
    (record,) = read_journal(tmp_path / "j.jsonl.gz")
    assert record["body"] == orjson.loads(received)
    assert (record["t"], record["kind"], record["source"], record["url"]) == (
        1.5,
        "feed",
        "feed",
        "/feed.json",
    )


def test_what_is_not_json_is_kept_as_text(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl.gz", source="bbt")
    assert journal.record("push", b'{"cut": ', 1.0)
    assert journal.record("rest", b'{"name": "\xff"}', 2.0)  # not UTF-8: not JSON
    assert journal.record("rest", b"<html>busy</html>\n", 3.0)
    journal.close()
    bodies = [r["body"] for r in read_journal(tmp_path / "j.jsonl.gz")]
    assert bodies == ['{"cut": ', '{"name": "\ufffd"}', "<html>busy</html>\n"]


def test_a_body_the_caller_decoded_is_not_decoded_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl.gz", source="bbt")
    payload = b'{"data": [1, 2.50, "x"]}'
    assert journal.record("rest", payload, 1.0, body=orjson.loads(payload))
    journal.close()
    line = gzip.decompress((tmp_path / "j.jsonl.gz").read_bytes())
    assert b'"body":{"data": [1, 2.50, "x"]}}' in line  # 2.50 as received, not re-encoded
