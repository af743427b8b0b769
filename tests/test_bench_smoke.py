"""A tiny run of every benchmark, so the scripts cannot rot. No timing is asserted here:
only that each one runs and reports finite numbers."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmarks_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True
    names = [r["name"] for r in report["results"]]
    assert any(name.startswith("engine ingest") for name in names)
    for row in report["results"]:
        assert math.isfinite(row["median"]) and row["median"] >= 0, row
