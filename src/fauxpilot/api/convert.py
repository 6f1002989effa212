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


def new_id(kind: str) -> str:
    """A response id as OpenAI forms them: "cmpl-…" for completions, "chatcmpl-…" for chats."""
    return f"{kind}-{uuid.uuid4().hex}"


def to_job(request: CompletionRequest, request_id: str, vocab_size: int) -> CompletionJob:
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
        max_tokens=request.token_limit(),
        sampling=request.to_sampling_params(vocab_size),
        stop=tuple(request.stop_list()),
        logprobs=request.logprobs,
        echo=request.echo,
        n=request.n,
        best_of=request.best_of or request.n,
        model=request.model,
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
