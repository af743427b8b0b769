"""Projections: when each athlete still on course is expected at every later timing point.

The engine's read side for the future, as :mod:`racetui.engine.standings` is for the past.
No race clock and no I/O: a caller that needs "now" passes ``now_ms``, the race time since
the gun (the base of :attr:`~racetui.model.Passing.time_ms`); the only clocks read are the
thread's CPU time and the monotonic clock that pace re-projecting a big field.

How a projection is made (the field teaches the course, the athlete's splits scale it):

* **The field's segment times.** For every segment (the start to the first point, then
  point to point) a reference time: the median, over the athletes who covered it, of their
  segment time divided by their own relative speed before it. Dividing by the athlete's
  speed means the first few (fast) athletes through a point do not make the segment look
  short for everyone behind them. Medians come from a sample of at most
  :data:`SAMPLE` athletes and are re-taken only when the field's passings grew by
  :data:`REFRESH_GROWTH` (and :data:`REFRESH_SHARE` of the field), or a point saw its first
  athletes.
* **Cheap on a UI tick.** Each athlete's projection is kept and re-made only when the
  standings' change log (:meth:`~racetui.engine.standings.RaceStandings.changed_since`) names
  them; after new medians, or the first time, the field is re-projected for at most
  :data:`REPLAN_MS` of CPU per UI tick, shared by all the reads of that tick (those within
  :data:`TICK_S` of the first), resuming where the last tick stopped; the rest keep the
  projection they had (:func:`unprojected` says how many have none yet; :func:`replan`
  drives it directly). New medians before a re-plan is through continue it from where it
  was, so no athlete's projection waits more than one round. Per point, everyone projected
  there is kept sorted by time. At 50,000 athletes a tick's reads cost milliseconds
  (``benchmarks/bench_projections.py``).
* **Segments nobody has covered yet** take the pace per metre of earlier segments of the
  same discipline times their length; a discipline not yet seen (the run, while the leaders
  are on the bike) takes a typical speed for it (:data:`TYPICAL_SPEED_MPS`), scaled by how
  the field compares with typical speeds on the segments it has covered.
* **Disciplines** come from the timing points' names (swim, transition, bike, run; relay
  points per leg); a road race is one discipline. An athlete's relative speed in a
  discipline is their own time over the field's reference over the segments of that
  discipline they covered, recent segments counting more (a fade shows); in a discipline
  they have not started, their speed over everything so far.
* **Before the first split**: the start list carries no estimated time (a
  :class:`~racetui.model.Participant` has none), so the median relative speed of the
  athlete's category (basis ``"category pace"``) when at least three of it are on course,
  else of their wave (``"wave pace"``), else the field's (``"field pace"``).
* **Uncertainty** (``spread_ms``, ±): per segment, the spread of how far the field's
  actual segment times fell from what their own earlier pace said (1.4826 × the median
  absolute relative deviation: one standard deviation for a normal spread), summed over
  the segments still to cover, half as if independent and half as if one pace change ran
  through all of them. About two in three arrivals fall inside it (``benchmarks/
  bench_projections.py`` measures that).

:func:`project` is one athlete at every later point; :func:`arrivals`, who is expected at
one point within a window (conditioned on now: someone not yet at their next point is not
projected into the past); :func:`projected_finish_order`; :func:`on_course` (started, on
course, finished, not started) and :func:`not_through` (who is still to pass a point, with
their running time since their own start).
"""

from __future__ import annotations

import bisect
import math
import re
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from sortedcontainers import SortedList

from racetui.engine.groups import group_times
from racetui.engine.standings import Entry, RaceStandings
from racetui.model.race import Status, TimingPoint

__all__ = [
    "SAMPLE",
    "TYPICAL_SPEED_MPS",
    "Arrival",
    "NotThrough",
    "OnCourse",
    "Projection",
    "arrivals",
    "discipline",
    "front_point",
    "listing",
    "not_through",
    "on_course",
    "project",
    "projected_finish_order",
    "replan",
    "unprojected",
]

SAMPLE = 1_000  # athletes the field's segment medians are taken from
REFRESH_GROWTH = 0.05  # re-take the medians when the passings held grew by this share
REFRESH_SHARE = 0.02  # ... and by at least this share of the field
REPLAN_MS = 10.0  # CPU one UI tick's reads may spend re-projecting after new medians
LIST_MS = 5.0  # and building an On course list (not_through(paced=True)), apart from that
TICK_S = 0.1  # reads within this much (monotonic) time of a tick's first share its REPLAN_MS
CHUNK = 32  # athletes re-projected between two looks at the CPU clock
SMALL_FIELD = 500  # a field this small is re-projected whole in one read (a few ms)
KEEP_POINTS = 3  # points whose sorted projections are kept between reads
MIN_SAMPLES = 3  # athletes a segment median needs before it counts as measured
DECAY = 0.6  # weight of a segment one step older in an athlete's relative speed
DEFAULT_SPREAD = 0.05  # relative spread of a segment no one has covered yet
OVERDUE_MIN_MS = 120_000  # an athlete overdue by more than this and 3 spreads leaves Coming

# Typical speeds (m/s) for a discipline the field has not reached yet; only their ratios
# to one another matter (they are scaled by the field's own pace where it has one).
TYPICAL_SPEED_MPS = {"swim": 1.1, "bike": 9.5, "run": 3.85, "course": 3.85}
TYPICAL_TRANSITION_MS = {"t1": 75_000, "t2": 50_000, "transition": 60_000}

