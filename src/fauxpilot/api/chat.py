"""`POST /v1/chat/completions`: a chat formatted with the model's own chat template."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from fauxpilot.api.chat_protocol import ChatCompletionRequest
from fauxpilot.api.convert import engine_seed, usage_json
from fauxpilot.api.disconnect import answer_while_connected
from fauxpilot.api.errors import APIError
from fauxpilot.api.sse import with_done
from fauxpilot.api.state import AppState, app_state
from fauxpilot.completion.fim import PreparedPrompt
from fauxpilot.completion.types import ChoiceDelta, CompletionJob, CompletionResult, Usage
from fauxpilot.engine.base import ChatTemplateMissing, SamplingParams

router = APIRouter()


@router.post("/v1/chat/completions")
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:
    state = app_state(request)
    state.require_ready()
    chat_id = f"chatcmpl-{uuid.uuid4().hex}"
    job = state.scoped(_job(state, body, chat_id), request)
    prepared = await state.prepare(job)
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = _chunks(state, job, prepared, chat_id, created, include_usage)
        return StreamingResponse(with_done(chunks), media_type="text/event-stream")

    def respond(result: CompletionResult) -> Response:
        choices = [
            {
                "index": choice.index,
                "message": {"role": "assistant", "content": choice.text},
                "finish_reason": choice.finish_reason,
            }
            for choice in result.choices
        ]
        payload = _envelope(chat_id, "chat.completion", created, state.model_name, choices)
        payload["usage"] = usage_json(result.usage).model_dump()
        return JSONResponse(payload)

    return await answer_while_connected(request, state.service.complete(job, prepared), respond)


def _job(state: AppState, body: ChatCompletionRequest, chat_id: str) -> CompletionJob:
    messages = [(message.role, message.text()) for message in body.messages]
    try:
        prompt = state.engine.tokenizer.apply_chat_template(messages)
    except ChatTemplateMissing as error:
        raise APIError(400, f"{error}; use /v1/completions", param="messages") from error
    sampling = SamplingParams(
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        seed=engine_seed(body.seed),
    )
    return CompletionJob(
        request_id=chat_id,
        prompts=[prompt],
        max_tokens=body.token_limit(),
        sampling=sampling,
        stop=body.stop_list(),
        n=body.n,
        best_of=body.n,
    )


async def _chunks(
    state: AppState,
    job: CompletionJob,
    prepared: list[PreparedPrompt],
    chat_id: str,
    created: int,
    include_usage: bool,
) -> AsyncIterator[dict[str, Any]]:
    usage = Usage()
    started: set[int] = set()
    async for delta in state.service.stream(job, prepared, usage):
        yield _chunk(chat_id, created, state.model_name, delta, delta.index not in started)
        started.add(delta.index)
    if include_usage:
        payload = _envelope(chat_id, "chat.completion.chunk", created, state.model_name, [])
        payload["usage"] = usage_json(usage).model_dump()
        yield payload


def _chunk(
    chat_id: str, created: int, model: str, delta: ChoiceDelta, first: bool
) -> dict[str, Any]:
    content: dict[str, str] = {"role": "assistant"} if first else {}
    if delta.text or first:
        content["content"] = delta.text
    choice = {"index": delta.index, "delta": content, "finish_reason": delta.finish_reason}
    return _envelope(chat_id, "chat.completion.chunk", created, model, [choice])


def _envelope(
    chat_id: str, kind: str, created: int, model: str, choices: list[dict[str, Any]]
) -> dict[str, Any]:
    return {"id": chat_id, "object": kind, "created": created, "model": model, "choices": choices}
