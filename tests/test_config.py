"""Config: file, environment overrides, 0600 for secrets, never a secret in an error."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from racetui.config import Config, ConfigError, load_config
from racetui.util.secrets import reveal, scrub


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


def test_config_built_in_code_is_the_defaults_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests and internal construction use ``Config()``: it must not read RACETUI_*."""
    monkeypatch.setenv("RACETUI_THEME", "high-contrast")
    monkeypatch.setenv("RACETUI_TRIATHLON_APIKEY", "k-should-not-leak-in")
    monkeypatch.setenv("RACETUI_RACEENTRY_KEY", "rk-should-not-leak-in")
    config = Config()
    assert config.theme == "racetui-dark"
    assert config.triathlon.apikey is None
    assert config.startlist.raceentry_key is None
    assert config.path is None and config.warnings == []
    assert not config.has_secrets()


def test_environment_overrides_a_nested_key_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text(
        '[triathlon]\napi_url = "https://file.example/v1/timing"\nsandbox = false\n'
        "[sources]\npoll_interval = 5\nstale_after = 30\n"
    )
    monkeypatch.setenv("RACETUI_TRIATHLON_API_URL", "https://env.example/v1/timing")
    monkeypatch.setenv("RACETUI_SOURCES_POLL_INTERVAL", "0.5")
    monkeypatch.setenv("RACETUI_BELL", "true")
    config = load_config()
    assert config.triathlon.api_url == "https://env.example/v1/timing"  # env beats the file
    assert config.triathlon.sandbox is False  # the file's other keys of that section stay
    assert config.sources.poll_interval == 0.5
    assert config.sources.stale_after == 30  # file beats the default
    assert config.bell is True
    assert type(config) is Config


