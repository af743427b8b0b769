"""Configuration: a TOML file in the platformdirs config dir, then ``RACETUI_*`` overrides.

Where the file is: ``--config PATH``, else ``$RACETUI_CONFIG``, else
``<platformdirs user_config_dir>/racetui/config.toml``. Data (journals, outbox, incident
desk, start-list cache) lives in ``$RACETUI_DATA_DIR`` or the platformdirs data dir.

Secrets (API keys, passwords, tokens) are ``SecretStr``: their repr is ``**********``,
so they never reach a log, a screen or an error message by accident. A config file that
holds secrets must be 0600 (``chmod 600``): loading one that others can read warns.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from racetui.util.secrets import register

__all__ = ["Config", "ConfigError", "config_path", "data_dir", "load_config"]

APP = "racetui"


class ConfigError(Exception):
    """A config file that cannot be read or validated; the message names the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourcesConfig(_Section):
    poll_interval: float = Field(default=2.0, gt=0)
    stale_after: float = Field(default=10.0, gt=0)
    # Extra request headers for feeds (may hold a token: values are secret).
    headers: dict[str, SecretStr] = Field(default_factory=dict)


class TriathlonConfig(_Section):
    api_url: str = "https://api.triathlon.org/v1/timing"
    live_url: str = "https://api.triathlon.org/v1/live/timing/{prog_id}"
    apikey: SecretStr | None = None
    sandbox: bool = True
    # racetui race id -> (event_id, prog_id) for BBT races published as v1.1
    event_id: str | None = None
    # the event's name in published messages (default: the source's name for the event)
    event_name: str | None = None
    programs: dict[str, str] = Field(default_factory=dict)


class OpenTrackConfig(_Section):
    server: str | None = None
    competition: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    # racetui race id -> OpenTrack event id
    events: dict[str, str] = Field(default_factory=dict)


class StartListConfig(_Section):
    raceentry_url: str = "https://www.raceentry.com/rest"
    raceentry_key: SecretStr | None = None
    raceentry_secret: SecretStr | None = None
    # The Timer API document does not show the login request: the names of its two form
    # fields (key, secret) are racetui's reading, changeable without a new release.
    raceentry_login_fields: tuple[str, str] = ("key", "secret")
    chronotrack_url: str = "https://api.chronotrack.com/api"
    chronotrack_client_id: str | None = None
    chronotrack_client_secret: SecretStr | None = None
    chronotrack_username: str | None = None
    chronotrack_password: SecretStr | None = None


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str = Field(default_factory=lambda: os.environ.get("USER", "operator"))
    theme: str = "racetui-dark"
    bell: bool = False
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    triathlon: TriathlonConfig = Field(default_factory=TriathlonConfig)
    opentrack: OpenTrackConfig = Field(default_factory=OpenTrackConfig)
    startlist: StartListConfig = Field(default_factory=StartListConfig)

    path: Path | None = Field(default=None, exclude=True)
    warnings: list[str] = Field(default_factory=list, exclude=True)

    def has_secrets(self) -> bool:
        return any(_secrets(self.model_dump(exclude={"path", "warnings"})))


# Environment variables that override the file, as (dotted field, variable).
ENV_OVERRIDES: tuple[tuple[str, str], ...] = (
    ("operator", "RACETUI_OPERATOR"),
    ("theme", "RACETUI_THEME"),
    ("triathlon.apikey", "RACETUI_TRIATHLON_APIKEY"),
    ("triathlon.api_url", "RACETUI_TRIATHLON_API_URL"),
    ("opentrack.username", "RACETUI_OPENTRACK_USERNAME"),
    ("opentrack.password", "RACETUI_OPENTRACK_PASSWORD"),
    ("opentrack.token", "RACETUI_OPENTRACK_TOKEN"),
    ("startlist.raceentry_key", "RACETUI_RACEENTRY_KEY"),
    ("startlist.raceentry_secret", "RACETUI_RACEENTRY_SECRET"),
    ("startlist.chronotrack_client_id", "RACETUI_CHRONOTRACK_CLIENT_ID"),
    ("startlist.chronotrack_client_secret", "RACETUI_CHRONOTRACK_CLIENT_SECRET"),
    ("startlist.chronotrack_username", "RACETUI_CHRONOTRACK_USERNAME"),
    ("startlist.chronotrack_password", "RACETUI_CHRONOTRACK_PASSWORD"),
)


def _secrets(value: Any) -> list[Any]:
    if isinstance(value, SecretStr):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secrets(v)]
    return []


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get("RACETUI_CONFIG"):
        return Path(os.environ["RACETUI_CONFIG"])
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def data_dir() -> Path:
    """Where journals, the outbox and the incident desk live (created 0700)."""
    base = os.environ.get("RACETUI_DATA_DIR")
    path = Path(base) if base else Path(platformdirs.user_data_dir(APP))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _set_dotted(data: dict[str, Any], dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    for name in parents:
        data = data.setdefault(name, {})
    data[leaf] = value


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Read the file (if any), apply environment overrides, validate.

    Raises :class:`ConfigError` with the file and the field named (never a secret's value).
    """
    path = config_path(explicit)
    raw: dict[str, Any] = {}
    warnings: list[str] = []
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config: {exc}") from None
    elif explicit:
        raise ConfigError(f"{path}: no such config file")
    for dotted, variable in ENV_OVERRIDES:
        if os.environ.get(variable):
            _set_dotted(raw, dotted, os.environ[variable])
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False)
        )
        raise ConfigError(f"{path}: {problems}") from None
    config.path = path
    register(*_secrets(config.model_dump(exclude={"path", "warnings"})))  # kept out of every text
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        file_has_secrets = any(_secrets(Config.model_validate(_file_only(path)).model_dump()))
        if file_has_secrets and mode & 0o077:
            warnings.append(
                f"{path} holds secrets and is readable by others (mode {mode:o}): run chmod 600 {path}"
            )
    config.warnings = warnings
    return config


def _file_only(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
