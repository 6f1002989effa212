"""`fauxpilot setup`: choose model, engine, GPUs, address, model directory and API keys once.

Interactive by default (each question shows the current value as its default; a re-run starts
from the config file), fully scriptable with flags and `--yes`. Writes the config file that
`fauxpilot serve` reads.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fauxpilot.api.hosts import is_loopback
from fauxpilot.config.file import default_config_path, load_settings, write_config
from fauxpilot.config.settings import ENGINES, ConfigError, Settings
from fauxpilot.models.catalog import CATALOG, UnknownModelError, find_entry
from fauxpilot.models.hf_checkpoint import is_checkpoint
from fauxpilot.models.imported import ImportRegistry
from fauxpilot.models.pull import pull
from fauxpilot.models.resolve import looks_like_path
from fauxpilot.models.store import ModelStore

log = logging.getLogger(__name__)

Ask = Callable[[str, str], str]


def ask_stdin(question: str, default: str) -> str:
    sys.stdout.write(f"{question} [{default}]: ")
    sys.stdout.flush()
    answer = sys.stdin.readline()
    if not answer:  # end of input: keep the default
        sys.stdout.write("\n")
    return answer.strip() or default


def _keep_default(question: str, default: str) -> str:
    return default


def cmd_setup(args: argparse.Namespace) -> int:
    config_path: Path = args.config or default_config_path()
    current = load_settings({}, config_path)  # what serve would run with now
    ask: Ask = _keep_default if args.yes else ask_stdin
    if not args.yes:
        sys.stdout.write(f"FauxPilot set-up; answers go to {config_path}\n")
    values = _choose(args, current, ask, config_path)
    write_config(config_path, values)
    sys.stdout.write(f"wrote {config_path}\n")
    store = ModelStore(Path(values["home"]))
    if _wants_pull(args, values["model"], store, ask):
        pull(store, find_entry(values["model"]))
    sys.stdout.write("start the server with: fauxpilot serve\n")
    return 0


def _choose(args: argparse.Namespace, current: Settings, ask: Ask, config: Path) -> dict[str, Any]:
    home = Path(args.home or ask("Model directory", str(current.home))).expanduser()
    model = args.model or ask(
        f"Model ({_model_choices(home)}, a .gguf file or a checkpoint folder)", current.model
    )
    _check_model(model, home)
    engine = args.engine or ask(f"Engine ({', '.join(ENGINES)})", current.engine)
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; available: {', '.join(ENGINES)}")
    gpus = _integer(
        args.gpus if args.gpus is not None else ask("GPUs (0: CPU only)", str(current.gpus))
    )
    host = args.host or ask("Address to listen on", current.host)
    port = _integer(args.port if args.port is not None else ask("Port", str(current.port)))
    key_file = _api_key_file(args, current, ask, config, exposed=not is_loopback(host))
    values: dict[str, Any] = {
        "model": model,
        "engine": engine,
        "home": str(home),
        "gpus": gpus,
        "host": host,
        "port": port,
        "api_key_file": str(key_file) if key_file else None,
    }
    Settings(**{key: value for key, value in values.items() if value is not None})  # validate
    return values


def _model_choices(home: Path) -> str:
    names = [entry.name for entry in CATALOG]
    names += list(ImportRegistry(ModelStore(home)).all())
    return ", ".join(names)


def _check_model(model: str, home: Path) -> None:
    if looks_like_path(model):
        path = Path(model).expanduser()
        if not path.is_file() and not is_checkpoint(path):
            raise ConfigError(f"no model file or Hugging Face checkpoint at {model}")
        return
    try:
        find_entry(model)
    except UnknownModelError:
        if ImportRegistry(ModelStore(home)).get(model) is None:
            choices = _model_choices(home)
            raise ConfigError(f"unknown model {model!r}; choose one of {choices}") from None


def _integer(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{value!r} is not a whole number") from error


def _api_key_file(
    args: argparse.Namespace, current: Settings, ask: Ask, config: Path, exposed: bool
) -> Path | None:
    """The key file to use; a new key when asked for (the default off loopback)."""
    if args.api_key_file:
        return Path(args.api_key_file).expanduser()
    existing = current.api_key_file
    default = "y" if existing or exposed else "n"
    wanted = args.generate_key or _yes(ask("Require an API key? (y/n)", default))
    if not wanted:
        return None
    if existing is not None and existing.is_file() and not args.generate_key:
        return existing
    key_file = config.with_name("api-keys")
    key = "fp-" + secrets.token_urlsafe(24)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as sink:
        sink.write(f"# FauxPilot API keys, one per line\n{key}\n")
    sys.stdout.write(f"new API key (also in {key_file}): {key}\n")
    return key_file


def _yes(answer: str) -> bool:
    return answer.strip().lower() in ("y", "yes", "true", "1")


def _wants_pull(args: argparse.Namespace, model: str, store: ModelStore, ask: Ask) -> bool:
    try:
        entry = find_entry(model)
    except UnknownModelError:
        return False  # a path or an imported model: already on disk
    if store.state(entry).exists:
        return False
    if args.pull is not None:
        return bool(args.pull)
    return not args.yes and _yes(ask(f"Fetch {model} now? (y/n)", "y"))


def register(commands: Any) -> None:
    setup = commands.add_parser("setup", help="choose model, engine, GPUs, address and keys")
    setup.add_argument("--config", type=Path, default=None, help="config file to write")
    setup.add_argument("--model", default=None, help="catalog name, imported name or .gguf path")
    setup.add_argument("--engine", default=None, help=f"one of {', '.join(ENGINES)}")
    setup.add_argument("--gpus", type=int, default=None, help="GPUs to use (0: CPU only)")
    setup.add_argument("--host", default=None, help="address to listen on")
    setup.add_argument("--port", type=int, default=None, help="port to listen on")
    setup.add_argument("--home", default=None, help="model directory")
    setup.add_argument("--api-key-file", default=None, help="use this key file")
    setup.add_argument("--generate-key", action="store_true", help="make a new API key")
    setup.add_argument(
        "--pull", action=argparse.BooleanOptionalAction, default=None, help="fetch the model now"
    )
    setup.add_argument("--yes", action="store_true", help="ask nothing; flags and defaults")
    setup.set_defaults(handler=cmd_setup)
