"""Shared fixtures. Every test gets its own data dir and config file: nothing touches the
user's real platformdirs."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("RACETUI_DATA_DIR", str(data))
    monkeypatch.setenv("RACETUI_CONFIG", str(tmp_path / "config.toml"))
    for name in (
        "RACETUI_TRIATHLON_APIKEY",
        "RACETUI_OPENTRACK_USERNAME",
        "RACETUI_OPENTRACK_PASSWORD",
        "RACETUI_OPENTRACK_TOKEN",
        "RACETUI_OPERATOR",
        "RACETUI_THEME",
        "RACETUI_RACEENTRY_KEY",
        "RACETUI_RACEENTRY_SECRET",
        "RACETUI_CHRONOTRACK_CLIENT_ID",
        "RACETUI_CHRONOTRACK_CLIENT_SECRET",
        "RACETUI_CHRONOTRACK_USERNAME",
        "RACETUI_CHRONOTRACK_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    return data
