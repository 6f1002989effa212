"""All server settings in one place: defaults, bounds, env vars (FAUXPILOT_*) and CLI flags."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(os.path.expanduser("~/.cache/fauxpilot"))


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAUXPILOT_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="where models and state live")
    model: str = Field(
        "qwen2.5-coder-0.5b", description="catalog model name or path to a .gguf file"
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
        4, ge=1, le=64, description="sequences decoded together, each keeping its KV cache"
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
    typeahead: bool = Field(
        True, description="serve the rest of the last suggestion when the user types it"
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
    log_level: str = Field("info", description="debug, info, warning or error")

    def tensor_split_values(self) -> list[float]:
        if not self.tensor_split:
            return []
        return [float(part) for part in self.tensor_split.split(",") if part.strip()]
