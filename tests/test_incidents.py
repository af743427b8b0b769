"""Incident parsing: every example sentence of the Standard Incident Guidelines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racetui.model import Incident, IncidentKind, format_incidents, parse_incidents


@pytest.mark.parametrize(
    ("text", "kind", "seconds", "infringement", "served"),
    [
        (
            "15 second penalty for cutting the swim course",
            IncidentKind.PENALTY,
            15,
            "cutting the swim course",
            False,
        ),
        (
            "Served 15 second penalty for cutting the swim course",
            IncidentKind.PENALTY,
            15,
            "cutting the swim course",
            True,
        ),
        ("DSQ for cutting the swim course", IncidentKind.DSQ, None, "cutting the swim course", False),
        ("Withdrew from the race due to bike crash.", IncidentKind.NOTE, None, None, False),
        ("10 second penalty for bike infringement", IncidentKind.PENALTY, 10, "bike infringement", False),
        ("served 10 second penalty for drafting.", IncidentKind.PENALTY, 10, "drafting", True),
        ("30 seconds penalty for littering", IncidentKind.PENALTY, 30, "littering", False),
    ],
)
def test_single_sentences(
    text: str, kind: IncidentKind, seconds: int | None, infringement: str | None, served: bool
) -> None:
    (incident,) = parse_incidents(text)
    assert incident.kind is kind
    assert incident.seconds == seconds
    assert incident.infringement == infringement
    assert incident.served is served
    assert incident.text == text  # the original is kept for display and re-publishing


def test_several_incidents_separated_by_commas() -> None:
    text = (
        "Served 15 second penalty for cutting the swim course, 10 second penalty for bike infringement, "
        "DSQ for dangerous riding"
    )
    incidents = parse_incidents(text)
    assert [i.kind for i in incidents] == [IncidentKind.PENALTY, IncidentKind.PENALTY, IncidentKind.DSQ]
    assert [i.served for i in incidents] == [True, False, False]
    assert [i.seconds for i in incidents] == [15, 10, None]
    assert incidents[2].infringement == "dangerous riding"
    assert format_incidents(incidents) == text


def test_commas_inside_free_text_do_not_split() -> None:
    text = "Withdrew from the race due to bike crash, taken to medical, 15 second penalty for littering"
    incidents = parse_incidents(text)
    assert [i.kind for i in incidents] == [IncidentKind.NOTE, IncidentKind.PENALTY]
    assert incidents[0].text == "Withdrew from the race due to bike crash, taken to medical"


@pytest.mark.parametrize("empty", [None, "", "   ", ","])
def test_nothing_to_parse(empty: str | None) -> None:
    assert parse_incidents(empty) == []


def test_standard_wording_from_records() -> None:
    penalty = Incident.penalty(15, "cutting the swim course")
    assert penalty.text == "15 second penalty for cutting the swim course"
    served = penalty.model_copy(update={"served": True})
    assert served.standard_text() == "Served 15 second penalty for cutting the swim course"
    assert Incident.dsq("cutting the swim course").standard_text() == "DSQ for cutting the swim course"
    note = Incident.note("Withdrew from the race due to bike crash.", IncidentKind.DNF)
    assert format_incidents([served, note]) == (
        "Served 15 second penalty for cutting the swim course, Withdrew from the race due to bike crash."
    )
    assert format_incidents([]) is None


@given(st.text(max_size=200))
def test_any_text_parses_into_pieces_of_itself(text: str) -> None:
    for incident in parse_incidents(text):
        assert incident.text
        assert incident.text in text
        assert incident.text == incident.text.strip()
