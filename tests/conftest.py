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


@pytest.fixture
def redis_server():  # type: ignore[no-untyped-def]
    """A real redis-server on a free loopback port (skipped where it is not installed:
    CI's .ci/run installs it)."""
    from tests.fakes.redis import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer() as server:
        yield server
