"""Standings engine: ordering by the v1.1 rules, positions, gaps, change sets."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import racetui.engine.standings as standings_module
from racetui.engine import ChangeSet, Engine, status_rank
from racetui.model import (
    ClockState,
    Event,
    Incident,
    Participant,
    Passing,
    Race,
    RaceClock,
    RaceKind,
    RelayLeg,
    RelayMember,
    Result,
    Status,
    TimingPoint,
    Wave,
)


def make_engine(points: int = 3, bibs: int = 6, waves: list[Wave] | None = None) -> Engine:
    engine = Engine()
    race = Race(
        id="r1",
        name="Test 10k",
        points=[TimingPoint(id=f"p{i}", race_id="r1", name=f"{i} km", order=i) for i in range(1, points + 1)],
        waves=waves or [],
    )
    engine.load_event(Event(id="e", name="Event", races=[race]))
    engine.add_participants(
        Participant(
            bib=str(b),
            race_id="r1",
            name=f"Athlete {b}",
            gender="F" if b % 2 else "M",
            category="F40" if b % 4 == 1 else None,
            wave_id="w2" if waves and b > bibs // 2 else ("w1" if waves else None),
        )
        for b in range(1, bibs + 1)
    )
    return engine


def passing(bib: int | str, point: int, ms: int) -> Passing:
    return Passing(race_id="r1", bib=str(bib), point_id=f"p{point}", time_ms=ms)


def passes_and_results(bibs: int, seconds: int) -> list[st.SearchStrategy[tuple[Any, ...]]]:
    """Ops for :func:`apply_op`: a passing (bib, point 1-3, second), or a result (bib,
    status, seconds by point: times taken back, statuses)."""
    return [
        st.tuples(st.just("pass"), st.integers(1, bibs), st.integers(1, 3), st.integers(0, seconds)),
        st.tuples(
            st.just("result"),
            st.integers(1, bibs),
            st.sampled_from([Status.OK, Status.DNF, Status.DSQ]),
            st.dictionaries(st.integers(1, 3), st.integers(0, seconds), max_size=3),
        ),
    ]


def apply_op(engine: Engine, op: tuple[Any, ...]) -> ChangeSet:
    if op[0] == "pass":
        return engine.apply_passing(passing(op[1], op[2], op[3] * 1000))
    splits = {f"p{p}": t * 1000 for p, t in op[3].items()}
    return engine.apply_results("r1", [Result(race_id="r1", bib=str(op[1]), status=op[2], splits=splits)])


def order(engine: Engine, **kwargs: str) -> list[str]:
    view = engine.race("r1").view(**kwargs)
    return [row.bib for row in view.rows(0, len(view))]


def test_start_number_orders_before_any_timing() -> None:
    engine = make_engine(bibs=12)
    assert order(engine) == [str(b) for b in range(1, 13)]  # numeric, not "1, 10, 11, 12, 2"


def test_further_points_first_then_time() -> None:
    engine = make_engine()
    engine.apply_passings([passing(4, 1, 5000), passing(2, 1, 4000), passing(6, 1, 6000)])
    engine.apply_passing(passing(6, 2, 9000))  # slowest at point 1 but furthest now
    assert order(engine) == ["6", "2", "4", "1", "3", "5"]
    rows = engine.race("r1").view().rows(0, 3)
    assert [r.rank for r in rows] == [1, 2, 3]
    assert [r.position for r in rows] == [1, 1, 2]  # position at their own latest point
    assert rows[2].gap_leader_ms == 1000 and rows[2].gap_ahead_ms == 1000


def test_equal_times_share_a_position() -> None:
    engine = make_engine()
    engine.apply_passings([passing(5, 1, 4000), passing(3, 1, 4000), passing(1, 1, 4500)])
    rows = engine.race("r1").view().rows(0, 3)
    assert [r.bib for r in rows] == ["3", "5", "1"]  # tie broken by start number for display
    assert [r.rank for r in rows] == [1, 1, 3]
    assert [r.position for r in rows] == [1, 1, 3]


def test_dnf_dns_after_and_dsq_at_the_bottom() -> None:
    engine = make_engine()
    engine.apply_passings([passing(b, 1, 1000 * b) for b in range(1, 7)])
    engine.apply_passings([passing(1, 2, 5000), passing(2, 2, 6000)])
    engine.apply_results(
        "r1",
        [
            Result(
                race_id="r1",
                bib="1",
                status=Status.DSQ,
                splits={"p1": 1000, "p2": 5000},
                incidents=[Incident.dsq("dangerous riding")],
            )
        ],
    )
    engine.apply_results("r1", [Result(race_id="r1", bib="3", status=Status.DNF, splits={"p1": 3000})])
    engine.apply_results("r1", [Result(race_id="r1", bib="6", status=Status.DNS)])
    assert order(engine) == ["2", "4", "5", "3", "6", "1"]
    rows = {r.bib: r for r in engine.race("r1").view().rows(0, 6)}
    assert rows["1"].rank is None and rows["1"].status is Status.DSQ
    assert rows["3"].rank is None
    # a DSQ athlete takes no place: bib 2 now leads point 2; at point 1 bib 4 is third,
    # behind bib 2 and bib 3 (who did pass there before abandoning)
    assert rows["2"].position == 1 and rows["2"].gap_leader_ms == 0
    assert rows["4"].position == 3
    assert (
        status_rank(Status.DSQ) > status_rank(Status.DNS) > status_rank(Status.DNF) > status_rank(Status.OK)
    )


def test_reinstated_dsq_returns_to_its_place() -> None:
    engine = make_engine()
    engine.apply_passings([passing(b, 1, 1000 * b) for b in range(1, 7)])
    engine.apply_results("r1", [Result(race_id="r1", bib="1", status=Status.DSQ, splits={"p1": 1000})])
    assert order(engine)[-1] == "1"
    changes = engine.apply_results(
        "r1", [Result(race_id="r1", bib="1", status=Status.OK, splits={"p1": 1000})]
    )
    assert order(engine)[0] == "1"
    assert changes.moved["r1"] == (0, 5)
    assert engine.race("r1").view().row(1).position == 2


def test_gender_and_category_positions_and_filters() -> None:
    engine = make_engine(bibs=8)
    engine.apply_passings([passing(b, 1, 10_000 - b * 100) for b in range(1, 9)])  # bib 8 fastest
    assert order(engine, gender="F") == ["7", "5", "3", "1"]
    assert order(engine, gender="M") == ["8", "6", "4", "2"]
    assert order(engine, category="F40") == ["5", "1"]
    view = engine.race("r1").view(gender="F")
    assert [r.rank for r in view.rows(0, 4)] == [1, 2, 3, 4]
    row5 = engine.race("r1").view().row(order(engine).index("5"))
    split5 = engine.race("r1").split("5", 0, groups=True)
    assert split5 is not None
    assert (row5.position, split5.gender_position, split5.category_position) == (4, 2, 1)


def test_chosen_point_view() -> None:
    engine = make_engine()
    engine.apply_passings([passing(1, 1, 3000), passing(2, 1, 2000), passing(2, 2, 5000)])
    view = engine.race("r1").view(point_id="p1")
    assert [r.bib for r in view.rows(0, len(view))] == ["2", "1"]
    assert view.row(1).gap_leader_ms == 1000
    assert view.index_of("1") == 1 and view.index_of("3") is None


def test_waves_order_by_chip_time() -> None:
    waves = [
        Wave(id="w1", race_id="r1", name="A", offset_ms=0),
        Wave(id="w2", race_id="r1", name="B", offset_ms=300_000),
    ]
    engine = make_engine(waves=waves)
    engine.apply_passings([passing(1, 1, 1_000_000), passing(6, 1, 1_200_000)])  # bib 6 started 5 min later
    rows = engine.race("r1").view().rows(0, 2)
    assert [r.bib for r in rows] == ["6", "1"]
    assert rows[0].time_ms == 900_000 and rows[0].gun_ms == 1_200_000


def test_change_set_names_the_athlete_and_the_moved_rows() -> None:
    engine = make_engine()
    before = engine.version
    changes = engine.apply_passing(passing(5, 1, 1000))
    assert changes.athletes == {"r1": {"5"}}
    assert changes.version == engine.version == before + 1
    # the rows it moved come with the next settle (the overall place is taken then)
    assert engine.settle().moved["r1"] == (0, 4)  # bib 5 went from row 4 to row 0
    assert engine.race("r1").view().row(0).bib == "5"
    settled = engine.version
    again = engine.apply_passing(passing(5, 1, 1000))  # duplicate: nothing changes
    assert not again and engine.version == settled and not engine.settle()


def test_unknown_race_or_point_is_reported_not_raised() -> None:
    engine = make_engine()
    changes = engine.apply_passings(
        [passing(1, 9, 1000), Passing(race_id="zz", bib="1", point_id="p1", time_ms=1), passing(2, 1, 1000)]
    )
    assert changes.athletes == {"r1": {"2"}}
    assert len(changes.errors) == 2 and "p9" in changes.errors[0] and "zz" in changes.errors[1]


def test_snapshot_removes_athletes_no_longer_listed() -> None:
    engine = make_engine(bibs=3)
    race = engine.race("r1").race
    results = [Result(race_id="r1", bib="1", splits={"p1": 2000}), Result(race_id="r1", bib="3")]
    changes = engine.apply_snapshot(race, results)
    assert order(engine) == ["1", "3"]
    assert "2" in changes.athletes["r1"]
    assert not engine.apply_snapshot(race, results)  # same snapshot again: no change


def test_relay_teams_order_like_athletes() -> None:
    engine = Engine()
    points = [
        TimingPoint(
            id=str(i), race_id="mr", name=f"Leg {1 + (i - 1) // 2} point", order=i, leg=1 + (i - 1) // 2
        )
        for i in range(1, 9)
    ]
    engine.load_event(
        Event(id="e", name="E", races=[Race(id="mr", name="Mixed Relay", kind=RaceKind.RELAY, points=points)])
    )
    legs = [RelayLeg(order=n, member=RelayMember(name=f"Member {n}")) for n in range(1, 5)]
    engine.apply_results(
        "mr",
        [
            Result(race_id="mr", bib="1", splits={"1": 500_000, "2": 1_000_000, "3": 1_500_000}, legs=legs),
            Result(
                race_id="mr", bib="2", splits={"1": 490_000, "2": 1_010_000, "3": 1_499_000, "4": 2_000_000}
            ),
            Result(race_id="mr", bib="3", splits={"1": 480_000}, status=Status.LAP),
            Result(race_id="mr", bib="4"),
        ],
    )
    standings = engine.race("mr")
    assert [e.bib for e in standings.ordered()] == ["2", "1", "4", "3"]
    assert list(standings.entries["1"].legs) == legs
    assert standings.latest_point() == 3 and standings.passed(3) == 1


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 30), st.integers(1, 4), st.integers(0, 50)),
        max_size=120,
    ),
    st.dictionaries(
        st.integers(1, 30), st.sampled_from([Status.DNF, Status.DSQ, Status.DNS, Status.OK]), max_size=6
    ),
    st.sampled_from([500, 1, 7]),  # the bulk threshold: live path, always deferred, mixed
    st.integers(1, 40),  # batch size of the stream
)
def test_incremental_order_equals_a_full_sort(
    stream: list[tuple[int, int, int]], statuses: dict[int, Status], bulk: int, chunk: int
) -> None:
    """Whatever the stream and however it is batched (live inserts or deferred bulk
    re-sorts), the ordered structures agree with sorting the field from scratch."""
    from unittest import mock

    with mock.patch("racetui.engine.engine.BULK", bulk):
        engine = make_engine(points=4, bibs=30)
        times: dict[int, dict[int, int]] = {}
        for start in range(0, len(stream), chunk):
            engine.apply_passings([passing(b, p, t * 100) for b, p, t in stream[start : start + chunk]])
            for bib, point, t in stream[start : start + chunk]:
                times.setdefault(bib, {})[point] = t * 100
        engine.apply_results(
            "r1",
            [
                Result(
                    race_id="r1",
                    bib=str(bib),
                    status=status,
                    splits={f"p{p}": v for p, v in times.get(bib, {}).items()},
                )
                for bib, status in statuses.items()
            ],
        )

    def key(bib: int) -> tuple[int, int, int, int]:
        mine = times.get(bib, {})
        last = max(mine, default=0)
        return (status_rank(statuses.get(bib, Status.OK)), -last, mine.get(last, 0), bib)

    assert order(engine) == [str(b) for b in sorted(range(1, 31), key=key)]
    for row in engine.race("r1").view().rows(0, 30):
        if row.rank is not None:
            better = [
                b
                for b in range(1, 31)
                if statuses.get(b, Status.OK) is Status.OK
                and times.get(b)
                and key(b)[:3] < key(int(row.bib))[:3]
            ]
            assert row.rank == len(better) + 1
        if row.time_ms is not None and row.status is Status.OK:
            at = row.point_index + 1
            faster = [
                b
                for b in range(1, 31)
                if statuses.get(b, Status.OK) not in (Status.DSQ, Status.DNS)
                and times.get(b, {}).get(at) is not None
                and times[b][at] < row.time_ms
            ]
            assert row.position == len(faster) + 1


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            *passes_and_results(bibs=12, seconds=40),
            st.tuples(st.just("place"), st.just(0)),  # a replica placing its passers early
        ),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.tuples(st.integers(1, 12), st.integers(1, 3), st.integers(0, 40)), max_size=24),
)
def test_the_rows_reported_moved_cover_every_row_that_shows_someone_else(
    ops: list[tuple[Any, ...]], before: list[tuple[int, int, int]]
) -> None:
    """Between two reads, passings (placed later, or early by a replica), results and
    statuses: every overall row whose athlete changed lies in the span the change sets
    and the next settle report, so a screen that redraws only those rows is right."""
    engine = make_engine(points=3, bibs=12)
    for bib, point, t in before:
        engine.apply_passing(passing(bib, point, t * 1000))
    engine.settle()
    shown = order(engine)
    changes = ChangeSet()
    for op in ops:
        if op[0] in ("pass", "result"):
            changes.merge(apply_op(engine, op))
        else:
            engine.place_moved()
    changes.merge(engine.settle())
    now = order(engine)
    differ = [i for i, (a, b) in enumerate(zip(shown, now, strict=True)) if a != b]
    if differ:
        low, high = changes.moved["r1"]
        assert low <= differ[0] and differ[-1] <= high, (shown, now, changes.moved)


def test_a_bulk_load_is_deferred_and_settled_on_read() -> None:
    engine = make_engine(points=2, bibs=3)
    big = [passing(b, 1, 100_000 - b) for b in range(1, 2001)]
    changes = engine.apply_passings(big)
    standings = engine.race("r1")
    assert standings.deferred and changes.moved["r1"][0] == 0
    assert order(engine)[:3] == ["2000", "1999", "1998"]  # reading settles
    assert not standings.deferred
    # a live passing afterwards is not deferred: nothing waits for a re-sort
    live = engine.apply_passing(passing(5, 2, 200_000))
    assert not standings.deferred and live.athletes == {"r1": {"5"}}
    assert order(engine)[0] == "5"  # a read places it, the next settle says where from
    assert engine.settle().moved["r1"] == (0, 1995)


def test_desk_override_survives_source_updates_and_can_be_withdrawn() -> None:
    from racetui.engine import Override

    engine = make_engine()
    engine.apply_passings([passing(b, 1, 1000 * b) for b in range(1, 7)])
    dsq = Override(status=Status.DSQ, incidents=(Incident.dsq("dangerous riding"),))
    changes = engine.set_override("r1", "2", dsq)
    assert changes.athletes == {"r1": {"2"}}
    assert order(engine)[-1] == "2"
    # the source keeps sending bib 2 as racing, with a penalty of its own: the DSQ stays
    engine.apply_results(
        "r1",
        [
            Result(
                race_id="r1",
                bib="2",
                status=Status.OK,
                splits={"p1": 2000, "p2": 4000},
                incidents=[Incident.penalty(10, "littering")],
            )
        ],
    )
    entry = engine.race("r1").entries["2"]
    assert entry.status is Status.DSQ and order(engine)[-1] == "2"
    assert [i.standard_text() for i in entry.incidents] == [
        "DSQ for dangerous riding",
        "10 second penalty for littering",
    ]
    row = engine.race("r1").view().row(5)
    assert row.bib == "2" and row.local is True
    # withdrawn: the source's word counts again, and bib 2 is back at the front (furthest point)
    engine.set_override("r1", "2", None)
    assert order(engine)[0] == "2" and engine.race("r1").entries["2"].status is Status.OK


def test_desk_served_penalty_is_not_undone_by_a_lagging_source() -> None:
    from racetui.engine import Override

    engine = make_engine()
    served = Incident.penalty(15, "cutting the swim course", served=True)
    engine.set_override("r1", "3", Override(incidents=(served,)))
    engine.apply_results(
        "r1", [Result(race_id="r1", bib="3", incidents=[Incident.penalty(15, "cutting the swim course")])]
    )
    texts = [i.standard_text() for i in engine.race("r1").entries["3"].incidents]
    assert texts == ["Served 15 second penalty for cutting the swim course"]


def test_desk_reinstatement_overrides_a_source_dsq() -> None:
    from racetui.engine import Override

    engine = make_engine()
    engine.apply_passings([passing(b, 1, 1000 * b) for b in range(1, 7)])
    engine.apply_results("r1", [Result(race_id="r1", bib="1", status=Status.DSQ, splits={"p1": 1000})])
    assert order(engine)[-1] == "1"
    engine.set_override("r1", "1", Override(status=Status.OK))
    assert order(engine)[0] == "1"


def test_standings_keep_a_serial_that_is_never_reused() -> None:
    # An id() is reused once an object is freed; what "already seen" keys on must not be.
    serials = set()
    for _ in range(20):
        engine = make_engine()
        serials.add(engine.race("r1").serial)
        del engine
    assert len(serials) == 20


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            *passes_and_results(bibs=8, seconds=50),
            st.tuples(st.just("remove"), st.integers(1, 8)),
            # the race anew: its clock only (the athletes stand), or the second wave re-timed
            st.tuples(st.just("race"), st.sampled_from(list(ClockState)), st.integers(0, 20)),
        ),
        max_size=60,
    ),
    st.integers(1, 6),  # how many changes between two reads
    st.sampled_from([None, 1, 2, 3]),  # a replica's bounded keep_up after each change (None: none)
    st.sampled_from([1, 2, 3, 64]),  # how many latest passings the ends keep (_TOP)
)
def test_race_end_figures_followed_by_change_equal_a_full_scan(
    ops: list[tuple[Any, ...]], every: int, keep_up: int | None, top: int
) -> None:
    """The latest passing and the race's end are kept from the changes since the last read:
    whatever changes (passings, times taken back, statuses, athletes removed, the race's
    clock or a wave's start), they equal a scan of the whole field, also when a replica's
    slices followed part of the changes (and of a whole field seen again) in between, and
    when the few latest passings kept were all taken back (a top of 1-3 athletes of 8)."""
    kept = standings_module._TOP
    standings_module._TOP = top
    try:
        follow_the_changes(ops, every, keep_up)
    finally:
        standings_module._TOP = kept


def follow_the_changes(ops: list[tuple[Any, ...]], every: int, keep_up: int | None) -> None:
    engine = make_engine(
        points=3, bibs=8, waves=[Wave(id="w1", race_id="r1", name="1"), Wave(id="w2", race_id="r1", name="2")]
    )
    standings = engine.race("r1")

    def scanned() -> tuple[int | None, int | None]:
        started = [e for e in standings._entries.values() if e.last >= 0]
        last = max((max(t for t in e.times if t is not None) + e.offset_ms for e in started), default=None)
        out = any(e.times[-1] is None and e.status is Status.OK for e in started)
        finished = any(e.times[-1] is not None for e in started)
        official = standings.race.clock is not None and standings.race.clock.state is ClockState.OFFICIAL
        return (last if official else None if out or not finished else last), last

    for done, op in enumerate(ops, start=1):
        if op[0] in ("pass", "result"):
            apply_op(engine, op)
        elif op[0] == "race":
            race = standings.race
            waves = [race.waves[0], race.waves[1].model_copy(update={"offset_ms": op[2] * 1000})]
            engine.upsert_race(
                race.model_copy(update={"clock": RaceClock(race_id="r1", state=op[1]), "waves": waves})
            )
        else:
            engine.remove_athletes("r1", [str(op[1])])
        if keep_up is not None:
            standings.keep_up(keep_up)
        if done % every == 0 or done == len(ops):
            assert (standings.ended_ms(), standings.last_passing_ms()) == scanned()


def test_the_latest_passing_taken_back_is_found_without_a_scan_of_the_field(monkeypatch: Any) -> None:
    """Live, the athlete who passed last is often the next one changed (a result that trims
    the passing's time): the next latest comes from the few kept, not from a scan of every
    athlete (150-250 ms at 50,000); only when all of those went back is the field scanned."""
    monkeypatch.setattr(standings_module, "_TOP", 2)
    scans: list[int] = []
    scan = standings_module._Ends.scan_last
    monkeypatch.setattr(
        standings_module._Ends, "scan_last", lambda self, entries: (scans.append(1), scan(self, entries))[1]
    )
    engine = make_engine(points=3, bibs=8)
    standings = engine.race("r1")
    for bib in range(1, 9):  # read after each, as a live dashboard's ticks do
        engine.apply_passing(passing(bib, 1, bib * 1000))
        assert standings.last_passing_ms() == bib * 1000

    def take_back(bib: int) -> int | None:
        result = Result(race_id="r1", bib=str(bib), status=Status.OK, splits={"p1": 100 * bib})
        engine.apply_results("r1", [result])
        return standings.last_passing_ms()

    assert take_back(8) == 7000
    assert scans == [], "the next latest was kept"
    assert take_back(7) == 6000
    assert len(scans) == 1, "the two kept both went back: one scan, which keeps two again"
    assert take_back(6) == 5000
    assert len(scans) == 1
    assert take_back(5) == 4000
    assert take_back(4) == 3000


def test_a_bounded_keep_up_sees_a_whole_field_again_in_chunks_after_a_reset() -> None:
    """After a new timing point every athlete is looked at again: a replica's keep_up does
    it a chunk at a time (each call looks at no more athletes than it is given) and a read
    in the middle finishes the rest at once, equal to a scan."""
    engine = make_engine(points=3, bibs=8)
    for bib in range(1, 9):
        engine.apply_passing(passing(bib, 1, bib * 1000))
    standings = engine.race("r1")
    assert standings.last_passing_ms() == 8000
    race = standings.race
    extra = TimingPoint(id="p0", race_id="r1", name="start", order=0)
    engine.upsert_race(race.model_copy(update={"points": [extra, *race.points]}))
    engine.apply_passing(passing(3, 2, 9000))  # a change while the field is being seen again
    standings.keep_up(3)
    ends = standings._ends_seen
    assert ends is not None and len(ends.unseen) == 8 - 3, "three athletes looked at, not the field"
    standings.keep_up(3)
    assert len(ends.unseen) == 2
    assert standings.last_passing_ms() == 9000, "a read finishes what the chunks left"
    assert ends.unseen == []


def test_the_change_log_survives_a_race_update_that_leaves_the_athletes_alone() -> None:
    """A BBT race's clock comes again and again: the readers that follow the change log
    (the race's end, On course, the sliced read) carry on from where they were instead of
    scanning the whole field. Re-timed waves or points move athletes: then they re-read."""
    engine = make_engine(waves=[Wave(id="w1", race_id="r1", name="1"), Wave(id="w2", race_id="r1", name="2")])
    engine.apply_passings([passing(b, 1, 1000 * b) for b in range(1, 7)])
    standings = engine.race("r1")
    at = standings.log_position
    race = standings.race
    engine.upsert_race(race.model_copy(update={"clock": RaceClock(race_id="r1", state=ClockState.LIVE)}))
    engine.upsert_race(engine.race("r1").race.model_copy(update={"name": "Test 10k (final)"}))
    assert standings.race.name == "Test 10k (final)"
    assert standings.changed_since(at) == []
    engine.apply_passing(passing(2, 2, 9000))
    assert standings.changed_since(at) == ["2"]
    at = standings.log_position
    waves = [race.waves[0], race.waves[1].model_copy(update={"offset_ms": 60_000})]
    engine.upsert_race(standings.race.model_copy(update={"waves": waves}))
    assert standings.changed_since(at) is None
    at = standings.log_position
    points = [*race.points[:2], race.points[2].model_copy(update={"name": "Finish"})]
    engine.upsert_race(standings.race.model_copy(update={"points": points}))
    assert standings.changed_since(at) is None
