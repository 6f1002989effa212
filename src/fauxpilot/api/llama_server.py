"""llama.cpp's server API: `POST /infill` and `POST /completion`, answered in its shape
(`content`, `tokens_cached`, `timings`, `truncated`, ...)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from fauxpilot.api.body import OffLoopBodyRoute
from fauxpilot.api.convert import new_id
from fauxpilot.api.llama_server_protocol import InfillRequest, LlamaCppRequest
from fauxpilot.api.serving import ReadyJob, answer_whole, prepare_job
from fauxpilot.api.sse import event_stream
from fauxpilot.api.state import AppState
from fauxpilot.completion.types import CompletionJob, ContextFile, Usage

router = APIRouter(route_class=OffLoopBodyRoute)


@dataclass
class _Progress:
    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None
    finished: float | None = None
    reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    deadline_hit: bool = False


@router.post("/infill")
async def infill(body: InfillRequest, request: Request) -> Response:
    """llama.vim / llama.vscode: prefix, suffix, the typed part of the line, other files."""
    extra = tuple(ContextFile(c.filename, c.text) for c in body.input_extra if c.text)

    def make_job(state: AppState) -> CompletionJob:
        job = _job(state, body, body.input_prefix, body.input_suffix, extra)
        return dataclasses.replace(job, middle=body.prompt)

    return await _answer(await prepare_job(request, make_job), body, request)


@router.post("/completion")
async def completion(body: LlamaCppRequest, request: Request) -> Response:
    ready = await prepare_job(request, lambda state: _job(state, body, body.prompt, None, ()))
    return await _answer(ready, body, request)


def _job(
    state: AppState,
    body: LlamaCppRequest,
    prompt: str,
    suffix: str | None,
    extra: tuple[ContextFile, ...],
) -> CompletionJob:
    # n_predict -1, "until done": as much as the context leaves after the prompt.
    max_tokens = body.n_predict if body.n_predict >= 0 else state.engine.model.context_length // 2
    return CompletionJob(
        request_id=new_id("cmpl"),
        prompts=[prompt],
        suffix=suffix,
        max_tokens=max_tokens,
        sampling=body.to_sampling_params(),
        stop=body.stops(),
        context_files=extra,
    )


async def _answer(ready: ReadyJob, body: LlamaCppRequest, request: Request) -> Response:
    progress = _Progress()
    texts = _texts(ready, progress, body.t_max_predict_ms)
    if body.stream:
        return event_stream(_events(texts, ready, progress, body), done_marker=False)

    async def content() -> str:
        return "".join([text async for text in texts])

    def respond(text: str) -> Response:
        return JSONResponse(_final(text, ready, progress, body))

    return await answer_whole(request, content(), respond)


async def _texts(ready: ReadyJob, progress: _Progress, max_predict_ms: int) -> AsyncIterator[str]:
    deadline: float | None = None
    stream = ready.state.service.stream(ready.prepared)
    progress.usage = stream.usage
    async for delta in stream:
        if progress.first_token is None:
            progress.first_token = time.perf_counter()
            if max_predict_ms:  # llama.cpp's limit covers generating, not reading the prompt
                deadline = progress.first_token + max_predict_ms / 1000
        if delta.finish_reason is not None:
            progress.reason = delta.finish_reason
        yield delta.text
        if deadline is not None and time.perf_counter() > deadline and progress.reason is None:
            progress.deadline_hit = True
            break
    progress.finished = time.perf_counter()


async def _events(
    texts: AsyncIterator[str], ready: ReadyJob, progress: _Progress, body: LlamaCppRequest
) -> AsyncIterator[dict[str, Any]]:
    async for text in texts:
        if text:
            yield {"content": text, "stop": False}
    yield _final("", ready, progress, body)


def _final(
    content: str, ready: ReadyJob, progress: _Progress, body: LlamaCppRequest
) -> dict[str, Any]:
    usage = progress.usage
    finished = progress.finished or time.perf_counter()
    first = progress.first_token or finished
    prompt_ms = (first - progress.started) * 1000
    predicted_ms = (finished - first) * 1000
    evaluated = usage.prompt_tokens - usage.cached_tokens
    stop_type = "limit" if progress.reason == "length" or progress.deadline_hit else "eos"
    return {
        "content": content,
        "stop": True,
        "model": ready.model_name,
        "tokens_predicted": usage.completion_tokens,
        "tokens_evaluated": usage.prompt_tokens,
        "tokens_cached": usage.cached_tokens,
        "truncated": ready.prepared.trimmed,
        "stop_type": stop_type,
        "generation_settings": {"n_predict": body.n_predict, "temperature": body.temperature},
        "timings": {
            "prompt_n": evaluated,
            "prompt_ms": prompt_ms,
            "prompt_per_second": evaluated / prompt_ms * 1000 if prompt_ms > 0 else 0.0,
            "predicted_n": usage.completion_tokens,
            "predicted_ms": predicted_ms,
            "predicted_per_second": (
                usage.completion_tokens / predicted_ms * 1000 if predicted_ms > 0 else 0.0
            ),
        },
    }
