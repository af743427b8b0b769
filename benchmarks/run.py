"""``make bench``: every benchmark in one process, one table, one JSON file.

Each ``benchmarks/bench_*.py`` exposes ``measure(smoke: bool) -> list[Measurement]``.
``--smoke`` runs each for a second or two (``make test`` does this so they cannot rot);
the full run is what docs/performance.md quotes. Results go to
``benchmarks/results/latest.json`` (or ``--json PATH``) with the machine they came from.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import Measurement, print_table

BENCHES = [
    "bench_engine",
    "bench_projections",
    "bench_v11",
    "bench_ui",
    "bench_sim",
    "bench_startup",
    "bench_overlay",
    "bench_hub",
    "bench_pty",
    "bench_desk",
    "bench_box",
    "bench_tv_delay",
    "bench_groups",
    "bench_publish",
    "bench_rss",
]


def machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: only checks they run")
    parser.add_argument("--only", action="append", help="run only these (e.g. --only bench_engine)")
    parser.add_argument("--json", type=Path, help="where to write the results")
    args = parser.parse_args(argv)
    rows: list[Measurement] = []
    failures: list[str] = []
    for name in args.only or BENCHES:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"benchmarks.{name}":
                print(f"{name}: not written yet", file=sys.stderr)
                continue
            raise
        print(f"running {name}{' (smoke)' if args.smoke else ''} …", file=sys.stderr, flush=True)
        try:
            rows.extend(module.measure(smoke=args.smoke))
        except Exception:
            failures.append(name)
            traceback.print_exc()
    print_table(rows)
    target = args.json or Path(__file__).parent / "results" / ("smoke.json" if args.smoke else "latest.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps(
            {"machine": machine(), "smoke": args.smoke, "results": [r.as_dict() for r in rows]},
            indent=2,
            ensure_ascii=False,
        )
    )
    print(f"written to {target}", file=sys.stderr)
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
