"""OpenAI's completion routes: /v1/completions, /v1/engines/{engine}/completions, /v1/models."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from fauxpilot.api.convert import (
    completion_response,
    new_completion_id,
    stream_chunk,
    to_job,
    usage_chunk,
)
from fauxpilot.api.disconnect import answer_while_connected
from fauxpilot.api.protocol import CompletionRequest, CompletionResponse, ModelCard, ModelList
from fauxpilot.api.sse import with_done
from fauxpilot.api.state import AppState, app_state
from fauxpilot.completion.fim import PreparedPrompt
from fauxpilot.completion.types import CompletionJob, CompletionResult, Usage

router = APIRouter()


@router.post("/v1/engines/{engine}/completions", response_model=CompletionResponse)
async def create_engine_completion(
    engine: str, body: CompletionRequest, request: Request
) -> Response:
    """The legacy route the Copilot plugins call; one model is served whatever `engine` says."""
    return await create_completion(body, request)


@router.post("/v1/completions", response_model=CompletionResponse)
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    state = app_state(request)
    state.require_ready()
    completion_id = new_completion_id()
    job = state.scoped(to_job(body, completion_id, state.engine.model.vocab_size), request)
    prepared = await state.prepare(job)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = _stream_chunks(state, job, prepared, completion_id, include_usage)
        return StreamingResponse(with_done(chunks), media_type="text/event-stream")

    def respond(result: CompletionResult) -> Response:
        response = completion_response(completion_id, state.model_name, result)
        return JSONResponse(response.model_dump())

    return await answer_while_connected(request, state.service.complete(job, prepared), respond)


async def _stream_chunks(
    state: AppState,
    job: CompletionJob,
    prepared: list[PreparedPrompt],
    completion_id: str,
    include_usage: bool,
) -> AsyncIterator[dict[str, Any]]:
    created = int(time.time())
    usage = Usage()
    async for delta in state.service.stream(job, prepared, usage):
        yield stream_chunk(completion_id, state.model_name, created, delta)
    if include_usage:
        yield usage_chunk(completion_id, state.model_name, created, usage)


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    state = app_state(request)
    return ModelList(data=[ModelCard(id=state.model_name, created=0)])


@router.get("/v1/models/{model_id:path}", response_model=ModelCard)
async def get_model(model_id: str, request: Request) -> ModelCard:
    state = app_state(request)
    return ModelCard(id=state.model_name, created=0)
