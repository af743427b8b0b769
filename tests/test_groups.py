"""Groups on course, checked against groupings worked out by hand and a brute-force rule."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from racetui.engine.groups import group_starts, group_times


def test_a_chain_of_athletes_each_within_the_limit_is_one_group() -> None:
    groups = group_times([("3", 1_800), ("1", 0), ("2", 900), ("9", 60_000), ("7", 61_000)], 1_000)
    assert [g.bibs for g in groups] == [("1", "2", "3"), ("9", "7")]
    lead, chase = groups
    assert (lead.first_ms, lead.last_ms, lead.gap_ms, lead.span_ms) == (0, 1_800, None, 1_800)
    assert (chase.gap_ms, chase.behind_first_ms, chase.size, chase.leader) == (60_000, 60_000, 2, "9")


def test_nothing_gives_no_groups_and_equal_times_keep_the_order_given() -> None:
    assert group_times([]) == []
    assert [g.bibs for g in group_times([("b", 5), ("a", 5)], 0)] == [("b", "a")]
    assert [g.bibs for g in group_times([("b", 5), ("a", 6)], -3)] == [("b",), ("a",)]


@given(st.lists(st.integers(0, 20_000), max_size=40), st.integers(0, 3_000))
def test_groups_split_where_the_gap_to_the_one_ahead_exceeds_the_limit(times: list[int], within: int) -> None:
    pairs = [(str(i), t) for i, t in enumerate(times)]
    groups = group_times(pairs, within)
    flat = [bib for g in groups for bib in g.bibs]
    assert sorted(flat, key=int) == [p[0] for p in pairs]
    ordered = sorted(times)
    # brute force: a new group starts at every gap larger than the limit
    breaks = sum(1 for a, b in itertools.pairwise(ordered) if b - a > within)
    assert len(groups) == (breaks + 1 if times else 0)
    for g in groups:
        assert g.last_ms - g.first_ms >= 0


@given(st.lists(st.integers(0, 20_000), max_size=40), st.integers(-5, 3_000))
def test_group_starts_are_where_group_times_starts_its_groups(times: list[int], within: int) -> None:
    ordered = sorted(times)
    starts = group_starts(ordered, within)
    groups = group_times([(str(i), t) for i, t in enumerate(ordered)], within)
    assert starts == [int(g.bibs[0]) for g in groups]


def test_a_views_ranking_times_are_its_rows_times() -> None:
    from tests.fakes.race import OPEN, WAVES, race_pipeline

    pipeline, _ = race_pipeline(120)
    for race_id in (OPEN, WAVES):
        standings = pipeline.engine.races[race_id]
        for point in [None, *(p.id for p in standings.points)]:
            view = standings.view(point_id=point)
            rows = view.rows(0, len(view))
            by_gun = view.rank_by.value == "gun"
            expected = [(r.gun_ms if by_gun else r.time_ms) or 0 for r in rows]
            assert view.ranking_times() == expected, (race_id, point)
            assert [view.bib_at(i) for i in range(len(view))] == [r.bib for r in rows]
