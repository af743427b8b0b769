"""racetui.util.files.Spool: a large body kept on disk, read back in pieces."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from racetui.util.files import Spool


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=300), max_size=12),
    limit=st.integers(min_value=0, max_value=700),
    size=st.integers(min_value=1, max_value=400),
)
def test_what_is_written_is_read_back_in_pieces_of_any_size(
    pieces: list[bytes], limit: int, size: int
) -> None:
    spool = Spool(None, limit=limit)
    for piece in pieces:
        spool.write(piece)
    whole = b"".join(pieces)
    assert len(spool) == len(whole) and spool.getvalue() == whole
    read = list(spool.chunks(size))
    assert b"".join(read) == whole
    assert all(len(piece) == size for piece in read[:-1]) and all(read)


def test_past_its_limit_it_is_an_unnamed_file_and_readers_do_not_share_a_position(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data", limit=1000)
    body = os.urandom(5000)
    for start in range(0, len(body), 700):
        spool.write(body[start : start + 700])
    assert spool._buffer is None and spool._file is not None  # on disk, not in memory
    assert list((tmp_path / "data").iterdir()) == []  # no name: a crash leaves nothing behind
    first, second = spool.chunks(1024), spool.chunks(1024)
    assert next(first) == body[:1024] and next(second) == body[:1024]  # positioned reads
    assert b"".join([body[:1024], *first]) == body == spool.getvalue()
    spool.close()
