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

__all__ = [
    "TimeValueError",
    "format_clock",
    "format_datetime",
    "format_duration",
    "format_gap",
    "parse_datetime",
    "parse_duration",
    "parse_optional_duration",
    "round_up_to_second",
]

MS_PER_SECOND = 1000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE

# [[H]H:]MM:SS[.fff] or SS[.fff]. Fraction of any length; hours unbounded (ultra races).
_DURATION = re.compile(
    r"""^\s*
    (?:(?:(?P<h>\d+):)?(?P<m>\d{1,2}):)?
    (?P<s>\d{1,2}|\d+(?=\.|\s*$))
    (?:[.,](?P<f>\d+))?
    \s*$""",
    re.VERBOSE,
)


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
    if isinstance(value, bool) or value is None:
        raise TimeValueError(field, value, "not a time")
    if isinstance(value, int):
        if value < 0:
            raise TimeValueError(field, value, "negative time")
        return value * MS_PER_SECOND
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise TimeValueError(field, value, "negative or non-finite time")
        return math.ceil(round(value * MS_PER_SECOND, 6))
    if not isinstance(value, str):
        raise TimeValueError(field, value, "not a time")
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
    return hours * MS_PER_HOUR + minutes * MS_PER_MINUTE + seconds * MS_PER_SECOND + millis


def parse_optional_duration(value: object, field: str = "time") -> int | None:
    """Like :func:`parse_duration`, but ``None`` and empty strings mean "no time yet"."""
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
    if not millis:
        ms = round_up_to_second(ms)
    hours, rest = divmod(ms, MS_PER_HOUR)
    minutes, rest = divmod(rest, MS_PER_MINUTE)
    seconds, frac = divmod(rest, MS_PER_SECOND)
    if millis:
        return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{frac:03d}"
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


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


def format_datetime(value: datetime) -> str:
    """ISO 8601 with milliseconds and the value's own offset (``+00:00`` for UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="milliseconds")
