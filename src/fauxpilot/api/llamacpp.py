"""llama.cpp's server API: `POST /infill` and `POST /completion`, answered in its shape
(`content`, `tokens_cached`, `timings`, `truncated`, ...)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from fauxpilot.api.convert import engine_seed, new_completion_id
from fauxpilot.api.disconnect import answer_while_connected
from fauxpilot.api.errors import api_error_for
from fauxpilot.api.llamacpp_protocol import InfillRequest, LlamaCppRequest
from fauxpilot.api.sse import event
from fauxpilot.api.state import AppState, app_state
from fauxpilot.completion.fim import PreparedPrompt
from fauxpilot.completion.types import CompletionJob, ContextFile, Usage
from fauxpilot.engine.base import SamplingParams

router = APIRouter()


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
    job = dataclasses.replace(
        _job(body, body.input_prefix, body.input_suffix, extra), middle=body.prompt
    )
    return await _answer(app_state(request), job, body, request)


@router.post("/completion")
async def completion(body: LlamaCppRequest, request: Request) -> Response:
    return await _answer(app_state(request), _job(body, body.prompt, None, ()), body, request)


def _job(
    body: LlamaCppRequest, prompt: str, suffix: str | None, extra: tuple[ContextFile, ...]
) -> CompletionJob:
    sampling = SamplingParams(
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        seed=engine_seed(body.seed),
    )
    return CompletionJob(
        request_id=new_completion_id(),
        prompts=[prompt],
        suffix=suffix,
        max_tokens=body.n_predict,
        sampling=sampling,
        stop=body.stops(),
        context_files=extra,
    )


async def _answer(
    state: AppState, job: CompletionJob, body: LlamaCppRequest, request: Request
) -> Response:
    state.require_ready()
    job = state.scoped(job, request)
    if job.max_tokens < 0:  # "until done": as much as the context leaves after the prompt
        job = dataclasses.replace(job, max_tokens=state.engine.model.context_length // 2)
    prepared = await state.prepare(job)
    progress = _Progress()
    texts = _texts(state, job, prepared, progress, body.t_max_predict_ms)
    if body.stream:
        events = _events(texts, state, prepared, progress, body)
        return StreamingResponse(events, media_type="text/event-stream")

    async def content() -> str:
        return "".join([text async for text in texts])

    def respond(text: str) -> Response:
        return JSONResponse(_final(text, state, prepared, progress, body))

    return await answer_while_connected(request, content(), respond)


async def _texts(
    state: AppState,
    job: CompletionJob,
    prepared: list[PreparedPrompt],
    progress: _Progress,
    max_predict_ms: int,
) -> AsyncIterator[str]:
    deadline: float | None = None
    async for delta in state.service.stream(job, prepared, progress.usage):
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
    texts: AsyncIterator[str],
    state: AppState,
    prepared: list[PreparedPrompt],
    progress: _Progress,
    body: LlamaCppRequest,
) -> AsyncIterator[bytes]:
    try:
        async for text in texts:
            if text:
                yield event({"content": text, "stop": False})
    except Exception as error:  # the status line is sent already: report in-band
        yield event(api_error_for(error).body())
        return
    yield event(_final("", state, prepared, progress, body))


def _final(
    content: str,
    state: AppState,
    prepared: list[PreparedPrompt],
    progress: _Progress,
    body: LlamaCppRequest,
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
        "model": state.model_name,
        "tokens_predicted": usage.completion_tokens,
        "tokens_evaluated": usage.prompt_tokens,
        "tokens_cached": usage.cached_tokens,
        "truncated": any(prompt.trimmed for prompt in prepared),
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
