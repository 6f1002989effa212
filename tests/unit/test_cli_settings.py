"""The settings flags come from pydantic-settings' CLI source: typed, with one precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from fauxpilot.cli import build_parser
from fauxpilot.cli.args import settings_from
from fauxpilot.config.file import write_config
from fauxpilot.config.settings import Settings


def settings_for(argv: list[str]) -> Settings:
    return settings_from(build_parser().parse_args(argv))


def test_booleans_take_a_flag_and_its_negation() -> None:
    assert settings_for(["serve", "--no-typeahead"]).typeahead is False
    assert settings_for(["serve", "--typeahead"]).typeahead is True
    assert settings_for(["serve", "--insecure"]).insecure is True
    assert settings_for(["serve"]).typeahead is True


def test_flags_rank_above_environment_above_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    write_config(config, {"port": 6001, "slots": 2, "threads": 1, "typeahead": False})
    monkeypatch.setenv("FAUXPILOT_SLOTS", "5")
    monkeypatch.setenv("FAUXPILOT_PORT", "6002")
    settings = settings_for(["serve", "--config", str(config), "--port", "6003", "--typeahead"])
    assert (settings.port, settings.slots, settings.threads) == (6003, 5, 1)
    assert settings.typeahead is True


def test_environment_names_match_case_insensitively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("fauxpilot_context_length", "2048")
    assert settings_for(["serve"]).context_length == 2048


def test_list_settings_take_the_flag_once_per_value() -> None:
    settings = settings_for(["serve", "--api-key", "first-key-1", "--api-key", "second-key-2"])
    assert settings.api_key == ["first-key-1", "second-key-2"]


def test_a_bad_value_is_a_usage_error_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["serve", "--no-typeahead=1"])
    assert exit_info.value.code == 2
    assert "typeahead" in capsys.readouterr().err


def test_help_shows_types_defaults_and_environment_variables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    assert "--slots int" in text and "--typeahead, --no-typeahead" in text
    assert "FAUXPILOT_SLOTS" in text and "(default: 8)" in text.replace("\n", " ")


def test_complete_takes_the_model_and_suggestion_settings_but_no_server_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_for(
        ["complete", "x", "--suffix-rank-lines", "0", "--fim-anchor-chars", "7"]
    )
    options = settings.completion_options()
    assert (options.suffix_rank_lines, options.fim_anchor_chars) == (0, 7)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["complete", "x", "--port", "6000"])
    assert "--port" in capsys.readouterr().err
