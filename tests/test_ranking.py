"""Every ranking racetui outputs against one brute-force ranking of the same field.

The brute force below is written from the v1.1 spec's "Athlete Ordering" and "Other Timing
Notes" (furthest point first, then time there, start number where nothing else orders;
DNF/DNS after the field, DSQ at the bottom; equal times share a place; DSQ and DNS take no
one's place), by counting, not sorting with racetui's keys. Random fields (hypothesis)
with ties, statuses, waves, categories and desk overrides are checked through the
screens' rows, csv, json, v1.1 and OpenTrack rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racetui.commands.export import _csv, _json
from racetui.engine import Engine, Override, RaceStandings
from racetui.model import Event, Participant, Passing, Race, RankBy, Result, Status, TimingPoint, Wave
from racetui.model.times import format_duration
from racetui.publish.opentrack import race_rows
from racetui.tui.rows import LeaderboardModel
from racetui.tui.state import UiState
from tests.support import published_v11

OFFSETS = {"w1": 0, "w2": 300_000}
SORT_STATUS = {Status.OK: 0, Status.LAP: 1, Status.NC: 1, Status.DNF: 2, Status.DNS: 3, Status.DSQ: 4}


@dataclass
class Athlete:
    bib: str
    number: int
    status: Status  # effective, the desk's over the source's
    source_status: Status
    override: Status | None
    gender: str
    category: str
    wave: str
    chips: list[int | None]  # chip time per point

    @property
    def last(self) -> int:
        passed = [i for i, t in enumerate(self.chips) if t is not None]
        return passed[-1] if passed else -1

    def time(self, index: int, gun: bool) -> int | None:
        chip = self.chips[index]
        return None if chip is None else chip + (OFFSETS[self.wave] if gun else 0)


@st.composite
def fields(draw: st.DrawFn) -> tuple[int, list[Athlete]]:
    points = draw(st.integers(1, 4))
    count = draw(st.integers(1, 24))
    numbers = draw(st.lists(st.integers(1, 60), min_size=count, max_size=count, unique=True))
    athletes = []
    for number in numbers:
        passed = draw(st.integers(0, points))
        chips: list[int | None] = []
        total = 0
        for _ in range(passed):
            total += draw(st.sampled_from([1000, 2000, 3000]))  # few values: many ties
            chips.append(total)
        chips += [None] * (points - passed)
        source = draw(st.sampled_from([Status.OK] * 5 + [Status.DNF, Status.DNS, Status.DSQ, Status.LAP]))
        override = draw(st.sampled_from([None] * 6 + [Status.DSQ, Status.OK, Status.DNF]))
        athletes.append(
            Athlete(
                bib=str(number),
                number=number,
                status=override if override is not None else source,
                source_status=source,
                override=override,
                gender=draw(st.sampled_from("MF")),
                category=draw(st.sampled_from(["A", "B"])),
                wave=draw(st.sampled_from(["w1", "w2"])),
                chips=chips,
            )
        )
    return points, athletes


# ------------------------------------------------------------------ brute force
def overall_order(field: list[Athlete], gun: bool) -> list[str]:
    def before(a: Athlete, b: Athlete) -> bool:
        """True when ``a`` comes before ``b`` in the spec's order."""
        if SORT_STATUS[a.status] != SORT_STATUS[b.status]:
            return SORT_STATUS[a.status] < SORT_STATUS[b.status]
        if a.last != b.last:
            return a.last > b.last
        ta, tb = a.time(a.last, gun) or 0, b.time(b.last, gun) or 0
        if ta != tb:
            return ta < tb
        return (a.number, a.bib) < (b.number, b.bib)

    # selection by counting: an athlete's index is how many come before it
    return [a.bib for a in sorted(field, key=lambda a: sum(before(b, a) for b in field))]


def overall_place(field: list[Athlete], athlete: Athlete, gun: bool) -> int | None:
    if athlete.status is not Status.OK or athlete.last < 0:
        return None
    mine = athlete.time(athlete.last, gun)
    assert mine is not None
    ahead = 0
    for other in field:
        if other.status is not Status.OK or other.last < 0:
            continue
        theirs = other.time(other.last, gun)
        assert theirs is not None
        if other.last > athlete.last or (other.last == athlete.last and theirs < mine):
            ahead += 1
    return ahead + 1


def placed(athlete: Athlete) -> bool:
    return athlete.status not in (Status.DSQ, Status.DNS)


def point_place(field: list[Athlete], athlete: Athlete, index: int, gun: bool) -> int | None:
    mine = athlete.time(index, gun)
    if mine is None or not placed(athlete):
        return None
    return 1 + sum(1 for o in field if placed(o) and (t := o.time(index, gun)) is not None and t < mine)


