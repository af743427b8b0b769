"""Dashboard: event-to-frame latency under a live stream, first draw of a big field, memory.

A field of N athletes (2,000 and 50,000) receives 300 passings/s, headless (``run_test``).
Two dashboards take the same stream:

* **racetui** — the leaderboard screen (``RowTable``: Line API, visible rows only, one UI
  tick draining the pipeline's merged change set);
* **DataTable** — Textual's ``DataTable`` holding the whole leaderboard, patched cell by
  cell on the same tick: rows in the change set's moved range are re-read and every
  changed cell gets ``update_cell`` (the dolphie pattern).

Both keep where the passings land on screen (scrolled twice a second to the latest one), so
most ticks change rows in view: the worst case (the top of a board changes only when the
leaders pass).
Measured per passing:

* ``tick→frame`` — from the UI tick that takes the passing (drains the pipeline) to the end
  of the frame that shows it (rendered to terminal bytes): what the UI itself costs;
* ``tick→frame, per frame`` — the same per tick, for the ticks that drew a frame only (a
  tick whose passings all land off screen draws none, and costs its tick work alone);
  ``…, CPU`` is the loop thread's CPU time over the same span (``time.thread_time``: no
  waiting for a CPU on a loaded machine, nor for Textual's update timer; the stream's own
  applies in between are in it, a few µs each);
* ``event→frame`` — from the moment the passing is applied to the pipeline to that frame:
  includes waiting for the tick (racetui coalesces to one tick every ``tick`` seconds on
  purpose, so this is about half a tick plus the above).

A tick's passings count as shown at the frame written after it (a widget's ``refresh()``
reaches the screen only when Textual delivers the update, after the tick); a tick whose
changes touch nothing on screen produces no frame, and its passings count as shown when
Textual has refreshed without writing one (``call_after_refresh``). Also: time from app
start to the first drawn leaderboard, and the peak RSS of each run (every scenario runs in its own process).

Usage: python -m benchmarks.bench_ui [--smoke] [--seconds S] [--only racetui-2000 …]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import Measurement, print_table, race_in_progress, summarize

RATE = 300  # passings per second
TICK = 0.15  # the dashboard's default UI tick


# ---------------------------------------------------------------- the probe
@dataclass
class Probe:
    """Timestamps of passings applied, ticks that drained them, frames that showed them."""

    pending: list[float] = field(default_factory=list)  # apply times not drained yet
    # (tick start, the loop thread's CPU time then, apply times)
    awaiting: list[tuple[float, float, list[float]]] = field(default_factory=list)
    event_to_frame: list[float] = field(default_factory=list)
    tick_to_frame: list[float] = field(default_factory=list)
    tick_seconds: list[float] = field(default_factory=list)
    drawn: list[float] = field(default_factory=list)  # per tick shown by a frame: tick→frame
    drawn_cpu: list[float] = field(default_factory=list)  # the same in the loop thread's CPU time
    undrawn: int = 0  # ticks with passings that changed nothing on screen
    frames: int = 0
    recording: bool = False

    def resolve(self, now: float, frame: bool = True) -> None:
        cpu = time.thread_time()
        for started, cpu_started, applied in self.awaiting:
            if self.recording:
                self.tick_to_frame.extend([now - started] * len(applied))
                self.event_to_frame.extend(now - t for t in applied)
                if frame:
                    self.drawn.append(now - started)
                    self.drawn_cpu.append(cpu - cpu_started)
                else:
                    self.undrawn += 1
        self.awaiting.clear()


def _unshown(probe: Probe) -> None:
    probe.resolve(time.perf_counter(), frame=False)


def instrument(app: Any, probe: Probe, tick_name: str = "tick") -> None:
    """Wrap the app's UI tick and its frame output (``_display``, headless included)."""
    original_tick = getattr(app, tick_name)

    def tick() -> None:
        started, cpu_started = time.perf_counter(), time.thread_time()
        drained, probe.pending = probe.pending, []
        original_tick()
        if probe.recording:
            probe.tick_seconds.append(time.perf_counter() - started)
        if drained:
            probe.awaiting.append((started, cpu_started, drained))
            # A widget's refresh() reaches the screen only when Textual delivers the update
            # after this tick: the passings are shown by the next frame (``display`` below
            # resolves them). Only if Textual refreshes and writes no frame did the tick
            # change nothing on screen; they count as shown then, not at the tick's end.
            app.call_after_refresh(_unshown, probe)

    setattr(app, tick_name, tick)
    original_display = app._display

    def display(screen: Any, renderable: Any) -> None:
        original_display(screen, renderable)
        if renderable is None:
            return
        render = getattr(renderable, "render_segments", None)
        if render is not None:
            render(app.console)  # what would be written to the terminal
        probe.frames += 1
        probe.resolve(time.perf_counter())

    app._display = display


