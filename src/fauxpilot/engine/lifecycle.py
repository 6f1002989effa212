"""The part of an engine every backend shares: status, health, the not-ready guards, the
prompt check, and one request's events carried from the backend's worker to asyncio.

A backend (llama.cpp's scheduler thread, CTranslate2's batching thread, a child process)
subclasses `ManagedEngine` and supplies four things: starting (load the model, start the
worker), stopping, submitting one request to its worker, and cancelling it.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Generic, TypeVar

from fauxpilot.engine.base import (
    EngineError,
    EngineEvent,
    EngineNotReady,
    EngineStatus,
    FinishEvent,
    GenerationRequest,
    Health,
    ModelInfo,
    PromptEvent,
    TokenEvent,
    Tokenizer,
    prompt_problem,
)
from fauxpilot.engine.events import Emit, EventBridge

log = logging.getLogger(__name__)

Work = TypeVar("Work")  # what a backend keeps for one submitted request


@dataclass(frozen=True)
class Started:
    """What a backend's start gives the lifecycle: the model's facts and its tokenizer."""

    info: ModelInfo
    tokenizer: Tokenizer


@dataclass(frozen=True)
class Occupancy:
    """A snapshot of a backend's load, for health and metrics."""

    active: int
    waiting: int
    free_slots: int
    total_slots: int


class ManagedEngine(ABC, Generic[Work]):
    """An `Engine` whose backend supplies loading and a worker.

    Owns: the status (EngineStatus) and why it is not OK, the guards that refuse work
    until the model is ready, the prompt check, the requests in flight (so `abort` and a
    caller that stops reading both cancel them), and one log line per request.
    Never: loads a model itself, touches a KV cache, or blocks the event loop (only `start`
    and `close` block, and the app runs them in a worker thread).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._status = EngineStatus.LOADING
        self._detail = ""
        self._started: Started | None = None
        self._running: dict[str, Work] = {}
        self._restarts = 0  # a backend whose worker can be restarted counts them

    # --- what a backend supplies ---------------------------------------------------------

    @abstractmethod
    def _start_backend(self) -> Started:
        """Load the model, prove it decodes, start the worker (blocking); raise on failure."""

    @abstractmethod
    def _stop_backend(self) -> None:
        """Stop the worker (requests in flight get an error) and free the model."""

    @abstractmethod
    def _submit(self, request: GenerationRequest, emit: Emit) -> Work:
        """Hand a checked request to the worker, whose events go to `emit` from any thread.

        Raises EngineOverloaded when too many requests wait."""

    @abstractmethod
    def _cancel(self, work: Work) -> None:
        """Stop a request's work: its caller no longer reads its events."""

    @abstractmethod
    def _occupancy(self) -> Occupancy: ...

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Load the model (blocking); health() is ready afterwards, or failed with why."""
        try:
            self._started = self._start_backend()
        except Exception as error:
            self._set_status(EngineStatus.FAILED, str(error))
            raise
        self._set_status(EngineStatus.OK)

    def close(self) -> None:
        if self._started is not None:
            self._stop_backend()
        self._set_status(EngineStatus.STOPPED)

    def _set_status(self, status: EngineStatus, detail: str = "") -> None:
        self._status, self._detail = status, detail

    # --- the Engine interface ------------------------------------------------------------

    @property
    def model(self) -> ModelInfo:
        if self._started is None:
            raise EngineNotReady(f"model {self.name} is {self._status}")
        return self._started.info

    @property
    def tokenizer(self) -> Tokenizer:
        # A stopped backend has freed its vocabulary: never hand it out.
        if self._started is None or self._status is EngineStatus.STOPPED:
            raise EngineNotReady(f"model {self.name} is {self._status}")
        return self._started.tokenizer

    def health(self) -> Health:
        if self._status is not EngineStatus.OK:
            return Health(status=self._status, detail=self._detail, restarts=self._restarts)
        load = self._occupancy()
        return Health(
            status=EngineStatus.OK,
            detail=self._detail,
            active_requests=load.active,
            waiting_requests=load.waiting,
            free_slots=load.free_slots,
            total_slots=load.total_slots,
            restarts=self._restarts,
        )

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[EngineEvent, None]:
        """Stream events for one sequence; closing the iterator early cancels it."""
        if self._status is not EngineStatus.OK:
            raise EngineNotReady(f"model {self.name} is {self._status}")
        info = self.model
        problem = prompt_problem(request.prompt_tokens, info.vocab_size, info.context_length)
        if problem is not None:
            raise EngineError(f"{request.request_id}: {problem}")
        bridge = EventBridge()
        work = self._submit(request, bridge.emit)
        self._running[request.request_id] = work
        tally = _Tally(len(request.prompt_tokens))
        finished = False
        try:
            while True:
                event = await bridge.next()
                tally.count(event)
                finished = isinstance(event, FinishEvent)
                yield event
                if finished:
                    return
        except EngineError as error:
            tally.reason = f"failed: {error}"
            raise
        finally:
            self._running.pop(request.request_id, None)
            if not finished:
                self._cancel(work)
            tally.log(request.request_id)

    async def abort(self, request_id: str) -> None:
        work = self._running.get(request_id)
        if work is not None:
            self._cancel(work)


class _Tally:
    """What one request read and wrote, for its log line."""

    def __init__(self, prompt_tokens: int) -> None:
        self.started = time.perf_counter()
        self.prompt_tokens = prompt_tokens
        self.cached = 0
        self.generated = 0
        self.reason = "stopped by the caller"  # a stop string, a closed connection

    def count(self, event: EngineEvent) -> None:
        if isinstance(event, PromptEvent):
            self.cached = event.cached_tokens
        elif isinstance(event, TokenEvent) and not event.is_prompt:
            self.generated += 1
        elif isinstance(event, FinishEvent):
            self.reason = event.reason

    def log(self, request_id: str) -> None:
        log.info(
            "%s: %d prompt tokens (%d cached), %d generated, %s, %.0f ms",
            request_id,
            self.prompt_tokens,
            self.cached,
            self.generated,
            self.reason,
            (time.perf_counter() - self.started) * 1000,
        )
