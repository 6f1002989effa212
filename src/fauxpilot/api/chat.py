"""`POST /v1/chat/completions`: a chat formatted with the model's own chat template."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from fauxpilot.api.body import OffLoopBodyRoute
from fauxpilot.api.chat_protocol import ChatCompletionRequest
from fauxpilot.api.convert import new_id, usage_json
from fauxpilot.api.errors import APIError
from fauxpilot.api.serving import ReadyJob, answer_whole, prepare_job
from fauxpilot.api.sse import event_stream
from fauxpilot.api.state import AppState
from fauxpilot.completion.types import ChoiceDelta, CompletionJob, CompletionResult
from fauxpilot.engine.base import ChatTemplateMissing

router = APIRouter(route_class=OffLoopBodyRoute)


@router.post("/v1/chat/completions")
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:
    chat_id = new_id("chatcmpl")
    ready = await prepare_job(request, lambda state: _job(state, body, chat_id))
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return event_stream(_chunks(ready, chat_id, created, include_usage))

    def respond(result: CompletionResult) -> Response:
        choices = [
            {
                "index": choice.index,
                "message": {"role": "assistant", "content": choice.text},
                "finish_reason": choice.finish_reason,
            }
            for choice in result.choices
        ]
        payload = _envelope(chat_id, "chat.completion", created, ready.model_name, choices)
        payload["usage"] = usage_json(result.usage).model_dump()
        return JSONResponse(payload)

    return await answer_whole(request, ready.state.service.complete(ready.prepared), respond)


def _job(state: AppState, body: ChatCompletionRequest, chat_id: str) -> CompletionJob:
    messages = [(message.role, message.text()) for message in body.messages]
    try:
        prompt = state.engine.tokenizer.apply_chat_template(messages)
    except ChatTemplateMissing as error:
        raise APIError(400, f"{error}; use /v1/completions", param="messages") from error
    return CompletionJob(
        request_id=chat_id,
        prompts=[prompt],
        max_tokens=body.token_limit(),
        sampling=body.to_sampling_params(),
        stop=body.stop_list(),
        n=body.n,
        best_of=body.n,
        model=body.model,
    )


async def _chunks(
    ready: ReadyJob, chat_id: str, created: int, include_usage: bool
) -> AsyncIterator[dict[str, Any]]:
    started: set[int] = set()
    stream = ready.state.service.stream(ready.prepared)
    async for delta in stream:
        yield _chunk(chat_id, created, ready.model_name, delta, delta.index not in started)
        started.add(delta.index)
    if include_usage:
        payload = _envelope(chat_id, "chat.completion.chunk", created, ready.model_name, [])
        payload["usage"] = usage_json(stream.usage).model_dump()
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
