"""Only racetui/tui imports Textual: the headless packages and commands run without the UI."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

HEADLESS = [
    "racetui.model",
    "racetui.engine",
    "racetui.sources",
    "racetui.publish",
    "racetui.hub",
    "racetui.sim",
    "racetui.web",
    "racetui.config",
    "racetui.cli",
]


@pytest.mark.parametrize("package", HEADLESS)
def test_headless_package_does_not_import_textual(package: str) -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for info in pkgutil.walk_packages(getattr(pkg, '__path__', []), pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{package} imports {out.stdout.strip()}"


def test_cli_help_and_headless_commands_do_not_import_textual() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from racetui.cli import build_parser\n"
        "build_parser()\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_module_outside_tui_names_textual() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "racetui"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "tui" not in path.relative_to(root).parts[:1]
        and any(
            # textual_serve (the browser view's web server) is another package
            re.match(r"(?:import|from)\s+textual(?:[.\s]|$)", line.lstrip())
            for line in path.read_text().splitlines()
            if not line.startswith((" ", "\t"))
        )
    ]
    assert offenders == []
