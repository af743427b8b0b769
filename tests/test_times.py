"""The time rules, table-driven: every time and date example in the v1.1 spec, and bad values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racetui.model.times import (
    TimeValueError,
    format_clock,
    format_datetime,
    format_duration,
    format_gap,
    parse_datetime,
    parse_duration,
    parse_optional_duration,
    round_up_to_second,
)

H, M, S = 3_600_000, 60_000, 1000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        # every duration in the v1.1 spec's examples
        ("00:18:37.911", 18 * M + 37 * S + 911),
        ("00:10:54.799", 10 * M + 54 * S + 799),
        ("00:07:43.112", 7 * M + 43 * S + 112),
        ("00:00:11.001", 11 * S + 1),
        ("00:00:00.000", 0),
        ("00:17:16.145", 17 * M + 16 * S + 145),
        ("00:03:46", 3 * M + 46 * S),
        ("00:00:30", 30 * S),
        ("00:25.000", 25 * S),  # the relay example's MM:SS.fff
        ("00:09:15", 9 * M + 15 * S),
        ("01:46:51.000", H + 46 * M + 51 * S),
        # the other forms timers send
        ("1:02:03", H + 2 * M + 3 * S),
        ("2:05:31.2", 2 * H + 5 * M + 31 * S + 200),
        ("14:25.10", 14 * M + 25 * S + 100),
        ("59.9", 59 * S + 900),
        ("125.5", 125 * S + 500),
        ("7", 7 * S),
        ("  00:01:00.5 ", M + 500),
        ("26:00:00.000", 26 * H),  # ultra distances pass 24 h
        ("00:00:01.0001", S + 1),  # sub-millisecond residue rounds up
        (3, 3 * S),
        (1.25, 1250),
        (0, 0),
    ],
)
def test_parse_duration(text: object, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "-00:00:01",
        "00:61:00",
        "00:00:61",
        "1:2:3:4",
        "12:345",
        "00:0a:00",
        None,
        True,
        [],
        {},
        -1,
        -0.5,
        float("nan"),
        float("inf"),
        "1e3",
    ],
)
def test_bad_durations_name_field_and_value(bad: object) -> None:
    with pytest.raises(TimeValueError) as info:
        parse_duration(bad, field="splits[2].time")
    assert info.value.field == "splits[2].time"
    assert info.value.value == bad or (info.value.value != info.value.value)  # nan is not equal to itself
    assert "splits[2].time" in str(info.value)
    assert repr(bad) in str(info.value)


def test_optional_duration() -> None:
    assert parse_optional_duration(None) is None
    assert parse_optional_duration("  ") is None
    assert parse_optional_duration("00:00:02") == 2 * S


@pytest.mark.parametrize(
    ("ms", "whole"),
    [  # the spec's table for the whole-second rule
        (9 * M + 14 * S, "00:09:14"),
        (9 * M + 14 * S + 1, "00:09:15"),
        (9 * M + 14 * S + 500, "00:09:15"),
        (9 * M + 14 * S + 999, "00:09:15"),
        (9 * M + 15 * S, "00:09:15"),
    ],
)
def test_whole_second_rule(ms: int, whole: str) -> None:
    assert format_duration(ms, millis=False) == whole
    assert round_up_to_second(ms) == parse_duration(whole)


def test_format_duration_with_millis() -> None:
    assert format_duration(18 * M + 37 * S + 911) == "00:18:37.911"
    assert format_duration(26 * H + 5) == "26:00:00.005"
    with pytest.raises(TimeValueError):
        format_duration(-1)


@given(st.integers(min_value=0, max_value=100 * H))
def test_duration_round_trip(ms: int) -> None:
    assert parse_duration(format_duration(ms)) == ms


@pytest.mark.parametrize(
    ("ms", "clock", "tenths"),
    [
        (0, "00:00", "00:00.0"),
        (45 * M + 2 * S + 345, "45:02", "45:02.3"),
        (2 * H + 5 * M + 31 * S, "2:05:31", "2:05:31.0"),
        (-(10 * S), "-00:10", "-00:10.0"),
    ],
)
def test_format_clock(ms: int, clock: str, tenths: str) -> None:
    assert format_clock(ms) == clock
    assert format_clock(ms, tenths=True) == tenths


@pytest.mark.parametrize(
    ("ms", "gap"),
    [(None, ""), (0, "—"), (12_345, "+12.3"), (M + 2_500, "+1:02.5"), (H + 2 * M + 3 * S, "+1:02:03")],
)
def test_format_gap(ms: int | None, gap: str) -> None:
    assert format_gap(ms) == gap


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # every date in the v1.1 spec
        ("2017-03-04T18:25:11+04:00", datetime(2017, 3, 4, 18, 25, 11, tzinfo=timezone(timedelta(hours=4)))),
        ("2017-03-04T15:55:00+04:00", datetime(2017, 3, 4, 15, 55, tzinfo=timezone(timedelta(hours=4)))),
        ("2017-01-01T13:34:59.123Z", datetime(2017, 1, 1, 13, 34, 59, 123000, tzinfo=UTC)),
        ("2017-06-11T17:03:12+0000", datetime(2017, 6, 11, 17, 3, 12, tzinfo=UTC)),
        ("2017-06-11T14:39:00+0000", datetime(2017, 6, 11, 14, 39, tzinfo=UTC)),
        ("2026-11-23T09:00:00", datetime(2026, 11, 23, 9, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "bad", ["", "yesterday", "2017-13-01T00:00:00Z", "2017-06-11 25:00", None, 12, "T17:03"]
)
def test_bad_datetimes(bad: object) -> None:
    with pytest.raises(TimeValueError) as info:
        parse_datetime(bad, field="start_time")
    assert "start_time" in str(info.value)


def test_format_datetime_keeps_offset_and_millis() -> None:
    assert format_datetime(parse_datetime("2017-03-04T18:25:11+04:00")) == "2017-03-04T18:25:11.000+04:00"
    assert format_datetime(datetime(2017, 1, 1, 13, 34, 59, 123000)) == "2017-01-01T13:34:59.123+00:00"


def test_canonical_fast_path_agrees_with_the_general_parser() -> None:
    from racetui.model.times import parse_optional_duration

    for text in ("00:00:00.000", "01:02:03.004", "99:59:59.999", "00:09:14.001"):
        assert parse_duration(text) == parse_duration(" " + text)  # the padded one takes the regex
        assert parse_optional_duration(text) == parse_duration(text)
    for bad in ("00:60:00.000", "00:00:60.000", "0a:00:00.000", "00:00:00,000x"):
        with pytest.raises(TimeValueError):
            parse_duration(bad)


def test_formatting_tables_and_short_forms() -> None:
    from datetime import datetime

    from racetui.model.times import format_duration_short, format_hms, format_time_of_day

    assert format_hms(0) == "00:00:00" and format_hms(3725) == "01:02:05"
    assert format_hms(48 * 3600 + 1) == "48:00:01"  # beyond the table: formatted each time
    assert format_duration(3_725_001) == "01:02:05.001"
    assert format_duration(3_725_001, millis=False) == "01:02:06"
    assert format_duration_short(865_100) == "14:25.10"
    assert format_duration_short(7_531_201, 1) == "2:05:31.3"  # rounded up
    assert format_duration_short(90_000, 0) == "1:30"
    assert format_duration_short(65_000, 0) == "1:05"  # the box countdown
    assert format_duration_short(20_000, 0) == "0:20"
    with pytest.raises(TimeValueError):
        format_duration_short(-1)
    assert format_time_of_day(datetime(2026, 5, 1, 14, 5, 9)) == "14:05:09"
    assert format_time_of_day(None, seconds=False) == "--:--"