def test_every_documented_variable_reaches_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The names README and the error messages give; each must keep working."""
    documented = {
        "RACETUI_OPERATOR": ("operator",),
        "RACETUI_THEME": ("theme",),
        "RACETUI_TRIATHLON_APIKEY": ("triathlon", "apikey"),
        "RACETUI_TRIATHLON_API_URL": ("triathlon", "api_url"),
        "RACETUI_OPENTRACK_USERNAME": ("opentrack", "username"),
        "RACETUI_OPENTRACK_PASSWORD": ("opentrack", "password"),
        "RACETUI_OPENTRACK_TOKEN": ("opentrack", "token"),
        "RACETUI_RACEENTRY_KEY": ("startlist", "raceentry_key"),
        "RACETUI_RACEENTRY_SECRET": ("startlist", "raceentry_secret"),
        "RACETUI_CHRONOTRACK_CLIENT_ID": ("startlist", "chronotrack_client_id"),
        "RACETUI_CHRONOTRACK_CLIENT_SECRET": ("startlist", "chronotrack_client_secret"),
        "RACETUI_CHRONOTRACK_USERNAME": ("startlist", "chronotrack_username"),
        "RACETUI_CHRONOTRACK_PASSWORD": ("startlist", "chronotrack_password"),
    }
    for variable in documented:
        monkeypatch.setenv(variable, f"value-of-{variable.lower()}")
    config = load_config()
    for variable, where in documented.items():
        value: object = config
        for name in where:
            value = getattr(value, name)
        assert reveal(value) == f"value-of-{variable.lower()}", variable


def test_start_list_keys_also_take_the_section_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('[startlist]\nraceentry_url = "https://file.example/rest"\n')
    monkeypatch.setenv("RACETUI_STARTLIST_CHRONOTRACK_URL", "https://ct.example/api")
    monkeypatch.setenv("RACETUI_RACEENTRY_URL", "https://env.example/rest")
    config = load_config()
    assert config.startlist.raceentry_url == "https://env.example/rest"
    assert config.startlist.chronotrack_url == "https://ct.example/api"


def test_a_table_from_the_environment_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACETUI_SOURCES_HEADERS", '{"X-Token": "hdr-tok-secret"}')
    config = load_config()
    assert reveal(config.sources.headers["X-Token"]) == "hdr-tok-secret"
    assert "hdr-tok-secret" not in repr(config)
    monkeypatch.setenv("RACETUI_SOURCES_HEADERS", "X-Token: hdr-tok-secret")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "sources" in str(info.value) and "JSON" in str(info.value)
    assert "hdr-tok-secret" not in str(info.value)


def test_an_empty_variable_counts_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('theme = "racetui-light"\n')
    monkeypatch.setenv("RACETUI_THEME", "")
    monkeypatch.setenv("RACETUI_RACEENTRY_KEY", "")
    config = load_config()
    assert config.theme == "racetui-light"
    assert config.startlist.raceentry_key is None


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("RACETUI_TRIATHLON_SANDBOX", "maybe", "environment RACETUI_TRIATHLON_SANDBOX: triathlon.sandbox: "),
        (
            "RACETUI_SOURCES_STALE_AFTER",
            "-3",
            "environment RACETUI_SOURCES_STALE_AFTER: sources.stale_after: ",
        ),
        ("RACETUI_OPENTRACK_TOKN", "zzz-secret", "environment RACETUI_OPENTRACK_TOKN: opentrack.tokn: "),
    ],
)
def test_a_bad_variable_names_the_variable_and_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    (tmp_path / "config.toml").write_text("[triathlon]\nsandbox = true\n")
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("RACETUI_OPENTRACK_PASSWORD", "zzz-secret")
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert named in message
    assert message.split(named, 1)[1]  # the problem itself, not only where
    assert "zzz-secret" not in message and "Traceback" not in message


def test_a_bad_secret_value_is_never_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('[startlist]\nraceentry_login_fields = "p4ss-w0rd-secret"\n')
    monkeypatch.setenv("RACETUI_OPENTRACK_PASSWORD", "{'nested': 'pw-in-env-secret'}")
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert "startlist.raceentry_login_fields" in message and str(tmp_path / "config.toml") in message
    assert "p4ss-w0rd-secret" not in message and "pw-in-env-secret" not in message


def test_secrets_from_the_environment_alone_do_not_ask_for_chmod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('operator = "Jane"\n[sources.headers]\n')
    os.chmod(path, 0o644)
    monkeypatch.setenv("RACETUI_OPENTRACK_TOKEN", "env-tok-secret")
    config = load_config()
    assert config.opentrack.token is not None
    assert config.warnings == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('[sources.headers]\n"X-Token" = "abc-hdr-4242"\n', "abc-hdr-4242"),
        ('[startlist]\nchronotrack_password = "pw-4242"\n', "pw-4242"),
    ],
)
def test_any_secret_key_in_a_readable_file_warns(tmp_path: Path, text: str, value: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, 0o640)
    config = load_config()
    assert (
        len(config.warnings) == 1 and "mode 640" in config.warnings[0] and "chmod 600" in config.warnings[0]
    )
    assert value not in config.warnings[0]


def test_loaded_secrets_are_scrubbed_from_any_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('[opentrack]\npassword = "file-pw-4242"\n')
    monkeypatch.setenv("RACETUI_RACEENTRY_SECRET", "env-rs-4242")
    load_config()
    text = scrub("login with file-pw-4242 and env-rs-4242 failed")
    assert "file-pw-4242" not in text and "env-rs-4242" not in text


def test_the_readme_example_sets_every_key(tmp_path: Path) -> None:
    """The README's example config is the documentation of the keys: it must load, and it
    must name every key Config has."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "config.toml"
    path.write_text(example)
    os.chmod(path, 0o600)
    config = load_config(path)
    assert config.warnings == []
    file_keys = tomllib.loads(example)
    for name, field in Config.model_fields.items():
        assert name in file_keys, name
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            assert set(file_keys[name]) == set(section.model_fields), name