async def feed_stream(
    pipeline: Any,
    passings: list[Any],
    probe: Probe,
    seconds: float,
    follow: Callable[[int], None] | None = None,
) -> int:
    """Apply passings at RATE per second, one message each, for ``seconds``.

    ``follow`` is called twice a second with the leaderboard index of the latest passing:
    the viewer keeps the action on screen, as an operator watching arrivals does.
    """
    start = time.perf_counter()
    applied = 0
    next_follow = start
    while True:
        now = time.perf_counter()
        if now - start >= seconds or applied >= len(passings):
            return applied
        due = min(len(passings), int((now - start) * RATE))
        while applied < due:
            pipeline.apply_passings([passings[applied]])
            probe.pending.append(time.perf_counter())
            applied += 1
        if follow is not None and applied and now >= next_follow:
            latest = passings[applied - 1]
            index = pipeline.engine.races[latest.race_id].view().index_of(latest.bib)
            if index is not None:
                follow(index)
            next_follow = now + 0.5
        await asyncio.sleep(0.002)


def build(athletes: int) -> tuple[Any, Any, list[Any], Any]:
    """The field loaded (the simulator's seeded half marathon, 45 minutes in), its source,
    the stream (300/s for the longest run) and the race's moment."""
    race = race_in_progress(athletes, stream=RATE * 120)
    race.pipeline.drain()
    # The generator's own leftovers are not the dashboard's memory.
    gc.collect()
    reset_peak_rss()
    return race.pipeline, race.source, race.passings, race.now


