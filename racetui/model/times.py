"""Every time rule racetui knows, in one place.

Durations are held as whole milliseconds (``int``) everywhere: equal times compare
equal, ties are exact, and nothing drifts through float arithmetic.

Wire formats accepted by :func:`parse_duration` (what real timers send):
``"HH:MM:SS.fff"``, ``"H:MM:SS"``, ``"MM:SS.fff"``, ``"SS.f"``, and plain numbers of
seconds (``int``/``float`` or their string forms). Date-times are ISO 8601 with ``Z``,
``+04:00`` or ``+0000`` offsets (parsed by :meth:`datetime.fromisoformat`).

A bad value raises :class:`TimeValueError`, which names the field and the value.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Literal

__all__ = [
    "HMS_TEXT",
    "MAX_DURATION_MS",
    "MILLIS_TEXT",
    "DurationUnit",
    "TimeValueError",
    "format_clock",
    "format_datetime",
    "format_duration",
    "format_duration_short",
    "format_gap",
    "format_hms",
    "format_time_of_day",
    "number_unit",
    "parse_canonical_duration",
    "parse_datetime",
    "parse_duration",
    "parse_number_duration",
    "parse_optional_duration",
    "round_up_to_second",
]

MS_PER_SECOND = 1000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
#: Nothing a race clock shows lasts longer (a multi-day ultra included); beyond is bad input.
MAX_DURATION_MS = 100 * 24 * MS_PER_HOUR
_MAX_TEXT = 40  # longer text is no duration (and huge digit runs must not reach int())

#: How a bare number of a duration is read: seconds or milliseconds.
DurationUnit = Literal["s", "ms"]

# [[H]H:]MM:SS[.fff] or SS[.fff]. Fraction of any length; hours unbounded (ultra races).
_DURATION = re.compile(
    r"""^\s*
    (?:(?:(?P<h>\d+):)?(?P<m>\d{1,2}):)?
    (?P<s>\d{1,2}|\d+(?=\.|\s*$))
    (?:[.,](?P<f>\d+))?
    \s*$""",
    re.VERBOSE,
)


# Fast paths: a feed carries hundreds of thousands of canonical "HH:MM:SS.fff" values and a
# v1.1 message of 50,000 athletes formats as many. Parsing looks each field's digits up in
# a table (one lookup checks and converts; a memo cost more than it saved at 600,000 values);
# formatting reads "HH:MM:SS" by whole second from a table grown on demand up to two days
# (a bogus 1000-hour time is formatted each time instead of allocating millions of strings).
#: ``".000"`` … ``".999"``: the millisecond tail of ``HH:MM:SS.fff`` by value.
MILLIS_TEXT: tuple[str, ...] = tuple(f".{i:03d}" for i in range(1000))
#: ``"HH:MM:SS"`` by whole second, grown by :func:`format_hms` (read it after warming).
HMS_TEXT: list[str] = []
_HMS_CAP = 48 * 3600


# The digits of "HH:MM:SS.fff" by field, as milliseconds: one lookup checks and converts
# (a missing key is a non-digit or minutes/seconds beyond 59).
_HOURS_MS = {f"{i:02d}": i * MS_PER_HOUR for i in range(100)}
_MINUTES_MS = {f"{i:02d}": i * MS_PER_MINUTE for i in range(60)}
_SECONDS_MS = {f"{i:02d}": i * MS_PER_SECOND for i in range(60)}
_MILLIS = {f"{i:03d}": i for i in range(1000)}


def parse_canonical_duration(value: object) -> int | None:
    """Milliseconds of a canonical ``"HH:MM:SS.fff"`` string (the v1.1 wire form), or None
    for any other value (then :func:`parse_optional_duration` reads it and names what is
    wrong)."""
    if type(value) is not str or len(value) != 12 or value[2] != ":" or value[5] != ":" or value[8] != ".":
        return None
    try:  # written out rather than a call: 641,000 times per 50,000-athlete message
        return (
            _HOURS_MS[value[0:2]] + _MINUTES_MS[value[3:5]] + _SECONDS_MS[value[6:8]] + _MILLIS[value[9:12]]
        )
    except KeyError:
        return None


def format_hms(seconds: int) -> str:
    """``HH:MM:SS`` of a whole number of seconds (>= 0), from the shared table."""
    if seconds < len(HMS_TEXT):
        return HMS_TEXT[seconds]
    if seconds >= _HMS_CAP:
        return _hms(seconds)
    start = len(HMS_TEXT)
    HMS_TEXT.extend(_hms(second) for second in range(start, min(_HMS_CAP, max(seconds + 1, start + 3600))))
    return HMS_TEXT[seconds]


def _hms(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


class TimeValueError(ValueError):
    """A time or date value that cannot be understood; names the field and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason}: {value!r}")


