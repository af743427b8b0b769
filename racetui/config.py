"""Configuration: defaults, then a TOML file, then ``RACETUI_*`` environment variables.

Where the file is: ``--config PATH``, else ``$RACETUI_CONFIG``, else
``<platformdirs user_config_dir>/racetui/config.toml``. Data (journals, outbox, incident
desk, start-list cache) lives in ``$RACETUI_DATA_DIR`` or the platformdirs data dir.

Environment variables: ``RACETUI_<KEY>`` for a top-level key (``RACETUI_OPERATOR``,
``RACETUI_THEME``, ``RACETUI_BELL``), ``RACETUI_<SECTION>_<KEY>`` for a key of a section
(``RACETUI_TRIATHLON_APIKEY``, ``RACETUI_TRIATHLON_API_URL``, ``RACETUI_OPENTRACK_TOKEN``,
``RACETUI_SOURCES_POLL_INTERVAL``). The start-list keys are already named after their
service, so they go without the section: ``RACETUI_RACEENTRY_KEY``,
``RACETUI_CHRONOTRACK_CLIENT_SECRET`` (``RACETUI_STARTLIST_RACEENTRY_KEY`` works too). An
empty variable counts as unset. Tables (``sources.headers``) take JSON.

Two classes, on purpose: :class:`Config` is plain data, and ``Config()`` is the defaults
and nothing else (tests and code that builds one internally never pick up the
environment by surprise); only :func:`load_config` layers the file and the environment,
through pydantic-settings.

Secrets (API keys, passwords, tokens) are ``SecretStr``: their repr is ``**********``,
so they never reach a log, a screen or an error message by accident. A config file that
holds secrets must be 0600 (``chmod 600``): loading one that others can read warns.
"""

from __future__ import annotations

import functools
import os
import stat
import tomllib
import types
import typing
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, SecretStr, ValidationError

from racetui.util.secrets import register

__all__ = [
    "CardsConfig",
    "Config",
    "ConfigError",
    "DeskConfig",
    "LeaderboardConfig",
    "OpenTrackConfig",
    "Permission",
    "RaceDeskConfig",
    "Role",
    "SourcesConfig",
    "StartListConfig",
    "TriathlonConfig",
    "config_path",
    "data_dir",
    "default_operator",
    "load_config",
    "role_allows",
]

APP = "racetui"
ENV_PREFIX = "RACETUI_"


class ConfigError(Exception):
    """A config file or variable that cannot be read or validated; the message names the
    key (and the file or the variable), never a secret's value."""


class Permission(StrEnum):
    """What a session may do. A role is a set of these (:attr:`Role.permissions`)."""

    DESK = "desk"  # officials' decisions: penalties, served, box, DSQ, edits, withdrawals
    STATUS = "status"  # race status a timer records: DNS, DNF, LAP (and withdrawing them)
    REVIEW = "review"  # see reported and held desk entries before they are released
    PUBLISH = "publish"  # publishing actions: publish now, retry, cancel, sandbox/official


class Role(StrEnum):
    """Who is at the keyboard (``--role``, ``RACETUI_ROLE``, config ``role``).

    No role (None) is one person doing everything at a small race: every permission.
    A timer publishes and records race status (DNS, DNF, LAP: the timing tent sees who
    did not start or stepped off), not penalties or DSQ; a technical delegate has the whole
    desk and publishes nothing; a commentator is read-only.
    """

    TIMER = "timer"
    COMMENTATOR = "commentator"
    TD = "td"

    @property
    def permissions(self) -> frozenset[Permission]:
        return _PERMISSIONS[self]

    def allows(self, permission: Permission) -> bool:
        return permission in _PERMISSIONS[self]

    @property
    def label(self) -> str:
        """How the header names it."""
        return _TITLES[self]


_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.TIMER: frozenset({Permission.PUBLISH, Permission.STATUS}),
    Role.COMMENTATOR: frozenset(),
    Role.TD: frozenset({Permission.DESK, Permission.STATUS, Permission.REVIEW}),
}
_TITLES: dict[Role, str] = {Role.TIMER: "timer", Role.COMMENTATOR: "commentator", Role.TD: "TD"}


def role_allows(role: Role | None, permission: Permission) -> bool:
    """Whether a session of ``role`` may do it; no role allows everything."""
    return role is None or role.allows(permission)


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


