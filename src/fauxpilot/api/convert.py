"""Mapping between the OpenAI protocol models and the completion domain."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fauxpilot.api.protocol import (
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    Logprobs,
    UsageInfo,
)
from fauxpilot.completion.types import (
    ChoiceDelta,
    CompletionJob,
    CompletionResult,
    ContextFile,
    LogprobEntry,
    Usage,
)
from fauxpilot.engine.base import SamplingParams

_SEED_MASK = 2**64 - 1


def engine_seed(seed: int | None) -> int | None:
    """A client's seed (any 64-bit integer, signed or not) as the engine takes it."""
    return None if seed is None else seed & _SEED_MASK


def new_completion_id() -> str:
    return f"cmpl-{uuid.uuid4().hex}"


def to_job(request: CompletionRequest, request_id: str, vocab_size: int) -> CompletionJob:
    # Token ids from other vocabularies (the Copilot plugin biases GPT-2's 50256) are ignored.
    logit_bias = {
        int(key): value
        for key, value in (request.logit_bias or {}).items()
        if int(key) < vocab_size
    }
    sampling = SamplingParams(
        temperature=0.6 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        top_k=request.top_k or 0,
        presence_penalty=request.presence_penalty or 0.0,
        frequency_penalty=request.frequency_penalty or 0.0,
        logit_bias=logit_bias,
        seed=engine_seed(request.seed),
    )
    segments = request.segments
    context = tuple(
        ContextFile(snippet.filepath, snippet.body)
        for snippet in (segments.context_snippets() if segments else [])
        if snippet.body
    )
    return CompletionJob(
        request_id=request_id,
        prompts=request.prompt_list(),
        suffix=segments.suffix if segments is not None else request.suffix,
        context_files=context,
        language=request.language_hint(),
        path=segments.filepath if segments is not None else None,
        max_tokens=request.max_tokens or 16,
        sampling=sampling,
        stop=tuple(request.stop_list()),
        logprobs=request.logprobs,
        echo=request.echo,
        n=request.n,
        best_of=request.best_of or request.n,
    )


def logprobs_json(entries: list[LogprobEntry] | None) -> Logprobs | None:
    if entries is None:
        return None
    return Logprobs(
        tokens=[entry.text for entry in entries],
        token_logprobs=[entry.logprob for entry in entries],
        top_logprobs=[entry.top if entry.logprob is not None else None for entry in entries],
        text_offset=[entry.offset for entry in entries],
    )


def usage_json(usage: Usage) -> UsageInfo:
    return UsageInfo(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def completion_response(
    completion_id: str, model: str, result: CompletionResult
) -> CompletionResponse:
    return CompletionResponse(
        id=completion_id,
        created=int(time.time()),
        model=model,
        choices=[
            CompletionChoice(
                text=choice.text,
                index=choice.index,
                logprobs=logprobs_json(choice.logprobs),
                finish_reason=choice.finish_reason,
            )
            for choice in result.choices
        ],
        usage=usage_json(result.usage),
    )


def stream_chunk(
    completion_id: str, model: str, created: int, delta: ChoiceDelta
) -> dict[str, Any]:
    choice = CompletionChoice(
        text=delta.text,
        index=delta.index,
        logprobs=logprobs_json(delta.logprobs),
        finish_reason=delta.finish_reason,
    )
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [choice.model_dump()],
    }


def usage_chunk(completion_id: str, model: str, created: int, usage: Usage) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_json(usage).model_dump(),
    }