_WORDS = re.compile(r"[a-z0-9]+")
_LEG = re.compile(r"\bleg\s*\d+\b")
_TRANSITION = re.compile(r"\b(?:t([12])|trans(?:ition)?\s*([12])?)\b")


def discipline(point: TimingPoint, previous: str | None = None) -> str:
    """The discipline of the segment that ends at ``point``, from its name: ``swim``,
    ``t1``/``t2`` (``transition``), ``bike``, ``run``; a name without one (``Finish``)
    continues ``previous`` (not a transition: after T2 the run); else ``course`` (a road race)."""
    name = _LEG.sub("", point.name.casefold())  # "Leg 2 Transition 1": the leg is not T2
    words = set(_WORDS.findall(name))
    if words & {"swim", "swimming"}:
        return "swim"
    transition = _TRANSITION.search(name)
    if transition is not None:
        number = transition.group(1) or transition.group(2)
        return f"t{number}" if number else "transition"
    if words & {"bike", "cycle", "cycling", "ride"}:
        return "bike"
    if words & {"run", "running"}:
        return "run"
    if previous in (None, "course"):
        return "course"
    if previous in ("t1", "transition"):
        return "bike"
    if previous == "t2":
        return "run"
    return previous


@dataclass(frozen=True, slots=True)
class Projection:
    """When one athlete is expected at one timing point.

    ``at_ms`` is the projected chip time there (since the athlete's own wave start: the
    base of :class:`~racetui.engine.standings.Athlete` ``times``), ``gun_ms`` the same as
    race time since the gun; ``spread_ms`` the uncertainty, ± (it grows with the distance
    still to cover); ``basis`` what it rests on: ``"splits"`` (the athlete's own),
    ``"category pace"``, ``"wave pace"`` or ``"field pace"`` (before their first split)."""

    bib: str
    point_index: int
    at_ms: int
    spread_ms: int
    basis: str
    gun_ms: int


@dataclass(frozen=True, slots=True)
class Arrival:
    """One athlete expected at a point: ``eta_ms`` from now (0: due now), ``place`` the
    place they would take there (among those through it and those due before them),
    ``current_place`` their place at ``current_point`` (their latest point; None before
    their first split or without a place), ``overdue_ms`` how far past the plain projection
    they already are (their next point not reached yet)."""

    bib: str
    name: str
    projection: Projection
    eta_ms: int
    place: int
    current_place: int | None
    current_point: int
    overdue_ms: int = 0


@dataclass(frozen=True, slots=True)
class OnCourse:
    """One race at ``now``: ``started`` (their wave's gun has gone, or a passing seen;
    not DNS), of them ``on_course`` (racing, not finished), ``finished`` and ``out`` (DNF,
    DSQ, LAP, NC); ``not_started`` (their wave still to go), ``dns``."""

    athletes: int
    started: int
    on_course: int
    finished: int
    out: int
    not_started: int
    dns: int


@dataclass(frozen=True, slots=True)
class NotThrough:
    """An athlete on course still to pass a point: ``running_ms`` since their own start,
    ``last_point`` (-1: none yet) and the chip time there, the projection at the point
    (conditioned on now), ``overdue`` when later than the projection by more than its spread."""

    bib: str
    name: str
    running_ms: int
    last_point: int
    last_ms: int | None
    projection: Projection | None
    eta_ms: int | None
    overdue: bool


# ------------------------------------------------------------------ the field's reference
@dataclass(slots=True)
class _Refs:
    """The field's reference segment times, per segment index (segment k ends at point k)."""

    version: int
    disc: tuple[int, ...]  # discipline index per segment
    ref: tuple[float, ...]  # reference segment time (ms) for a relative speed of 1
    sigma: tuple[float, ...]  # relative spread per segment
    groups: dict[tuple[str, str], float]  # ("category"|"wave", name) -> median relative speed
    riding: tuple[bool, ...]  # per segment: on the bike (where riders together stay together)
    field_speed: float
    passings: int
    measured: tuple[bool, ...]
    reached: tuple[bool, ...]  # points with athletes through them when these were taken


@dataclass(slots=True)
class _Speed:
    """An athlete's relative speed while walking their splits: per discipline, decayed."""

    own: list[float]
    ref: list[float]
    total_own: float = 0.0
    total_ref: float = 0.0

    @classmethod
    def new(cls, disciplines: int) -> _Speed:
        return cls([0.0] * disciplines, [0.0] * disciplines)

    def add(self, disc: int | None, own: float, ref: float) -> None:
        self.total_own += own
        self.total_ref += ref
        if disc is not None:
            self.own[disc] = self.own[disc] * DECAY + own
            self.ref[disc] = self.ref[disc] * DECAY + ref

    def overall(self) -> float | None:
        return self.total_own / self.total_ref if self.total_ref > 0 else None

    def of(self, disc: int) -> float | None:
        if self.ref[disc] > 0:
            return self.own[disc] / self.ref[disc]
        return self.overall()


def _median(values: list[float]) -> float:
    values.sort()
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2


def _segments(points: Sequence[TimingPoint]) -> tuple[list[int], list[str], list[float | None]]:
    """Discipline index per segment, the discipline keys, and each segment's length (m)."""
    keys: list[str] = []
    disc: list[int] = []
    previous: str | None = None
    lengths: list[float | None] = []
    before = 0.0
    for point in points:
        name = discipline(point, previous)
        previous = name
        key = f"{point.leg}:{name}" if point.leg is not None else name
        if key not in keys:
            keys.append(key)
        disc.append(keys.index(key))
        if point.distance_m is None:
            lengths.append(None)
        else:
            lengths.append(max(0.0, point.distance_m - before))
            before = point.distance_m
    return disc, keys, lengths


