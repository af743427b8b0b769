"""The one rule for ordering bibs (start numbers).

A bib's start number is its first run of digits ("A12B3" -> 12, "123" -> 123); bibs with
no digits sort after every numbered one. Ties between equal numbers break on the text.
"""

from __future__ import annotations

import re

__all__ = ["NO_NUMBER", "bib_key", "start_number"]

NO_NUMBER = 10**12
_DIGITS = re.compile(r"\d+")


def start_number(bib: str) -> int:
    """The numeric start number of ``bib`` (its first run of digits), or :data:`NO_NUMBER`."""
    match = _DIGITS.search(bib)
    if not match:
        return NO_NUMBER
    digits = match.group()
    return int(digits) if len(digits) <= 12 else NO_NUMBER


def bib_key(bib: str) -> tuple[int, str]:
    """Sort key for bibs: by start number, then by the text."""
    return (start_number(bib), bib)
