"""The composition root: settings in, a running server (or one completion) out.

Everything that joins the layers lives here: the engine built from the engine group, the
exposure check, the HTTP app with the ApiConfig and CompletionOptions built from their groups,
the uvicorn server, faulthandler and the SIGTERM handler. The commands in fauxpilot.cli only
parse flags into Settings and call these functions.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fauxpilot.api import create_app
from fauxpilot.api.config import ApiConfig
from fauxpilot.api.hosts import is_loopback
from fauxpilot.completion.service import CompletionService
from fauxpilot.completion.types import CompletionJob
from fauxpilot.config.settings import ConfigError, EngineSettings, Settings
from fauxpilot.engine.base import Engine
from fauxpilot.engine.llamacpp import GgufSpec, LlamaCppEngine
from fauxpilot.engine.llamacpp_model import LoadOptions
from fauxpilot.engine.process import ProcessEngine
from fauxpilot.errors import UserError
from fauxpilot.models.resolve import ResolvedModel, resolve_model
from fauxpilot.models.store import ModelStore
from fauxpilot.native.startup_check import ensure_engine_runs

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from fauxpilot.engine.ctranslate2 import Ct2Options

log = logging.getLogger("fauxpilot")

# Exit statuses of `fauxpilot serve`; a UserError before serving is 2 (fauxpilot.cli.main).
SERVED = 0
START_FAILED = 3


class InsecureExposureError(UserError, ValueError):
    pass


def check_exposure(host: str, api_keys: Sequence[str], insecure: bool) -> None:
    """Refuse to serve private code to the network without keys, unless told to."""
    if api_keys or insecure or is_loopback(host):
        return
    raise InsecureExposureError(
        f"refusing to listen on {host} without an API key: anyone on the network could use "
        "the server. Give --api-key KEY (or --api-key-file FILE), or --insecure to allow it."
    )


def build_engine(
    settings: EngineSettings,
    model: ResolvedModel,
    logging_setup: tuple[str, str] = ("info", "text"),
) -> Engine:
    """llama.cpp for GGUF files, CTranslate2 for Hugging Face checkpoints (or as asked);
    llama.cpp in a supervised engine process unless `engine_process` is off.

    Raises EngineCrashError when the installed llama.cpp build crashes on this CPU."""
    engine = settings.engine
    if engine == "remote":
        return remote_engine(settings, model)
    if engine == "auto":
        engine = "ctranslate2" if model.kind == "hf" else "llama.cpp"
    if engine == "ctranslate2":
        return _ctranslate2_engine(settings, model)
    if model.kind == "hf":
        raise ConfigError(
            f"{model.path} is a Hugging Face checkpoint: llama.cpp serves GGUF files; "
            "use --engine ctranslate2 (or auto)"
        )
    options = load_options(settings)
    # A native crash here would kill this process silently: prove the build in a child first.
    ensure_engine_runs(model.path, settings.home, settings.threads)
    spec = GgufSpec(model.name, model.path, model.family, options, settings.max_waiting)
    if settings.engine_process:
        return ProcessEngine(spec, logging_setup)
    return LlamaCppEngine(spec)


def remote_engine(settings: EngineSettings, model: ResolvedModel) -> Engine:
    """A gateway in front of `upstream`; `model` is the served model's tokenizer."""
    from fauxpilot.engine.remote import RemoteEngine, RemoteSpec

    if not settings.upstream:
        raise ConfigError("--engine remote needs --upstream URL (the vLLM server, say)")
    spec = RemoteSpec(
        name=model.name,
        upstream=settings.upstream,
        tokenizer=model.path,
        family=model.family,
        context_length=settings.context_length,
        max_in_flight=settings.slots + settings.max_waiting,
        upstream_model=settings.upstream_model,
        api_key=settings.upstream_api_key,
        adapters=_adapters(settings.upstream_adapter),
    )
    return RemoteEngine(spec)


def _adapters(entries: list[str]) -> dict[str, str]:
    adapters = {}
    for entry in entries:
        name, separator, adapter = entry.partition("=")
        if not separator or not name.strip() or not adapter.strip():
            raise ConfigError(f"--upstream-adapter wants NAME=ADAPTER, got {entry!r}")
        adapters[name.strip()] = adapter.strip()
    return adapters


def load_options(settings: EngineSettings) -> LoadOptions:
    """llama.cpp's options from the engine group (every field given: LoadOptions has none)."""
    return LoadOptions(
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


def ct2_options(settings: EngineSettings) -> Ct2Options:
    """CTranslate2's options from the engine group (every field given)."""
    from fauxpilot.engine.ctranslate2 import Ct2Options

    return Ct2Options(
        threads=settings.threads,
        slots=settings.slots,
        context_length=settings.context_length,
        device="cuda" if settings.gpus else "cpu",
        compute_type=settings.compute_type,
        gpus=settings.gpus,
    )


def _ctranslate2_engine(settings: EngineSettings, model: ResolvedModel) -> Engine:
    from fauxpilot.engine.ctranslate2 import CTranslate2Engine
    from fauxpilot.models.hf_checkpoint import ensure_converted, read_checkpoint

    if model.kind != "hf":
        raise ConfigError(
            f"{model.path} is a GGUF file: CTranslate2 serves Hugging Face checkpoints; convert "
            "it with `fauxpilot models convert gguf-to-hf` or use --engine llama.cpp"
        )
    options = ct2_options(settings)
    models_dir = ModelStore(settings.home).models_dir

    def converted() -> Path:
        return ensure_converted(models_dir, read_checkpoint(model.path))

    return CTranslate2Engine(model.name, converted, model.family, options, settings.max_waiting)


def serve(settings: Settings) -> int:
    """Run the server until it is stopped: 0 when it served, 3 when the model failed to start."""
    faulthandler.enable()  # a native crash still leaves a Python traceback in the log
    api_config = ApiConfig.from_settings(settings)
    check_exposure(settings.host, api_config.api_keys, settings.insecure)
    model = resolve_model(
        settings.model, ModelStore(settings.home), pull_missing=not settings.offline
    )
    engine = build_engine(settings, model, (settings.log_level, settings.log_format))
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
    server = _uvicorn_server(app, settings)
    server.run()
    if failures:
        log.error("the model could not be started, so the server stopped: %s", failures[0])
        return START_FAILED
    return SERVED


def _uvicorn_server(app: FastAPI, settings: Settings) -> uvicorn.Server:
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,  # keep our handlers: JSON lines and request ids apply to uvicorn
            log_level=settings.log_level,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    )


def _stopped_gracefully(signum: int, frame: object) -> None:
    log.info("stopped by signal %d", signum)


def complete_once(settings: Settings, job: CompletionJob) -> str:
    """One completion without a server: the engine with one slot, in this process, and the
    first choice's text."""
    settings = settings.model_copy(update={"slots": 1, "engine_process": False})
    model = resolve_model(settings.model, ModelStore(settings.home))
    engine = build_engine(settings, model)
    engine.start()
    try:
        service = CompletionService(engine, settings.completion_options())
        result = asyncio.run(service.complete(service.prepare(job)))
    finally:
        engine.close()
    return result.choices[0].text
