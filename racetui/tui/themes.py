"""Themes are files: TOML (or JSON) in ``themes/`` and in the user's config dir.

A file names the theme, says whether it is dark, gives Textual's base colours and
racetui's own variables (``gain``, ``loss``, ``alert``, ``alert-style``, ``watched``,
``marked``, ``new``, ``cursor-style``; see ``themes/racetui-dark.toml``). Each file is
validated; a bad one is skipped with a message naming the file and the field, and the app
falls back to ``racetui-dark``.

Built-in themes ship in the wheel as ``racetui/themes`` (``importlib.resources``); in a
source checkout they are the repository's top-level ``themes/``. User themes live in
``<platformdirs config dir>/racetui/themes/`` and override built-ins of the same name.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from textual.color import Color, ColorParseError
from textual.theme import Theme

__all__ = [
    "DEFAULT_THEME",
    "THEME_VARIABLES",
    "ThemeError",
    "builtin_theme_dir",
    "load_theme_file",
    "load_themes",
    "user_theme_dir",
]

DEFAULT_THEME = "racetui-dark"
PREFIX = "racetui-"

# racetui's own theme variables and their defaults (used when a theme, e.g. one of
# Textual's built-ins picked from the command palette, does not define them).
THEME_VARIABLES: dict[str, str] = {
    "gain": "#3dd68c",
    "loss": "#ff7a7a",
    "alert": "#ffb224",
    "alert-style": "bold",
    "watched": "#f2a900",
    "marked": "#7cc4fa",
    "new": "#7cc4fa",
    "cursor-style": "bold",
}
_STYLE_VARIABLES = {"alert-style", "cursor-style"}
_STYLES = {"bold", "dim", "italic", "underline", "reverse", "strike", "none", "b", "i", "u"}


class ThemeError(Exception):
    """A theme file that cannot be used; the message names the file and the field."""


class _Colors(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary: str
    secondary: str | None = None
    accent: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None

    @field_validator("*")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Color.parse(value)
            except ColorParseError:
                raise ValueError(f"not a colour: {value!r}") from None
        return value


class ThemeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    description: str = ""
    dark: bool = True
    colors: _Colors
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if key not in THEME_VARIABLES:
                raise ValueError(f"unknown variable {key!r} (known: {', '.join(THEME_VARIABLES)})")
            if key in _STYLE_VARIABLES:
                if not set(text.split()) <= _STYLES:
                    raise ValueError(f"{key}: not a text style: {text!r}")
            else:
                try:
                    Color.parse(text)
                except ColorParseError:
                    raise ValueError(f"{key}: not a colour: {text!r}") from None
        return value

    def to_theme(self) -> Theme:
        colors = self.colors.model_dump(exclude_none=True)
        variables = {f"{PREFIX}{k}": v for k, v in {**THEME_VARIABLES, **self.variables}.items()}
        return Theme(name=self.name, dark=self.dark, variables=variables, **colors)


def load_theme_file(path: Path) -> Theme:
    """Read and validate one theme file (``.toml`` or ``.json``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeError(f"{path}: cannot read theme: {exc}") from None
    try:
        raw: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ThemeError(f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}") from None
    if not isinstance(raw, dict):
        raise ThemeError(f"{path}: a theme file holds a table of settings")
    try:
        return ThemeFile.model_validate(raw).to_theme()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'theme'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ThemeError(f"{path}: {problems}") from None


def builtin_theme_dir() -> Path | None:
    """``racetui/themes`` in an installed wheel, else the checkout's ``themes/``."""
    try:
        packaged = resources.files("racetui").joinpath("themes")
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, TypeError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "themes"
    return checkout if checkout.is_dir() else None


def user_theme_dir() -> Path:
    return Path(platformdirs.user_config_dir("racetui")) / "themes"


def _theme_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.suffix in (".toml", ".json") and p.is_file())
    except OSError:
        return []


def load_themes(directories: Iterable[Path | None] | None = None) -> tuple[dict[str, Theme], list[str]]:
    """Every theme in the directories (later ones override earlier), and the problems."""
    if directories is None:
        directories = [builtin_theme_dir(), user_theme_dir()]
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for directory in directories:
        if directory is None or not directory.is_dir():
            continue
        for path in _theme_files(directory):
            try:
                theme = load_theme_file(path)
            except ThemeError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    if DEFAULT_THEME not in themes:
        # The app must always have its default, even from a broken install.
        themes[DEFAULT_THEME] = ThemeFile.model_validate(
            {"name": DEFAULT_THEME, "colors": {"primary": "#2f80ed", "background": "#101418"}}
        ).to_theme()
        problems.append(f"theme {DEFAULT_THEME!r} not found: using built-in colours")
    return themes, problems
