"""The CTranslate2 engine: Hugging Face checkpoints (CodeGen, GPT-J, Llama, Qwen2, StarCoder).

CTranslate2 decodes a batch of prompts together; it has no way to add a sequence to a batch
that is already running. Requests that arrive while a batch runs wait for the next one, which
takes every waiting request with the same sampling settings (up to `slots`); a request that
asks for log-probabilities gets a batch of its own. ct2_decode.py runs one batch.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fauxpilot.engine.base import (
    EngineError,
    EngineEvent,
    EngineNotReady,
    EngineOverloaded,
    FinishEvent,
    GenerationRequest,
    Health,
    ModelInfo,
    Tokenizer,
)
from fauxpilot.engine.ct2_decode import BatchDecoder, Ct2Job
from fauxpilot.engine.events import EventBridge
from fauxpilot.engine.hf_tokenizer import HfTokenizer
from fauxpilot.models.catalog import PromptFamily, detect_family

log = logging.getLogger(__name__)

# Request parameters CTranslate2's decoding has no equivalent for.
UNSUPPORTED_SAMPLING = frozenset({"logit_bias", "presence_penalty", "frequency_penalty"})


@dataclass(frozen=True)
class Ct2Options:
    threads: int
    slots: int  # most sequences decoded in one batch
    context_length: int
    device: str = "cpu"  # "cpu" or "cuda"
    compute_type: str = "default"  # "default": int8 on CPU, float16 on GPU
    gpus: int = 0  # CUDA: one model replica per GPU; batches go to whichever is free

    def resolved_compute_type(self) -> str:
        if self.compute_type != "default":
            return self.compute_type
        return "int8" if self.device == "cpu" else "float16"


class CTranslate2Engine:
    def __init__(
        self,
        name: str,
        model_dir: Path | Callable[[], Path],
        family: PromptFamily | None,
        options: Ct2Options,
        max_waiting: int = 64,
    ) -> None:
        self._name = name
        # A callable converts the checkpoint on first use (slow: it runs in start()).
        self._find_model_dir = model_dir if callable(model_dir) else lambda: model_dir
        self._model_dir = Path()
        self._family = family
        self._options = options
        self._max_waiting = max_waiting
        self._generator: Any = None
        self._decoder: BatchDecoder | None = None
        self._tokenizer: HfTokenizer | None = None
        self._vocabulary: list[str] = []
        self._info: ModelInfo | None = None
        self._status = "loading"
        self._detail = ""
        self._inbox: deque[Ct2Job] = deque()
        self._running: list[Ct2Job] = []
        self._wakeup = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._model_dir = self._find_model_dir()
            log.info("loading %s with CTranslate2 from %s", self._name, self._model_dir)
            self._load()
        except Exception as error:
            self._status, self._detail = "failed", str(error)
            raise
        self._thread = threading.Thread(target=self._run, name="fauxpilot-ct2", daemon=True)
        self._thread.start()
        self._status = "ok"
        log.info(
            "model ready: %s on %s (%s), batches of up to %d, %d threads",
            self._name,
            self._options.device,
            self._options.resolved_compute_type(),
            self._options.slots,
            self._options.threads,
        )

    def _load(self) -> None:
        try:
            import ctranslate2
        except ImportError as error:
            raise EngineError(
                "the CTranslate2 engine needs: pip install 'fauxpilot[hf]'"
            ) from error
        options = self._options
        device_index = list(range(options.gpus)) if options.device == "cuda" and options.gpus else 0
        self._generator = ctranslate2.Generator(
            str(self._model_dir),
            device=options.device,
            device_index=device_index,
            compute_type=options.resolved_compute_type(),
            intra_threads=options.threads,
        )
        self._vocabulary = _read_vocabulary(self._model_dir)
        tokenizer = HfTokenizer(self._model_dir / "hf_tokenizer")
        self._tokenizer = tokenizer
        family = self._family or detect_family(tokenizer.special_token_id)
        self._info = ModelInfo(
            name=self._name,
            path=str(self._model_dir),
            context_length=min(options.context_length, _trained_context(self._model_dir)),
            vocab_size=len(self._vocabulary),
            family=family,
            unsupported_sampling=UNSUPPORTED_SAMPLING,
        )
        self._decoder = BatchDecoder(
            self._generator,
            self._vocabulary,
            tokenizer,
            self._info.context_length,
            options.device,
        )

    def close(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join()
        self._generator = None
        self._status = "stopped"

    # --- the Engine interface ------------------------------------------------------------

    @property
    def model(self) -> ModelInfo:
        if self._info is None:
            raise EngineNotReady(f"model {self._name} is {self._status}")
        return self._info

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            raise EngineNotReady(f"model {self._name} is {self._status}")
        return self._tokenizer

    def health(self) -> Health:
        if self._status != "ok":
            return Health(ready=False, status=self._status, detail=self._detail)
        with self._wakeup:
            active, waiting = len(self._running), len(self._inbox)
        return Health(
            ready=True,
            status="ok",
            active_requests=active,
            waiting_requests=waiting,
            free_slots=max(0, self._options.slots - active),
            total_slots=self._options.slots,
        )

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[EngineEvent, None]:
        if self._status != "ok":
            raise EngineNotReady(f"model {self._name} is {self._status}")
        self._check_request(request)
        bridge = EventBridge()
        job = Ct2Job(request, bridge.emit)
        self._submit(job)
        finished = False
        try:
            while True:
                event = await bridge.next()
                finished = isinstance(event, FinishEvent)
                yield event
                if finished:
                    return
        finally:
            if not finished:
                job.cancelled = True

    async def abort(self, request_id: str) -> None:
        with self._wakeup:
            for job in [*self._inbox, *self._running]:
                if job.request.request_id == request_id:
                    job.cancelled = True

    def _check_request(self, request: GenerationRequest) -> None:
        size = self.model.vocab_size
        if not request.prompt_tokens:
            raise EngineError(f"{request.request_id}: the prompt has no tokens")
        if any(not 0 <= token < size for token in request.prompt_tokens):
            raise EngineError(f"{request.request_id}: prompt token id outside the vocabulary")
        if len(request.prompt_tokens) >= self.model.context_length:
            raise EngineError(
                f"prompt of {len(request.prompt_tokens)} tokens does not fit the context of "
                f"{self.model.context_length}"
            )

    def _submit(self, job: Ct2Job) -> None:
        with self._wakeup:
            if len(self._inbox) >= self._max_waiting:
                raise EngineOverloaded(
                    f"{len(self._inbox)} requests are already waiting; try again shortly"
                )
            self._inbox.append(job)
            self._wakeup.notify()

    # --- the batching thread -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                break
            try:
                assert self._decoder is not None  # set by start() before the thread runs
                self._decoder.decode(batch)
            except Exception as error:
                log.exception("CTranslate2 batch failed")
                for job in batch:
                    if not job.finished:
                        job.deliver(EngineError(str(error)))
            finally:
                with self._wakeup:
                    self._running = []
        with self._wakeup:
            waiting, self._inbox = list(self._inbox), deque()
        for job in waiting:
            job.deliver(EngineError("the engine is shutting down"))

    def _next_batch(self) -> list[Ct2Job] | None:
        """The oldest waiting job and those waiting with the same settings, or None to stop."""
        with self._wakeup:
            while True:
                while self._inbox and self._inbox[0].cancelled:
                    self._inbox.popleft()
                if self._stopping:
                    return None
                if self._inbox:
                    break
                self._wakeup.wait()
            first = self._inbox.popleft()
            batch = [first]
            limit = 1 if first.scored else self._options.slots
            for job in list(self._inbox):
                if len(batch) >= limit:
                    break
                if not job.cancelled and job.batch_key() == first.batch_key():
                    self._inbox.remove(job)
                    batch.append(job)
            self._running = batch
            return batch


def _read_vocabulary(model_dir: Path) -> list[str]:
    json_path = model_dir / "vocabulary.json"
    if json_path.is_file():
        return [str(token) for token in json.loads(json_path.read_text(encoding="utf-8"))]
    text_path = model_dir / "vocabulary.txt"
    if text_path.is_file():
        return text_path.read_text(encoding="utf-8").split("\n")[:-1]
    raise EngineError(f"{model_dir} has no vocabulary.json: not a CTranslate2 model folder")


def _trained_context(model_dir: Path) -> int:
    """The checkpoint's position limit, from the config kept beside the tokenizer."""
    config_path = model_dir / "hf_tokenizer" / "config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text())
        for key in ("max_position_embeddings", "n_positions", "n_ctx"):
            if isinstance(config.get(key), int):
                return int(config[key])
    return 1 << 20
