"""Thin, typed wrappers over llama.cpp's low-level C API: model, vocabulary and context.

Nothing here schedules or samples; see scheduler.py for that.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from fauxpilot.engine.base import ChatTemplateMissing, EngineError
from fauxpilot.engine.sampling import Logits

log = logging.getLogger(__name__)
native_log = logging.getLogger("fauxpilot.llama.cpp")

# ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continuation. Its info chatter is our debug.
_NATIVE_LEVELS = {3: logging.WARNING, 4: logging.ERROR}


def forward_native_log(level: int, text: bytes) -> None:
    """One of llama.cpp's log messages, to our logger at our level for it."""
    message = text.decode("utf-8", errors="replace").rstrip()
    if message:
        native_log.log(_NATIVE_LEVELS.get(level, logging.DEBUG), "%s", message)


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _native_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    forward_native_log(level, text)


def native_log_callback() -> Any:
    """The callback that routes llama.cpp's log to ours, for `llama_log_set`."""
    return _native_log


@dataclass(frozen=True)
class LoadOptions:
    """How to load and run a GGUF model; the defaults live in the settings (config/)."""

    threads: int
    context_per_slot: int
    slots: int
    batch_size: int
    prefill_while_decoding: int
    draft_tokens: int
    gpu_layers: int
    main_gpu: int
    tensor_split: tuple[float, ...]


class LlamaVocab:
    """Tokenizer over a loaded model's vocabulary (read-only, safe beside decoding)."""

    def __init__(self, vocab: Any, chat_template: str | None = None) -> None:
        self._vocab = vocab
        self._chat_template = chat_template
        self.size = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self._pieces: dict[int, bytes] = {}
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        self._bos = int(llama_cpp.llama_vocab_bos(vocab)) if add_bos else None
        self._end_ids = frozenset(
            token for token in range(self.size) if llama_cpp.llama_vocab_is_eog(vocab, token)
        )

    @property
    def bos_token_id(self) -> int | None:
        return self._bos

    @property
    def end_token_ids(self) -> frozenset[int]:
        return self._end_ids

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (llama_cpp.llama_token * capacity)()
        count = llama_cpp.llama_tokenize(
            self._vocab, data, len(data), buffer, capacity, False, special
        )
        if count < 0:
            raise EngineError(f"tokenizer needed {-count} tokens for {len(data)} bytes")
        return list(buffer[:count])

    def piece(self, token_id: int) -> bytes:
        cached = self._pieces.get(token_id)
        if cached is not None:
            return cached
        buffer = ctypes.create_string_buffer(64)
        length = llama_cpp.llama_token_to_piece(self._vocab, token_id, buffer, 64, 0, False)
        if length < 0:
            buffer = ctypes.create_string_buffer(-length)
            length = llama_cpp.llama_token_to_piece(
                self._vocab, token_id, buffer, -length, 0, False
            )
        piece = buffer.raw[:length]
        self._pieces[token_id] = piece
        return piece

    def apply_chat_template(self, messages: Sequence[tuple[str, str]]) -> str:
        """The prompt for a chat, in the model's own template, ending where the reply starts."""
        if not self._chat_template:
            raise ChatTemplateMissing("this model has no chat template")
        chat = (llama_cpp.llama_chat_message * len(messages))(
            *(llama_cpp.llama_chat_message(role.encode(), text.encode()) for role, text in messages)
        )
        template = self._chat_template.encode()
        capacity = 2 * sum(len(text) + len(role) for role, text in messages) + 1024
        for _ in range(2):
            buffer = ctypes.create_string_buffer(capacity)
            length = llama_cpp.llama_chat_apply_template(
                template, chat, len(messages), True, buffer, capacity
            )
            if length < 0:
                raise ChatTemplateMissing("llama.cpp does not know this model's chat template")
            if length <= capacity:
                return buffer.raw[:length].decode("utf-8", errors="replace")
            capacity = length + 1
        raise EngineError("the chat prompt did not fit its buffer")

    def special_token_id(self, text: str) -> int | None:
        tokens = self.tokenize(text, special=True)
        if len(tokens) != 1 or tokens == self.tokenize(text, special=False):
            return None
        return tokens[0]


def _vocab_of(model: Any) -> LlamaVocab:
    template = llama_cpp.llama_model_chat_template(model, None)
    return LlamaVocab(
        llama_cpp.llama_model_get_vocab(model),
        template.decode("utf-8", errors="replace") if template else None,
    )


