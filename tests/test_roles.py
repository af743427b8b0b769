"""Roles: what each may do (data in racetui.config), where it comes from (--role,
RACETUI_ROLE, the config file), and that the dashboard keeps to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from racetui.config import Config, ConfigError, Permission, Role, load_config, role_allows


def test_each_role_allows_what_the_docs_say() -> None:
    assert not Role.COMMENTATOR.permissions  # read-only: nothing at all
    assert Role.TD.allows(Permission.DESK) and Role.TD.allows(Permission.STATUS)
    assert Role.TD.allows(Permission.REVIEW)
    assert not Role.TD.allows(Permission.PUBLISH)
    assert Role.TIMER.allows(Permission.PUBLISH) and Role.TIMER.allows(Permission.STATUS)
    assert not Role.TIMER.allows(Permission.DESK) and not Role.TIMER.allows(Permission.REVIEW)
    for permission in Permission:  # no role: one person at a small race does everything
        assert role_allows(None, permission)
        assert role_allows(Role.COMMENTATOR, permission) is False


def test_role_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config().role is None
    path = tmp_path / "config.toml"
    path.write_text('role = "td"\noperator = "Jane Doe"\n')
    config = load_config()
    assert config.role is Role.TD and config.operator == "Jane Doe"
    monkeypatch.setenv("RACETUI_ROLE", "commentator")  # the environment wins
    assert load_config().role is Role.COMMENTATOR


def test_a_bad_role_names_the_key_and_the_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACETUI_ROLE", "referee")
    with pytest.raises(ConfigError) as caught:
        load_config()
    text = str(caught.value)
    assert text.startswith("environment RACETUI_ROLE: role:")
    assert "'timer', 'commentator' or 'td'" in text


def test_operator_defaults_to_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "jdoe")
    assert Config().operator == "jdoe"
    monkeypatch.delenv("USER")
    monkeypatch.setenv("LOGNAME", "jsmith")
    assert Config().operator == "jsmith"
