"""All server settings in one place: defaults, bounds, env vars (FAUXPILOT_*) and CLI flags.

The settings come in groups, each a pydantic-settings class of its own: `EngineSettings` (the
model and how it runs), `ServerSettings` (listening, keys, limits, logging) and
`CompletionSettings` (how a suggestion is made). `Settings` is composed of the three, as
llama-cpp-python's server composes `Settings(ServerSettings, ModelSettings)`. The option
objects the layers below take are built from a group (`completion_options` here,
`ApiConfig.from_settings`, the engine options in fauxpilot.server), never by copying defaults:
each default is written once, here or in the layer that owns it (`CompletionFields`,
`StopFields` in completion/types.py, whose fields the completion group inherits).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fauxpilot.completion.types import (
    CompletionFields,
    CompletionOptions,
    StopFields,
    StopOptions,
)
from fauxpilot.errors import UserError


def _default_home() -> Path:
    return Path(os.path.expanduser("~/.cache/fauxpilot"))


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


MIN_KEY_LENGTH = 8
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# auto: llama.cpp for GGUF files, CTranslate2 for Hugging Face checkpoints; remote: an
# upstream OpenAI-compatible server (vLLM), `model` then names its tokenizer.
EngineName = Literal["auto", "llama.cpp", "ctranslate2", "remote"]
ENGINES: tuple[str, ...] = get_args(EngineName)
# Every group reads FAUXPILOT_<FIELD> from the environment and ignores unknown names.
ENV_CONFIG = SettingsConfigDict(env_prefix="FAUXPILOT_", extra="ignore")


class ConfigError(UserError, ValueError):
    """A setting points at something unusable (a missing key file, say)."""


def read_key_file(path: Path) -> list[str]:
    """One key per line; blank lines and lines starting with # are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the API key file {path}: {error}") from error
    keys = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keys.append(stripped)
    return keys


class EngineSettings(BaseSettings):
    """Which model runs, where its files live, and how the engine runs it.

    Owns each of these settings' default, bound, env var and flag; never loads a model or
    touches the disk (`home` is only a path). fauxpilot.server builds the engine options
    (LoadOptions, Ct2Options) from this group.
    """

    model_config = ENV_CONFIG

    home: Path = Field(default_factory=_default_home, description="where models and state live")
    model: str = Field(
        "qwen2.5-coder-0.5b",
        description="catalog or imported model name, a .gguf file or a Hugging Face checkpoint",
    )
    engine: EngineName = Field(
        "auto",
        description="llama.cpp for GGUF files, ctranslate2 for Hugging Face checkpoints "
        "(auto), or remote: the --upstream server runs the model, --model is its tokenizer",
    )
    upstream: str | None = Field(
        None, description="with --engine remote: the OpenAI-compatible server (vLLM) to use"
    )
    upstream_model: str | None = Field(
        None, description="the model name the upstream serves (default: the first it lists)"
    )
    upstream_api_key: str | None = Field(None, description="the key the upstream wants")
    upstream_adapter: list[str] = Field(
        default_factory=list,
        description="NAME=ADAPTER: a request for model NAME runs the upstream's LoRA adapter "
        "ADAPTER (repeatable; vLLM --enable-lora --lora-modules ADAPTER=PATH)",
    )
    compute_type: str = Field(
        "default",
        description="CTranslate2 compute type: default (int8 on CPU, float16 on GPU), "
        "int8, int8_float16, float16, bfloat16, float32",
    )
    threads: int = Field(
        default_factory=_default_threads, ge=1, le=512, description="CPU threads for the model"
    )
    context_length: int = Field(
        4096, ge=256, le=131072, description="tokens one request may use (prompt + completion)"
    )
    slots: int = Field(
        8,
        ge=1,
        le=64,
        description="sequences decoded together, each keeping its KV cache (a ranked "
        "one-line suggestion uses two)",
    )
    batch_size: int = Field(
        512, ge=32, le=8192, description="tokens per model step (prompt chunks + decodes)"
    )
    prefill_while_decoding: int = Field(
        64, ge=1, le=8192, description="prompt tokens per step while other requests stream"
    )
    draft_tokens: int = Field(
        0,
        ge=0,
        le=32,
        description="speculative decoding: tokens drafted from the prompt itself (0: off)",
    )
    gpus: int = Field(0, ge=0, le=64, description="GPUs to spread the model over (0: CPU only)")
    gpu_layers: int = Field(0, ge=-1, description="layers offloaded to GPU (-1: all)")
    main_gpu: int = Field(0, ge=0, description="GPU used for small tensors and scratch")
    tensor_split: str | None = Field(
        None, description="comma-separated share of the model per GPU, e.g. 3,1"
    )
    max_waiting: int = Field(
        64, ge=1, le=10000, description="requests that may wait for a slot before 503"
    )
    engine_process: bool = Field(
        True,
        description="run llama.cpp in a child process the server restarts when it crashes "
        "(false: in the server's own process)",
    )
    offline: bool = Field(
        False, description="never fetch a missing model; fail with the offline alternatives"
    )

    @model_validator(mode="after")
    def _slots_fit_the_batch(self) -> EngineSettings:
        if self.slots > self.batch_size:
            raise ValueError(
                f"--slots {self.slots} is more than --batch-size {self.batch_size}: every "
                "step decodes a token for each slot, so the batch must hold them all. Lower "
                "--slots or raise --batch-size."
            )
        return self

    def tensor_split_values(self) -> list[float]:
        """The share of the model per GPU: as given, else even over `gpus` (when above 1)."""
        if self.tensor_split:
            return [float(part) for part in self.tensor_split.split(",") if part.strip()]
        return [1.0] * self.gpus if self.gpus > 1 else []

    def offloaded_layers(self) -> int:
        """Layers on GPUs: as given, else all of them once any GPU is asked for."""
        return -1 if self.gpus and self.gpu_layers == 0 else self.gpu_layers


