"""Config: file, environment overrides, 0600 for secrets, never a secret in an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from racetui.config import ConfigError, load_config


def test_defaults_without_a_file() -> None:
    config = load_config()
    assert config.triathlon.sandbox is True
    assert config.triathlon.api_url == "https://api.triathlon.org/v1/timing"
    assert config.warnings == []


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text('operator = "Jane"\ntheme = "racetui-light"\n[opentrack.events]\n"1" = "R1"\n')
    monkeypatch.setenv("RACETUI_THEME", "high-contrast")
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", "k-123-secret")
    config = load_config()
    assert config.operator == "Jane"
    assert config.theme == "high-contrast"
    assert config.opentrack.events == {"1": "R1"}
    assert config.triathlon.apikey is not None
    assert config.triathlon.apikey.get_secret_value() == "k-123-secret"
    assert "k-123-secret" not in repr(config) and "k-123-secret" not in str(config.model_dump())


def test_a_0600_file_with_secrets_is_read_without_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[opentrack]\npassword = "hunter2"\n')
    os.chmod(path, 0o600)
    config = load_config(path)
    assert config.opentrack.password is not None and config.opentrack.password.get_secret_value() == "hunter2"
    assert config.warnings == []


def test_warns_when_secrets_are_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[triathlon]\napikey = "abc-very-secret"\n')
    os.chmod(path, 0o644)
    config = load_config()
    assert len(config.warnings) == 1
    assert "chmod 600" in config.warnings[0]
    assert "abc-very-secret" not in config.warnings[0]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("operator = [1, 2\n", "cannot read config"),
        ("[sources]\npoll_interval = -1\n", "sources.poll_interval"),
        ("unknown_key = 1\n", "unknown_key"),
        ('[triathlon]\nsandbox = "maybe"\napikey = "zzz-secret"\n', "triathlon.sandbox"),
    ],
)
def test_bad_config_names_the_field_and_hides_secrets(tmp_path: Path, text: str, named: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config()
    assert named in str(info.value)
    assert "zzz-secret" not in str(info.value)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
