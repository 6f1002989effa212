"""The embedded llama.cpp engine: a model and the scheduler thread that batches over it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from fauxpilot.engine.base import EngineError, GenerationRequest, ModelInfo, Tokenizer
from fauxpilot.engine.events import Emit
from fauxpilot.engine.lifecycle import ManagedEngine, Occupancy, Started
from fauxpilot.engine.llamacpp_model import LlamaModel, LlamaVocab, LoadOptions
from fauxpilot.engine.scheduler import Generation, Scheduler
from fauxpilot.models.catalog import PromptFamily, detect_family

log = logging.getLogger(__name__)


class LlamaRuntime:
    """A GGUF model loaded and proven to decode, with its scheduler thread running: the
    body of the in-process engine and of the engine process (engine/process.py)."""

    def __init__(self, path: Path, options: LoadOptions, max_waiting: int) -> None:
        model = LlamaModel(path, options)
        try:
            model.warm_up()  # /health says ok only once a token has been computed
        except Exception as error:
            model.close()
            raise EngineError(f"the first test decode failed: {error}") from error
        self.context_length = min(options.context_per_slot, model.trained_context)
        model.context_per_slot = self.context_length
        self.model = model
        self.slots = options.slots
        self._scheduler = Scheduler(
            model, options.slots, max_waiting, options.prefill_while_decoding, options.draft_tokens
        )
        # Healing (on by default) needs it; built now rather than by the first healed request.
        self._scheduler.build_token_prefix_index()
        self._thread = threading.Thread(
            target=self._scheduler.run, name="fauxpilot-engine", daemon=True
        )
        self._thread.start()

    def submit(self, generation: Generation) -> None:
        """Raises EngineOverloaded when too many generations wait."""
        self._scheduler.submit(generation)

    def cancel(self, generation: Generation) -> None:
        self._scheduler.cancel(generation)

    def occupancy(self) -> Occupancy:
        active, waiting, free = self._scheduler.counts()
        return Occupancy(active, waiting, free, self.slots)

    def close(self) -> None:
        self._scheduler.stop()
        self._thread.join()
        self.model.close()


@dataclass(frozen=True)
class GgufSpec:
    """What a llama.cpp engine serves, and how: the same for in-process and engine process."""

    name: str
    path: Path
    family: PromptFamily | None  # None: detected from the vocabulary's FIM tokens
    options: LoadOptions
    max_waiting: int


def llama_model_info(spec: GgufSpec, vocab: Tokenizer, size: int, context: int) -> ModelInfo:
    return ModelInfo(
        name=spec.name,
        path=str(spec.path),
        context_length=context,
        vocab_size=size,
        family=spec.family or detect_family(vocab.special_token_id),
        heals_tokens=True,
    )


class LlamaCppEngine(ManagedEngine[Generation]):
    """A GGUF model run in this process by llama.cpp, with continuous batching over KV slots.

    Owns the LlamaRuntime (weights, context, KV cache, the scheduler thread, the only
    thread that decodes). Never decodes on the event loop, and never lets a request reach
    llama.cpp unchecked (ManagedEngine.generate checks every prompt first).
    """

    def __init__(self, spec: GgufSpec) -> None:
        super().__init__(spec.name)
        self._spec = spec
        self._runtime: LlamaRuntime | None = None

    def _start_backend(self) -> Started:
        spec = self._spec
        log.info("loading %s from %s", self.name, spec.path)
        runtime = LlamaRuntime(spec.path, spec.options, spec.max_waiting)
        self._runtime = runtime
        vocab: LlamaVocab = runtime.model.vocab
        info = llama_model_info(spec, vocab, vocab.size, runtime.context_length)
        log.info(
            "model ready: %s, %d slots of %d tokens, %d threads",
            self.name,
            spec.options.slots,
            runtime.context_length,
            spec.options.threads,
        )
        return Started(info, vocab)

    def _stop_backend(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    def _submit(self, request: GenerationRequest, emit: Emit) -> Generation:
        assert self._runtime is not None  # set before the status turns OK
        generation = Generation(request, emit)
        self._runtime.submit(generation)
        return generation

    def _cancel(self, work: Generation) -> None:
        if self._runtime is not None:
            self._runtime.cancel(work)

    def _occupancy(self) -> Occupancy:
        assert self._runtime is not None
        return self._runtime.occupancy()