def point_gap(field: list[Athlete], athlete: Athlete, index: int, gun: bool) -> int | None:
    mine = athlete.time(index, gun)
    times = [t for o in field if placed(o) and (t := o.time(index, gun)) is not None]
    if mine is None or not times:
        return None
    return max(0, mine - min(times))


def point_ahead(field: list[Athlete], athlete: Athlete, index: int, gun: bool) -> int | None:
    mine = athlete.time(index, gun)
    if mine is None:
        return None
    own = (mine, athlete.number, athlete.bib)
    before = [
        (t, o.number, o.bib)
        for o in field
        if o is not athlete and placed(o) and (t := o.time(index, gun)) is not None
    ]
    before = [k for k in before if k < own]
    return None if not before else mine - max(before)[0]


# ---------------------------------------------------------------------- engine
def build(points: int, field: list[Athlete], *, gun: bool = False, passings: bool = False) -> Engine:
    race = Race(
        id="r",
        name="Race",
        points=[
            TimingPoint(id=f"p{i}", race_id="r", name=f"Point {i}", order=i, is_finish=i == points - 1)
            for i in range(points)
        ],
        waves=[Wave(id=w, race_id="r", name=w, offset_ms=o) for w, o in OFFSETS.items()],
        rank_by=RankBy.GUN if gun else RankBy.CHIP,
    )
    engine = Engine()
    engine.load_event(Event(id="e", name="Event", races=[race]))
    participants = {
        a.bib: Participant(
            bib=a.bib,
            race_id="r",
            name=f"Athlete {a.bib}",
            gender=a.gender,
            category=a.category,
            wave_id=a.wave,
        )
        for a in field
    }
    if passings:  # one passing at a time: the live path
        engine.add_participants(participants.values())
        for a in field:
            engine.apply_results(
                "r", [Result(race_id="r", bib=a.bib, participant=participants[a.bib], status=a.source_status)]
            )
        for i in range(points):
            for a in field:
                gun_time = a.time(i, True)
                if gun_time is not None:
                    engine.apply_passing(Passing(race_id="r", bib=a.bib, point_id=f"p{i}", time_ms=gun_time))
    else:
        engine.apply_results(
            "r",
            [
                Result(
                    race_id="r",
                    bib=a.bib,
                    participant=participants[a.bib],
                    status=a.source_status,
                    splits={f"p{i}": t for i in range(points) if (t := a.time(i, True)) is not None},
                )
                for a in field
            ],
        )
    for a in field:
        if a.override is not None:
            engine.set_override("r", a.bib, Override(status=a.override))
    return engine


def fmt(ms: int | None) -> str | None:
    return None if ms is None else format_duration(ms)


def v11(standings: RaceStandings) -> dict:  # type: ignore[type-arg]
    return published_v11(standings)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(fields(), st.booleans(), st.booleans())
def test_every_output_agrees_with_the_brute_force(
    drawn: tuple[int, list[Athlete]], gun: bool, passings: bool
) -> None:
    points, field = drawn
    engine = build(points, field, gun=gun, passings=passings)
    standings = engine.race("r")
    by_bib = {a.bib: a for a in field}
    order = overall_order(field, gun)

    # the read side
    view = standings.view()
    rows = view.rows(0, len(view))
    assert [r.bib for r in rows] == order
    for row in rows:
        a = by_bib[row.bib]
        assert row.rank == overall_place(field, a, gun), row
        at = a.last
        assert row.position == (point_place(field, a, at, gun) if at >= 0 else None)
        assert row.gap_leader_ms == (point_gap(field, a, at, gun) if at >= 0 else None)
        assert row.gap_ahead_ms == (point_ahead(field, a, at, gun) if at >= 0 else None)
        assert row.status is a.status

    # the leaderboard screen's rows
    state = UiState(engine)
    shown = LeaderboardModel(state).fetch(0, len(field))
    assert [d.key for d in shown] == [("r", b) for b in order]
    for display, bib in zip(shown, order, strict=True):
        place = overall_place(field, by_bib[bib], gun)
        assert display.cells[0] == (str(place) if place is not None else "–", None)

    # v1.1: order, athlete.position, difference, split positions and differences
    athletes = v11(standings)["athletes"]
    assert [x["start_num"] for x in athletes] == order
    for out in athletes:
        a = by_bib[out["start_num"]]
        place = overall_place(field, a, gun)
        assert out["position"] == (None if place is None else str(place))
        assert out["difference"] == (fmt(point_gap(field, a, a.last, gun)) if a.last >= 0 else None)
        splits = out["splits"] or []
        assert [s["id"] for s in splits] == [str(i + 1) for i, t in enumerate(a.chips) if t is not None]
        for split in splits:
            index = int(split["id"]) - 1
            place = point_place(field, a, index, gun)
            assert split["position"] == (None if place is None else str(place))
            assert split["difference"] == fmt(point_gap(field, a, index, gun))
    positions = [x["position"] for x in athletes if x["position"] is not None]
    assert positions == sorted(positions, key=int)  # the array's places only go up

    # csv and json exports
    table = list(csv.DictReader(io.StringIO(_csv([standings], None))))
    assert [r["bib"] for r in table] == order
    for line in table:
        place = overall_place(field, by_bib[line["bib"]], gun)
        assert line["position"] == ("" if place is None else str(place))
    exported = orjson.loads(b"".join(_json([standings], None)))["races"][0]["rows"]
    assert [(r["bib"], r["position"]) for r in exported] == [
        (b, overall_place(field, by_bib[b], gun)) for b in order
    ]

    # OpenTrack: finishers by the race's ranking time at the finish, then statuses by number
    finish = points - 1
    finishers = sorted(
        (t, a.number, a.bib)
        for a in field
        if a.status is Status.OK and (t := a.time(finish, gun)) is not None
    )
    expected = [(bib, None) for _t, _n, bib in finishers]
    expected += [
        (a.bib, None)
        for a in sorted(field, key=lambda a: a.number)
        if a.status is not Status.OK  # OpenTrack: LAP and NC are DNF there
    ]
    assert [(bib, None) for bib, _ in race_rows(standings)] == expected