class VocabOnly:
    """A GGUF file's vocabulary and metadata without its weights: the tokenizer of a
    process that leaves the model to an engine process (engine/process.py)."""

    def __init__(self, path: Path) -> None:
        llama_cpp.llama_log_set(_native_log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise EngineError(f"llama.cpp could not read the vocabulary of {path}")
        self.vocab = _vocab_of(self._model)
        self.trained_context = int(llama_cpp.llama_model_n_ctx_train(self._model))

    def close(self) -> None:
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None


class LlamaModel:
    """A loaded GGUF model and one context with a KV stream per slot."""

    def __init__(self, path: Path, options: LoadOptions) -> None:
        llama_cpp.llama_log_set(_native_log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        self._tensor_split = (ctypes.c_float * max(1, len(options.tensor_split)))(
            *options.tensor_split
        )
        self._model = self._load_model(path, options)
        try:
            self._ctx = self._new_context(options)
        except Exception:
            llama_cpp.llama_model_free(self._model)
            raise
        self.vocab = _vocab_of(self._model)
        self.context_per_slot = options.context_per_slot
        self.trained_context = int(llama_cpp.llama_model_n_ctx_train(self._model))
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(options.batch_size, 0, 1)
        self.batch_capacity = options.batch_size

    def _load_model(self, path: Path, options: LoadOptions) -> Any:
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = options.gpu_layers if options.gpu_layers >= 0 else 1_000_000
        params.main_gpu = options.main_gpu
        if options.tensor_split:
            params.tensor_split = self._tensor_split
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise EngineError(f"llama.cpp could not load {path}")
        return model

    def _new_context(self, options: LoadOptions) -> Any:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = options.context_per_slot * options.slots
        params.n_batch = options.batch_size
        params.n_ubatch = options.batch_size
        params.n_seq_max = options.slots
        params.n_threads = options.threads
        params.n_threads_batch = options.threads
        params.kv_unified = False  # one KV stream per slot: attention only over its own cells
        params.no_perf = True
        ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not ctx:
            raise EngineError("llama.cpp could not create a context (out of memory?)")
        return ctx

    @property
    def n_vocab(self) -> int:
        return self.vocab.size

    def piece(self, token_id: int) -> bytes:
        return self.vocab.piece(token_id)

    def forget(self, seq_id: int, keep: int) -> bool:
        """Drop the sequence's cache from position `keep` on; False if only all can go."""
        if llama_cpp.llama_memory_seq_rm(self._memory, seq_id, keep, -1):
            return True
        llama_cpp.llama_memory_seq_rm(self._memory, seq_id, -1, -1)
        return False

    def copy(self, source: int, target: int, keep: int) -> bool:
        """Make `target`'s cache the first `keep` positions of `source`'s.

        Each slot has its own KV stream, so llama.cpp copies the whole stream's buffer (at
        the next decode) and the positions from `keep` on are then dropped again.
        """
        llama_cpp.llama_memory_seq_cp(self._memory, source, target, -1, -1)
        return self.forget(target, keep)

    def decode(self, rows: Sequence[tuple[int, int, int, bool]]) -> None:
        """Run one step over (token, position, seq_id, wants_logits) rows (BatchRow)."""
        batch = self._batch
        for index, (token, position, seq_id, wants_logits) in enumerate(rows):
            batch.token[index] = token
            batch.pos[index] = position
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = seq_id
            batch.logits[index] = wants_logits
        batch.n_tokens = len(rows)
        status = llama_cpp.llama_decode(self._ctx, batch)
        if status != 0:
            raise EngineError(f"llama_decode failed with status {status}")

    def warm_up(self) -> None:
        """Decode a short prompt in slot 0 and drop it: proves the build computes here."""
        text = "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n"
        tokens = self.vocab.tokenize(text, special=False)[: self.batch_capacity]
        last = len(tokens) - 1
        self.decode([(token, index, 0, index == last) for index, token in enumerate(tokens)])
        if not np.isfinite(self.logits(last)).all():
            raise EngineError("the first test decode gave non-finite logits")
        self.forget(0, 0)

    def logits(self, batch_index: int) -> Logits:
        pointer = llama_cpp.llama_get_logits_ith(self._ctx, batch_index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None
