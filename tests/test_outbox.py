"""The persistent outbox: states, supersede rules, crash recovery, baselines, the diff."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racetui.publish.outbox import (
    BODY_PIECE,
    ItemState,
    Outbox,
    OutboxError,
    OutboxItem,
    Outcome,
    apply_rows,
    classify_response,
    diff_rows,
    render_diff,
    server_message,
)
from racetui.util.files import Spool


def _put(
    outbox: Outbox, group: str = "g", *, supersedable: bool = True, body: bytes = b"{}", **meta: object
) -> OutboxItem:
    return outbox.enqueue(
        target="t",
        group=group,
        method="POST",
        url="http://127.0.0.1:1/x",
        body=body,
        headers={"Content-Type": "application/json"},
        supersedable=supersedable,
        summary=f"item {body!r}",
        meta=dict(meta),
    )


def test_outbox_lives_in_the_data_dir_with_wal(isolated_dirs: Path) -> None:
    with Outbox() as outbox:
        _put(outbox)
    path = isolated_dirs / "outbox.sqlite3"
    assert path.exists()
    assert (path.stat().st_mode & 0o777) == 0o600
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_supersedes_older_queued_and_failed_of_its_group(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    first = _put(outbox, body=b"1")
    claimed = outbox.claim(first.id)
    assert claimed is not None and claimed.state is ItemState.SENDING and claimed.attempts == 1
    outbox.mark_failed(first.id, status_code=400, error="400 Bad Request: nope", response="nope")
    second = _put(outbox, body=b"2")
    other = _put(outbox, "other", body=b"x")
    third = _put(outbox, body=b"3")
    assert outbox.get(first.id).state is ItemState.SUPERSEDED
    assert outbox.get(first.id).error == "400 Bad Request: nope"  # the failure stays visible
    assert outbox.get(second.id).state is ItemState.SUPERSEDED
    assert outbox.get(second.id).superseded_by == third.id
    assert outbox.get(second.id).body == b""  # never sent: body dropped
    assert outbox.get(third.id).state is ItemState.QUEUED
    assert outbox.get(other.id).state is ItemState.QUEUED
    assert [i.id for i in outbox.pending()] == [other.id, third.id]
    # the idempotency key travels in the stored headers, secrets never do
    assert outbox.get(third.id).headers["Idempotency-Key"] == outbox.get(third.id).idempotency_key


def test_append_items_are_all_kept_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    ids = [_put(outbox, "ot", supersedable=False, body=bytes([i])).id for i in range(3)]
    assert [i.id for i in outbox.pending()] == ids
    assert outbox.next_queued("t") is not None and outbox.next_queued("t").id == ids[0]  # type: ignore[union-attr]


def test_in_flight_item_is_not_superseded_but_its_retry_is(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    first = _put(outbox, body=b"1")
    outbox.claim(first.id)
    second = _put(outbox, body=b"2")
    assert outbox.get(first.id).state is ItemState.SENDING
    after = outbox.mark_retry(first.id, status_code=503, error="503", next_attempt_at=0, response=None)
    assert after.state is ItemState.SUPERSEDED and after.superseded_by == second.id


def test_crash_mid_send_is_recovered_and_keeps_its_key(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path)
    first = _put(outbox, body=b"1")
    outbox.claim(first.id)
    outbox._db.close()  # a kill -9: no clean shutdown (the kernel drops the lock)
    outbox._drop_lock()
    again = Outbox(path)
    assert again.recovered == 1
    item = again.get(first.id)
    assert item.state is ItemState.QUEUED
    assert item.idempotency_key == first.idempotency_key
    assert item.body == b"1"
    assert "interrupted" in (item.error or "")


def test_recovery_keeps_only_the_newest_pending_per_group(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path)
    first = _put(outbox, body=b"1")
    outbox.claim(first.id)
    second = _put(outbox, body=b"2")  # queued while #1 was in flight
    outbox._db.close()
    outbox._drop_lock()
    again = Outbox(path)
    assert again.get(first.id).state is ItemState.SUPERSEDED
    assert again.get(second.id).state is ItemState.QUEUED


def test_retry_and_cancel_rules(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    first = _put(outbox, "a", supersedable=False)
    outbox.claim(first.id)
    outbox.mark_failed(first.id, status_code=400, error="400: bad row", response=None)
    assert outbox.retry(first.id).state is ItemState.QUEUED
    with pytest.raises(OutboxError, match="only failed"):
        outbox.retry(first.id)
    assert outbox.cancel(first.id).state is ItemState.CANCELLED
    with pytest.raises(OutboxError, match="no such item"):
        outbox.cancel(999)
    # a failed supersedable item with a newer one is never re-sent (it would be stale)
    old = _put(outbox, "b")
    outbox.claim(old.id)
    newer = _put(outbox, "b")  # queued while #old was in flight
    outbox.mark_failed(old.id, status_code=400, error="400", response=None)
    with pytest.raises(OutboxError, match=f"superseded by the newer #{newer.id}"):
        outbox.retry(old.id)
    newest = _put(outbox, "b")
    with pytest.raises(OutboxError, match=f"superseded by the newer #{newest.id}"):
        outbox.retry(newer.id)


def test_baselines_follow_successful_uploads_per_mode(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")

    def send(rows: dict[str, str], mode: str) -> None:
        item = _put(outbox, "ot", supersedable=False, baselines=[{"key": "E1", "mode": mode, "rows": rows}])
        outbox.claim(item.id)
        outbox.mark_sent(item.id, 200, "ok")

    assert outbox.baseline("E1") is None
    send({"1": "10:00.00", "2": "11:00.00"}, "replace")
    send({"2": "12:00.00", "3": "13:00.00"}, "append")
    assert outbox.baseline("E1") == ({"1": "10:00.00", "2": "11:00.00", "3": "13:00.00"}, {})
    send({"2": "12:00.00"}, "update")
    assert outbox.baseline("E1")[0]["2"] == "12:00.00"  # type: ignore[index]
    _put(
        outbox,
        "ot",
        supersedable=False,
        baselines=[{"key": "E1", "mode": "append", "rows": {"4": "14:00.00"}}],
    )
    assert outbox.projected("E1") == {"1": "10:00.00", "2": "12:00.00", "3": "13:00.00", "4": "14:00.00"}
    send({"9": "9:00.00"}, "replace")
    assert outbox.baseline("E1") == ({"9": "9:00.00"}, {})


def test_apply_rows_modes() -> None:
    server = {"1": "a", "2": "b"}
    assert apply_rows(server, {"2": "B", "3": "c"}, "replace") == {"2": "B", "3": "c"}
    assert apply_rows(server, {"2": "B", "3": "c"}, "append") == {"1": "a", "2": "b", "3": "c"}
    assert apply_rows(server, {"2": "B", "3": "c"}, "update") == {"1": "a", "2": "B", "3": "c"}


def test_diff_rows_is_a_structured_preview() -> None:
    before = {"1": "10:00.00", "2": "11:00.00", "5": "DNF"}
    after = {"1": "10:00.00", "2": "10:59.00", "3": "12:00.00"}
    diff = diff_rows(before, after)
    assert [c.bib for c in diff.added] == ["3"]
    assert [(c.bib, c.before, c.after) for c in diff.changed] == [("2", "11:00.00", "10:59.00")]
    assert [(c.bib, c.before) for c in diff.removed] == [("5", "DNF")]
    assert diff.unchanged == 1 and not diff.first and not diff.empty
    update = diff_rows(before, after, mode="update")
    assert update.removed == () and len(update.changed) == 1
    append = diff_rows(before, after, mode="append")
    assert append.changed == () and [c.bib for c in append.ignored] == ["2"]
    first = diff_rows(None, {"10": "x", "9": "y"})
    assert first.first and [c.bib for c in first.added] == ["9", "10"]  # start-number order
    same = diff_rows(after, after, before_fields={"status": "live"}, after_fields={"status": "live"})
    assert same.empty
    fields = diff_rows(after, after, before_fields={"status": "live"}, after_fields={"status": "official"})
    assert [(f.name, f.before, f.after) for f in fields.fields] == [("status", "live", "official")]
    with pytest.raises(ValueError, match="mode"):
        diff_rows(None, {}, mode="merge")


def test_render_diff_text() -> None:
    diff = diff_rows({"1": "a", "2": "b"}, {"2": "c", "3": "d"})
    text = render_diff(diff, title="Elite Men")
    assert text.splitlines()[0] == "Elite Men: 1 added, 1 changed, 1 removed, 0 unchanged"
    assert "+      3  d" in text and "~      2  b -> c" in text and "-      1  a (removed)" in text
    many = diff_rows(None, {str(i): "t" for i in range(30)})
    assert "… and 20 more" in render_diff(many, limit=10)
    assert "no change" in render_diff(diff_rows({"1": "a"}, {"1": "a"}))


def test_http_answer_rules_and_scrubbing() -> None:
    assert classify_response(201, "{}").outcome is Outcome.SENT
    for code in (500, 502, 503, 408, 429):
        assert classify_response(code, "").outcome is Outcome.RETRY
    bad = classify_response(400, '{"code":400,"status":"fail","data":{"message":"num_athletes mismatch"}}')
    assert bad.outcome is Outcome.FAILED and not bad.hold
    assert bad.message == "400: num_athletes mismatch"
    denied = classify_response(
        401, '{"message":"invalid apikey s3cr3tkey"}', reason="Unauthorized", secrets=["s3cr3tkey"]
    )
    assert denied.hold and "s3cr3tkey" not in denied.message + (denied.response or "")
    assert denied.message == "401 Unauthorized: invalid apikey ***"
    assert server_message("<html>\n  oops\n</html>") == "<html> oops </html>"
    assert server_message('{"detail": "Invalid token."}') == "Invalid token."


def test_one_delivering_owner_at_a_time_readers_do_not_recover(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    owner = Outbox(path)
    item = _put(owner, body=b"1")
    owner.claim(item.id)
    with pytest.raises(OutboxError, match="already open for delivery in this process"):
        Outbox(path)
    code = (
        "import sys\nfrom racetui.publish.outbox import Outbox, OutboxError\n"
        f"try:\n    Outbox({str(path)!r})\nexcept OutboxError as exc:\n    print(exc)\n"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert f"another racetui process (pid {os.getpid()}) is publishing" in other.stdout, other.stderr
    reader = Outbox(path, owner=False)
    assert reader.recovered == 0
    assert reader.get(item.id).state is ItemState.SENDING  # the owner is still sending it
    reader.close()
    owner.close()
    assert Outbox(path).get(item.id).state is ItemState.QUEUED


_rows = st.dictionaries(
    st.sampled_from([str(i) for i in range(12)]), st.sampled_from(["a", "b", "DNF"]), max_size=12
)


@given(before=st.none() | _rows, after=_rows, mode=st.sampled_from(["replace", "append", "update"]))
def test_diff_accounts_for_every_bib(before: dict[str, str] | None, after: dict[str, str], mode: str) -> None:
    diff = diff_rows(before, after, mode=mode)
    old = before or {}
    seen = [c.bib for c in (*diff.added, *diff.changed, *diff.ignored)]
    assert len(seen) + diff.unchanged == len(after) and set(seen) <= set(after)
    assert {c.bib for c in diff.removed} == (set(old) - set(after) if mode == "replace" else set())
    # what the server holds afterwards is exactly the rows the diff describes
    server = apply_rows(old, after, mode)
    for change in (*diff.added, *diff.changed):
        assert server[change.bib] == change.after
    for change in diff.ignored:
        assert server[change.bib] == change.before


# The schema-1 outbox (before 2026-12-03: every body in its item's row), as those releases made it.
_SCHEMA_1 = """
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, grp TEXT NOT NULL,
    supersedable INTEGER NOT NULL, idem_key TEXT NOT NULL UNIQUE, method TEXT NOT NULL,
    url TEXT NOT NULL, headers TEXT NOT NULL, body BLOB, size INTEGER NOT NULL,
    summary TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, next_attempt_at REAL, sent_at REAL,
    status_code INTEGER, error TEXT, response TEXT, superseded_by INTEGER, meta TEXT NOT NULL
);
CREATE INDEX items_state ON items (state, target, id);
CREATE INDEX items_group ON items (grp, id);
CREATE TABLE baselines (
    key TEXT PRIMARY KEY, rows TEXT NOT NULL, fields TEXT NOT NULL, item_id INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
PRAGMA user_version = 1;
"""


def _pieces_stored(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM bodies").fetchone()[0])


def test_a_schema_1_outbox_is_moved_over_and_its_queued_body_still_sends(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    big = os.urandom(2 * BODY_PIECE + 12345)  # three pieces once moved
    rows = [
        {"key": "gk2", "mode": "replace", "rows": {"7": "seg 3 00:21:00.000"}, "fields": {"status": "live"}}
    ]
    meta = json.dumps({"content_hash": "abc", "baselines": rows})
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_1)
        for key, state, body in (("k1", "sent", b"old"), ("k2", "queued", big), ("k3", "queued", b"")):
            db.execute(
                "INSERT INTO items (target, grp, supersedable, idem_key, method, url, headers, body, size, "
                "summary, state, created_at, updated_at, meta) VALUES "
                "('t', 'g' || ?, 1, ?, 'POST', 'http://127.0.0.1:1/x', '{}', ?, ?, 's', ?, 1, 1, ?)",
                (key, key, body, len(body), state, meta),
            )
    outbox = Outbox(path)
    assert _pieces_stored(path) == 4  # the sent item's kept body too (as schema 1 kept it)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
        assert db.execute("SELECT COUNT(*) FROM items WHERE body IS NOT NULL").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM item_baselines").fetchone()[0] == 2  # not the sent one's
    queued = outbox.next_queued("t")
    assert queued is not None and queued.idempotency_key == "k2"
    claimed = outbox.claim(queued.id)
    assert claimed is not None and claimed.body == b"" and claimed.size == len(big)
    assert claimed.read_body() == big
    assert b"".join(asyncio.run(_streamed(claimed))) == big
    assert claimed.meta == {"content_hash": "abc"} and outbox.item_baselines(claimed.id) == rows
    assert outbox.projected("gk2") == rows[0]["rows"]
    outbox.mark_sent(claimed.id, 200, "ok")
    assert outbox.baseline("gk2") == (rows[0]["rows"], rows[0]["fields"])
    assert outbox.item_baselines(claimed.id) == []
    empty = outbox.claim(queued.id + 1)
    assert empty is not None and empty.read_body() == b""
    outbox.close()
    again = Outbox(path)
    assert again.get(empty.id).state is ItemState.QUEUED and again.item_baselines(empty.id) == rows


async def _streamed(item: OutboxItem) -> list[bytes]:
    return [piece async for piece in item.stream()]


class _FailingSpool(Spool):
    """A spool whose disk fails after its first piece (an unreadable temporary file)."""

    def chunks(self, size: int = BODY_PIECE) -> Iterator[bytes]:
        pieces = super().chunks(size)
        yield next(pieces)
        raise OSError(5, "Input/output error")


def test_an_item_is_never_queued_without_its_whole_body(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path)
    spool = _FailingSpool(tmp_path)
    for _ in range(3):
        spool.write(os.urandom(BODY_PIECE))
    with pytest.raises(OSError, match="Input/output"):
        outbox.enqueue(target="t", group="g", method="POST", url="http://127.0.0.1:1/x", body=spool)
    assert outbox.items() == [] and _pieces_stored(path) == 0
    whole = Spool(tmp_path)
    for _ in range(3):
        whole.write(b"x" * BODY_PIECE)
    item = outbox.enqueue(target="t", group="g", method="POST", url="http://127.0.0.1:1/x", body=whole)
    assert item.size == 3 * BODY_PIECE and _pieces_stored(path) == 3
    assert outbox.get(item.id).body == b"x" * (3 * BODY_PIECE)


def test_a_sent_or_superseded_body_is_dropped_and_state_changes_leave_it_alone(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path)
    first = _put(outbox, body=b"a" * (BODY_PIECE + 1))
    second = _put(outbox, body=b"b" * (BODY_PIECE + 1))  # supersedes the first
    assert outbox.get(first.id).body == b"" and _pieces_stored(path) == 2
    claimed = outbox.claim(second.id)
    assert claimed is not None
    outbox.mark_retry(second.id, status_code=503, error="503", next_attempt_at=0, response=None)
    again = outbox.claim(second.id)
    assert again is not None and again.read_body() == b"b" * (BODY_PIECE + 1)
    outbox.mark_sent(second.id, 200, "ok")
    assert _pieces_stored(path) == 0 and outbox.get(second.id).size == BODY_PIECE + 1


@given(st.lists(st.one_of(st.integers(0, 99_999).map(str), st.text(min_size=1, max_size=6)), max_size=300))
def test_bibs_sorted_in_pieces_come_in_bib_order(bibs: list[str]) -> None:
    import racetui.publish.outbox.preview as preview
    from racetui.model.bibs import bib_key

    saved = preview.SORT_PIECE
    preview.SORT_PIECE = 7  # many pieces, merged
    try:
        assert list(preview.in_bib_order(bibs)) == sorted(bibs, key=bib_key)
    finally:
        preview.SORT_PIECE = saved
