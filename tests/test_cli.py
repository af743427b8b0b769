"""The CLI: every subcommand listed, each with its help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from racetui.cli import COMMANDS, main


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "racetui", "--help"], capture_output=True, text=True, check=True
    )
    for name in ("demo", "sim", "connect", "feed", "replay", "export", "publish", "serve", "startlist"):
        assert name in out.stdout
    assert set(COMMANDS) >= {
        "demo",
        "sim",
        "connect",
        "feed",
        "replay",
        "export",
        "publish",
        "serve",
        "startlist",
    }


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: racetui" in capsys.readouterr().out


def test_every_command_has_help() -> None:
    for name in COMMANDS:
        out = subprocess.run(
            [sys.executable, "-m", "racetui", name, "--help"], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert "usage: racetui " + name in out.stdout
