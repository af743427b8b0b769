"""Peak RSS per command at 50,000 athletes (issue 15: each <= 250 MB), measured from outside.

Every command runs as the user runs it, in its own process with its own data dir, against
sources in their own processes over real sockets or files:

* **BBT**: ``racetui sim --athletes 50000 --kind road --speed 60 --skip 7200`` (a marathon
  two hours in);
* **v1.1**: ``python -m benchmarks.bench_v11 --write-feed PATH`` (a 50,000x10 message,
  replaced every second as a pack crosses a point).

The commands:

* ``connect URL`` and ``feed PATH``: the dashboard in a pty of 120x36 (journal on, the
  embedded hub: the defaults), until its header says 50,000 athletes; the dashboard's peak
  and its hub child's are given apart;
* ``export --connect URL`` and ``export --feed PATH``, each ``--format`` (csv, json,
  triathlon): to its exit;
* ``publish triathlon --connect URL`` and ``--feed PATH`` with ``--once --yes``: one v1.1
  POST to a sink in this process (an ``http.server`` that reads the body and answers 200),
  to its exit (a live race is never quiet for its ``--settle``: a BBT master's is
  published ``--settle`` seconds after its first load is complete; a feed once loaded and
  quiet, or after ``--wait 120`` seconds);
* ``replay JOURNAL --speed 0`` (the dashboard, in a pty, until 50,000 athletes) and
  ``export --replay JOURNAL``: the journal the ``connect`` run above recorded.

``view`` needs a Redis hub and is left out here (``bench_scale`` runs viewers on one).

Each figure is the kernel's peak resident set (``VmHWM``) of the process; the pty commands'
hub child is read from ``/proc`` before the dashboard is stopped, a headless command's from
``wait4`` (which includes any child it waited for, and its parent's peak at the fork: the
commands are started from a fresh interpreter, so that is a small one). Beside it: the wall
time from spawn to the end (exit, or the full board) and the CPU time of the process and its
children (user + system, so a loaded machine's waiting is not counted).

Usage: python -m benchmarks.bench_rss [--smoke] [--athletes N] [--only NAME]
"""

from __future__ import annotations

import argparse
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import Measurement, in_fresh_interpreter, print_table
from benchmarks.ptyterm import Terminal, athletes_shown, has_athletes
from benchmarks.simproc import ROOT, SimProcess, children, peak_rss_mb, v11_feed

LIMIT = "<= 250"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    command: str
    peak_mb: float
    child_mb: float | None  # the embedded hub's peak (pty commands)
    wall_s: float
    cpu_s: float
    ok: bool
    note: str = ""
    load: float = field(default_factory=lambda: os.getloadavg()[0])  # at the end of the run


def _env(data: Path) -> dict[str, str]:
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), RACETUI_DATA_DIR=str(data))
    env["RACETUI_CONFIG"] = str(data / "none.toml")
    env["RACETUI_TRIATHLON_APIKEY"] = "bench-key"
    return env


def _cpu_s(pid: int) -> float:
    """User + system CPU of a live process (its reaped children included), seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return sum(int(v) for v in fields[11:15]) / _TICK  # utime stime cutime cstime


def headless(label: str, argv: list[str], data: Path, timeout: float) -> Run:
    """Run a command to its exit: VmHWM and CPU from ``wait4``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "racetui", *argv],
        cwd=ROOT,
        env=_env(data),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read() if proc.stderr else b""))
    reader.start()
    deadline = start + timeout
    status, usage = 0, None
    while time.perf_counter() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    ok = proc.returncode == 0
    note = (
        "" if ok else f"exit {proc.returncode}: " + b"".join(errors).decode(errors="replace").strip()[-200:]
    )
    assert usage is not None
    return Run(label, usage.ru_maxrss / 1024, None, wall, usage.ru_utime + usage.ru_stime, ok, note)


def dashboard(label: str, argv: list[str], data: Path, athletes: int, timeout: float) -> Run:
    """The dashboard in a pty until it shows every athlete; its peak and its hub child's."""
    data.mkdir(parents=True, exist_ok=True)
    term = Terminal([sys.executable, "-m", "racetui", *argv], str(data))
    try:
        term.wait(has_athletes, timeout)
        if athletes_shown(term) < athletes:  # a wait looks at frames still to come only
            term.wait(lambda shown: athletes_shown(shown) >= athletes, timeout)
        wall = time.perf_counter() - term.started
        ok = athletes_shown(term) >= athletes
        hubs = children(term.pid)
        peak = peak_rss_mb(term.pid)
        child = max((peak_rss_mb(p) for p in hubs), default=float("nan"))
        cpu = _cpu_s(term.pid) + sum(_cpu_s(p) for p in hubs)
    finally:
        term.close()
    note = "" if ok else f"showed {athletes_shown(term):,} of {athletes:,} athletes"
    return Run(label, peak, child, wall, cpu, ok, note)


