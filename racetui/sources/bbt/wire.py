"""Reading BBT wire values leniently, with errors that name the field and the value.

The vendor's text (``/api/1.1``) names endpoints and parameters but shows no bodies, so
masters of different versions differ where it is silent. What racetui accepts (see
``docs/bbt-api.md``, "What racetui accepts"):

* ids (``id``, ``race_id``, ``point_id``, ...) as JSON numbers or as text (``"12"``);
* race numbers as numbers or text;
* durations as ``H:MM:SS(.fff)`` text or as numbers (seconds or milliseconds, decided by
  the decoder against the race clock: :func:`racetui.model.times.number_unit`);
* list answers as the envelope with or without ``total``/``pages``, or a bare JSON array;
* unknown fields ignored, optional fields absent.

Every reader raises :class:`BadData` (racetui's own error type) and nothing else, whatever
the value: huge numbers, deep nesting, odd unicode, wrong shapes.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from racetui.model import Incident, RelayLeg, RelayMember, Status
from racetui.model.incidents import parse_incidents
from racetui.model.times import parse_datetime

__all__ = [
    "MAX_PAGES",
    "MAX_PAGE_ITEMS",
    "BadData",
    "Page",
    "envelope",
    "read_bool",
    "read_datetime",
    "read_enum",
    "read_float",
    "read_id",
    "read_incidents",
    "read_int",
    "read_members",
    "read_racenum",
    "read_status",
    "read_str",
    "show",
]

T = TypeVar("T")

#: At most this many pages of one listing are read (a 50,000-athlete start at the vendor's
#: default page size of 50 is 1,000 pages).
MAX_PAGES = 5_000
#: A list answer claiming more items than this in all (pages × page size) is refused. The
#: count is what matters, not the pages: asked one item a page (how the client learns how
#: many passed a point), a 50,000-athlete race's busy point rightly answers 50,000 pages.
MAX_LIST_ITEMS = 10_000_000
#: A single page with more items than this is refused (the documented maximum is 1,000).
MAX_PAGE_ITEMS = 100_000
_MAX_ID_TEXT = 64
_BIG = 2**63


class BadData(ValueError):
    """A field with the wrong type or value, or missing; the message names it."""


_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxstring = 40
_repr.maxother = 40
_repr.maxlist = _repr.maxdict = _repr.maxtuple = 4
_repr.maxlong = 30


def show(value: Any) -> str:
    """A short, safe rendering of a wire value for a message (never recursion-deep)."""
    try:
        text = _repr.repr(value)
    except Exception:  # a value that cannot even be shown is named by its type
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _missing_or(obj: Mapping[str, Any], key: str, expected: str) -> BadData:
    if key not in obj:
        return BadData(f"{key}: missing")
    return BadData(f"{key}: expected {expected}, got {show(obj.get(key))}")


def as_int(value: Any) -> int | None:
    """A whole number from a JSON number or digit text; None when it is not one."""
    if type(value) is int:
        return value if -_BIG < value < _BIG else None
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < _BIG:
            return int(value)
        return None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if 0 < len(text) <= 19 and digits.isdigit() and digits.isascii():
            return int(text)
    return None


def read_int(obj: Mapping[str, Any], key: str, *, optional: bool = False) -> int | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    number = as_int(value)
    if number is None:
        raise _missing_or(obj, key, "a whole number")
    return number


def need_int(obj: Mapping[str, Any], key: str) -> int:
    number = read_int(obj, key)
    assert number is not None
    return number


def read_id(obj: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    """An id as racetui's text: ``12``, ``"12"`` and ``"012"`` are all ``"12"``; other
    short printable text is kept as it is."""
    value = obj.get(key)
    if value is None and optional:
        return None
    number = as_int(value)
    if number is not None:
        if number < 0:
            raise BadData(f"{key}: expected an id, got {show(value)}")
        return str(number)
    if isinstance(value, str):
        text = value.strip()
        if text and len(text) <= _MAX_ID_TEXT and text.isprintable():
            return text
    raise _missing_or(obj, key, "an id")


def need_id(obj: Mapping[str, Any], key: str) -> str:
    value = read_id(obj, key)
    assert value is not None
    return value


def read_str(obj: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if isinstance(value, str):
        return value
    if optional and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a category or club sent as a number
    raise _missing_or(obj, key, "text")


def read_float(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise BadData(f"{key}: expected a number, got {show(obj.get(key))}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadData(f"{key}: expected a number, got {show(value)}")
    number = float(value) if abs(value) < 1e300 else math.inf
    if not math.isfinite(number):
        raise BadData(f"{key}: expected a finite number, got {show(obj.get(key))}")
    return number


def read_bool(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise BadData(f"{key}: expected true or false, got {show(value)}")


def read_racenum(obj: Mapping[str, Any]) -> str:
    value = obj.get("racenum")
    number = as_int(value) if not isinstance(value, str) else None
    if number is not None and number >= 0:
        return str(number)
    if isinstance(value, str):
        text = value.strip()
        if text and len(text) <= _MAX_ID_TEXT and text.isprintable():
            return text
    if "racenum" not in obj:
        raise BadData("racenum: missing")
    raise BadData(f"racenum: expected a race number, got {show(value)}")


def read_datetime(obj: Mapping[str, Any], key: str) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) and len(value) > 64:
        raise BadData(f"{key}: not an ISO 8601 date-time: {show(value)}")
    try:
        return parse_datetime(value, key)
    except (ValueError, OverflowError):
        raise BadData(f"{key}: not an ISO 8601 date-time: {show(value)}") from None


def read_enum(obj: Mapping[str, Any], key: str, kind: type[T], default: T) -> T:
    value = obj.get(key)
    if value is None:
        return default
    try:
        return kind(value.strip().lower() if isinstance(value, str) else value)  # type: ignore[call-arg]
    except (ValueError, TypeError):
        raise BadData(f"{key}: unknown value {show(value)}") from None


def read_status(obj: Mapping[str, Any]) -> Status:
    value = obj.get("status")
    if value is not None and not isinstance(value, str):
        raise BadData(f"status: expected text, got {show(value)}")
    try:
        return Status.parse(value)
    except ValueError:
        raise BadData(
            f"status: unknown status {show(value)} (expected OK, DNS, DNF, DSQ, LAP or NC)"
        ) from None


def read_incidents(obj: Mapping[str, Any]) -> list[Incident]:
    value = obj.get("incidents")
    if value is None:
        return []
    if not isinstance(value, str):
        raise BadData(f"incidents: expected text, got {show(value)}")
    try:
        return parse_incidents(value.strip() or None)
    except (ValueError, TypeError) as exc:
        raise BadData(f"incidents: {exc}") from None


def read_members(obj: Mapping[str, Any]) -> list[RelayLeg]:
    value = obj.get("members")
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadData(f"members: expected a list, got {show(value)}")
    legs = []
    for i, member in enumerate(value):
        if not isinstance(member, dict):
            raise BadData(f"members[{i}]: expected an object, got {show(member)}")
        try:
            legs.append(
                RelayLeg(
                    order=need_int(member, "order"),
                    member=RelayMember(
                        id=read_id(member, "id", optional=True),
                        name=read_str(member, "name", optional=True) or "",
                        gender=read_str(member, "gender", optional=True),
                        country=read_str(member, "country", optional=True),
                    ),
                )
            )
        except BadData as exc:
            raise BadData(f"members[{i}].{exc}") from None
        except ValueError as exc:  # the model's own validation
            raise BadData(f"members[{i}]: {str(exc).splitlines()[0]}") from None
    return legs


@dataclass(slots=True)
class Page:
    """One page of a list answer, whatever form the master used.

    ``pages`` is None when the master did not say (no ``pages``/``total``, or a bare
    array): then ``last`` is decided by a short or empty page.
    """

    items: list[Any]
    page: int
    pages: int | None
    last: bool
    form: str  # "envelope", "envelope without total/pages" or "bare array"
    total: int | None = None  # items in the whole listing, when the master says


def _param_int(params: Mapping[str, str], key: str, default: int) -> int:
    number = as_int(params.get(key))
    return number if number is not None and number >= 1 else default


def envelope(body: Any, params: Mapping[str, str]) -> Page:
    """A list answer as a :class:`Page`; ``params`` are the request's query parameters
    (the page asked for, and its size: the vendor's defaults are page 1 of 50)."""
    asked_page = _param_int(params, "page", 1)
    asked_size = _param_int(params, "page_size", 50)
    items: list[Any]
    pages: int | None
    total: int | None = None
    if isinstance(body, list):
        items, page, pages, form = body, asked_page, None, "bare array"
    elif isinstance(body, dict):
        found = body.get("data")
        if found is None:
            for key in ("results", "items"):
                if isinstance(body.get(key), list):
                    found = body[key]
                    break
        if not isinstance(found, list):
            raise BadData(
                "data: missing" if "data" not in body else f"data: expected a list, got {show(found)}"
            )
        items = found
        page = _envelope_int(body, "page", asked_page) or asked_page
        pages = _envelope_int(body, "pages", None)
        total = _envelope_int(body, "total", None)
        size = _envelope_int(body, "page_size", asked_size) or asked_size
        if size > MAX_PAGE_ITEMS:
            raise BadData(f"page_size: {size} is absurd (at most {MAX_PAGE_ITEMS})")
        if pages is None and total is not None:
            pages = -(-total // size) if size else None
        form = "envelope" if pages is not None else "envelope without total/pages"
    else:
        raise BadData(f"expected a JSON object or array, got {type(body).__name__}")
    if pages is not None and pages * max(asked_size, 1) > MAX_LIST_ITEMS:
        raise BadData(
            f"pages: {pages} is absurd ({pages} pages of {asked_size} is more than {MAX_LIST_ITEMS:,} items)"
        )
    if len(items) > MAX_PAGE_ITEMS:
        raise BadData(f"data: {len(items)} items in one page is absurd (at most {MAX_PAGE_ITEMS})")
    # Without a page count: paged until a short or empty page; a page bigger than asked
    # means the master does not page at all (everything came at once).
    last = (page >= pages or not items) if pages is not None else len(items) != asked_size
    return Page(items, page, pages, last, form, total if total is not None and total >= 0 else None)


def _envelope_int(body: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key)
    if value is None:
        return default
    number = as_int(value)
    if number is None or number < 0:
        raise BadData(f"{key}: expected a whole number, got {show(value)}")
    return number