class RaceDeskConfig(_Section):
    """One race's penalty settings (a distance or a rule set of its own); unset keys fall
    back to the event's (``[desk]``)."""

    boxes: list[str] | None = None
    penalties: dict[str, PositiveInt] | None = None


class DeskConfig(_Section):
    """The incident desk's race settings: the penalty boxes named in the athletes' briefing
    and the penalty length of each rule (seconds), for the event and per race."""

    boxes: list[str] = Field(default_factory=lambda: ["bike box", "run box", "stop-and-go"])
    # rule (infringement) -> seconds; the desk's forms offer these, an official may type any
    penalties: dict[str, PositiveInt] = Field(default_factory=dict)
    # racetui race id -> that race's own settings
    races: dict[str, RaceDeskConfig] = Field(default_factory=dict)

    def boxes_for(self, race_id: str) -> list[str]:
        race = self.races.get(race_id)
        return list(race.boxes) if race is not None and race.boxes is not None else list(self.boxes)

    def penalties_for(self, race_id: str) -> dict[str, int]:
        race = self.races.get(race_id)
        own = race.penalties if race is not None and race.penalties is not None else {}
        return {**self.penalties, **own}


class CardsConfig(_Section):
    """Athlete cards: the notes file, and when a card pops up."""

    notes: Path | None = None  # CSV or TOML (by extension), by bib or athlete id
    top: int = Field(default=10, ge=0)  # a card pops up for the top N (and watched athletes)
    within: float = Field(default=60.0, gt=0, le=600)  # seconds before the projected arrival
    show_for: float = Field(default=10.0, gt=0, le=120)  # seconds a card stays up


class LeaderboardConfig(_Section):
    """Groups on the leaderboard: athletes within ``group_seconds`` of the one ahead."""

    groups: bool = True  # separators between groups (the ``G`` key turns them on and off)
    group_seconds: float = Field(default=1.0, gt=0, le=600)


class Config(BaseModel):
    """The settings as data. ``Config()`` is the defaults; it reads no ``RACETUI_*``."""

    model_config = ConfigDict(extra="forbid")

    operator: str = Field(default_factory=lambda: default_operator())
    # who is at the keyboard: screens and what is allowed (None: everything, one person)
    role: Role | None = None
    theme: str = "racetui-dark"
    bell: bool = False
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    triathlon: TriathlonConfig = Field(default_factory=TriathlonConfig)
    opentrack: OpenTrackConfig = Field(default_factory=OpenTrackConfig)
    startlist: StartListConfig = Field(default_factory=StartListConfig)
    desk: DeskConfig = Field(default_factory=DeskConfig)

    cards: CardsConfig = Field(default_factory=CardsConfig)
    leaderboard: LeaderboardConfig = Field(default_factory=LeaderboardConfig)

    # Where it was loaded from and what loading noticed: not settings, so not fields
    # (no variable or file key can set them).
    _path: Path | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def path(self) -> Path | None:
        """The config file :func:`load_config` looked at (None for ``Config()``)."""
        return self._path

    @property
    def warnings(self) -> list[str]:
        """What loading noticed but did not refuse (a 0600 file that is not)."""
        return self._warnings

    def has_secrets(self) -> bool:
        return any(_secrets(self.model_dump()))


def default_operator() -> str:
    """The login name (``$USER``, else the account's), else ``operator``."""
    name = os.environ.get("USER") or os.environ.get("LOGNAME")
    if not name:
        import getpass

        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = ""
    return name or "operator"


# -- the loader: pydantic-settings, used by load_config only ---------------------------------

_FILE: ContextVar[Path | None] = ContextVar("racetui_config_file", default=None)