class _Sink(http.server.BaseHTTPRequestHandler):
    """Stands for the Triathlon API: reads the body, answers 200."""

    received: list[int] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        remaining = length
        while remaining > 0:
            remaining -= len(self.rfile.read(min(remaining, 1 << 20)))
        _Sink.received.append(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def sink() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1.1"
    finally:
        server.shutdown()
        server.server_close()


def _posted(run: Run) -> Run:
    """What the sink received from a publish run (and nothing: a failure)."""
    sizes, _Sink.received[:] = list(_Sink.received), []
    if not sizes:
        run.ok, run.note = False, run.note or "nothing was POSTed"
    run.note = f"{len(sizes)} POST of {max(sizes, default=0) / 1e6:.1f} MB" + (
        f"; {run.note}" if run.note else ""
    )
    return run


def _journal(data: Path) -> Path | None:
    found = sorted((data / "journals").glob("*.jsonl.gz"), key=lambda p: p.stat().st_size)
    return found[-1] if found else None


def runs(athletes: int, only: str | None = None, timeout: float = 600.0, wait: float = 120.0) -> list[Run]:
    out: list[Run] = []

    def want(label: str) -> bool:
        return only is None or only in label

    # a live race is never quiet for publish's --settle: BBT publishes once its first load
    # is in, a feed at the latest after --wait seconds
    publish = ["publish", "triathlon", "--once", "--yes", "--event-id", "1", "--prog-id", "900"]
    publish += ["--wait", f"{wait:g}"]
    with tempfile.TemporaryDirectory() as tmp, sink() as api:
        root = Path(tmp)
        big = ("--kind", "road", "--athletes", str(athletes), "--speed", "60", "--skip", "7200")
        with SimProcess(*big, "--countdown", "5") as sim:
            url = sim.base_url
            journal = None
            if want("connect (BBT)") or want("replay --speed 0 (BBT journal)") or want("export --replay"):
                out.append(dashboard("connect (BBT)", ["connect", url], root / "connect", athletes, timeout))
                journal = _journal(root / "connect")
            for fmt in ("csv", "json", "triathlon"):
                if want(f"export --connect --format {fmt}"):
                    argv = ["export", "--connect", url, "--format", fmt]
                    out.append(headless(f"export --connect --format {fmt}", argv, root / f"x-{fmt}", timeout))
            if want("publish triathlon --connect"):
                argv = [*publish, "--connect", url, "--api-url", api]
                out.append(_posted(headless("publish triathlon --connect", argv, root / "p-bbt", timeout)))
        if journal is not None:
            played = ["replay", str(journal), "--speed", "0"]
            if want("replay --speed 0 (BBT journal)"):
                out.append(
                    dashboard("replay --speed 0 (BBT journal)", played, root / "replay", athletes, timeout)
                )
            if want("export --replay"):
                argv = ["export", "--replay", str(journal), "--format", "csv"]
                out.append(headless("export --replay --format csv", argv, root / "x-replay", timeout))
        feed = root / "feed.json"
        with v11_feed(feed, athletes):
            if want("feed (v1.1)"):
                out.append(dashboard("feed (v1.1)", ["feed", str(feed)], root / "feed", athletes, timeout))
            for fmt in ("csv", "json", "triathlon"):
                if want(f"export --feed --format {fmt}"):
                    argv = ["export", "--feed", str(feed), "--format", fmt]
                    out.append(headless(f"export --feed --format {fmt}", argv, root / f"f-{fmt}", timeout))
            if want("publish triathlon --feed"):
                argv = [*publish, "--feed", str(feed), "--api-url", api]
                out.append(_posted(headless("publish triathlon --feed", argv, root / "p-feed", timeout)))
    return out


def measure(smoke: bool = False, athletes: int = 50_000, only: str | None = None) -> list[Measurement]:
    wait = 120.0
    if smoke:
        athletes, wait = 300, 3.0
    # The commands are started from a fresh interpreter, not from this process: on Linux a
    # child's peak from ``wait4`` is at least its parent's at the fork (exec keeps the old
    # memory's high-water mark), and under ``make bench`` this process has run the other
    # benchmarks first (931 MB for every headless command on 2026-12-08, their own peaks
    # 150-250).
    rows: list[Measurement] = []
    for run in in_fresh_interpreter(runs, athletes, only, wait=wait):
        note = f"{run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU; load {run.load:.1f}"
        if run.note:
            note += f"; {run.note}" if run.ok else f"; FAILED: {run.note}"
        rows.append(Measurement(f"rss: {run.command} ({athletes:,})", run.peak_mb, None, "MB", LIMIT, note))
        if run.child_mb is not None:
            rows.append(
                Measurement(f"rss: {run.command}, its hub ({athletes:,})", run.child_mb, None, "MB", LIMIT)
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="300 athletes: only checks it runs")
    parser.add_argument("--athletes", type=int, default=50_000)
    parser.add_argument("--only", help="only the commands whose label contains this (e.g. export)")
    args = parser.parse_args()
    print_table(measure(args.smoke, args.athletes, args.only))


if __name__ == "__main__":
    main()