def parse_duration(value: object, field: str = "time") -> int:
    """Parse a duration into whole milliseconds.

    Fractions beyond milliseconds are rounded up (a timer never gains time by truncation).
    Negative or unparsable values raise :class:`TimeValueError`.
    """
    fast = parse_canonical_duration(value)
    if fast is not None:
        return fast
    if isinstance(value, bool) or value is None:
        raise TimeValueError(field, value, "not a time")
    if isinstance(value, int | float):
        return parse_number_duration(value, field, "s")
    if not isinstance(value, str):
        raise TimeValueError(field, value, "not a time")
    if len(value) > _MAX_TEXT:
        raise TimeValueError(field, value[:_MAX_TEXT] + "...", "too long for a time")
    text = value.strip()
    if text.startswith("-"):
        raise TimeValueError(field, value, "negative time")
    match = _DURATION.match(text)
    if match is None:
        raise TimeValueError(field, value, "expected HH:MM:SS.fff, MM:SS.fff or seconds")
    hours = int(match["h"] or 0)
    minutes = int(match["m"] or 0)
    seconds = int(match["s"])
    if match["m"] is not None and (seconds >= 60 or len(match["s"]) > 2):
        raise TimeValueError(field, value, "seconds must be below 60")
    if match["h"] is not None and minutes >= 60:
        raise TimeValueError(field, value, "minutes must be below 60")
    fraction = match["f"] or ""
    millis = int((fraction + "000")[:3])
    if len(fraction) > 3 and int(fraction[3:]) > 0:
        millis += 1  # round up sub-millisecond residue
    total = hours * MS_PER_HOUR + minutes * MS_PER_MINUTE + seconds * MS_PER_SECOND + millis
    if total > MAX_DURATION_MS:
        raise TimeValueError(field, value, "longer than any race")
    return total


