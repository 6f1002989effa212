"""The config file, `fauxpilot setup`, `models import` and hub pulls, without a model."""

from __future__ import annotations

import io
import socket
import sys
from pathlib import Path

import pytest

from fauxpilot.cli import build_parser
from fauxpilot.cli.args import settings_from
from fauxpilot.config.file import load_settings, read_config, write_config
from fauxpilot.config.settings import ConfigError, Settings
from fauxpilot.models import hub
from fauxpilot.models.catalog import UnknownModelError
from fauxpilot.models.imported import ImportRegistry, ModelImportError, import_model
from fauxpilot.models.pull import PullError
from fauxpilot.models.resolve import resolve_model
from fauxpilot.models.store import ModelFileError, ModelStore


def _fake_gguf(path: Path, payload: bytes = b"\x00" * 64) -> Path:
    path.write_bytes(b"GGUF" + payload)
    return path


def test_config_file_round_trips_and_ranks_below_env_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    write_config(config, {"port": 6001, "host": "127.0.0.1", "model": 'odd "name"',
                          "typeahead": False, "api_key": ["k1-abcdefgh"]})  # fmt: skip
    assert read_config(config)["model"] == 'odd "name"'
    monkeypatch.delenv("FAUXPILOT_PORT", raising=False)
    assert load_settings({}, config).port == 6001
    assert load_settings({}, config).typeahead is False
    monkeypatch.setenv("FAUXPILOT_PORT", "6002")
    assert load_settings({}, config).port == 6002
    assert load_settings({"port": "6003"}, config).port == 6003


def test_unknown_keys_in_the_config_file_are_an_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("prot = 5000\n")
    with pytest.raises(ConfigError, match="unknown settings prot"):
        read_config(config)


def test_serve_flags_read_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    write_config(config, {"slots": 2, "context_length": 2048})
    args = build_parser().parse_args(["serve", "--config", str(config), "--slots", "3"])
    settings = settings_from(args)
    assert (settings.slots, settings.context_length) == (3, 2048)


def test_gpus_offload_every_layer_and_split_evenly() -> None:
    assert Settings(gpus=0).offloaded_layers() == 0
    assert Settings(gpus=2).offloaded_layers() == -1
    assert Settings(gpus=2).tensor_split_values() == [1.0, 1.0]
    assert Settings(gpus=2, tensor_split="3,1").tensor_split_values() == [3.0, 1.0]
    assert Settings(gpus=1, gpu_layers=10).offloaded_layers() == 10


