"""The config file `fauxpilot setup` writes and `fauxpilot serve` reads (TOML, one table).

Precedence, highest first: command-line flags, FAUXPILOT_* environment variables, the config
file, built-in defaults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import CliSettingsSource

from fauxpilot.config.settings import (
    ConfigError,
    ConfigFileSource,
    Settings,
    reading_config_file,
)

CONFIG_ENV = "FAUXPILOT_CONFIG"


def default_config_path() -> Path:
    """$FAUXPILOT_CONFIG, else $XDG_CONFIG_HOME/fauxpilot/config.toml (~/.config by default)."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "fauxpilot" / "config.toml"


def read_config(path: Path) -> dict[str, Any]:
    """The settings in a config file; {} when there is none. Unknown keys are an error."""
    return dict(ConfigFileSource(Settings, path).toml_data)


def load_settings(
    given: Mapping[str, Any],
    config_path: Path | None = None,
    flags: CliSettingsSource[Any] | None = None,
) -> Settings:
    """Settings from the command line's flags (a pydantic-settings CLI source), `given`
    values, the environment and the config file, in that order; pydantic-settings merges
    them."""
    with reading_config_file(config_path or default_config_path()):
        return Settings(_cli_settings_source=flags, **given)


def write_config(path: Path, values: Mapping[str, Any]) -> None:
    """Write `values` (str, int, float, bool, lists of str) as TOML, keys in the given order."""
    lines = ["# Written by `fauxpilot setup`; flags and FAUXPILOT_* variables override it."]
    for key, value in values.items():
        if value is None:
            continue
        if key not in Settings.model_fields:
            raise ConfigError(f"unknown setting {key!r}")
        lines.append(f"{key} = {_toml_value(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        # A JSON string literal is a valid TOML basic string for everything json.dumps emits.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise ConfigError(f"cannot write {value!r} to a config file")
