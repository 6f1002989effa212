"""The `fauxpilot` command: serve, complete, models."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fauxpilot import bundle, doctor, setup_wizard
from fauxpilot import cli_models as models_cli
from fauxpilot.addresses import check_exposure
from fauxpilot.api.config import ApiConfig
from fauxpilot.bench import cli as bench_cli
from fauxpilot.cli_settings import add_settings_flags, settings_from
from fauxpilot.completion.service import CompletionService
from fauxpilot.completion.types import CompletionJob
from fauxpilot.config.settings import ConfigError, Settings
from fauxpilot.engine.base import Engine, SamplingParams
from fauxpilot.engine.llamacpp import LlamaCppEngine
from fauxpilot.engine.llamacpp_model import LoadOptions
from fauxpilot.errors import UserError
from fauxpilot.evaluation import cli as eval_cli
from fauxpilot.finetune import cli as finetune_cli
from fauxpilot.logs import configure_logging
from fauxpilot.models.resolve import ResolvedModel, resolve_model
from fauxpilot.models.store import ModelStore
from fauxpilot.native.startup_check import EngineCrashError, ensure_engine_runs

log = logging.getLogger("fauxpilot")

# What `main` reports in one line with status 2. EngineCrashError cannot derive from UserError:
# fauxpilot.native stays stdlib-only (setup.sh runs it before the dependencies are installed).
USER_ERRORS = (UserError, ValidationError, EngineCrashError)


def build_engine(settings: Settings, model: ResolvedModel) -> Engine:
    """llama.cpp for GGUF files, CTranslate2 for Hugging Face checkpoints (or as asked).

    Raises EngineCrashError when the installed llama.cpp build crashes on this CPU."""
    engine = settings.engine
    if engine == "auto":
        engine = "ctranslate2" if model.kind == "hf" else "llama.cpp"
    if engine == "ctranslate2":
        return _ctranslate2_engine(settings, model)
    if model.kind == "hf":
        raise ConfigError(
            f"{model.path} is a Hugging Face checkpoint: llama.cpp serves GGUF files; "
            "use --engine ctranslate2 (or auto)"
        )
    options = LoadOptions(
        threads=settings.threads,
        context_per_slot=settings.context_length,
        slots=settings.slots,
        batch_size=settings.batch_size,
        prefill_while_decoding=settings.prefill_while_decoding,
        draft_tokens=settings.draft_tokens,
        gpu_layers=settings.offloaded_layers(),
        main_gpu=settings.main_gpu,
        tensor_split=tuple(settings.tensor_split_values()),
    )
    # A native crash here would kill this process silently: prove the build in a child first.
    ensure_engine_runs(model.path, settings.home, settings.threads)
    return LlamaCppEngine(model.name, model.path, model.family, options, settings.max_waiting)


def _ctranslate2_engine(settings: Settings, model: ResolvedModel) -> Engine:
    from fauxpilot.engine.ctranslate2 import Ct2Options, CTranslate2Engine
    from fauxpilot.models.hf_checkpoint import ensure_converted, read_checkpoint

    if model.kind != "hf":
        raise ConfigError(
            f"{model.path} is a GGUF file: CTranslate2 serves Hugging Face checkpoints; convert "
            "it with `fauxpilot models convert gguf-to-hf` or use --engine llama.cpp"
        )
    options = Ct2Options(
        threads=settings.threads,
        slots=settings.slots,
        context_length=settings.context_length,
        device="cuda" if settings.gpus else "cpu",
        compute_type=settings.compute_type,
        gpus=settings.gpus,
    )
    models_dir = ModelStore(settings.home).models_dir

    def converted() -> Path:
        return ensure_converted(models_dir, read_checkpoint(model.path))

    return CTranslate2Engine(model.name, converted, model.family, options, settings.max_waiting)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fauxpilot.api import create_app

    faulthandler.enable()  # a native crash still leaves a Python traceback in the log
    settings = settings_from(args)
    api_config = ApiConfig.from_settings(settings)
    check_exposure(settings.host, api_config.api_keys, settings.insecure)
    model = resolve_model(
        settings.model, ModelStore(settings.home), pull_missing=not settings.offline
    )
    engine = build_engine(settings, model)
    failures: list[BaseException] = []

    def stop_serving(error: BaseException) -> None:
        failures.append(error)
        server.should_exit = True

    app = create_app(
        engine,
        model.name,
        settings.completion_options(),
        config=api_config,
        on_start_failure=stop_serving,
    )
    log.info(
        "FauxPilot will listen on http://%s:%d (API keys: %s)",
        settings.host,
        settings.port,
        len(api_config.api_keys) or "off",
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal under the handler
    # it found: with this one, a graceful stop ends the process with status 0.
    signal.signal(signal.SIGTERM, _stopped_gracefully)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,  # keep our handlers: JSON lines and request ids apply to uvicorn
            log_level=settings.log_level,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    )
    server.run()
    if failures:
        log.error("the model could not be started, so the server stopped: %s", failures[0])
        return 3
    return 0


def _stopped_gracefully(signum: int, frame: object) -> None:
    log.info("stopped by signal %d", signum)


def cmd_complete(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    settings = settings.model_copy(update={"slots": 1})
    model = resolve_model(settings.model, ModelStore(settings.home))
    engine = build_engine(settings, model)
    engine.start()
    try:
        job = CompletionJob(
            request_id="cli",
            prompts=[args.text],
            suffix=args.suffix,
            max_tokens=args.max_tokens,
            sampling=SamplingParams(temperature=args.temperature),
            stop=tuple(args.stop or ()),
        )
        service = CompletionService(engine)
        result = asyncio.run(service.complete(job, service.prepare(job)))
    finally:
        engine.close()
    sys.stdout.write(result.choices[0].text + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fauxpilot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the completion server")
    add_settings_flags(serve)
    serve.set_defaults(handler=cmd_serve)

    complete = commands.add_parser("complete", help="complete TEXT once, without a server")
    complete.add_argument("text")
    complete.add_argument("--suffix", default=None, help="code after the cursor (FIM)")
    complete.add_argument("--max-tokens", type=int, default=64)
    complete.add_argument("--temperature", type=float, default=0.0)
    complete.add_argument("--stop", action="append", help="stop sequence (repeatable)")
    add_settings_flags(complete)
    complete.set_defaults(handler=cmd_complete)

    models_cli.register(commands)
    setup_wizard.register(commands)
    doctor.register(commands)
    bundle.register(commands)
    bench_cli.register(commands)
    eval_cli.register(commands)
    finetune_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level: Any = getattr(args, "log_level", None) or "info"
    log_format: Any = getattr(args, "log_format", None) or "text"
    try:
        configure_logging(str(level), str(log_format))
        return int(args.handler(args))
    except USER_ERRORS as error:
        log.error("%s", error)
        return 2