@SETTINGS
@given(fields(), st.booleans(), st.sampled_from(["gender", "category", "wave"]))
def test_slices_rank_within_themselves(drawn: tuple[int, list[Athlete]], gun: bool, kind: str) -> None:
    points, field = drawn
    engine = build(points, field, gun=gun)
    standings = engine.race("r")
    value = {"gender": field[0].gender, "category": field[0].category, "wave": field[0].wave}[kind]
    members = [a for a in field if getattr(a, kind) == value]
    # a wave or a category ranks by chip time; one gender as the race says
    slice_gun = gun and kind == "gender"
    view = standings.view(**{("wave_id" if kind == "wave" else kind): value})
    assert view.rank_by is (RankBy.GUN if slice_gun else RankBy.CHIP)
    rows = view.rows(0, len(view))
    assert [r.bib for r in rows] == overall_order(members, slice_gun)
    for row in rows:
        a = next(m for m in members if m.bib == row.bib)
        assert row.rank == overall_place(members, a, slice_gun)
        if a.last >= 0:
            assert row.gap_leader_ms == point_gap(members, a, a.last, slice_gun)
            assert row.gap_ahead_ms == point_ahead(members, a, a.last, slice_gun)
    for index in range(points):
        at = standings.view(point_id=f"p{index}", **{("wave_id" if kind == "wave" else kind): value})
        got = [(r.bib, r.rank, r.gap_leader_ms) for r in at.rows(0, len(at))]
        want = sorted(
            (a.time(index, slice_gun), a.number, a.bib)
            for a in members
            if placed(a) and a.chips[index] is not None
        )
        assert got == [
            (bib, point_place(members, by, index, slice_gun), point_gap(members, by, index, slice_gun))
            for _t, _n, bib in want
            for by in [next(m for m in members if m.bib == bib)]
        ]


@SETTINGS
@given(fields(), st.data())
def test_slices_follow_live_passings(drawn: tuple[int, list[Athlete]], data: st.DataObject) -> None:
    """A slice someone is reading stays right while passings and desk decisions arrive."""
    points, field = drawn
    engine = build(points, [], passings=True)
    engine.add_participants(
        Participant(bib=a.bib, race_id="r", gender=a.gender, category=a.category, wave_id=a.wave)
        for a in field
    )
    wave = field[0].wave
    view = engine.race("r").view(wave_id=wave)
    len(view)  # the slice's ordering exists from here on
    for a in field:
        a.status = a.source_status = Status.OK
        a.override = None
    for index in range(points):
        for a in data.draw(st.permutations(field)):
            gun_time = a.time(index, True)
            if gun_time is not None:
                engine.apply_passing(Passing(race_id="r", bib=a.bib, point_id=f"p{index}", time_ms=gun_time))
    dsq = data.draw(st.sampled_from(field))
    engine.set_override("r", dsq.bib, Override(status=Status.DSQ))
    dsq.status = Status.DSQ
    members = [a for a in field if a.wave == wave]
    rows = view.rows(0, len(view))
    assert [r.bib for r in rows] == overall_order(members, False)
    assert [r.rank for r in rows] == [
        overall_place(members, next(m for m in members if m.bib == r.bib), False) for r in rows
    ]
