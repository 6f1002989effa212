"""OpenAI's completion routes: /v1/completions, /v1/engines/{engine}/completions, /v1/models."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from fauxpilot.api.body import OffLoopBodyRoute
from fauxpilot.api.convert import (
    completion_response,
    new_id,
    stream_chunk,
    to_job,
    usage_chunk,
)
from fauxpilot.api.protocol import CompletionRequest, CompletionResponse, ModelCard, ModelList
from fauxpilot.api.serving import ReadyJob, answer_whole, prepare_job
from fauxpilot.api.sse import event_stream
from fauxpilot.api.state import AppState, app_state
from fauxpilot.completion.types import CompletionResult

router = APIRouter(route_class=OffLoopBodyRoute)


@router.post("/v1/engines/{engine}/completions", response_model=CompletionResponse)
async def create_engine_completion(
    engine: str, body: CompletionRequest, request: Request
) -> Response:
    """The legacy route the Copilot plugins call; one model is served whatever `engine` says."""
    return await create_completion(body, request)


@router.post("/v1/completions", response_model=CompletionResponse)
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    completion_id = new_id("cmpl")
    ready = await prepare_job(
        request, lambda state: to_job(body, completion_id, state.engine.model.vocab_size)
    )
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return event_stream(_stream_chunks(ready, completion_id, include_usage))

    def respond(result: CompletionResult) -> Response:
        response = completion_response(completion_id, ready.model_name, result)
        return JSONResponse(response.model_dump())

    return await answer_whole(request, ready.state.service.complete(ready.prepared), respond)


async def _stream_chunks(
    ready: ReadyJob, completion_id: str, include_usage: bool
) -> AsyncIterator[dict[str, Any]]:
    created = int(time.time())
    stream = ready.state.service.stream(ready.prepared)
    async for delta in stream:
        yield stream_chunk(completion_id, ready.model_name, created, delta)
    if include_usage:
        yield usage_chunk(completion_id, ready.model_name, created, stream.usage)


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    state = app_state(request)
    names = [state.model_name, *_aliases(state)]
    return ModelList(data=[ModelCard(id=name, created=0) for name in names])


def _aliases(state: AppState) -> tuple[str, ...]:
    """The LoRA adapters a gateway serves besides its model, once the engine is ready."""
    return state.engine.model.aliases if state.engine.health().ready else ()


@router.get("/v1/models/{model_id:path}", response_model=ModelCard)
async def get_model(model_id: str, request: Request) -> ModelCard:
    state = app_state(request)
    return ModelCard(id=state.model_name, created=0)
