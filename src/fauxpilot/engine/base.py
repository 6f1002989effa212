"""The engine boundary: what the completion layer may ask of a model runner."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fauxpilot.models.catalog import PromptFamily


class EngineError(RuntimeError):
    """The engine could not run a request (not a client mistake)."""


class EngineNotReady(EngineError):
    """The model is still loading or failed to load."""


class ChatTemplateMissing(ValueError):
    """The model cannot format a chat (no or unknown chat template)."""


class EngineOverloaded(EngineError):
    """Too many requests are waiting."""


class EngineCrashed(EngineError):
    """The engine's process died while it ran the request; it is being restarted."""


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @functools.cached_property
    def logit_bias_arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The bias as (token ids, values), built once: applied at every token."""
        ids = np.fromiter(self.logit_bias.keys(), dtype=np.int64, count=len(self.logit_bias))
        values = np.fromiter(self.logit_bias.values(), dtype=np.float32, count=len(ids))
        return ids, values


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    prompt_tokens: list[int]
    max_tokens: int
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop_token_ids: frozenset[int] = frozenset()
    top_logprobs: int | None = None  # None: no logprobs; k >= 0: sampled token plus top k
    prompt_logprobs: bool = False  # logprobs of every prompt token (echo + logprobs)
    # With prompt_logprobs: score only the prompt tokens from this index on; the tokens
    # before it may come from a slot's cache.
    prompt_logprobs_from: int = 0
    # Who may reuse the KV cells this request leaves: only requests of the same scope (one
    # per API key when keys are on), so no key learns from timing what another one sent.
    cache_scope: str = ""
    # Stable for one editor's file: a router in front of several upstreams sends every
    # request of a session to the replica holding its prefix cache.
    session_key: str = ""
    # The model name the client asked for; an engine serving several (a gateway's LoRA
    # adapters, ModelInfo.aliases) picks by it, the others ignore it.
    model: str | None = None
    # Token healing (fauxpilot.completion.healing): the first generated token must start
    # with these bytes; only engines whose ModelInfo.heals_tokens is true honour it.
    first_token_prefix: bytes = b""


@dataclass(frozen=True)
class TokenLogprob:
    token_id: int
    piece: bytes
    logprob: float


@dataclass(frozen=True)
class TokenEvent:
    """One generated (or, with prompt_logprobs, one scored prompt) token."""

    token_id: int
    piece: bytes
    logprob: float | None = None
    top: tuple[TokenLogprob, ...] = ()
    is_prompt: bool = False


@dataclass(frozen=True)
class FinishEvent:
    reason: str  # "stop" (end token) or "length" (max_tokens or context full)
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True)
class PromptEvent:
    """The prompt has been read; `cached_tokens` of it came from a slot's cache."""

    prompt_tokens: int
    cached_tokens: int


EngineEvent = TokenEvent | FinishEvent | PromptEvent


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    context_length: int  # tokens one request may use (prompt + completion)
    vocab_size: int
    family: PromptFamily
    # Request parameters this engine cannot honour ("logit_bias", ...): refused with a 400.
    unsupported_sampling: frozenset[str] = frozenset()
    # Whether it scores prompt tokens (prompt_logprobs: echo with logprobs, suffix ranking).
    scores_prompts: bool = True
    # Other model names it answers to (a gateway's LoRA adapters), listed by /v1/models.
    aliases: tuple[str, ...] = ()
    # Whether it honours GenerationRequest.first_token_prefix (token healing).
    heals_tokens: bool = False


class EngineStatus(StrEnum):
    """Where an engine is in its life; only OK serves requests."""

    LOADING = "loading"  # start() is loading the model and decoding its first token
    OK = "ok"
    RESTARTING = "restarting"  # its worker died and is being started again
    FAILED = "failed"  # it could not start (or kept crashing); `detail` says why
    STOPPED = "stopped"  # close() ran


@dataclass(frozen=True)
class UpstreamHealth:
    """A gateway's view of its upstream: requests sent again because a replica failed them
    before their first token, and the replicas behind the upstream's router (None when the
    upstream is not a router that lists them)."""

    url: str
    retries: int = 0
    replicas: int | None = None
    healthy_replicas: int | None = None


@dataclass(frozen=True)
class Health:
    status: EngineStatus
    detail: str = ""
    active_requests: int = 0
    waiting_requests: int = 0
    free_slots: int = 0
    total_slots: int = 0
    restarts: int = 0  # times the engine's worker died and was started again
    upstream: UpstreamHealth | None = None  # a gateway's: what it sees of its upstream

    @property
    def ready(self) -> bool:
        return self.status is EngineStatus.OK


class Tokenizer(Protocol):
    def tokenize(self, text: str, *, special: bool) -> list[int]: ...

    def piece(self, token_id: int) -> bytes: ...

    def special_token_id(self, text: str) -> int | None: ...

    def apply_chat_template(self, messages: Sequence[tuple[str, str]]) -> str: ...

    @property
    def bos_token_id(self) -> int | None: ...

    @property
    def end_token_ids(self) -> frozenset[int]: ...


def common_prefix_length(left: Sequence[int], right: Sequence[int]) -> int:
    """How many tokens two token lists share from their start."""
    length = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        length += 1
    return length


def prompt_problem(
    tokens: Sequence[int], vocab_size: int, context_length: int | None = None
) -> str | None:
    """What makes a token prompt impossible to run, or None: every engine and the completion
    service check prompts with this one function (llama.cpp aborts the whole process on a
    token id outside its vocabulary, so one must never reach it). Without `context_length`,
    the length is not checked (the completion service trims long prompts)."""
    if not tokens:
        return "The prompt has no tokens."
    bad = next((token for token in tokens if not 0 <= token < vocab_size), None)
    if bad is not None:
        return (
            f"Token id {bad} in the prompt is outside the model's vocabulary "
            f"(0 to {vocab_size - 1})."
        )
    if context_length is not None and len(tokens) >= context_length:
        return (
            f"The prompt of {len(tokens)} tokens does not fit the context of "
            f"{context_length} tokens."
        )
    return None


class Engine(Protocol):
    """What the completion layer may ask of a model runner (engine/lifecycle.py implements
    the shared part). An engine owns its model, its KV cache and its worker; it never sees
    HTTP, FIM layouts or stop strings."""

    @property
    def model(self) -> ModelInfo: ...

    @property
    def tokenizer(self) -> Tokenizer: ...

    def generate(self, request: GenerationRequest) -> AsyncGenerator[EngineEvent, None]:
        """Stream events for one sequence; closing the iterator early aborts it."""
        ...

    async def abort(self, request_id: str) -> None: ...

    def health(self) -> Health: ...

    def start(self) -> None:
        """Load the model (blocking); health() is ready afterwards."""
        ...

    def close(self) -> None: ...
