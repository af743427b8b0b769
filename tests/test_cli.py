"""The CLI: every subcommand listed; an unbuilt one says so and exits non-zero."""

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


def _built(name: str) -> bool:
    from racetui.cli import CommandNotBuilt, _load

    try:
        _load(name)
    except CommandNotBuilt:
        return False
    return True


def test_unbuilt_commands_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    unbuilt = [name for name in COMMANDS if not _built(name)]
    for name in unbuilt:
        assert main([name]) == 2
        assert "not built yet" in capsys.readouterr().err


def test_every_built_command_has_help() -> None:
    for name in (n for n in COMMANDS if _built(n)):
        out = subprocess.run(
            [sys.executable, "-m", "racetui", name, "--help"], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert "usage: racetui " + name in out.stdout
