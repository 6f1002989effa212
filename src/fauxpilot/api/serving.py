"""The one path every generation route takes (OpenAI's, llama.cpp's, chat).

1. the model must be ready; 2. the route turns its body into a CompletionJob; 3. the job
gets the caller's cache scope and holds a unit of the admission bounds per sequence it runs;
4. its prompts are prepared in a worker thread, so a client
mistake is a 4xx before any status line; 5. the route streams the answer
(sse.event_stream) or answers it whole while the client still waits (`answer_whole`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response

from fauxpilot.api.admission import admitted_of
from fauxpilot.api.disconnect import CLIENT_CLOSED, ClientDisconnected, until_disconnected
from fauxpilot.api.state import AppState, app_state
from fauxpilot.completion.service import PreparedJob
from fauxpilot.completion.types import CompletionJob

T = TypeVar("T")


@dataclass(frozen=True)
class ReadyJob:
    """A request's job, prepared, and the app state that will run it."""

    state: AppState
    prepared: PreparedJob

    @property
    def model_name(self) -> str:
        return self.state.model_name


async def prepare_job(request: Request, make_job: Callable[[AppState], CompletionJob]) -> ReadyJob:
    """Steps 1 to 4: raises EngineNotReady, or the job's 4xx error (InvalidRequestError...)."""
    state = app_state(request)
    state.require_ready()
    job = state.scoped(make_job(state), request)
    admitted = admitted_of(request.scope)
    if admitted is not None:
        admitted.count_sequences(sequences_of(job))
    return ReadyJob(state, await state.prepare(job, request))


def sequences_of(job: CompletionJob) -> int:
    """How many sequences the engine runs for the job the client asked for."""
    return len(job.prompts) * max(job.n, job.best_of)


async def answer_whole(
    request: Request, work: Awaitable[T], respond: Callable[[T], Response]
) -> Response:
    """`respond(result of work)`; the work is cancelled (freeing its KV slots) and 499 is
    logged if the client goes away first, as editors do on every keystroke."""
    try:
        result = await until_disconnected(request, work)
    except ClientDisconnected:
        return Response(status_code=CLIENT_CLOSED)
    return respond(result)