def test_setup_with_flags_writes_a_config_that_serve_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    argv = ["setup", "--config", str(config), "--yes", "--model", "smollm2-135m",
            "--host", "0.0.0.0", "--port", "6100", "--home", str(tmp_path / "home"),
            "--generate-key", "--no-pull"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert args.handler(args) == 0
    settings = load_settings({}, config)
    assert (settings.model, settings.host, settings.port) == ("smollm2-135m", "0.0.0.0", 6100)
    keys = settings.api_keys()
    assert len(keys) == 1 and keys[0] in capsys.readouterr().out
    assert settings.api_key_file is not None
    assert settings.api_key_file.stat().st_mode & 0o777 == 0o600


def test_setup_asks_with_current_values_as_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    write_config(config, {"model": "smollm2-135m", "port": 6200, "home": str(tmp_path)})
    # home, model, engine, gpus, host: defaults; port: 6201; key: no; fetch: no
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n\n\n\n\n6201\nn\nn\n"))
    args = build_parser().parse_args(["setup", "--config", str(config)])
    assert args.handler(args) == 0
    shown = capsys.readouterr().out
    assert "[smollm2-135m]" in shown and "[6200]" in shown
    assert read_config(config)["port"] == 6201
    assert read_config(config)["model"] == "smollm2-135m"


def test_setup_refuses_an_unknown_model(tmp_path: Path) -> None:
    argv = ["setup", "--config", str(tmp_path / "c.toml"), "--yes", "--model", "gpt-17"]
    args = build_parser().parse_args(argv)
    with pytest.raises(ConfigError, match="unknown model"):
        args.handler(args)


def test_an_imported_gguf_is_served_by_name_and_verified(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "home")
    source = _fake_gguf(tmp_path / "My-Model.Q4.gguf")
    model = import_model(store, source)
    assert model.name == "my-model.q4"
    resolved = resolve_model("my-model.q4", store)
    assert resolved.path.read_bytes() == source.read_bytes()
    assert resolved.family is None  # detected from the vocabulary once loaded
    resolved.path.write_bytes(b"GGUF" + b"\x01" * 64)  # same size, other bytes
    with pytest.raises(ModelFileError, match=r"corrupt.*import it again"):
        resolve_model("my-model.q4", store)


def test_linked_import_keeps_the_file_where_it_is(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "home")
    source = _fake_gguf(tmp_path / "big.gguf")
    model = import_model(store, source, "big", link=True)
    path = store.models_dir / model.filename
    assert path.is_symlink() and path.resolve() == source.resolve()
    assert ImportRegistry(store).get("big") == model


def _checkpoint(folder: Path, *, weights: bool = True, tokenizer: bool = True) -> Path:
    (folder / "config.json").write_text('{"architectures": ["CodeGenForCausalLM"]}')
    if weights:
        (folder / "model.safetensors").write_bytes(b"weights")
    if tokenizer:
        (folder / "tokenizer.json").write_text("{}")
    return folder


def test_a_checkpoint_folder_is_copied_registered_and_checked_before_use(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "home")
    (tmp_path / "ckpt").mkdir()
    source = _checkpoint(tmp_path / "ckpt")
    model = import_model(store, source, "team-codegen")
    assert model.kind == "hf" and model.filename == "imported/team-codegen"
    resolved = resolve_model("team-codegen", store)
    assert resolved.kind == "hf" and (resolved.path / "model.safetensors").is_file()
    weights = resolved.path / "model.safetensors"
    weights.write_bytes(b"WEIGHTS")  # same size, other bytes
    with pytest.raises(ModelFileError, match="changed since it was imported"):
        resolve_model("team-codegen", store)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "x.bin").write_bytes(b"PK\x03\x04") and d / "x.bin", "not a GGUF"),
        (lambda d: (d / "config.json").write_text("{}") and d, "'unknown' is not served"),
        (lambda d: _checkpoint(d, weights=False), "has no weights"),
        (lambda d: _checkpoint(d, tokenizer=False), "has no tokenizer"),
        (lambda d: (d / "folder").mkdir() or d / "folder", "not a Hugging Face checkpoint"),
        (lambda d: d / "missing.gguf", "no file"),
    ],
)
def test_import_explains_what_it_cannot_take(tmp_path: Path, make: object, message: str) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ModelImportError, match=message):
        import_model(ModelStore(tmp_path / "home"), source)


def test_import_refuses_catalog_names_and_odd_names(tmp_path: Path) -> None:
    source = _fake_gguf(tmp_path / "m.gguf")
    with pytest.raises(ModelImportError, match="catalog"):
        import_model(ModelStore(tmp_path), source, "smollm2-135m")
    with pytest.raises(ModelImportError, match="usable"):
        import_model(ModelStore(tmp_path), source, "../escape")


def test_unknown_names_stay_unknown(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError):
        resolve_model("nothing-here", ModelStore(tmp_path))


def test_hub_file_choice_prefers_q4_k_m_and_names_the_options() -> None:
    files = ["README.md", "m-q8_0.gguf", "m-q4_k_m.gguf"]
    assert hub.choose_gguf(files, None) == "m-q4_k_m.gguf"
    assert hub.choose_gguf(files, "m-q8_0.gguf") == "m-q8_0.gguf"
    with pytest.raises(PullError, match="--file"):
        hub.choose_gguf(["a.gguf", "b.gguf"], None)
    with pytest.raises(PullError, match=r"no \.gguf"):
        hub.choose_gguf(["model.safetensors"], None)


def test_a_checkpoint_is_its_config_tokenizer_and_weights_only() -> None:
    listing = ["README.md", "config.json", "model.safetensors", "tokenizer.json", "x/y.bin"]
    assert hub.checkpoint_files(listing) == ["config.json", "tokenizer.json", "model.safetensors"]
    with pytest.raises(PullError, match=r"neither a \.gguf file nor"):
        hub.checkpoint_files(["README.md", "config.json"])


def test_hub_pull_fails_fast_offline_and_names_the_alternatives(tmp_path: Path) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(PullError, match="models import"):
            hub.check_hub_reachable(f"http://127.0.0.1:{port}", timeout=2)
