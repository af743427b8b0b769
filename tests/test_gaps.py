"""True gaps, their trend and the penalty question, against fields worked out by hand and
a brute force over the passings."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from racetui.engine import Engine
from racetui.engine.gaps import Trend, Verdict, neighbours, penalty_check, true_gap
from racetui.model import Event, Participant, Passing, Race, RankBy, Status, TimingPoint, Wave
from racetui.model.race import Result

MIN = 60_000
S = 1_000


def field(points: int, waves: dict[str, int] | None = None, rank_by: RankBy = RankBy.CHIP) -> Engine:
    engine = Engine()
    race = Race(
        id="r",
        name="10k",
        points=[TimingPoint(id=f"p{i}", race_id="r", name=f"P{i}", order=i) for i in range(1, points + 1)],
        waves=[Wave(id=w, race_id="r", name=w, offset_ms=ms) for w, ms in (waves or {}).items()],
        rank_by=rank_by,
    )
    engine.load_event(Event(id="e", name="E", races=[race]))
    return engine


def enter(engine: Engine, bib: str, wave: str | None = None) -> None:
    engine.add_participants([Participant(bib=bib, race_id="r", name=f"A{bib}", wave_id=wave)])


def passed(engine: Engine, bib: str, point: int, gun_ms: int) -> None:
    engine.apply_passing(Passing(race_id="r", bib=bib, point_id=f"p{point}", time_ms=gun_ms))


def road_race() -> Engine:
    """Two waves five minutes apart; times below are gun times (race clock)."""
    engine = field(4, {"w1": 0, "w2": 5 * MIN})
    for bib in "123":
        enter(engine, bib, "w1")
    enter(engine, "4", "w2")
    enter(engine, "5", "w2")  # not started yet
    for point, gun in enumerate((6 * MIN, 15 * MIN, 24 * MIN), 1):
        passed(engine, "1", point, gun)
    for point, gun in enumerate((6 * MIN + 10 * S, 15 * MIN + 5 * S, 24 * MIN + 2 * S), 1):
        passed(engine, "2", point, gun)
    passed(engine, "3", 1, 6 * MIN + 30 * S)
    passed(engine, "3", 2, 15 * MIN + 40 * S)
    passed(engine, "4", 1, 10 * MIN + 50 * S)  # chip 5:50: faster than everyone so far
    return engine


def test_gap_at_the_chasers_last_point_with_its_trend() -> None:
    standings = road_race().race("r")
    gap = true_gap(standings, "2", "1")  # either order: the one ahead is found
    assert gap is not None
    assert (gap.ahead, gap.behind, gap.point_index) == ("1", "2", 2)
    assert gap.gap_ms == gap.ranking_gap_ms == 2 * S
    # 10 s, 5 s, 2 s at P1..P3: closing by 4 s a split over two splits
    assert gap.history == ((0, 10 * S), (1, 5 * S), (2, 2 * S))
    assert (gap.trend, gap.per_split_ms, gap.splits, gap.points_behind) == (Trend.CLOSING, -4 * S, 2, 0)


def test_a_chaser_a_point_behind_is_measured_where_it_is_now() -> None:
    standings = road_race().race("r")
    gap = true_gap(standings, "1", "3")
    assert gap is not None
    # 3 reached P2 at 15:40; 1 passed P2 at 15:00: 40 s, though 1 is at P3 already
    assert (gap.point_index, gap.gap_ms, gap.points_behind) == (1, 40 * S, 1)
    assert gap.history == ((0, 30 * S), (1, 40 * S)) and gap.trend is Trend.OPENING
    assert gap.per_split_ms == 10 * S


def test_across_waves_the_road_gap_is_gun_time_and_the_ranking_gap_chip_time() -> None:
    standings = road_race().race("r")
    gap = true_gap(standings, "1", "4")
    assert gap is not None
    assert (gap.ahead, gap.point_index) == ("1", 0)
    assert gap.gap_ms == 4 * MIN + 50 * S  # 10:50 − 6:00 on the road
    assert gap.ranking_gap_ms == -10 * S  # chip 5:50 − 6:00: 4 is faster on the clock that ranks
    assert gap.splits == 0 and gap.per_split_ms is None and gap.trend is Trend.STEADY


def test_no_gap_without_a_point_in_common() -> None:
    standings = road_race().race("r")
    assert true_gap(standings, "1", "5") is None  # 5 has not started
    assert true_gap(standings, "1", "1") is None
    assert true_gap(standings, "1", "99") is None


def test_a_lapped_rider_is_a_lap_down_at_the_point_it_reached_last() -> None:
    engine = field(8)  # a point per lap
    enter(engine, "1")
    enter(engine, "2")
    for lap in range(1, 8):
        passed(engine, "1", lap, lap * 5 * MIN)  # 5-minute laps
    for lap in range(1, 6):
        passed(engine, "2", lap, lap * 6 * MIN)  # 6-minute laps: lapped at 30:00
    gap = true_gap(engine.race("r"), "2", "1")
    assert gap is not None
    assert (gap.ahead, gap.point_index, gap.points_behind) == ("1", 4, 2)
    assert gap.gap_ms == 5 * MIN  # 30:00 − 25:00: one of the leader's laps
    assert gap.trend is Trend.OPENING and gap.per_split_ms == MIN


def test_a_missed_read_falls_back_to_the_latest_point_both_passed() -> None:
    engine = field(3)
    enter(engine, "1")
    enter(engine, "2")
    passed(engine, "1", 1, 100 * S)
    passed(engine, "1", 3, 300 * S)  # no read at P2
    passed(engine, "2", 1, 104 * S)
    passed(engine, "2", 2, 205 * S)
    gap = true_gap(engine.race("r"), "1", "2")
    assert gap is not None and (gap.point_index, gap.gap_ms) == (0, 4 * S)


def test_penalty_against_the_athlete_racing_behind() -> None:
    standings = road_race().race("r")
    # 1 leads 2 by 2 s at P3: a 30 s penalty costs the lead
    check = penalty_check(standings, "1", 30)
    assert check is not None and check.verdict is Verdict.NO
    assert (check.behind, check.margin_ms, check.final) == ("2", -28 * S, True)
    # 2: 3 is 35 s behind at P2 (3 has not reached P3): yes, not final
    check = penalty_check(standings, "2", 30)
    assert check is not None and (check.verdict, check.behind, check.final) == (Verdict.YES, "3", False)
    assert check.margin_ms == 5 * S
    assert penalty_check(standings, "2", 35).verdict is Verdict.NO  # type: ignore[union-attr]
    # 4 (racing, at P1): the one behind, 5, has not started: not known yet
    check = penalty_check(standings, "4", 30)
    assert check is not None and (check.verdict, check.behind) == (Verdict.UNKNOWN, "5")
    assert neighbours(standings, "2") == (standings.athlete("1"), standings.athlete("3"))


def test_nobody_racing_behind_and_athletes_out_of_the_race() -> None:
    engine = field(2)
    for bib in "123":
        enter(engine, bib)
    passed(engine, "1", 1, 100 * S)
    passed(engine, "2", 1, 200 * S)
    engine.apply_results("r", [Result(race_id="r", bib="2", status=Status.DNF, splits={"p1": 200 * S})])
    engine.apply_results("r", [Result(race_id="r", bib="3", status=Status.DNS)])
    standings = engine.race("r")
    check = penalty_check(standings, "1", 30)
    assert check is not None and check.verdict is Verdict.NOBODY_BEHIND and check.behind is None
    assert penalty_check(standings, "2", 30) is None  # DNF: no place to keep


# ------------------------------------------------------------------ brute force
athletes = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 2 * MIN]),  # wave offset
        st.lists(st.one_of(st.none(), st.integers(1, 90 * S)), min_size=1, max_size=5),  # per-point split
    ),
    min_size=2,
    max_size=6,
)


def build(
    spec: list[tuple[int, list[int | None]]], rank_by: RankBy
) -> tuple[Engine, dict[str, dict[int, int]]]:
    """The field from per-point split times (None: no read there); returns gun times by bib."""
    offsets = sorted({offset for offset, _ in spec})
    engine = field(5, {f"w{o}": o for o in offsets}, rank_by)
    guns: dict[str, dict[int, int]] = {}
    for n, (offset, splits) in enumerate(spec, 1):
        bib = str(n)
        enter(engine, bib, f"w{offset}")
        chip = 0
        guns[bib] = {}
        for point, split in enumerate(splits):
            chip += split or 45 * S
            if split is not None:
                guns[bib][point] = chip + offset
                passed(engine, bib, point + 1, chip + offset)
    return engine, guns


@settings(max_examples=150, deadline=None)
@given(athletes, st.sampled_from([RankBy.CHIP, RankBy.GUN]))
def test_true_gap_matches_a_brute_force_over_the_passings(spec: list, rank_by: RankBy) -> None:
    engine, guns = build(spec, rank_by)
    standings = engine.race("r")
    offset = {str(n): o for n, (o, _) in enumerate(spec, 1)}
    for a in guns:
        for b in guns:
            if a == b:
                continue
            gap = true_gap(standings, a, b)
            # brute force: the one further on; same point: first through it on the road
            last = {x: max(guns[x], default=-1) for x in (a, b)}
            if last[a] != last[b]:
                ahead = a if last[a] > last[b] else b
            elif last[a] < 0:
                ahead = min(a, b, key=int)
            else:
                tie = [(guns[x][last[x]], guns[x][last[x]] - offset[x], int(x)) for x in (a, b)]
                ahead = a if tie[0] < tie[1] else b
            behind = b if ahead == a else a
            common = [p for p in guns[behind] if p in guns[ahead] and p <= last[behind]]
            if not common:
                assert gap is None
                continue
            at = max(common)
            assert gap is not None
            assert (gap.ahead, gap.behind, gap.point_index) == (ahead, behind, at)
            assert gap.gap_ms == guns[behind][at] - guns[ahead][at]
            chip = gap.gap_ms - (offset[behind] - offset[ahead])
            assert gap.ranking_gap_ms == (gap.gap_ms if rank_by is RankBy.GUN else chip)
            window = sorted(common)[-4:]
            assert [p for p, _ in gap.history] == window
            change = (guns[behind][at] - guns[ahead][at]) - (guns[behind][window[0]] - guns[ahead][window[0]])
            if change <= -500 * max(1, len(window) - 1):
                assert gap.trend is Trend.CLOSING
            elif change >= 500 * max(1, len(window) - 1) and len(window) > 1:
                assert gap.trend is Trend.OPENING
            assert true_gap(standings, b, a) == gap  # the order asked in does not matter


@settings(max_examples=150, deadline=None)
@given(athletes, st.integers(0, 60), st.sampled_from([RankBy.CHIP, RankBy.GUN]))
def test_penalty_verdict_matches_a_brute_force(spec: list, seconds: int, rank_by: RankBy) -> None:
    engine, guns = build(spec, rank_by)
    standings = engine.race("r")
    offset = {str(n): o for n, (o, _) in enumerate(spec, 1)}

    def ranking(bib: str, point: int) -> int:
        return guns[bib][point] - (0 if rank_by is RankBy.GUN else offset[bib])

    for bib in guns:
        check = penalty_check(standings, bib, seconds)
        assert check is not None
        if not guns[bib]:
            continue
        at = max(guns[bib])
        # everyone ranked behind at the athlete's own latest point (equal time: start number)
        mine = (ranking(bib, at), int(bib))
        behind = [
            ranking(o, at) - mine[0]
            for o in guns
            if max(guns[o], default=-1) == at and (ranking(o, at), int(o)) > mine
        ]
        if check.final and check.verdict is not Verdict.NOBODY_BEHIND:
            assert behind, "a final verdict needs someone behind at the same point"
            assert check.verdict is (Verdict.YES if min(behind) > seconds * 1000 else Verdict.NO)
        elif check.verdict in (Verdict.YES, Verdict.NO):
            assert not behind  # the one behind is not at this point yet

        def key(o: str) -> tuple[int, int, int]:
            last = max(guns[o], default=-1)
            return (-last, ranking(o, last) if last >= 0 else 0, int(o))

        nobody = all(key(o) < key(bib) for o in guns if o != bib)
        assert (check.verdict is Verdict.NOBODY_BEHIND) == nobody
