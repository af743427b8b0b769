"""Shared fixtures. Every test gets its own data dir and config file: nothing touches the
user's real platformdirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

KEEP_VARIABLES = {"RACETUI_FUZZ_EXAMPLES"}


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    # Any RACETUI_<SECTION>_<KEY> in the caller's shell would reach load_config: clear them all
    # (RACETUI_FUZZ_EXAMPLES only sizes a test run).
    for name in list(os.environ):
        if name.upper().startswith("RACETUI_") and name.upper() not in KEEP_VARIABLES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RACETUI_DATA_DIR", str(data))
    monkeypatch.setenv("RACETUI_CONFIG", str(tmp_path / "config.toml"))
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
