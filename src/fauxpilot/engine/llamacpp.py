"""The embedded llama.cpp engine: a model, a scheduler thread, and asyncio at the boundary."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path

from fauxpilot.engine.base import (
    EngineError,
    EngineEvent,
    EngineNotReady,
    FinishEvent,
    GenerationRequest,
    Health,
    ModelInfo,
    Tokenizer,
)
from fauxpilot.engine.events import EventBridge
from fauxpilot.engine.llamacpp_model import LlamaModel, LoadOptions
from fauxpilot.engine.scheduler import Scheduler, Sequence
from fauxpilot.models.catalog import PromptFamily, detect_family

log = logging.getLogger(__name__)


class LlamaCppEngine:
    def __init__(
        self,
        name: str,
        path: Path,
        family: PromptFamily | None,
        options: LoadOptions,
        max_waiting: int = 64,
    ) -> None:
        self._name = name
        self._path = path
        self._family = family
        self._options = options
        self._max_waiting = max_waiting
        self._llama: LlamaModel | None = None
        self._scheduler: Scheduler | None = None
        self._thread: threading.Thread | None = None
        self._info: ModelInfo | None = None
        self._status = "loading"
        self._detail = ""
        self._running: dict[str, Sequence] = {}

    def start(self) -> None:
        log.info("loading %s from %s", self._name, self._path)
        try:
            llama = LlamaModel(self._path, self._options)
        except Exception as error:
            self._status, self._detail = "failed", str(error)
            raise
        try:
            llama.warm_up()  # /health says ok only once a token has been computed
        except Exception as error:
            llama.close()
            self._status, self._detail = "failed", f"the first test decode failed: {error}"
            raise
        self._llama = llama
        family = self._family or detect_family(llama.vocab.special_token_id)
        context = min(self._options.context_per_slot, llama.trained_context)
        self._info = ModelInfo(
            name=self._name,
            path=str(self._path),
            context_length=context,
            vocab_size=llama.n_vocab,
            family=family,
        )
        llama.context_per_slot = context
        self._scheduler = Scheduler(
            llama,
            self._options.slots,
            self._max_waiting,
            self._options.prefill_while_decoding,
            self._options.draft_tokens,
        )
        self._thread = threading.Thread(
            target=self._scheduler.run, name="fauxpilot-engine", daemon=True
        )
        self._thread.start()
        self._status = "ok"
        log.info(
            "model ready: %s, %d slots of %d tokens, %d threads",
            self._name,
            self._options.slots,
            context,
            self._options.threads,
        )

    def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._thread is not None:
            self._thread.join()
        if self._llama is not None:
            self._llama.close()
            self._llama = None
        self._status = "stopped"

    @property
    def model(self) -> ModelInfo:
        if self._info is None:
            raise EngineNotReady(f"model {self._name} is {self._status}")
        return self._info

    @property
    def tokenizer(self) -> Tokenizer:
        if self._llama is None:
            raise EngineNotReady(f"model {self._name} is {self._status}")
        return self._llama.vocab

    def health(self) -> Health:
        if self._scheduler is None or self._status != "ok":
            return Health(ready=False, status=self._status, detail=self._detail)
        active, waiting, free = self._scheduler.counts()
        return Health(
            ready=True,
            status="ok",
            active_requests=active,
            waiting_requests=waiting,
            free_slots=free,
            total_slots=self._options.slots,
        )

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[EngineEvent, None]:
        scheduler = self._scheduler
        if scheduler is None:
            raise EngineNotReady(f"model {self._name} is {self._status}")
        # llama.cpp aborts the whole process on an unknown token id; never let one through.
        vocab_size = self.model.vocab_size
        if any(not 0 <= token < vocab_size for token in request.prompt_tokens):
            raise EngineError(f"{request.request_id}: prompt token id outside the vocabulary")
        bridge = EventBridge()
        sequence = Sequence(request, bridge.emit)
        started = time.perf_counter()
        scheduler.submit(sequence)
        self._running[request.request_id] = sequence
        finished = False
        try:
            while True:
                event = await bridge.next()
                if isinstance(event, FinishEvent):
                    finished = True
                    _log_finished(request.request_id, event, time.perf_counter() - started)
                yield event
                if finished:
                    return
        finally:
            self._running.pop(request.request_id, None)
            if not finished:
                scheduler.cancel(sequence)
                _log_stopped(request.request_id, sequence, time.perf_counter() - started)

    async def abort(self, request_id: str) -> None:
        sequence = self._running.get(request_id)
        if sequence is not None and self._scheduler is not None:
            self._scheduler.cancel(sequence)


def _log_finished(request_id: str, event: FinishEvent, seconds: float) -> None:
    counts = (event.prompt_tokens, event.cached_tokens, event.completion_tokens)
    _log_request(request_id, counts, event.reason, seconds)


def _log_stopped(request_id: str, sequence: Sequence, seconds: float) -> None:
    """A request its caller stopped reading (a stop string, a closed connection)."""
    counts = (len(sequence.request.prompt_tokens), sequence.cached, sequence.generated)
    _log_request(request_id, counts, "stopped by the caller", seconds)


def _log_request(
    request_id: str, counts: tuple[int, int, int], outcome: str, seconds: float
) -> None:
    prompt, cached, generated = counts
    log.info(
        "%s: %d prompt tokens (%d cached), %d generated, %s, %.0f ms",
        request_id,
        prompt,
        cached,
        generated,
        outcome,
        seconds * 1000,
    )
