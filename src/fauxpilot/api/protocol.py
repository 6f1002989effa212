"""Request and response models of OpenAI's (legacy) completion API, in OpenAI's field order.

Unknown fields are accepted and ignored: editors send `nwo`, `extra`, `feature_flags`, ...
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from fauxpilot.engine.base import SamplingParams

MAX_STOPS = 16
MAX_STOP_LENGTH = 512
# Each entry costs every token of the request; editors send a handful.
MAX_LOGIT_BIAS = 1024
TokenId = Annotated[int, Field(ge=0, le=2**31 - 1)]
T = TypeVar("T")
_FailFast = Annotated[list[T], Field(fail_fast=True)]
_TOKEN_ID = re.compile(r"[0-9]{1,10}")
_SEED_MASK = 2**64 - 1
# Request defaults as the original FauxPilot server used them.
DEFAULT_MAX_TOKENS = 16
DEFAULT_TEMPERATURE = 0.6


def engine_seed(seed: int | None) -> int | None:
    """A client's seed (any 64-bit integer, signed or not) as the engine takes it."""
    return None if seed is None else seed & _SEED_MASK


def lone_surrogate_path(value: Any, path: str = "") -> str | None:
    """Where in a decoded JSON value a string holds a lone surrogate (JSON allows
    `"\\ud800"`; no tokenizer can encode it), or None."""
    if not _may_hold_lone_surrogate(value):
        return None  # the usual case, found at C speed: no walk over a million token ids
    return _walk_for_lone_surrogate(value, path)


def _may_hold_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (TypeError, ValueError, RecursionError):
        return True  # not plain JSON data, or nested too deep to encode: the walk decides
    return False


def _walk_for_lone_surrogate(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = _walk_for_lone_surrogate(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


class ClientRequest(BaseModel):
    """A request body from a client: text in it must be encodable."""

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        if (where := lone_surrogate_path(data)) is not None:
            raise ValueError(f"{where} holds a lone UTF-16 surrogate, which is not text")
        return data


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class Snippet(BaseModel):
    model_config = ConfigDict(extra="ignore")
    filepath: str = ""
    body: str = ""


class Segments(BaseModel):
    """Tabby's agent sends the code around the cursor in `segments` instead of `prompt`."""

    model_config = ConfigDict(extra="ignore")
    prefix: str = ""
    suffix: str | None = None
    filepath: str | None = None
    declarations: list[Snippet] = Field(default_factory=list, max_length=256)
    relevant_snippets_from_changed_files: list[Snippet] = Field(
        default_factory=list, max_length=256
    )
    relevant_snippets_from_recently_opened_files: list[Snippet] = Field(
        default_factory=list, max_length=256
    )

    def context_snippets(self) -> list[Snippet]:
        """Farthest first, nearest (the declarations the code uses) last."""
        return [
            *self.relevant_snippets_from_recently_opened_files,
            *self.relevant_snippets_from_changed_files,
            *self.declarations,
        ]


class CompletionRequest(ClientRequest):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: str | None = None
    # Tried in this order, each list kind giving up at its first misfit item: a prompt of a
    # million token ids costs one pass, not a million errors of the string-list kind.
    prompt: Annotated[
        StrictStr | _FailFast[StrictStr] | _FailFast[TokenId] | _FailFast[list[TokenId]],
        Field(union_mode="left_to_right"),
    ] = ""
    suffix: str | None = None
    max_tokens: int | None = Field(DEFAULT_MAX_TOKENS, ge=1)
    temperature: float | None = Field(DEFAULT_TEMPERATURE, ge=0.0, le=2.0)
    top_p: float | None = Field(1.0, gt=0.0, le=1.0)
    # How many choices a request may ask for is the completion service's limit (one place).
    n: int = Field(1, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: int | None = Field(None, ge=0, le=5)
    echo: bool = False
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(0.0, ge=-2.0, le=2.0)
    best_of: int | None = Field(None, ge=1, le=20)
    logit_bias: dict[str, Annotated[float, Field(ge=-100.0, le=100.0)]] | None = None
    user: str | None = None
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)
    # Common extension (llama.cpp, vLLM): 0 means off.
    top_k: int | None = Field(None, ge=0, le=1000)
    # Tabby's agent: code around the cursor and snippets of other files.
    segments: Segments | None = None
    language: str | None = Field(None, max_length=64)  # Tabby
    extra: Any = None  # the Copilot plugins' hints; only `language` is read, never an error

    @field_validator("prompt")
    @classmethod
    def _prompt_not_empty_list(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("prompt must not be an empty list")
        batch = isinstance(value, list) and isinstance(value[0], list)
        if batch and any(not item for item in value):
            raise ValueError("a token-id prompt must not be an empty list")
        return value

    @field_validator("stop")
    @classmethod
    def _stop_limits(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > MAX_STOPS:
            raise ValueError(f"at most {MAX_STOPS} stop sequences are supported")
        if any(len(stop) > MAX_STOP_LENGTH for stop in stops):
            raise ValueError(f"a stop sequence may have at most {MAX_STOP_LENGTH} characters")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _logit_bias_keys(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and len(value) > MAX_LOGIT_BIAS:
            raise ValueError(f"logit_bias may have at most {MAX_LOGIT_BIAS} entries")
        for key in value or {}:
            if not _TOKEN_ID.fullmatch(key.strip()):
                raise ValueError(f"logit_bias keys must be token ids, got {key!r}")
        return value

    @model_validator(mode="after")
    def _choice_limits(self) -> CompletionRequest:
        best_of = self.best_of or self.n
        if best_of < self.n:
            raise ValueError("best_of must be greater than or equal to n")
        if self.stream and best_of > self.n:
            raise ValueError("best_of greater than n cannot be streamed")
        return self

    def token_limit(self) -> int:
        return self.max_tokens or DEFAULT_MAX_TOKENS

    def to_sampling_params(self, vocab_size: int) -> SamplingParams:
        # Token ids from other vocabularies (the Copilot plugin biases GPT-2's 50256) are
        # ignored.
        logit_bias = {
            int(key): value
            for key, value in (self.logit_bias or {}).items()
            if int(key) < vocab_size
        }
        return SamplingParams(
            temperature=DEFAULT_TEMPERATURE if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            top_k=self.top_k or 0,
            presence_penalty=self.presence_penalty or 0.0,
            frequency_penalty=self.frequency_penalty or 0.0,
            logit_bias=logit_bias,
            seed=engine_seed(self.seed),
        )

    def prompt_list(self) -> list[str] | list[list[int]]:
        if self.segments is not None:
            return [self.segments.prefix]
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        strings = [item for item in prompt if isinstance(item, str)]
        if len(strings) == len(prompt):
            return strings
        token_ids = [item for item in prompt if isinstance(item, int)]
        if len(token_ids) == len(prompt):
            return [token_ids]
        return [item for item in prompt if isinstance(item, list)]

    def language_hint(self) -> str | None:
        if self.language:
            return self.language
        language = self.extra.get("language") if isinstance(self.extra, dict) else None
        return language[:64] if isinstance(language, str) else None

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class Logprobs(BaseModel):
    tokens: list[str] = Field(default_factory=list)
    token_logprobs: list[float | None] = Field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = Field(default_factory=list)
    text_offset: list[int] = Field(default_factory=list)


class CompletionChoice(BaseModel):
    text: str
    index: int
    logprobs: Logprobs | None = None
    finish_reason: Literal["stop", "length"] | None = None


class UsageInfo(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: UsageInfo | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "fauxpilot"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
