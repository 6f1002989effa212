"""All server settings in one place: defaults, bounds, env vars (FAUXPILOT_*) and CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fauxpilot.errors import UserError


def _default_home() -> Path:
    return Path(os.path.expanduser("~/.cache/fauxpilot"))


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


MIN_KEY_LENGTH = 8


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAUXPILOT_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="where models and state live")
    model: str = Field(
        "qwen2.5-coder-0.5b",
        description="catalog or imported model name, a .gguf file or a Hugging Face checkpoint",
    )
    engine: Literal["auto", "llama.cpp", "ctranslate2"] = Field(
        "auto",
        description="llama.cpp for GGUF files, ctranslate2 for Hugging Face checkpoints (auto)",
    )
    compute_type: str = Field(
        "default",
        description="CTranslate2 compute type: default (int8 on CPU, float16 on GPU), "
        "int8, int8_float16, float16, bfloat16, float32",
    )
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(5000, ge=1, le=65535, description="port to listen on")
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
    fim_line_in_middle: bool = Field(
        False, description="put the typed part of the cursor's line after the FIM middle token"
    )
    fim_empty_suffix: bool = Field(
        False, description='give a request with suffix "" the FIM layout (empty suffix section)'
    )
    suffix_rank_lines: int = Field(
        3,
        ge=0,
        le=1000,
        description="pick between a FIM and a left-to-right one-line suggestion by how well "
        "each leads into this many lines after the cursor (0: FIM only)",
    )
    suffix_rank_multiline: bool = Field(
        False,
        description="rank suggestions without a one-line stop too (slower: both run long)",
    )
    typeahead: bool = Field(
        True, description="serve the rest of the last suggestion when the user types it"
    )
    dedent_stop: bool = Field(
        True, description="end a suggestion before a line indented less than its block"
    )
    suffix_repeat_stop: bool = Field(
        True, description="end a suggestion where it writes the suffix's first line again"
    )
    language_stop_words: bool = Field(
        True, description="end a multi-line suggestion at the next top-level definition"
    )
    suffix_share: float = Field(
        0.25, ge=0.0, le=0.9, description="share of a long prompt's budget kept for the suffix"
    )
    context_share: float = Field(
        0.3, ge=0.0, le=0.9, description="share of the prompt budget for other files' context"
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, le=1 << 30, description="largest request body accepted"
    )
    shutdown_grace_seconds: float = Field(
        10.0, ge=0.0, le=600.0, description="on SIGTERM, time for requests in flight to end"
    )
    api_key: list[str] = Field(
        default_factory=list,
        description="API key clients must send (repeatable); none: the API is open",
    )
    api_key_file: Path | None = Field(None, description="file with one API key per line")
    cache_per_key: bool = Field(
        True,
        description="with API keys on, each key reuses only its own prompt cache and typeahead "
        "(false: shared, which lets one key time what another sent)",
    )
    allowed_host: list[str] = Field(
        default_factory=list,
        description="a name clients reach the server by, besides loopback ones (repeatable; "
        "* turns the Host check off)",
    )
    insecure: bool = Field(
        False, description="allow listening on a non-loopback address without API keys"
    )
    offline: bool = Field(
        False, description="never fetch a missing model; fail with the offline alternatives"
    )
    max_tokens_limit: int = Field(
        2048, ge=1, le=131072, description="largest max_tokens a request may ask for"
    )
    max_prompt_tokens: int = Field(
        131072, ge=16, le=131072, description="prompts are trimmed to this many tokens"
    )
    max_concurrent_requests: int = Field(
        64, ge=1, le=100000, description="generation requests in flight before 503"
    )
    max_concurrent_per_key: int = Field(
        16, ge=1, le=100000, description="generation requests in flight per API key before 429"
    )
    request_timeout_seconds: float = Field(
        120.0, ge=0.0, le=86400.0, description="deadline of one request (0: none)"
    )
    log_level: str = Field("info", description="debug, info, warning or error")
    log_format: Literal["text", "json"] = Field("text", description="text or json log lines")
    log_content: bool = Field(
        False, description="log prompts and completions (off: code never reaches the logs)"
    )

    @model_validator(mode="after")
    def _slots_fit_the_batch(self) -> Settings:
        if self.slots > self.batch_size:
            raise ValueError(
                f"--slots {self.slots} is more than --batch-size {self.batch_size}: every "
                "step decodes a token for each slot, so the batch must hold them all. Lower "
                "--slots or raise --batch-size."
            )
        return self

    def api_keys(self) -> tuple[str, ...]:
        keys = list(self.api_key)
        if self.api_key_file is not None:
            keys.extend(read_key_file(self.api_key_file))
        if any(len(key) < MIN_KEY_LENGTH for key in keys):
            raise ConfigError(f"API keys must be at least {MIN_KEY_LENGTH} characters long")
        return tuple(keys)

    def tensor_split_values(self) -> list[float]:
        """The share of the model per GPU: as given, else even over `gpus` (when above 1)."""
        if self.tensor_split:
            return [float(part) for part in self.tensor_split.split(",") if part.strip()]
        return [1.0] * self.gpus if self.gpus > 1 else []

    def offloaded_layers(self) -> int:
        """Layers on GPUs: as given, else all of them once any GPU is asked for."""
        return -1 if self.gpus and self.gpu_layers == 0 else self.gpu_layers
