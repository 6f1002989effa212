"""Settings flags shared by the commands: one typed flag per Settings field, plus --config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, CliSettingsSource

from fauxpilot.config.file import load_settings
from fauxpilot.config.settings import Settings


def add_settings_flags(
    parser: argparse.ArgumentParser, settings_cls: type[BaseSettings] = Settings
) -> None:
    """A typed flag per field of `settings_cls`, made by pydantic-settings' CLI source: its
    type, default and environment variable in `--help`, `--flag/--no-flag` for booleans, a
    list field's flag once per value. Unset flags fall back to the environment, the config
    file (--config) and the defaults."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (env FAUXPILOT_CONFIG; default ~/.config/fauxpilot/config.toml)",
    )
    flags: CliSettingsSource[Any] = CliSettingsSource(
        settings_cls,
        root_parser=parser,
        cli_implicit_flags="dual",
        cli_kebab_case=True,
        cli_hide_none_type=True,
        cli_show_env_vars=True,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.set_defaults(settings_flags=flags)


def add_home_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", default=None, help="model home (env FAUXPILOT_HOME)")
    parser.add_argument("--config", type=Path, default=None, help="config file")


def settings_from(args: argparse.Namespace) -> Settings:
    """The Settings a command's parsed arguments ask for (see add_settings_flags)."""
    flags: CliSettingsSource[Any] | None = getattr(args, "settings_flags", None)
    if flags is not None:
        return load_settings({}, args.config, flags(parsed_args=args))
    given = {
        name: value
        for name in Settings.model_fields
        if (value := getattr(args, name, None)) is not None
    }
    return load_settings(given, getattr(args, "config", None))


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
