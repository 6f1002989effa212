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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fauxpilot.engine.base import EngineError, EngineOverloaded, GenerationRequest, ModelInfo
from fauxpilot.engine.ct2_decode import BatchDecoder, Ct2Job
from fauxpilot.engine.events import Emit
from fauxpilot.engine.hf_tokenizer import HfTokenizer
from fauxpilot.engine.lifecycle import ManagedEngine, Occupancy, Started
from fauxpilot.models.catalog import PromptFamily, detect_family

log = logging.getLogger(__name__)

# Request parameters CTranslate2's decoding has no equivalent for.
UNSUPPORTED_SAMPLING = frozenset({"logit_bias", "presence_penalty", "frequency_penalty"})


@dataclass(frozen=True)
class Ct2Options:
    threads: int
    slots: int  # most sequences decoded in one batch
    context_length: int
    device: str  # "cpu" or "cuda"
    compute_type: str  # "default": int8 on CPU, float16 on GPU
    gpus: int  # CUDA: one model replica per GPU; batches go to whichever is free

    def resolved_compute_type(self) -> str:
        if self.compute_type != "default":
            return self.compute_type
        return "int8" if self.device == "cpu" else "float16"


class CTranslate2Engine(ManagedEngine[Ct2Job]):
    """A Hugging Face checkpoint run by CTranslate2, converted on first use.

    Owns the generator (one replica per GPU on CUDA) and its batching thread, the only
    thread that decodes. Never lets a sampling parameter it cannot honour pass silently:
    the model info lists them, and the completion service refuses them with a 400.
    """

    def __init__(
        self,
        name: str,
        model_dir: Path | Callable[[], Path],
        family: PromptFamily | None,
        options: Ct2Options,
        max_waiting: int,
    ) -> None:
        super().__init__(name)
        # A callable converts the checkpoint on first use (slow: it runs in start()).
        self._find_model_dir = model_dir if callable(model_dir) else lambda: model_dir
        self._family = family
        self._options = options
        self._batches = _BatchQueue(options.slots, max_waiting)
        self._generator: Any = None
        self._thread: threading.Thread | None = None

    def _start_backend(self) -> Started:
        model_dir = self._find_model_dir()
        log.info("loading %s with CTranslate2 from %s", self.name, model_dir)
        started, decoder = self._load(model_dir)
        self._thread = threading.Thread(
            target=self._batches.run, args=(decoder,), name="fauxpilot-ct2", daemon=True
        )
        self._thread.start()
        log.info(
            "model ready: %s on %s (%s), batches of up to %d, %d threads",
            self.name,
            self._options.device,
            self._options.resolved_compute_type(),
            self._options.slots,
            self._options.threads,
        )
        return started

    def _load(self, model_dir: Path) -> tuple[Started, BatchDecoder]:
        try:
            import ctranslate2
        except ImportError as error:
            raise EngineError(
                "the CTranslate2 engine needs: pip install 'fauxpilot[hf]'"
            ) from error
        options = self._options
        device_index = list(range(options.gpus)) if options.device == "cuda" and options.gpus else 0
        self._generator = ctranslate2.Generator(
            str(model_dir),
            device=options.device,
            device_index=device_index,
            compute_type=options.resolved_compute_type(),
            intra_threads=options.threads,
        )
        vocabulary = _read_vocabulary(model_dir)
        tokenizer = HfTokenizer(model_dir / "hf_tokenizer")
        info = ModelInfo(
            name=self.name,
            path=str(model_dir),
            context_length=min(options.context_length, _trained_context(model_dir)),
            vocab_size=len(vocabulary),
            family=self._family or detect_family(tokenizer.special_token_id),
            unsupported_sampling=UNSUPPORTED_SAMPLING,
        )
        decoder = BatchDecoder(
            self._generator, vocabulary, tokenizer, info.context_length, options.device
        )
        return Started(info, tokenizer), decoder

    def _stop_backend(self) -> None:
        self._batches.stop()
        if self._thread is not None:
            self._thread.join()
        self._generator = None

    def _submit(self, request: GenerationRequest, emit: Emit) -> Ct2Job:
        job = Ct2Job(request, emit)
        self._batches.submit(job)
        return job

    def _cancel(self, work: Ct2Job) -> None:
        work.cancelled = True

    def _occupancy(self) -> Occupancy:
        active, waiting = self._batches.counts()
        slots = self._options.slots
        return Occupancy(active, waiting, max(0, slots - active), slots)


class _BatchQueue:
    """Waiting jobs, and the thread loop that decodes them a batch at a time."""

    def __init__(self, slots: int, max_waiting: int) -> None:
        self._slots = slots
        self._max_waiting = max_waiting
        self._inbox: deque[Ct2Job] = deque()
        self._running: list[Ct2Job] = []
        self._wakeup = threading.Condition()
        self._stopping = False

    def submit(self, job: Ct2Job) -> None:
        with self._wakeup:
            if len(self._inbox) >= self._max_waiting:
                raise EngineOverloaded(
                    f"{len(self._inbox)} requests are already waiting; try again shortly"
                )
            self._inbox.append(job)
            self._wakeup.notify()

    def stop(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()

    def counts(self) -> tuple[int, int]:
        """(running, waiting)."""
        with self._wakeup:
            return len(self._running), len(self._inbox)

    def run(self, decoder: BatchDecoder) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                break
            try:
                decoder.decode(batch)
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
            limit = 1 if first.scored else self._slots
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