def reset_peak_rss() -> None:
    """Start the kernel's peak-RSS counter (VmHWM) afresh, so the peak measured is the
    dashboard's with the field loaded, not the simulator's transient."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def landing(pipeline: Any, passings: list[Any]) -> int:
    """Where the first passings of the stream land on the (whole-field) leaderboard."""
    standings = pipeline.engine.races[passings[0].race_id]
    return int(standings.view().index_of(passings[0].bib) or 0)


# ------------------------------------------------------------ the scenarios
async def run_racetui(athletes: int, seconds: float) -> dict[str, Any]:
    from racetui.tui.app import RaceApp
    from racetui.tui.clock import fixed_clock
    from racetui.tui.themes import builtin_theme_dir
    from racetui.tui.widgets.table import RowTable

    started = time.perf_counter()
    pipeline, feed, passings, now = build(athletes)
    load_s = time.perf_counter() - started
    app = RaceApp(pipeline, [feed], clock=fixed_clock(now), theme_dirs=[builtin_theme_dir()], tick=TICK)
    # Everything is in the engine already: make the first tick see the whole field, as a
    # dashboard opening on a running race does.
    from racetui.engine import ChangeSet

    pipeline.pending = ChangeSet(structure=set(pipeline.engine.races))
    probe = Probe()
    first_frame: list[float] = []
    opened = time.perf_counter()
    instrument(app, probe)  # before mounting: the tick timer takes the wrapped tick
    async with app.run_test(size=(120, 36)) as pilot:
        while not first_frame:
            tables = app.screen.query(RowTable)
            if tables and tables.first().lines_drawn > 0 and probe.frames > 0:
                first_frame.append(time.perf_counter() - opened)
            await asyncio.sleep(0.001)
        while app.state.tracker.backlog:  # the first look at the field, spread over ticks
            await pilot.pause(0.05)
        # Keep where the stream's passings land on screen (the front of a timing point's
        # group), so most ticks change rows in view: the top of the board changes only when
        # the leaders pass. This is the worst case for the dashboard.
        board = app.screen.query_one(RowTable)

        def follow(index: int) -> None:
            board.scroll_to(y=max(0, index - board.visible_rows // 2), animate=False, immediate=True)

        follow(landing(pipeline, passings))
        before = board.rows_fetched
        await pilot.pause(0.3)
        probe.recording = True
        applied = await feed_stream(pipeline, passings, probe, seconds, follow)
        await pilot.pause(2 * TICK + 0.1)
        table = app.screen.query_one(RowTable)
        fetched, drawn = table.rows_fetched - before, table.lines_drawn
    return {
        "kind": "racetui",
        "athletes": athletes,
        "load_s": load_s,
        "first_frame_s": first_frame[0],
        "applied": applied,
        "event_to_frame": probe.event_to_frame,
        "tick_to_frame": probe.tick_to_frame,
        "tick_s": probe.tick_seconds,
        "drawn": probe.drawn,
        "drawn_cpu": probe.drawn_cpu,
        "undrawn": probe.undrawn,
        "rows_fetched": fetched,
        "lines_drawn": drawn,
    }


async def run_datatable(athletes: int, seconds: float) -> dict[str, Any]:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from racetui.tui.columns import badge_for, format_gap_cell, format_time

    started = time.perf_counter()
    pipeline, _, passings, _ = build(athletes)
    load_s = time.perf_counter() - started
    standings = next(iter(pipeline.engine.races.values()))
    view = standings.view()
    columns = ("pos", "bib", "name", "nat", "at", "time", "gap", "ahead", "st")

    def cells(row: Any) -> tuple[str, ...]:
        at = standings.points[row.point_index].name if row.point_index >= 0 else "start"
        return (
            str(row.rank or "–"),
            row.bib,
            row.name,
            row.country or "",
            at,
            format_time(row.time_ms),
            format_gap_cell(row.gap_leader_ms),
            format_gap_cell(row.gap_ahead_ms),
            badge_for(row.status, row.incidents)[0],
        )

    shown: list[tuple[str, ...]] = []
    cell_seconds: list[float] = []

    class Board(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="board")

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            for key in columns:
                table.add_column(key, key=key)
            shown.extend(cells(r) for r in view.rows(0, len(view)))
            for index, values in enumerate(shown):
                table.add_row(*values, key=str(index))
            self.set_interval(TICK, self.tick)

        def tick(self) -> None:
            changes = pipeline.drain()
            span = changes.moved.get(standings.race.id)
            if span is None:
                return
            table = self.query_one(DataTable)
            low, high = span
            while len(shown) < len(view):  # athletes appearing (none in this stream)
                values = cells(view.row(len(shown)))
                table.add_row(*values, key=str(len(shown)))
                shown.append(values)
            for row in view.rows(low, high + 1):
                old = shown[row.index]
                new = cells(row)
                if new == old:
                    continue
                for key, before, after in zip(columns, old, new, strict=True):
                    if before != after:
                        t0 = time.perf_counter()
                        table.update_cell(str(row.index), key, after)
                        cell_seconds.append(time.perf_counter() - t0)
                shown[row.index] = new

    app = Board()
    probe = Probe()
    first_frame: list[float] = []
    opened = time.perf_counter()
    budget = seconds * 3 + 30  # DataTable may fall far behind: stop waiting at some point
    instrument(app, probe)  # before mounting: the tick timer takes the wrapped tick
    async with app.run_test(size=(120, 36)) as pilot:
        while not first_frame:
            if probe.frames > 0 and app.query_one(DataTable).row_count == len(view):
                first_frame.append(time.perf_counter() - opened)
            await asyncio.sleep(0.005)
            if time.perf_counter() - opened > budget:
                break
        data_table = app.query_one(DataTable)

        def follow(index: int) -> None:
            data_table.scroll_to(y=max(0, index - 16), animate=False, immediate=True)

        follow(landing(pipeline, passings))
        await pilot.pause(0.3)
        probe.recording = True
        feeding = asyncio.create_task(feed_stream(pipeline, passings, probe, seconds, follow))
        deadline = time.perf_counter() + budget
        while not feeding.done() and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        applied = await feeding if feeding.done() else 0
        feeding.cancel()
        end = time.perf_counter() + 2 * TICK + 0.1
        while time.perf_counter() < min(end, deadline):
            await asyncio.sleep(0.05)
    return {
        "kind": "datatable",
        "athletes": athletes,
        "load_s": load_s,
        "first_frame_s": first_frame[0] if first_frame else float("nan"),
        "applied": applied,
        "event_to_frame": probe.event_to_frame,
        "tick_to_frame": probe.tick_to_frame,
        "tick_s": probe.tick_seconds,
        "drawn": probe.drawn,
        "drawn_cpu": probe.drawn_cpu,
        "undrawn": probe.undrawn,
        "cell_s": cell_seconds,
    }


def child(scenario: str, seconds: float) -> dict[str, Any]:
    kind, _, size = scenario.partition("-")
    runner: Callable[[int, float], Any] = run_racetui if kind == "racetui" else run_datatable
    result: dict[str, Any] = asyncio.run(runner(int(size), seconds))
    result["peak_rss_mb"] = peak_rss_mb()
    return result


# ----------------------------------------------------------------- the table
def _ms(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    median, p95 = summarize(values)
    return median * 1000, p95 * 1000


def measurements(result: dict[str, Any]) -> list[Measurement]:
    who = f"{result['kind']} {result['athletes']:,}"
    rows: list[Measurement] = []
    target = "<20 / <50 ms" if result["kind"] == "racetui" and result["athletes"] >= 50_000 else ""
    shown = len(result["event_to_frame"])
    note = f"{shown:,} of {result['applied']:,} passings shown at {RATE}/s"
    median, p95 = _ms(result["tick_to_frame"])
    rows.append(Measurement(f"ui {who}: tick→frame", median, p95, "ms", target, note))
    median, p95 = _ms(result["event_to_frame"])
    rows.append(
        Measurement(f"ui {who}: event→frame", median, p95, "ms", "", f"incl. waiting for the {TICK}s tick")
    )
    median, p95 = _ms(result["drawn"])
    drew = f"{len(result['drawn']):,} of {len(result['drawn']) + result['undrawn']:,} ticks drew a frame"
    per_frame = "≤10 / ≤25 ms" if target else ""
    rows.append(Measurement(f"ui {who}: tick→frame, per frame", median, p95, "ms", per_frame, drew))
    median, p95 = _ms(result["drawn_cpu"])
    rows.append(
        Measurement(
            f"ui {who}: tick→frame, per frame, CPU", median, p95, "ms", "", "the loop thread's CPU time"
        )
    )
    median, p95 = _ms(result["tick_s"])
    rows.append(Measurement(f"ui {who}: tick work", median, p95, "ms"))
    rows.append(
        Measurement(
            f"ui {who}: first drawn board",
            result["first_frame_s"],
            None,
            "s",
            "",
            f"engine load {result['load_s']:.1f} s not included",
        )
    )
    if result.get("cell_s"):
        median, p95 = _ms(result["cell_s"])
        rows.append(
            Measurement(f"ui {who}: update_cell", median, p95, "ms", "", f"{len(result['cell_s']):,} cells")
        )
    if "rows_fetched" in result:
        rows.append(
            Measurement(
                f"ui {who}: rows read",
                result["rows_fetched"],
                None,
                "rows",
                "",
                f"{result['lines_drawn']:,} lines drawn",
            )
        )
    rows.append(
        Measurement(
            f"ui {who}: peak RSS",
            result["peak_rss_mb"],
            None,
            "MB",
            "< 250 (50,000)" if who.startswith("racetui") else "",
            "field loaded, through first draw and the stream",
        )
    )
    return rows


def run_child(scenario: str, seconds: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_ui", "--child", scenario, "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{scenario} failed: {proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure(
    smoke: bool = False, seconds: float | None = None, only: list[str] | None = None
) -> list[Measurement]:
    if smoke:
        scenarios = ["racetui-2000", "datatable-2000"]
        seconds = seconds or 2.0
    else:
        scenarios = ["racetui-2000", "datatable-2000", "racetui-50000", "datatable-50000"]
        seconds = seconds or 15.0
    rows: list[Measurement] = []
    for scenario in only or scenarios:
        print(f"  bench_ui: {scenario} …", file=sys.stderr, flush=True)
        rows.extend(measurements(run_child(scenario, seconds)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2,000 athletes, two seconds of stream")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of stream per scenario")
    parser.add_argument(
        "--only", action="append", help="racetui-2000, datatable-2000, racetui-50000, datatable-50000"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = child(args.child, args.seconds or 10.0)
        print(json.dumps(result))
        return 0
    print_table(measure(smoke=args.smoke, seconds=args.seconds, only=args.only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