class ApiLimits(BaseModel):
    """The part of the server group the HTTP layer enforces as is; `ApiConfig` inherits it."""

    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, ge=1024, le=1 << 30, description="largest request body accepted"
    )
    cache_per_key: bool = Field(
        True,
        description="with API keys on, each key reuses only its own prompt cache and typeahead "
        "(false: shared, which lets one key time what another sent)",
    )
    max_concurrent_requests: int = Field(
        64,
        ge=1,
        le=100000,
        description="generation sequences in flight (each request counts its prompts times n "
        "or best_of) before 503",
    )
    max_concurrent_per_key: int = Field(
        16, ge=1, le=100000, description="generation sequences in flight per API key before 429"
    )
    request_timeout_seconds: float = Field(
        120.0, ge=0.0, le=86400.0, description="deadline of one request (0: none)"
    )
    # Off: a prompt is the client's code; on, each key reads back only its own.
    explain_prompts: bool = Field(
        False,
        description="let a client read back the prompt built for each of its last "
        "completions (GET /v1/completions/ID/prompt, the playground's why panel)",
    )


class ServerSettings(ApiLimits, BaseSettings):
    """Where the server listens, who may use it, the limits it enforces and how it logs.

    Owns each of these settings' default, bound, env var and flag; reads the key file only
    when `api_keys()` is called. `ApiConfig.from_settings` builds the HTTP layer's view.
    """

    model_config = ENV_CONFIG

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(5000, ge=1, le=65535, description="port to listen on")
    shutdown_grace_seconds: float = Field(
        10.0, ge=0.0, le=600.0, description="on SIGTERM, time for requests in flight to end"
    )
    api_key: list[str] = Field(
        default_factory=list,
        description="API key clients must send (repeatable); none: the API is open",
    )
    api_key_file: Path | None = Field(None, description="file with one API key per line")
    allowed_host: list[str] = Field(
        default_factory=list,
        description="a name clients reach the server by, besides loopback ones (repeatable; "
        "* turns the Host check off)",
    )
    insecure: bool = Field(
        False, description="allow listening on a non-loopback address without API keys"
    )
    log_level: str = Field("info", description="debug, info, warning or error")
    log_format: Literal["text", "json"] = Field("text", description="text or json log lines")

    def api_keys(self) -> tuple[str, ...]:
        keys = list(self.api_key)
        if self.api_key_file is not None:
            keys.extend(read_key_file(self.api_key_file))
        if any(len(key) < MIN_KEY_LENGTH for key in keys):
            raise ConfigError(f"API keys must be at least {MIN_KEY_LENGTH} characters long")
        return tuple(keys)


class CompletionSettings(StopFields, CompletionFields, BaseSettings):
    """How suggestions are made: FIM layout, ranking, typeahead, stops, budgets, bounds.

    The fields, with their defaults, bounds and help, are the completion layer's own
    (`CompletionFields`, `StopFields`); this group only makes them settings.
    """

    model_config = ENV_CONFIG

    def completion_options(self) -> CompletionOptions:
        """The completion service's options with these values (`max_choices` keeps its own)."""
        stops = StopOptions.model_validate(self.model_dump(include=set(StopFields.model_fields)))
        chosen = self.model_dump(include=set(CompletionFields.model_fields))
        return CompletionOptions.model_validate({**chosen, "stops": stops})


# The config file the Settings being built read, set only around one build (config/file.py).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("fauxpilot_config_file", default=None)


@contextmanager
def reading_config_file(path: Path) -> Iterator[None]:
    """Settings built inside read `path` (TOML) below the flags and the environment."""
    token = _CONFIG_FILE.set(path)
    try:
        yield
    finally:
        _CONFIG_FILE.reset(token)


class ConfigFileSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source, strict: a key that names no setting is an error (a
    typo would otherwise be ignored), and so is a file that is not TOML."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        try:
            super().__init__(settings_cls, toml_file=path)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read the config file {path}: {error}") from error
        unknown = sorted(set(self.toml_data) - set(settings_cls.model_fields))
        if unknown:
            raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")


# pydantic lists the last base's fields first: flags and --help read engine, server, completion.
class Settings(CompletionSettings, ServerSettings, EngineSettings):
    """Every setting of `fauxpilot serve`: the engine, server and completion groups in one.

    Owns each setting's default, bound and description; the env var (FAUXPILOT_<NAME>), the
    flag (--<name>) and the config-file key are derived from the field name. Building one
    reads only the environment, what it is given and, inside `reading_config_file`, that
    file; it must never do I/O at import, load a model or open a socket.
    """

    model_config = ENV_CONFIG

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest first: flags (pydantic-settings puts a CLI source before these), values
        given in code, FAUXPILOT_* variables, the config file; then the defaults."""
        path = _CONFIG_FILE.get()
        if path is None:
            return init_settings, env_settings
        return init_settings, env_settings, ConfigFileSource(settings_cls, path)


class OneShotSettings(CompletionSettings, EngineSettings):
    """The settings `fauxpilot complete` takes: the model's and the suggestion's, no server's."""

    model_config = ENV_CONFIG