def _base(key: str) -> str:
    return key.split(":", 1)[-1]


def _estimate(
    k: int,
    disc: list[int],
    keys: list[str],
    lengths: list[float | None],
    ref: list[float],
    known: list[bool],
) -> float:
    """A reference time for a segment without enough athletes through it."""
    length = lengths[k]
    kind = _base(keys[disc[k]])
    same = [j for j in range(len(ref)) if known[j] and disc[j] == disc[k]]
    if length is not None and length > 0:
        metres = sum(lengths[j] or 0.0 for j in same)
        if metres > 0:
            return length * sum(ref[j] for j in same) / metres
        # the field's pace against typical speeds, where it has covered any distance
        ratios = [
            ref[j] / (1000.0 * (lengths[j] or 0.0) / TYPICAL_SPEED_MPS.get(_base(keys[disc[j]]), 3.7))
            for j in range(len(ref))
            if known[j] and (lengths[j] or 0.0) > 0
        ]
        scale = _median(ratios) if ratios else 1.0
        return 1000.0 * length / TYPICAL_SPEED_MPS.get(kind, 3.7) * scale
    if length == 0.0 or kind in TYPICAL_TRANSITION_MS:
        if same:
            return sum(ref[j] for j in same) / len(same)
        return float(TYPICAL_TRANSITION_MS.get(kind, 60_000))
    measured = [ref[j] for j in range(len(ref)) if known[j]]
    return sum(measured) / len(measured) if measured else 600_000.0