@functools.cache
def _layered() -> type[Config]:
    """The settings class behind :func:`load_config`: Config's fields read from (lowest
    first) defaults, the TOML file, the environment. Built on first use: pydantic-settings
    costs 60-80 ms to import, which processes that never load a config (the hub, the
    simulator, ``Config()`` in tests) should not pay."""
    from pydantic_settings import (
        BaseSettings,
        EnvSettingsSource,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )

    class StartListVariables(StartListConfig, BaseSettings):
        """The start-list keys as variables without the section: ``RACETUI_RACEENTRY_KEY``."""

        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid")

    class InSection(PydanticBaseSettingsSource):
        """Another settings source's values, put under one section of the config."""

        def __init__(self, settings_cls: type[BaseSettings], section: str, inner: PydanticBaseSettingsSource):
            super().__init__(settings_cls)
            self.section = section
            self.inner = inner

        def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
            return None, field_name, False  # __call__ does the work

        def __call__(self) -> dict[str, Any]:
            values = self.inner()
            return {self.section: values} if values else {}

    class Layered(Config, BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX,
            env_nested_delimiter="_",
            env_nested_max_split=1,  # RACETUI_TRIATHLON_API_URL -> triathlon.api_url
            env_ignore_empty=True,
            extra="forbid",
        )

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [
                init_settings,
                env_settings,
                InSection(settings_cls, "startlist", EnvSettingsSource(StartListVariables)),
            ]
            path = _FILE.get()
            if path is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            return tuple(sources)

    return Layered


def _file_values(path: Path) -> dict[str, Any]:
    """The file's own values (to tell its secrets from the environment's)."""
    from pydantic_settings import BaseSettings, TomlConfigSettingsSource

    layered = _layered()
    assert issubclass(layered, BaseSettings)
    return TomlConfigSettingsSource(layered, toml_file=path)()


# -- helpers ---------------------------------------------------------------------------------


def _secrets(value: Any) -> list[Any]:
    if isinstance(value, SecretStr):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secrets(v)]
    return []


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_holds_secret(arg) for arg in typing.get_args(annotation))
    if origin is dict:
        return _holds_secret(typing.get_args(annotation)[1])
    return False


def _file_has_secrets(values: dict[str, Any]) -> bool:
    """Whether the file itself sets a secret key (the environment's secrets do not count)."""
    for name, field in Config.model_fields.items():
        section = values.get(name)
        model = field.annotation
        if not (isinstance(section, dict) and isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for key, sub in model.model_fields.items():
            if section.get(key) not in (None, {}, "") and _holds_secret(sub.annotation):
                return True
    return False


def _variables_for(loc: tuple[int | str, ...]) -> list[str]:
    """The environment variables that can set the key at ``loc``."""
    names = [ENV_PREFIX + "_".join(str(part) for part in loc[:2]).upper()]
    if len(loc) >= 2 and loc[0] == "startlist":
        names.append(ENV_PREFIX + str(loc[1]).upper())
    return names


def _problems(exc: ValidationError, path: Path) -> str:
    """Each error as ``where: key: problem``, where being the variable or the file that set
    it. ``include_input=False``: the rejected value (maybe a secret) is never repeated."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = err["loc"]
        key = ".".join(str(part) for part in loc)
        variable = next((name for name in _variables_for(loc) if os.environ.get(name)), None)
        where = f"environment {variable}" if variable else str(path)
        problems.append(f"{where}: {key}: {err['msg']}")
    return "; ".join(problems)


# -- public ----------------------------------------------------------------------------------


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


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Defaults < the TOML file (if any) < ``RACETUI_*`` variables, validated.

    Raises :class:`ConfigError` naming the key and where it came from (never a secret's
    value). Every secret is registered with :mod:`racetui.util.secrets` so no text shows it.
    """
    path = config_path(explicit)
    exists = path.exists()
    if explicit and not exists:
        raise ConfigError(f"{path}: no such config file")
    from pydantic_settings import SettingsError

    token = _FILE.set(path if exists else None)
    try:
        layered = _layered()()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    except SettingsError as exc:  # a variable that should be JSON (a table) is not
        raise ConfigError(
            f'environment: {exc}: a table takes JSON, e.g. RACETUI_SOURCES_HEADERS=\'{{"X-Token": "..."}}\''
        ) from None
    except ValidationError as exc:
        raise ConfigError(_problems(exc, path)) from None
    finally:
        _FILE.reset(token)
    config = Config.model_validate(dict(layered))
    config._path = path
    register(*_secrets(config.model_dump()))  # kept out of every text
    if exists:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and _file_has_secrets(_file_values(path)):
            config._warnings.append(
                f"{path} holds secrets and is readable by others (mode {mode:o}): run chmod 600 {path}"
            )
    return config