def parse_number_duration(value: object, field: str, unit: DurationUnit) -> int:
    """A bare number of seconds (``unit="s"``) or milliseconds (``"ms"``) as whole
    milliseconds, rounded up like :func:`parse_duration`. Negative, non-finite or absurdly
    large numbers (beyond :data:`MAX_DURATION_MS`) raise :class:`TimeValueError`: a time of
    ``1e308`` is bad input, not an overflow."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TimeValueError(field, value, "not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise TimeValueError(field, value, "not a finite number")
    if value < 0:
        raise TimeValueError(field, value, "negative time")
    limit = MAX_DURATION_MS if unit == "ms" else MAX_DURATION_MS // MS_PER_SECOND
    if value > limit:
        raise TimeValueError(field, value, "longer than any race")
    if isinstance(value, int):
        return value if unit == "ms" else value * MS_PER_SECOND
    scaled = value if unit == "ms" else value * MS_PER_SECOND
    return math.ceil(round(scaled, 6))


def number_unit(value: float, clock_ms: int | None) -> DurationUnit:
    """Whether a bare duration number is seconds or milliseconds, by magnitude.

    Timing systems send either, and the vendor text does not say which. A race time in
    milliseconds is a thousand times its value in seconds, so a number far beyond the race
    clock (twice the clock plus an hour, read as seconds) can only be milliseconds; without
    a clock the bound is 36 hours. A number within the bound is read as seconds."""
    limit_s = 36 * 3600 if not clock_ms or clock_ms <= 0 else 2 * clock_ms / MS_PER_SECOND + 3600
    return "ms" if value > limit_s else "s"


def parse_optional_duration(value: object, field: str = "time") -> int | None:
    """Like :func:`parse_duration`, but ``None`` and empty strings mean "no time yet"."""
    fast = parse_canonical_duration(value)
    if fast is not None:
        return fast
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_duration(value, field)


def round_up_to_second(ms: int) -> int:
    """The v1.1 whole-second rule: 00:09:14.001 -> 00:09:15, 00:09:14.000 -> 00:09:14."""
    return -(-ms // MS_PER_SECOND) * MS_PER_SECOND


def format_duration(ms: int, *, millis: bool = True) -> str:
    """``HH:MM:SS.fff`` (v1.1 wire form); with ``millis=False`` the whole-second rule applies."""
    if ms < 0:
        raise TimeValueError("duration", ms, "negative time")
    if millis:
        seconds, frac = divmod(ms, MS_PER_SECOND)
        return format_hms(seconds) + MILLIS_TEXT[frac]
    return format_hms(-(-ms // MS_PER_SECOND))


def format_duration_short(ms: int, decimals: int = 2) -> str:
    """No leading zero hours: ``14:25.10``, ``2:05:31.20``, ``1:30`` with ``decimals=0``.

    The fraction is rounded up to ``decimals`` digits (0-3): a timer never gives time away."""
    if ms < 0:
        raise TimeValueError("duration", ms, "negative time")
    if not 0 <= decimals <= 3:
        raise ValueError(f"decimals: expected 0 to 3, got {decimals}")
    unit = 10 ** (3 - decimals)
    ticks = -(-ms // unit)
    whole, frac = divmod(ticks, 10**decimals)
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    tail = f".{frac:0{decimals}d}" if decimals else ""
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}{tail}"
    return f"{minutes}:{seconds:02d}{tail}"


def format_clock(ms: int | None, *, tenths: bool = False) -> str:
    """Compact human form for screens: ``2:05:31``, ``45:02``, ``45:02.3`` with tenths."""
    if ms is None:
        return ""
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if tenths:
        hours, rest = divmod(ms // 100, 36000)
        minutes, rest = divmod(rest, 600)
        seconds, tenth = divmod(rest, 10)
        body = (
            f"{minutes:02d}:{seconds:02d}.{tenth}"
            if hours == 0
            else f"{hours}:{minutes:02d}:{seconds:02d}.{tenth}"
        )
        return sign + body
    total = ms // MS_PER_SECOND
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"
    return f"{sign}{minutes:02d}:{seconds:02d}"


def format_gap(ms: int | None) -> str:
    """A gap for a leaderboard: ``+12.3``, ``+1:02.5``, ``+1:02:03``; empty for the leader."""
    if ms is None:
        return ""
    if ms == 0:
        return "—"
    if ms < MS_PER_MINUTE:
        return f"+{ms // MS_PER_SECOND}.{(ms % MS_PER_SECOND) // 100}"
    if ms < MS_PER_HOUR:
        minutes, rest = divmod(ms, MS_PER_MINUTE)
        return f"+{minutes}:{rest // MS_PER_SECOND:02d}.{(rest % MS_PER_SECOND) // 100}"
    return "+" + format_clock(ms)


def parse_datetime(value: object, field: str = "date") -> datetime:
    """Parse an ISO 8601 date-time (``Z``, ``+04:00`` and ``+0000`` offsets).

    A value without an offset is taken as UTC so that every returned date-time is aware.
    """
    if not isinstance(value, str) or not value.strip():
        raise TimeValueError(field, value, "not an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise TimeValueError(field, value, "not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_time_of_day(moment: datetime | None, *, seconds: bool = True) -> str:
    """A wall-clock time for screens: ``14:05:09`` (or ``14:05``); dashes when unknown."""
    if moment is None:
        return "--:--:--" if seconds else "--:--"
    return moment.strftime("%H:%M:%S" if seconds else "%H:%M")


def format_datetime(value: datetime) -> str:
    """ISO 8601 with milliseconds and the value's own offset (``+00:00`` for UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="milliseconds")
