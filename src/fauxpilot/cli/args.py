"""Settings flags shared by the commands: one flag per Settings field, plus --config."""

from __future__ import annotations

import argparse
from pathlib import Path

from fauxpilot.config.file import load_settings
from fauxpilot.config.settings import Settings


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Settings field; unset flags fall back to env vars, config file, defaults.

    List fields take the flag once per value; a bool flag alone means true.
    """
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (env FAUXPILOT_CONFIG; default ~/.config/fauxpilot/config.toml)",
    )
    for name, field in Settings.model_fields.items():
        flag = f"--{name.replace('_', '-')}"
        help_text = f"{field.description} (env FAUXPILOT_{name.upper()})"
        if field.annotation == list[str]:
            parser.add_argument(flag, dest=name, action="append", default=None, help=help_text)
        elif field.annotation is bool:
            parser.add_argument(flag, dest=name, nargs="?", const="true", help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text)


def add_home_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", default=None, help="model home (env FAUXPILOT_HOME)")
    parser.add_argument("--config", type=Path, default=None, help="config file")


def settings_from(args: argparse.Namespace) -> Settings:
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