def _build_refs(standings: RaceStandings, version: int, passings: int, reached: tuple[bool, ...]) -> _Refs:
    points = standings.points
    disc, keys, lengths = _segments(points)
    n = len(points)
    entries = [e for e in standings._entries.values() if e.last >= 0]
    step = max(1, len(entries) // SAMPLE)
    sample = entries[::step]
    speeds = [_Speed.new(len(keys)) for _ in sample]
    previous: list[tuple[int, int]] = [(-1, 0) for _ in sample]  # (point index, chip) of the last time
    ref = [0.0] * n
    sigma = [DEFAULT_SPREAD] * n
    known = [False] * n
    for k in range(n):
        ratios: list[float] = []
        pairs: list[tuple[int, float, float | None]] = []
        for i, entry in enumerate(sample):
            chip = entry.times[k] if k < len(entry.times) else None
            if chip is None:
                continue
            at, before = previous[i]
            own = float(chip - before)
            if at == k - 1 and own > 0:
                speed = speeds[i].of(disc[k]) if at >= 0 else None
                ratios.append(own / speed if speed else own)
                pairs.append((i, own, speed))
        if len(ratios) >= MIN_SAMPLES:
            ref[k] = max(1.0, _median(ratios))
            known[k] = True
            devs = [abs(own / (ref[k] * speed) - 1.0) for _, own, speed in pairs if speed]
            if len(devs) >= MIN_SAMPLES:
                sigma[k] = max(0.002, 1.4826 * _median(devs))
        else:
            ref[k] = _estimate(k, disc, keys, lengths, ref, known)
        for i, entry in enumerate(sample):
            chip = entry.times[k] if k < len(entry.times) else None
            if chip is None:
                continue
            at, before = previous[i]
            own = float(chip - before)
            span = ref[k] if at == k - 1 else sum(ref[at + 1 : k + 1])
            same = all(disc[j] == disc[k] for j in range(at + 1, k + 1))
            if own > 0 and span > 0:
                speeds[i].add(disc[k] if same else None, own, span)
            previous[i] = (k, chip)
    measured_sigma = [sigma[k] for k in range(n) if known[k] and sigma[k] != DEFAULT_SPREAD]
    if measured_sigma:
        fallback = _median(list(measured_sigma))
        sigma = [s if known[k] else fallback for k, s in enumerate(sigma)]
    by_group: dict[tuple[str, str], list[float]] = {}
    overall: list[float] = []
    for i, entry in enumerate(sample):
        speed = speeds[i].overall()
        if speed is None:
            continue
        overall.append(speed)
        participant = entry.participant
        if participant is not None and participant.category:
            by_group.setdefault(("category", participant.category), []).append(speed)
        if participant is not None and participant.wave_id:
            by_group.setdefault(("wave", participant.wave_id), []).append(speed)
    groups = {key: _median(values) for key, values in by_group.items() if len(values) >= MIN_SAMPLES}
    return _Refs(
        version=version,
        disc=tuple(disc),
        ref=tuple(ref),
        sigma=tuple(sigma),
        groups=groups,
        riding=tuple(_base(keys[d]) == "bike" for d in disc),
        field_speed=_median(overall) if overall else 1.0,
        passings=passings,
        measured=tuple(known),
        reached=reached,
    )


# --------------------------------------------------------------- one athlete's projection
@dataclass(slots=True)
class _Plan:
    """One athlete's projected chip times (None where passed or not projected) and spreads."""

    times: tuple[int | None, ...]  # the entry's times this was made from (identity)
    status: Status
    offset: int
    version: int
    at: tuple[int | None, ...]
    spread: tuple[int, ...]
    basis: str
    first: int | None = None  # the first point projected (the athlete's next), None: none


def _plan(entry: Entry, refs: _Refs, disciplines: int) -> _Plan:
    times = entry.times
    n = len(refs.ref)
    empty = _Plan(times, entry.status, entry.offset_ms, refs.version, (None,) * n, (0,) * n, "")
    if entry.status is not Status.OK or entry.last >= n - 1 or len(times) != n:
        return empty
    ref, disc = refs.ref, refs.disc
    # the athlete's relative speed, per discipline (recent segments weigh more) and overall:
    # _Speed's rule, inlined (this runs for every athlete of the field)
    own_d = [0.0] * disciplines
    ref_d = [0.0] * disciplines
    total_own = total_ref = 0.0
    at, before = -1, 0
    for k in range(entry.last + 1):
        chip = times[k]
        if chip is None:
            continue
        own = chip - before
        if at == k - 1:
            span, d = ref[k], disc[k]
        else:
            span = sum(ref[at + 1 : k + 1])
            d = disc[k] if all(disc[j] == disc[k] for j in range(at + 1, k + 1)) else -1
        if own > 0 and span > 0:
            total_own += own
            total_ref += span
            if d >= 0:
                own_d[d] = own_d[d] * DECAY + own
                ref_d[d] = ref_d[d] * DECAY + span
        at, before = k, chip
    basis = "splits"
    if total_ref > 0:
        overall = total_own / total_ref
        relative = [own_d[d] / ref_d[d] if ref_d[d] > 0 else overall for d in range(disciplines)]
    else:
        participant = entry.participant
        group = None
        if participant is not None and participant.category:
            group = refs.groups.get(("category", participant.category))
            basis = "category pace"
        if group is None and participant is not None and participant.wave_id:
            group = refs.groups.get(("wave", participant.wave_id))
            basis = "wave pace"
        if group is None:
            group, basis = refs.field_speed, "field pace"
        relative = [group] * disciplines
    projected: list[int | None] = [None] * n
    spreads = [0] * n
    cum = float(before)
    linear = square = 0.0
    sigma = refs.sigma
    for k in range(entry.last + 1, n):
        if times[k] is not None:  # passed a later point out of order: nothing to project
            break
        segment = ref[k] * relative[disc[k]]
        cum += segment
        deviation = sigma[k] * segment
        linear += deviation
        square += deviation * deviation
        projected[k] = int(cum + 0.5)
        spreads[k] = int(0.5 * linear + 0.5 * math.sqrt(square) + 0.5)
    first = entry.last + 1 if entry.last + 1 < n and projected[entry.last + 1] is not None else None
    return _Plan(
        times, entry.status, entry.offset_ms, refs.version, tuple(projected), tuple(spreads), basis, first
    )


# ------------------------------------------------------------------------ the cache
@dataclass(slots=True)
class _Pending:
    """Everyone projected at one point: by ranking time (for projected places) and by gun
    time (for a window of arrivals), kept up to date as plans change."""

    by_gun: bool
    ranked: SortedList = field(default_factory=SortedList)
    timed: SortedList = field(default_factory=SortedList)
    keys: dict[str, tuple[tuple[int, str], tuple[int, str]]] = field(default_factory=dict)

    def drop(self, bib: str) -> None:
        keys = self.keys.pop(bib, None)
        if keys is not None:
            self.ranked.remove(keys[0])
            self.timed.remove(keys[1])

    def put(self, bib: str, chip: int, offset: int) -> None:
        gun = (chip + offset, bib)
        keys = (gun if self.by_gun else (chip, bib), gun)
        self.keys[bib] = keys
        self.ranked.add(keys[0])
        self.timed.add(keys[1])


@dataclass(slots=True)
class _Cache:
    refs: _Refs | None = None
    disciplines: int = 0
    points: tuple[str, ...] = ()
    plans: dict[str, _Plan] = field(default_factory=dict)
    mutations: int = -1
    log: int = -1  # the standings' change log position last read (-1: read the whole field)
    stale: list[str] = field(default_factory=list)  # bibs whose plan predates the medians
    cursor: int = 0  # stale[:cursor] are re-projected already
    tick_at: float = -math.inf  # monotonic time of the current tick's first read
    tick_spent: float = 0.0  # CPU seconds re-projecting in that tick
    list_spent: float = 0.0  # ... and building an On course list
    # per point: the last complete not_through() list (paced) and the one being built
    through: dict[int, list[NotThrough]] = field(default_factory=dict)
    building: tuple[int, Iterator[None], list[tuple[tuple[int, int, int], NotThrough]]] | None = None
    queued: set[str] = field(default_factory=set)  # bibs waiting for their first plan
    # per point index: ranking time of every athlete projected there, for projected places
    pending: dict[int, _Pending] = field(default_factory=dict)
    version: int = 0


_CACHES: weakref.WeakKeyDictionary[RaceStandings, _Cache] = weakref.WeakKeyDictionary()


def _passings(standings: RaceStandings) -> tuple[int, tuple[bool, ...]]:
    counts = tuple(len(at) for at in standings._at_point)
    return sum(counts), tuple(c >= MIN_SAMPLES for c in counts)


def _outdated(plan: _Plan | None, entry: Entry, queued: bool) -> bool:
    """True when ``entry`` changed since its plan was made (or has none and is not queued)."""
    if plan is None:
        return not queued
    return plan.times is not entry.times or plan.status is not entry.status or plan.offset != entry.offset_ms


def _cache(standings: RaceStandings, pace: bool = True) -> _Cache:
    """The projections of ``standings``, brought up to date with what it holds now; with
    ``pace``, a re-plan in progress goes on for what is left of this tick's :data:`REPLAN_MS`."""
    standings._fresh()
    cache = _CACHES.get(standings)
    if cache is None:
        cache = _CACHES[standings] = _Cache()
    point_ids = tuple(p.id for p in standings.points)
    total, reached = _passings(standings)
    refs = cache.refs
    if (
        refs is None
        or cache.points != point_ids
        or total
        > refs.passings + max(refs.passings * REFRESH_GROWTH, len(standings._entries) * REFRESH_SHARE)
        or total < refs.passings
        or any(r and not m for r, m in zip(reached, refs.reached, strict=False))
    ):
        cold = refs is None or cache.points != point_ids
        cache.version += 1
        cache.refs = refs = _build_refs(standings, cache.version, total, reached)
        cache.disciplines = len(_segments(standings.points)[1])
        cache.points = point_ids
        if cold:
            # a whole field to project: paced, as after new medians
            cache.plans.clear()
            cache.pending.clear()
            cache.stale = list(standings._entries)
            cache.queued = set(cache.stale)
            # every athlete is queued with the data they hold now: nothing to scan for
            cache.mutations = standings._mutations
            cache.log = standings.log_position
        else:
            # those still without a plan first, then the rest of a re-plan not through yet
            # (their plans are the oldest), then everyone else
            order = dict.fromkeys(bib for bib in standings._entries if bib in cache.queued)
            order.update(dict.fromkeys(cache.stale[cache.cursor :]))
            order.update(dict.fromkeys(cache.plans))
            cache.stale = list(order)
        cache.cursor = 0
    entries = standings._entries
    plans = cache.plans
    changed: list[str] = []
    queued = cache.queued
    if cache.mutations != standings._mutations:
        since = standings.changed_since(cache.log) if cache.log >= 0 else None
        if since is None:  # the whole field: the first time, or the log no longer reaches back
            gone = [bib for bib in plans if bib not in entries]
            changed = [
                bib for bib, entry in entries.items() if _outdated(plans.get(bib), entry, bib in queued)
            ]
        else:
            touched = dict.fromkeys(since)
            gone = [bib for bib in touched if bib not in entries and bib in plans]
            changed = [
                bib
                for bib in touched
                if (entry := entries.get(bib)) is not None and _outdated(plans.get(bib), entry, bib in queued)
            ]
        for bib in gone:
            _set_plan(cache, bib, None)
        cache.mutations = standings._mutations
        cache.log = standings.log_position
    if len(changed) * 8 > len(plans):
        cache.pending.clear()  # many moved: re-sorting once beats moving each
    for bib in changed:
        _set_plan(cache, bib, _plan(entries[bib], refs, cache.disciplines))
    if pace and cache.cursor < len(cache.stale):
        if len(entries) <= SMALL_FIELD:
            _advance(standings, cache, None)
        elif (left := _tick_left(cache)) > 0:
            cache.tick_spent += _advance(standings, cache, left)
    return cache


def _tick_left(cache: _Cache, listing: bool = False) -> float:
    """CPU seconds this UI tick may still spend re-planning (or, ``listing``, building an
    On course list: a share of its own, or a re-plan that never ends at 50,000 athletes with
    medians re-taken often would starve it)."""
    now = time.monotonic()
    if now - cache.tick_at >= TICK_S:  # a new tick: a new share of CPU
        cache.tick_at, cache.tick_spent, cache.list_spent = now, 0.0, 0.0
    if listing:
        return LIST_MS / 1000 - cache.list_spent
    return REPLAN_MS / 1000 - cache.tick_spent


def _advance(
    standings: RaceStandings,
    cache: _Cache,
    budget_s: float | None,
    clock: Callable[[], float] = time.thread_time,
) -> float:
    """Re-project the stale athletes from where the last call stopped, :data:`CHUNK` at a
    time, until ``budget_s`` of CPU is spent (None: all of them); at least one chunk. Returns
    the CPU seconds spent."""
    start = clock()
    refs = cache.refs
    assert refs is not None
    entries = standings._entries
    plans = cache.plans
    queued = cache.queued
    stale = cache.stale
    spent = 0.0
    while cache.cursor < len(stale):
        chunk = stale[cache.cursor : cache.cursor + CHUNK]
        cache.cursor += len(chunk)
        if len(chunk) * 8 > len(plans):
            cache.pending.clear()  # few plans yet: re-sorting once beats moving each
        for bib in chunk:
            held = entries.get(bib)
            plan = plans.get(bib)
            queued.discard(bib)
            if held is not None and (plan is None or plan.version != refs.version):
                _set_plan(cache, bib, _plan(held, refs, cache.disciplines))
        spent = clock() - start
        if budget_s is not None and spent >= budget_s:
            break
    if cache.cursor >= len(stale):
        cache.stale, cache.cursor = [], 0
    return spent


def replan(standings: RaceStandings, budget_ms: float | None = None) -> int:
    """Go on re-projecting the athletes whose projection predates the field's latest
    medians (or who have none yet) for about ``budget_ms`` of CPU (None: all of them; at
    least :data:`CHUNK` athletes a call). Reads do this by themselves, :data:`REPLAN_MS` per
    UI tick; this is for a caller that wants it done (an export) or drives it step by step.
    Returns how many are still to re-project (0: every projection rests on the latest medians)."""
    cache = _cache(standings, pace=False)
    if cache.cursor < len(cache.stale):
        _advance(standings, cache, None if budget_ms is None else budget_ms / 1000)
    return len(cache.stale) - cache.cursor


def unprojected(standings: RaceStandings) -> int:
    """How many athletes still wait for a first projection: a big field is projected a
    share per UI tick (:data:`REPLAN_MS` of CPU), so the first ticks of a 50,000-athlete
    race list only part of it (a screen says so). 0 once every athlete has one. Reads only
    what the last read left."""
    cache = _CACHES.get(standings)
    return len(standings._entries) if cache is None else len(cache.queued)


def _rank_time(standings: RaceStandings, plan: _Plan, index: int) -> int | None:
    chip = plan.at[index] if index < len(plan.at) else None
    if chip is None:
        return None
    return chip + plan.offset if standings.by_gun else chip


def _set_plan(cache: _Cache, bib: str, plan: _Plan | None) -> None:
    cache.plans.pop(bib, None)
    for index, pending in cache.pending.items():
        pending.drop(bib)
        at = plan.at[index] if plan is not None and index < len(plan.at) else None
        if plan is not None and at is not None:
            pending.put(bib, at, plan.offset)
    if plan is not None:
        cache.plans[bib] = plan


def _pending(standings: RaceStandings, cache: _Cache, index: int) -> _Pending:
    """Everyone projected at point ``index`` (built on first use; the lists of the
    :data:`KEEP_POINTS` points read last are kept, at 50,000 athletes ~7 MB each)."""
    found = cache.pending.pop(index, None)
    if found is not None:
        cache.pending[index] = found  # the most recently read last
    if found is None or found.by_gun != standings.by_gun:
        found = _Pending(standings.by_gun)
        ranked: list[tuple[int, str]] = []
        timed: list[tuple[int, str]] = []
        for bib, plan in cache.plans.items():
            at = plan.at[index] if index < len(plan.at) else None
            if at is not None:
                gun = (at + plan.offset, bib)
                keys = (gun if found.by_gun else (at, bib), gun)
                found.keys[bib] = keys
                ranked.append(keys[0])
                timed.append(keys[1])
        found.ranked = SortedList(ranked)
        found.timed = SortedList(timed)
        cache.pending[index] = found
    while len(cache.pending) > KEEP_POINTS:
        del cache.pending[next(iter(cache.pending))]
    return found


def _projection(bib: str, plan: _Plan, index: int, delay: int = 0) -> Projection | None:
    at = plan.at[index] if 0 <= index < len(plan.at) else None
    if at is None:
        return None
    at += delay
    return Projection(bib, index, at, plan.spread[index], plan.basis, at + plan.offset)


# ------------------------------------------------------------------------------- reads
def project(standings: RaceStandings, bib: str) -> list[Projection]:
    """``bib`` at every later timing point, in course order; [] when not racing (DNF,
    DSQ, DNS...), finished, or unknown. Not conditioned on now: see :func:`arrivals`."""
    plan = _cache(standings).plans.get(bib)
    if plan is None:
        return []
    out = []
    for index in range(len(plan.at)):
        projection = _projection(bib, plan, index)
        if projection is not None:
            out.append(projection)
    return out


def _delay(plan: _Plan, now_ms: int) -> int:
    """How far past their projection at their next point an athlete already is (they are
    not there yet at ``now_ms``): every later projection moves by that much."""
    first = plan.first
    if first is None:
        return 0
    at = plan.at[first]
    assert at is not None
    return max(0, now_ms - (at + plan.offset))


def arrivals(standings: RaceStandings, point_index: int, now_ms: int, within_ms: int) -> list[Arrival]:
    """The athletes expected at point ``point_index`` from ``now_ms`` (race time since the
    gun) to ``within_ms`` after it, soonest first (then by bib order).

    An athlete already past their projection at their next point is projected from now
    (``overdue_ms``); one overdue by more than three spreads and :data:`OVERDUE_MIN_MS`
    leaves the list (they show in :func:`not_through`)."""
    if not 0 <= point_index < len(standings.points):
        return []
    cache = _cache(standings)
    pending = _pending(standings, cache, point_index)
    ordered = pending.ranked
    passed = standings._at_point[point_index]
    end = now_ms + max(0, within_ms)
    found: list[tuple[int, int, str, Projection, int]] = []
    entries = standings._entries
    by_gun = standings.by_gun
    plain_keys: list[int] = []  # ranking times, as projected, of everyone due by the end
    moved: dict[str, int] = {}  # the same, moved on for those already late (and packs)
    plans = cache.plans
    for plain, bib in pending.timed.irange(maximum=(end, "\U0010ffff")):
        plan = plans[bib]
        at = plan.at[point_index]
        assert at is not None
        delay = _delay(plan, now_ms)
        plain_keys.append(plain if by_gun else at)
        moved[bib] = plain + delay if by_gun else at + delay
        first = plan.first
        if first is not None and delay > max(OVERDUE_MIN_MS, 3 * plan.spread[first]):
            continue
        gun = plain + delay
        if gun < now_ms or gun > end:
            continue
        projection = _projection(bib, plan, point_index, delay)
        assert projection is not None
        found.append((gun, entries[bib].number if bib in entries else 0, bib, projection, delay))
    if cache.refs is not None:
        found = [f for f in _packs(standings, cache.refs, found, point_index, now_ms) if f[0] <= end]
        for _, _, bib, projection, _ in found:
            moved[bib] = projection.gun_ms if by_gun else projection.at_ms
    found.sort(key=lambda item: (item[0], item[1], item[2]))
    plain_keys.sort()
    moved_keys = sorted(moved.values())
    out = []
    for gun, _, bib, projection, delay in found:
        entry = entries[bib]
        time = projection.gun_ms if by_gun else projection.at_ms
        # ahead at the point: through it already, or due before (as moved on for the late)
        ahead = int(passed.bisect_left((time,))) + int(ordered.bisect_left((time,)))
        ahead += bisect.bisect_left(moved_keys, time) - bisect.bisect_left(plain_keys, time)
        current = standings.placing(bib, entry.last) if entry.last >= 0 else None
        out.append(
            Arrival(bib, entry.name(), projection, gun - now_ms, ahead + 1, current, entry.last, delay)
        )
    return out


def _packs(
    standings: RaceStandings,
    refs: _Refs,
    found: list[tuple[int, int, str, Projection, int]],
    point_index: int,
    now_ms: int,
) -> list[tuple[int, int, str, Projection, int]]:
    """Riders who passed their last point together (within a second of the one ahead,
    :func:`~racetui.engine.groups.group_times`) and ride on the bike to ``point_index`` stay
    together: one time from their last point for the pack (its median), each keeping their
    gap at that point. Without this a pack looks like it breaks up (each rider's own speed
    so far differs) and its riders seem to gain and lose places they will not."""
    riding = refs.riding
    entries = standings._entries
    by_point: dict[int, list[tuple[str, int]]] = {}
    for _, _, bib, _, _ in found:
        entry = entries[bib]
        last = entry.last
        if last < 0 or not all(riding[last : point_index + 1]):
            continue
        chip = entry.times[last]
        if chip is not None:
            by_point.setdefault(last, []).append((bib, chip + entry.offset_ms))
    if not by_point:
        return found
    moved: dict[str, int] = {}
    for members in by_point.values():
        at_last = dict(members)
        for group in group_times(members):
            if group.size < 2:
                continue
            ahead = {bib: item for item in found if (bib := item[2]) in group.bibs}
            common = _median([float(ahead[bib][3].gun_ms - at_last[bib]) for bib in group.bibs])
            for bib in group.bibs:
                moved[bib] = max(now_ms, int(at_last[bib] + common + 0.5))
    out = []
    for gun, number, bib, projection, delay in found:
        new = moved.get(bib)
        if new is None or new == gun:
            out.append((gun, number, bib, projection, delay))
            continue
        shift = new - gun
        projection = Projection(
            bib, point_index, projection.at_ms + shift, projection.spread_ms, projection.basis, new
        )
        out.append((new, number, bib, projection, delay))
    return out


def front_point(standings: RaceStandings, now_ms: int | None = None, within_ms: int = 0) -> int:
    """The front of the race: the point the leaders reach next (the finish once someone is
    in), or, given ``now_ms``, the nearest of the two points behind it where anyone is due
    within ``within_ms`` when no one is due there (-1: the race has no points)."""
    points = standings.points
    if not points:
        return -1
    front = max(0, min(standings.latest_point() + 1, len(points) - 1))
    if now_ms is None:
        return front
    for index in range(front, max(-1, front - 3), -1):
        if arrivals(standings, index, now_ms, within_ms):
            return index
    return front


def projected_finish_order(standings: RaceStandings) -> list[str]:
    """Every athlete racing or finished, by finish time: actual where they finished,
    projected where still on course (gun or chip as the race ranks); DNF, DSQ, DNS and
    those with nothing to project from are left out."""
    cache = _cache(standings)
    points = standings.points
    if not points:
        return []
    finish = next((i for i, p in enumerate(points) if p.is_finish), len(points) - 1)
    keyed: list[tuple[int, int, str]] = []
    for bib, entry in standings._entries.items():
        chip = entry.times[finish] if finish < len(entry.times) else None
        if chip is not None and entry.status in (Status.OK, Status.LAP, Status.NC):
            keyed.append((chip + entry.offset_ms if standings.by_gun else chip, entry.number, bib))
            continue
        plan = cache.plans.get(bib)
        if plan is None or entry.status is not Status.OK:
            continue
        time = _rank_time(standings, plan, finish)
        if time is not None:
            keyed.append((time, entry.number, bib))
    keyed.sort()
    return [bib for _, _, bib in keyed]


def _finish(standings: RaceStandings) -> int:
    points = standings.points
    return next((i for i, p in enumerate(points) if p.is_finish), len(points) - 1)


def on_course(standings: RaceStandings, now_ms: int) -> OnCourse:
    """Counts of the race at ``now_ms`` (race time since the gun): see :class:`OnCourse`.

    Kept from the race's change log (:class:`_Course`): a tick looks at the athletes
    changed since the last call, not the field (a scan of 50,000 was most of the On
    course view's 226 ms tick); the wave starts still to come are a bisection."""
    standings._fresh()
    finish = _finish(standings)
    has_points = bool(standings.points)
    course = _COURSES.get(standings)
    changed = None if course is None else standings.changed_since(course.position)
    if course is None or changed is None or course.finish != finish or course.has_points != has_points:
        course = _COURSES[standings] = _Course(standings.log_position, finish, has_points)
        for entry in standings._entries.values():
            course.add(entry.bib, entry)
    elif changed:
        course.position = standings.log_position
        entries = standings._entries
        for bib in set(changed):
            course.drop(bib)
            now = entries.get(bib)
            if now is not None:
                course.add(bib, now)
    return course.counts(len(standings._entries), now_ms)


class _Course:
    """What :func:`on_course` counts, by athlete: DNS, finished, on course or out once they
    have a passing; those without one by their wave's start (not started before it),
    racing or not."""

    __slots__ = ("finish", "fixed", "has_points", "kinds", "position", "waiting")

    def __init__(self, position: int, finish: int, has_points: bool) -> None:
        self.position = position
        self.finish = finish
        self.has_points = has_points
        self.kinds: dict[str, tuple[str, int]] = {}  # bib -> (kind, wave offset)
        self.fixed = {"dns": 0, "fin": 0, "on": 0, "out": 0}
        # wave offsets of those without a passing: status OK ("ok") or not ("other")
        self.waiting = {"ok": SortedList(), "other": SortedList()}

    def _kind(self, entry: Entry) -> str:
        if entry.status is Status.DNS:
            return "dns"
        if entry.last < 0:
            return "ok" if entry.status is Status.OK else "other"
        finish = self.finish
        done = 0 <= finish < len(entry.times) and entry.times[finish] is not None
        if done and entry.status is not Status.DSQ:
            return "fin"
        return "on" if entry.status is Status.OK else "out"

    def add(self, bib: str, entry: Entry) -> None:
        kind = self._kind(entry)
        self.kinds[bib] = (kind, entry.offset_ms)
        if kind in self.waiting:
            self.waiting[kind].add(entry.offset_ms)
        else:
            self.fixed[kind] += 1

    def drop(self, bib: str) -> None:
        held = self.kinds.pop(bib, None)
        if held is None:
            return
        kind, offset = held
        if kind in self.waiting:
            self.waiting[kind].remove(offset)
        else:
            self.fixed[kind] -= 1

    def counts(self, athletes: int, now_ms: int) -> OnCourse:
        ok, other = self.waiting["ok"], self.waiting["other"]
        if self.has_points:  # before their wave's start (now < offset): not started
            ok_waiting = len(ok) - ok.bisect_right(now_ms)
            other_waiting = len(other) - other.bisect_right(now_ms)
        else:
            ok_waiting, other_waiting = len(ok), len(other)
        fixed = self.fixed
        not_started = ok_waiting + other_waiting
        return OnCourse(
            athletes,
            athletes - fixed["dns"] - not_started,
            fixed["on"] + len(ok) - ok_waiting,
            fixed["fin"],
            fixed["out"] + len(other) - other_waiting,
            not_started,
            fixed["dns"],
        )


_COURSES: weakref.WeakKeyDictionary[RaceStandings, _Course] = weakref.WeakKeyDictionary()


def not_through(
    standings: RaceStandings, point_index: int, now_ms: int, paced: bool = False
) -> list[NotThrough]:
    """Athletes racing and started (their wave has gone) who have not passed point
    ``point_index`` yet, soonest expected first (the overdue ones at the top, those
    without a projection last), each with their running time since their own start.

    ``paced`` (a UI tick): the last complete list for the point, as of the ``now_ms`` it
    was started at, while the next one is built within this tick's :data:`LIST_MS` of CPU
    (at 50,000 athletes a whole list is a few hundred ms of CPU); [] until
    the first is complete (:func:`listing` says so). A small field is listed whole."""
    if not 0 <= point_index < len(standings.points):
        return []
    cache = _cache(standings)
    if not paced or len(standings._entries) <= SMALL_FIELD:
        rows: list[tuple[tuple[int, int, int], NotThrough]] = []
        for _ in _through_rows(standings, cache, point_index, now_ms, rows, len(standings._entries)):
            pass
        return [row for _, row in rows]
    building = cache.building
    if building is None or building[0] != point_index:
        rows = []
        steps = _through_rows(standings, cache, point_index, now_ms, rows, CHUNK * 8)
        building = cache.building = (point_index, steps, rows)
    if (left := _tick_left(cache, listing=True)) > 0:
        start = time.thread_time()
        for _ in building[1]:
            if time.thread_time() - start >= left:
                break
        else:  # complete: it is shown from now on, and the next one starts on the next read
            cache.through = {point_index: [row for _, row in building[2]]}
            cache.building = None
        cache.list_spent += time.thread_time() - start
    return cache.through.get(point_index, [])


def listing(standings: RaceStandings, point_index: int) -> bool:
    """True while a paced :func:`not_through` list for the point has none complete yet."""
    cache = _CACHES.get(standings)
    return cache is not None and len(standings._entries) > SMALL_FIELD and point_index not in cache.through


def _through_rows(
    standings: RaceStandings,
    cache: _Cache,
    point_index: int,
    now_ms: int,
    rows: list[tuple[tuple[int, int, int], NotThrough]],
    step: int,
) -> Iterator[None]:
    """Fill ``rows`` with :func:`not_through`'s, ``step`` athletes between two yields, sorted
    at the end (the field as it was at the start: it may change between the steps)."""
    entries = list(standings._entries.items())
    for begin in range(0, len(entries), max(1, step)):
        for bib, entry in entries[begin : begin + step]:
            if entry.status is not Status.OK or now_ms < entry.offset_ms:
                continue
            if point_index < len(entry.times) and entry.times[point_index] is not None:
                continue
            if entry.last > point_index:  # passed later points: a missed read here, not to come
                continue
            plan = cache.plans.get(bib)
            projection = None
            eta = None
            overdue = False
            if plan is not None:
                delay = _delay(plan, now_ms)
                projection = _projection(bib, plan, point_index, delay)
                if projection is not None:
                    eta = projection.gun_ms - now_ms
                    first = plan.first
                    overdue = first is not None and delay > max(30_000, plan.spread[first])
            last_ms = entry.times[entry.last] if entry.last >= 0 else None
            row = NotThrough(
                bib, entry.name(), now_ms - entry.offset_ms, entry.last, last_ms, projection, eta, overdue
            )
            rank = (
                0 if overdue else 1 if eta is not None else 2,
                eta if eta is not None else 0,
                entry.number,
            )
            rows.append((rank, row))
        yield
    rows.sort(key=lambda item: item[0])
